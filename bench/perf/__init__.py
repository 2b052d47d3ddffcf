"""Load generation against running reward servers, and measurement scripts (bench/perf/scripts)."""
