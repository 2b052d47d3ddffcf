"""Measurement harnesses behind the figures in bench/perf/RESULTS.md (run each with `python -m`)."""
