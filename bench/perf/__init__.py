"""bench/perf."""
