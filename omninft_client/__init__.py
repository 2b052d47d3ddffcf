"""omninft client: call omninft reward servers from any training or evaluation loop (no torch needed)."""
