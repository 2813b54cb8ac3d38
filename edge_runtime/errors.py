"""Exceptions of the device runtime.

Every error a user can cause derives from :class:`EdgeRuntimeError`; the CLI prints its
message as one ``Error: ...`` line. Messages name the file, field or value and what was
expected; the data also travels as attributes so callers need not parse text.
"""

from __future__ import annotations


class EdgeRuntimeError(Exception):
    """Base of every error the runtime reports to a user."""


class BackendError(EdgeRuntimeError):
    """No usable interpreter package, or a delegate library that cannot be loaded."""


class SchemaError(EdgeRuntimeError):
    """A file whose content does not follow its schema (see :mod:`edge_runtime.schema`).

    Attributes:
        path: the file the problem is in (or the name asked for).
        field: the dotted field concerned, or ``None``.
    """

    def __init__(self, path: str, message: str, field: str | None = None) -> None:
        self.path = path
        self.field = field
        super().__init__(f"{path}: {field}: {message}" if field else f"{path}: {message}")


class BundleError(SchemaError):
    """A bundle folder, manifest or model file that is missing, corrupt or inconsistent."""


class ProfileError(SchemaError):
    """A monitor, battery or board profile that cannot be found or does not follow the schema."""


class InputError(EdgeRuntimeError):
    """An input image or dataset the runtime cannot use.

    Attributes:
        path: the file or folder concerned.
        message: what is wrong with it.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class NotAnImageError(InputError):
    """Bytes or a file Pillow cannot read as an image (or cannot decode to the end)."""


class ImageTooLargeError(InputError):
    """An image with more pixels than the caller accepts (a decompression bomb, or just too big)."""


class ValueRangeError(EdgeRuntimeError):
    """A numeric parameter outside its allowed range (for example α outside [0, 1]).

    Attributes:
        name: the parameter's name; value: what was given; expected: the allowed range.
    """

    def __init__(self, name: str, value: float, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"{name} = {value!r} is out of range: expected {expected}")
