"""Builds the stand-in ``libedgetpu.so.1`` (``libedgetpu_standin.c``) with the system's C compiler, so
the runtime's real loading path (``load_delegate``, the interpreter's delegates, the child-process
probe) runs here without a Coral TPU. Point the dynamic loader at it with ``LD_LIBRARY_PATH``."""

from __future__ import annotations

import os
import shutil
import subprocess

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libedgetpu_standin.c")
LIBRARY = "libedgetpu.so.1"


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def build(folder: str) -> str:
    """Compile the stand-in into ``folder/libedgetpu.so.1`` and return its path."""
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc or gcc) to build the stand-in libedgetpu")
    os.makedirs(folder, exist_ok=True)
    out = os.path.join(folder, LIBRARY)
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", out, SOURCE], check=True, capture_output=True)
    return out
