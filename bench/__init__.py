"""Benchmarks (JavisBench, VBench), set-level metrics, reports and the gRPC load generator."""
