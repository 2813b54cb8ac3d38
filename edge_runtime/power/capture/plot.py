"""Reading a capture back, and drawing it: power over time with gaps shaded."""

from __future__ import annotations

import csv
import math

from ...core.plots import pyplot, save_atomic

def read_capture(path: str) -> list[dict[str, str]]:
    """The rows of a capture CSV (for plots and tests); a torn last row is skipped."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [r for r in rows if r.get("detail") is not None]


def plot_capture(paths: list[str], png: str) -> None:
    """Power over time, with gaps shaded rather than drawn over (written atomically)."""
    plt = pyplot()
    times, power, marks, away = [], [], [], []
    t0 = None
    lost_at = None
    for path in paths:
        for row in read_capture(path):
            t = float(row["t_monotonic"])
            t0 = t if t0 is None else t0
            event = row["event"]
            if event == "disconnected":
                lost_at = t - t0
            elif event == "reconnected" and lost_at is not None:
                away.append((lost_at, t - t0))
                lost_at = None
            elif event:
                marks.append(t - t0)
            if event:
                times.append(t - t0)
                power.append(math.nan)  # a gap breaks the line instead of drawing across it
            elif row["power_w"]:
                times.append(t - t0)
                power.append(float(row["power_w"]))
    if lost_at is not None and times:
        away.append((lost_at, times[-1]))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(times, power, lw=0.8, color="tab:blue", label="power")
    for i, (a, b) in enumerate(away):
        ax.axvspan(a, b, color="tab:gray", alpha=0.25, label="disconnected" if i == 0 else None)
    for i, g in enumerate(marks):
        ax.axvline(g, color="tab:red", alpha=0.3, lw=1, label="gap" if i == 0 else None)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("power (W)")
    ax.grid(alpha=0.3)
    if power:
        ax.legend(loc="upper right")
    fig.tight_layout()
    save_atomic(fig, png)
    plt.close(fig)
