"""Model families (architectures, tiny configs, official-checkpoint loading); weights come from weights.py."""
