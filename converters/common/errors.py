"""Errors of the converter that a user can cause; the CLI prints them as one ``Error: …`` line."""

from edge_runtime.errors import EdgeRuntimeError


class ConvertError(EdgeRuntimeError):
    """A model, option or dataset the converter cannot use."""
