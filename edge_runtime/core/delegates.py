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


def check_delegate_names(names: list[str]) -> None:
    """Raise :class:`BackendError` naming the first name not in :data:`DELEGATE_NAMES`."""
    for name in names:
        if name not in DELEGATE_NAMES:
            raise BackendError(f"unknown delegate {name!r}: expected one of {', '.join(DELEGATE_NAMES)}")


def load_delegates(backend: Backend, names: list[str], device: str | None = None) -> list[Any]:
    """Load the delegates in ``names`` through ``backend``.

    Args:
        backend: the interpreter package whose ``load_delegate`` is used.
        names: delegate names from :data:`DELEGATE_NAMES`.
        device: Edge TPU device selector (``usb``, ``pci``, ``usb:0``), or None for any.

    Raises:
        BackendError: an unknown name, or a library that cannot be loaded (the message names it).
    """
    check_delegate_names(names)
    delegates = []
    for _ in names:
        library = edgetpu_library()
        options = {"device": device} if device else {}
        try:
            delegates.append(backend.load_delegate(library, options))
        except OSError as exc:  # the library itself is missing or unloadable
            raise BackendError(f"cannot load {library} ({one_line(exc)}): install the Edge TPU runtime (Debian "
                               "package libedgetpu1-std from Coral's apt repository)") from exc
        except (ValueError, RuntimeError) as exc:  # the library loaded, the device did not answer
            where = f"the device {device!r}" if device else "an Edge TPU"
            raise BackendError(f"{library} found no usable Edge TPU ({one_line(exc)}): is {where} plugged in? "
                               "(lsusb lists a Coral USB Accelerator as 1a6e:089a or 18d1:9302)") from exc
    return delegates


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (load_delegate puts the library's own report on a second)."""
    return ": ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
