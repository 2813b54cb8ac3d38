"""PNG plots: matplotlib imported only when a plot is asked for, files written atomically."""

from __future__ import annotations

import os
from typing import Any, Sequence

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
    """Lay out a finished figure, save it as PNG through a temporary file and a rename (``path`` is never
    half-written) and close it."""
    partial = path + ".partial.png"
    try:
        fig.tight_layout()
        fig.savefig(partial, dpi=110)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    finally:
        pyplot().close(fig)
    os.replace(partial, path)


def plot_accuracy_vs_saving(ax: Any, rows: Sequence[dict[str, Any]], series: Sequence[tuple[str, str, str]],
                            reference_accuracy: float, reference_label: str, xlabel: str, title: str) -> None:
    """An α sweep on ``ax``: test accuracy (%) against each saving in ``series`` ((row key, label, marker)),
    with the reference network's accuracy as a dotted line."""
    for key, label, marker in series:
        ax.plot([100 * r[key] for r in rows], [100 * r["accuracy"] for r in rows], marker, label=label)
    ax.axhline(100 * reference_accuracy, color="gray", ls=":", label=reference_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
