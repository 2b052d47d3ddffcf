"""Benchmark scripts for the trainer (not imported by the library)."""
