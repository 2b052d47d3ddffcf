"""Policy adapters: the protocol (``base``) and concrete backbones (``toy``, ``ltx2``)."""
