"""Hardware delegates (Coral Edge TPU): the one module that loads them.

A delegate is asked for by name; the library looked for is platform specific and named
in the error when it cannot be loaded. Edge TPU delegates only run models compiled with
``edgetpu_compiler``; anything else falls back to the CPU inside the interpreter.
"""

from __future__ import annotations

import platform
from typing import Any

from .backends import Backend
from ..errors import BackendError

DELEGATE_NAMES = ("edgetpu",)


def edgetpu_library(system: str | None = None) -> str:
    """The Edge TPU runtime's shared library name on ``system`` (default: this machine)."""
    system = system or platform.system()
    return {"Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}.get(system, "libedgetpu.so.1")


def load_delegates(backend: Backend, names: list[str], device: str | None = None) -> list[Any]:
    """Load the delegates in ``names`` through ``backend``.

    Args:
        backend: the interpreter package whose ``load_delegate`` is used.
        names: delegate names from :data:`DELEGATE_NAMES`.
        device: Edge TPU device selector (``usb``, ``pci``, ``usb:0``), or None for any.

    Raises:
        BackendError: an unknown name, or a library that cannot be loaded (the message names it).
    """
    delegates = []
    for name in names:
        if name != "edgetpu":
            raise BackendError(f"unknown delegate {name!r}: expected one of {', '.join(DELEGATE_NAMES)}")
        library = edgetpu_library()
        options = {"device": device} if device else {}
        try:
            delegates.append(backend.load_delegate(library, options))
        except (ValueError, OSError, RuntimeError) as exc:
            raise BackendError(
                f"cannot load the Edge TPU delegate library {library} ({exc}); install the Edge TPU "
                "runtime (Debian package libedgetpu1-std) and plug in the Coral device"
            ) from exc
    return delegates
