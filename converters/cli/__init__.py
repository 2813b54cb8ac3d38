"""edge-convert: one module per command."""
