"""pruned family."""
