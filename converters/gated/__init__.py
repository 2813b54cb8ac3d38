"""gated."""
