"""The command-line layer: one module per command (``run``, ``eval``, ``info``, ``demo``) and
``edge-capture``; logging is configured here only, in the entry points."""
