"""Batched gRPC reward and metric servers: models, scorers, backends and the serving runtime."""
