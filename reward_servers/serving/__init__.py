"""reward_servers/serving."""
