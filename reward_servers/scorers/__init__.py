"""reward_servers/scorers."""
