"""Generated wire types of the omninft.v1 API (regenerate with `python scripts/gen_protos.py`)."""
