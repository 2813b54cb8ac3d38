"""gated family."""
