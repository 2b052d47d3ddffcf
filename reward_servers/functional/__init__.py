"""reward_servers/functional."""
