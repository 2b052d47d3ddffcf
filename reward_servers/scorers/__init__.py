"""Scorers: one reward or metric per module, built through the registry (scorers/registry.py)."""
