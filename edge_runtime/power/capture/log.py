"""Loss-free power logs: CSV rows for samples and explicit rows for gaps, flushed every second.

Rows are built in memory and written with one ``os.write`` per flush, so after ``kill -9`` the
file ends at the last whole row written, at most one second behind. Nothing here owns a port or
a thread.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...errors import EdgeRuntimeError
from ..samples import Event, Gap, Sample

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
