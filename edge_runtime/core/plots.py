"""PNG plots: matplotlib imported only when a plot is asked for, files written atomically."""

from __future__ import annotations

import os
from typing import Any

from ..errors import EdgeRuntimeError


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or a one-line error naming the extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise EdgeRuntimeError("--plot needs matplotlib: pip install 'edge-adaptive[plot]'") from exc
    return plt


def save_atomic(fig: Any, path: str) -> None:
    """Save a figure as PNG through a temporary file and a rename: ``path`` is never half-written."""
    partial = path + ".partial.png"
    try:
        fig.savefig(partial, dpi=110)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    os.replace(partial, path)
