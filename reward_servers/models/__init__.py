"""Model families (architectures, tiny configs, official-checkpoint loading); weights come from weights.py."""

from omninft.reward_servers.models._hf import ProjectedTextCore

__all__ = ["ProjectedTextCore"]
