"""Backbone-agnostic trainer math (pure torch): advantages, NFT loss, surgery, region weights, schedules."""
