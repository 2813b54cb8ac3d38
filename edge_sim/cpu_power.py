"""A power monitor whose reading follows a real process's CPU activity: what profiling is tested against.

Each period the emulated board's power is ``idle_w`` plus ``busy_w`` times the share of one core the
process (or one of its threads) used over the last ``window_s`` (from ``/proc/PID/stat``'s user and system
ticks, or ``/proc/PID/task/TID/stat``'s), seen by the
monitor ``delay_s`` late, plus a little noise. The values feed a :class:`~edge_sim.pty.PtyEmulator`
speaking any text monitor profile (the INA219 sketch by default), so the profiler reads it through the
same port, parser and transport a user's monitor goes through. Linux only (``/proc``).
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Mapping

import numpy as np

from .wire import record_values

CLOCK_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, thread_id: int | None = None) -> float:
    """User + system CPU time of process ``pid`` (or of its thread ``thread_id``, a native id) so far, s."""
    path = f"/proc/{pid}/stat" if thread_id is None else f"/proc/{pid}/task/{thread_id}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_S  # utime, stime (fields 14 and 15 of stat)


class CpuFollowingPower:
    """A value source for an emulator: power that follows ``pid``'s CPU use.

    Args:
        pid: the process to follow (the profiler's own, in tests).
        thread_id: follow only this thread of it (``threading.get_native_id()`` of the thread that runs the
            inferences): the board's power then follows the inference work alone, not the monitor's reader,
            the emulator itself, or whatever else shares the process (a test session's leftover threads made
            every operating point look equally busy).
        idle_w: the board's power with the process idle, W.
        busy_w: the extra power of one core fully busy, W.
        volts: the bus voltage reported, V.
        delay_s: how late the monitor sees a change (its own averaging and buffering), s.
        window_s: the span CPU use is averaged over, s (at least two clock ticks).
        noise_w: standard deviation of the reading's noise, W.
    """

    def __init__(self, pid: int, idle_w: float = 2.7, busy_w: float = 1.2, volts: float = 5.1, delay_s: float = 0.05,
                 window_s: float = 0.05, noise_w: float = 0.005, seed: int = 0, thread_id: int | None = None) -> None:
        self.pid, self.thread_id, self.idle_w, self.busy_w, self.volts = pid, thread_id, idle_w, busy_w, volts
        self.delay_s, self.window_s, self.noise_w = delay_s, max(window_s, 2 * CLOCK_TICK_S), noise_w
        self.rng = np.random.default_rng(seed)
        self.history: collections.deque[tuple[float, float]] = collections.deque()  # (time, cpu seconds)
        self.lock = threading.Lock()

    def power_at(self, now: float) -> float:
        """The power the monitor reports at ``now`` (time.monotonic()), W."""
        with self.lock:
            self.history.append((now, cpu_seconds(self.pid, self.thread_id)))
            while len(self.history) > 2 and self.history[1][0] < now - self.delay_s - self.window_s - 1.0:
                self.history.popleft()
            seen = now - self.delay_s
            past = [(t, c) for t, c in self.history if t <= seen]
            if len(past) < 2:
                busy = 0.0
            else:
                t1, c1 = past[-1]
                t0, c0 = next(((t, c) for t, c in reversed(past) if t <= t1 - self.window_s), past[0])
                busy = min(1.0, max(0.0, (c1 - c0) / (t1 - t0))) if t1 > t0 else 0.0
        return self.idle_w + self.busy_w * busy + float(self.rng.normal(0.0, self.noise_w))

    def __call__(self, seq: int, t: float) -> Mapping[str, float]:
        watts = self.power_at(time.monotonic())
        return record_values(self.volts, watts / self.volts, watts, float("nan"))
