"""Reading a capture back, and drawing it: power over time with gaps shaded, and the runtime's inference
events (``run --trace``) over it."""

from __future__ import annotations

import csv
import json
import math
from typing import Any

from ...core.plots import pyplot, save_atomic
from ...errors import InputError


def read_capture(path: str) -> list[dict[str, str]]:
    """The rows of a capture CSV (for plots and tests); a torn last row is skipped."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [r for r in rows if r.get("detail") is not None]


def read_events(path: str) -> list[dict[str, Any]]:
    """The events of a ``run --trace`` file; a torn last line is skipped, any other bad line is an error."""
    events = []
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().split("\n")
    except OSError as exc:
        raise InputError(path, f"cannot read the events: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            float(event["t_monotonic"]), float(event["t_wall"])
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                continue  # torn by a crash
            raise InputError(path, f"line {number}: expected a JSON event with t_monotonic and t_wall "
                             "(edge-runtime run --trace)") from None
        events.append(event)
    return events


def plot_capture(paths: list[str], png: str, events: list[dict[str, Any]] | None = None, clock: str = "monotonic",
                 offset_s: float = 0.0) -> tuple[int, int]:
    """Power over time, with gaps shaded rather than drawn over, and each inference event placed on the same
    clock (``monotonic`` on one board; ``wall`` across machines, the runtime's clock + ``offset_s`` = the
    capture's). Written atomically.

    Returns:
        (events inside the capture's span, events outside it): many outside means the clocks do not match.
    """
    plt = pyplot()
    times, power, marks, away = [], [], [], []
    t0 = None
    lost_at = None
    key = "t_monotonic" if clock == "monotonic" else "t_wall"
    for path in paths:
        for row in read_capture(path):
            t = float(row[key])
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
    inside = outside = 0
    if events and t0 is not None:
        at = [float(e[key]) + offset_s - t0 for e in events]
        end = times[-1] if times else 0.0
        inside = sum(0.0 <= t <= end for t in at)
        outside = len(at) - inside
        names = sorted({str(e.get("exit_name", "")) for e in events})
        ranks = [names.index(str(e.get("exit_name", ""))) for e in events]
        exits = ax.twinx()
        exits.scatter(at, ranks, s=6, color="tab:orange", label="inference (exit or route)")
        exits.set_yticks(range(len(names)), names)
        exits.set_ylabel("where each inference answered")
        exits.set_ylim(-0.5, len(names) - 0.5)
        exits.legend(loc="upper left")
    if power:
        ax.legend(loc="upper right")
    save_atomic(fig, png)
    return inside, outside
