"""Loss-free power logs: CSV rows for samples and explicit rows for gaps, flushed every second.

Rows are built in memory and written with one ``os.write`` per flush, so after ``kill -9`` the
file ends at the last whole row written, at most one second behind. Nothing here owns a port or
a thread: :func:`run_capture` feeds a :class:`CaptureLog` from a monitor's queue on the caller's
thread.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import queue
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from ..core.plots import pyplot, save_atomic
from ..errors import EdgeRuntimeError
from .profiles import MonitorProfile
from .samples import Event, Gap, Sample
from .transports import Monitor

log = logging.getLogger(__name__)

COLUMNS = ("t_monotonic", "t_wall", "voltage_v", "current_a", "power_w", "percent", "energy_j", "event", "count",
           "detail")
HEADER = ",".join(COLUMNS) + "\n"
INDEX_HEADER = "t_monotonic,t_wall,offset,length\n"
CLOCK_JUMP_S = 1.0
# Gaps after which the time since the previous sample is not known to be covered: no integration across them.
BREAKS_ENERGY = frozenset({"disconnected", "silent", "nan", "clock_jump"})


class CaptureError(EdgeRuntimeError):
    """An output that cannot be written (exists already, full disk, no folder)."""


def _num(value: float) -> str:
    return "" if math.isnan(value) else repr(round(value, 9))


@dataclass
class Summary:
    """What a capture recorded; energies integrate only between samples no gap separates.

    ``gaps`` counts gap rows per reason; each row's ``count`` column says how many lines,
    frames or bytes it covers.
    """

    records: int = 0
    gaps: Counter = field(default_factory=Counter)
    first_t: float = math.nan
    last_t: float = math.nan
    energy_j: float = 0.0
    covered_s: float = 0.0
    bytes: int = 0
    reconnects: int = 0
    files: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def duration_s(self) -> float:
        return 0.0 if math.isnan(self.first_t) else self.last_t - self.first_t

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.covered_s if self.covered_s > 0 else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "gaps": sum(self.gaps.values()), "gap_reasons": dict(self.gaps),
                "duration_s": round(self.duration_s, 3), "covered_s": round(self.covered_s, 3),
                "mean_power_w": None if math.isnan(self.mean_power_w) else round(self.mean_power_w, 6),
                "energy_j": round(self.energy_j, 6), "energy_mwh": round(self.energy_j / 3.6, 6),
                "bytes": self.bytes, "reconnects": self.reconnects, "files": self.files,
                "interrupted": self.interrupted}

    def text(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.gaps.items())) or "none"
        power = "n/a" if math.isnan(self.mean_power_w) else f"{self.mean_power_w:.4f} W"
        return (f"records   {self.records}\ngaps      {sum(self.gaps.values())} ({reasons})\n"
                f"duration  {self.duration_s:.1f} s ({self.covered_s:.1f} s covered by samples)\n"
                f"power     {power} mean\nenergy    {self.energy_j:.4f} J = {self.energy_j / 3.6:.4f} mWh\n"
                f"files     {', '.join(self.files)}")


class CaptureLog:
    """Appends rows to ``path`` (rotating at ``rotate_bytes``) and keeps the :class:`Summary`.

    Args:
        path: the CSV file; must not exist unless ``append`` or ``force``.
        max_dt_s: the longest interval between two samples that is integrated into energy.
        raw: also keep the raw bytes in ``path.raw`` with a chunk index ``path.raw.idx``.
    """

    def __init__(self, path: str, *, max_dt_s: float, rotate_bytes: int = 0, raw: bool = False,
                 append: bool = False, force: bool = False) -> None:
        self.path = path
        self.max_dt_s = max_dt_s
        self.rotate_bytes = rotate_bytes
        self.summary = Summary()
        self._rows: list[str] = []
        self._raw_chunks: list[bytes] = []
        self._index_rows: list[str] = []
        self._part = 0
        self._size = 0
        self._raw_offset = 0
        self._prev: Sample | None = None
        self._gap_since_prev = False
        self._fd = self._open(path, append, force)
        self._size = os.fstat(self._fd).st_size
        self._raw_fd = self._idx_fd = -1
        if raw:
            self._raw_fd = self._open(path + ".raw", append, force, header=None)
            self._idx_fd = self._open(path + ".raw.idx", append, force, header=INDEX_HEADER)
            self._raw_offset = os.fstat(self._raw_fd).st_size

    def _open(self, path: str, append: bool, force: bool, header: str | None = HEADER) -> int:
        if os.path.exists(path) and not (append or force) and os.path.isfile(path):
            raise CaptureError(f"{path}: exists already: pass --append to continue it or --force to replace it")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot write: {exc.strerror}") from None
        if header is not None and (not append or os.fstat(fd).st_size == 0):
            self._write(fd, header.encode(), path)
        if path not in self.summary.files and header == HEADER:
            self.summary.files.append(path)
        return fd

    @staticmethod
    def _write(fd: int, data: bytes, path: str) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except OSError as exc:
                raise CaptureError(f"{path}: {exc.strerror} (the log holds every row up to the last second)") from None
            view = view[n:]

    def add(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Sample):
                self._sample(event)
            else:
                self._gap(event)

    def _sample(self, s: Sample) -> None:
        summary = self.summary
        prev = self._prev
        if prev is not None:
            dt = s.t_monotonic - prev.t_monotonic
            jump = (s.t_wall - prev.t_wall) - dt
            if abs(jump) > CLOCK_JUMP_S:
                self._gap(Gap(s.t_monotonic, s.t_wall, "clock_jump",
                              f"the wall clock jumped {jump:+.1f} s (t_monotonic is unaffected)"))
            if 0 <= dt <= self.max_dt_s and not self._gap_since_prev and not (math.isnan(s.power_w) or math.isnan(prev.power_w)):
                summary.energy_j += 0.5 * (s.power_w + prev.power_w) * dt
                summary.covered_s += dt
        else:
            summary.first_t = s.t_monotonic
        summary.last_t = s.t_monotonic
        summary.records += 1
        self._prev = s
        self._gap_since_prev = False
        self._rows.append(f"{s.t_monotonic:.6f},{s.t_wall:.6f},{_num(s.voltage_v)},{_num(s.current_a)},"
                          f"{_num(s.power_w)},{_num(s.percent)},{summary.energy_j:.9g},,,\n")

    def _gap(self, g: Gap) -> None:
        summary = self.summary
        if g.reason in BREAKS_ENERGY:
            self._gap_since_prev = True
        summary.gaps[g.reason] += 1
        if g.reason == "reconnected":
            summary.reconnects += 1
        if math.isnan(summary.first_t):
            summary.first_t = summary.last_t = g.t_monotonic
        summary.last_t = max(summary.last_t, g.t_monotonic)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(
            [f"{g.t_monotonic:.6f}", f"{g.t_wall:.6f}", "", "", "", "", f"{self.summary.energy_j:.9g}", g.reason, g.count,
             g.detail])
        self._rows.append(out.getvalue())

    def add_raw(self, data: bytes, t_mono: float, t_wall: float) -> None:
        self.summary.bytes += len(data)
        if self._raw_fd < 0:
            return
        self._raw_chunks.append(data)
        self._index_rows.append(f"{t_mono:.6f},{t_wall:.6f},{self._raw_offset},{len(data)}\n")
        self._raw_offset += len(data)

    def flush(self) -> None:
        """Write everything gathered so far: one write per file, rotating where the size limit falls."""
        if self._raw_chunks:
            self._write(self._raw_fd, b"".join(self._raw_chunks), self.path + ".raw")
            self._write(self._idx_fd, "".join(self._index_rows).encode(), self.path + ".raw.idx")
            self._raw_chunks, self._index_rows = [], []
        rows, self._rows = self._rows, []
        batch: list[str] = []
        batch_bytes = 0
        for row in rows:
            batch.append(row)
            batch_bytes += len(row)
            if self.rotate_bytes and self._size + batch_bytes >= self.rotate_bytes:
                self._write_rows(batch)
                self._rotate()
                batch, batch_bytes = [], 0
        if batch:
            self._write_rows(batch)

    def _write_rows(self, rows: list[str]) -> None:
        data = "".join(rows).encode()
        self._write(self._fd, data, self.summary.files[-1])
        self._size += len(data)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._part += 1
        stem, ext = os.path.splitext(self.path)
        self._fd = self._open(f"{stem}.{self._part}{ext or '.csv'}", False, True)
        self._size = len(HEADER)

    def sync(self) -> None:
        for fd in (self._fd, self._raw_fd, self._idx_fd):
            if fd >= 0:
                try:
                    os.fsync(fd)
                except OSError:
                    pass  # /dev/full, pipes: nothing to sync

    def close(self) -> None:
        try:
            self.flush()
        finally:
            for fd in (self._fd, self._raw_fd, self._idx_fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._raw_fd = self._idx_fd = -1


_END = object()


def run_capture(profile: MonitorProfile, url: str, make_capture: Callable[[], CaptureLog], *,
                duration_s: float | None = None, baud: int | None = None,
                progress: Callable[[str], None] | None = None, flush_s: float = 0.5, sync_s: float = 5.0,
                backoff: tuple[float, float] = (0.1, 5.0)) -> Summary:
    """Capture until ``duration_s`` passes, the source ends (replays) or Ctrl-C; always close cleanly.

    The port is opened before ``make_capture`` creates any file, so a bad port leaves nothing
    behind. The monitor's reader thread only queues; every file write happens here, on the
    caller's thread. A ``silent`` gap row marks a monitor that stops sending for 5 expected
    periods. Ctrl-C (KeyboardInterrupt) ends the capture like the end of its duration, with
    ``summary.interrupted`` set.
    """
    events: queue.SimpleQueue = queue.SimpleQueue()
    monitor = Monitor(profile, url, lambda ev: events.put(("ev", ev)),
                      on_raw=lambda d, tm, tw: events.put(("raw", d, tm, tw)),
                      on_end=lambda: events.put((_END,)), baud=baud, backoff=backoff)
    monitor.open()
    try:
        capture = make_capture()
    except BaseException:
        monitor.stop()
        raise
    if progress:
        progress(f"capturing {profile.name} from {monitor.url} to {capture.path}"
                 + (f" for {duration_s:g} s" if duration_s else " until Ctrl-C"))
    silent_after = max(5 * profile.transport.period_s, 2.0)
    start = time.monotonic()
    next_flush = start + flush_s
    next_sync = start + sync_s
    next_progress = start + 2.0
    last_record = start
    silent = False
    finished = False
    monitor.start()
    try:
        while True:
            now = time.monotonic()
            deadline = min(next_flush, start + duration_s if duration_s else next_flush)
            try:
                item = events.get(timeout=max(0.0, deadline - now))
            except queue.Empty:
                item = None
            while item is not None:
                if item[0] is _END:
                    finished = True
                elif item[0] == "ev":
                    if any(isinstance(e, Sample) for e in item[1]):
                        last_record = time.monotonic()
                        silent = False
                    capture.add(item[1])
                else:
                    capture.add_raw(*item[1:])
                try:
                    item = events.get_nowait()
                except queue.Empty:
                    item = None
            now = time.monotonic()
            if not silent and now - last_record > silent_after:
                silent = True
                capture.add([Gap(now, time.time(), "silent", f"no record for {now - last_record:.1f} s")])
            if now >= next_flush or finished:
                capture.flush()
                next_flush = now + flush_s
            if now >= next_sync:
                capture.sync()
                next_sync = now + sync_s
            if progress and now >= next_progress:
                s = capture.summary
                progress(f"{now - start:7.1f} s  {s.records} records  {sum(s.gaps.values())} gaps  "
                         f"{s.energy_j:.3f} J")
                next_progress = now + 2.0
            if finished or (duration_s and now - start >= duration_s):
                break
    except KeyboardInterrupt:
        capture.summary.interrupted = True
    finally:
        monitor.stop()
        while True:
            try:
                item = events.get_nowait()
            except queue.Empty:
                break
            if item[0] == "ev":
                capture.add(item[1])
            elif item[0] == "raw":
                capture.add_raw(*item[1:])
        if monitor.parser is not None and not finished:
            capture.add(monitor.parser.finish(time.monotonic(), time.time()))
        capture.summary.reconnects = max(capture.summary.reconnects, monitor.transport.reconnects)
        capture.close()
    return capture.summary


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


def install_sigterm() -> Any:
    """Make SIGTERM end a capture like Ctrl-C: cleanly, with the summary. Returns the old handler."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def print_summary(summary: Summary, as_json: bool, out: TextIO | None = None) -> None:
    print(json.dumps(summary.as_dict()) if as_json else summary.text(), file=out or sys.stdout, flush=True)
