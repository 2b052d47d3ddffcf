"""OmniNFT trainer client (see issue: trainer)."""
