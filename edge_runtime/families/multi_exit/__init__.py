"""multi_exit family."""
