"""Pure math of the reward servers (numpy/torch only; no I/O, no model construction)."""
