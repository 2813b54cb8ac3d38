"""multi_exit."""
