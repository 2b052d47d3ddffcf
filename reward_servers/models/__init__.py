"""reward_servers/models."""
