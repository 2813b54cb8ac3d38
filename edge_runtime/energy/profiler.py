"""Profiling: what each operating point of a bundle costs, measured with the board's power monitor.

Procedure, on one monotonic clock (samples are stamped when they arrive, bursts when they run):

1. idle: no inference for a while; idle power is the mean of those samples;
2. bursts: for each operating point, ``repeats`` bursts of back-to-back inferences, idle gaps between;
3. delay: the monitor reports late (its own averaging, buffering, the serial line); the delay is the
   shift that best lines the power trace up with the bursts (cross-correlation of the trace with the
   bursts' on/off signal), searched up to a second;
4. energy: each burst's power integrated over its window shifted by the delay (trapezoids between the
   samples, interpolated at the edges), minus idle power over the same time, divided by its inferences.
   The monitor's averaging smears the burst's start and end alike, so what one edge loses the other
   gains. A burst with fewer than :data:`MIN_SAMPLES` samples is not measured: a point with none is
   missing, and says so, rather than invented.

Thread rules: the monitor's reader thread appends to a :class:`SampleLog`; everything else runs on the
caller's thread, which owns the runtime.
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..core.units import format_seconds
from ..errors import EdgeRuntimeError
from ..power.samples import Event, Sample
from .record import FORMAT, VERSION, EnergyProfile, PointEnergy, bundle_identity, why_unordered

MIN_SAMPLES = 3
MAX_DELAY_S = 1.0


class SampleLog:
    """(receive time, watts) of every sample a monitor delivers; the monitor's callback (any thread)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.watts: list[float] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    def __call__(self, events: list[Event]) -> None:
        with self._lock:
            for event in events:
                if isinstance(event, Sample) and event.power_w == event.power_w:
                    self.times.append(event.t_monotonic)
                    self.watts.append(event.power_w)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._arrived.wait_for(lambda: len(self.times) >= count, timeout)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            return np.array(self.times), np.array(self.watts)


@dataclass(frozen=True)
class Burst:
    point: str
    start: float
    end: float
    inferences: int


def integrate(times: np.ndarray, watts: np.ndarray, start: float, end: float) -> tuple[float, int]:
    """(joules over [start, end] by trapezoids, interpolated at the edges; samples inside)."""
    inside = (times > start) & (times < end)
    if inside.sum() < 1 or times[0] > start or times[-1] < end:
        return math.nan, int(inside.sum())
    t = np.concatenate(([start], times[inside], [end]))
    w = np.concatenate(([np.interp(start, times, watts)], watts[inside], [np.interp(end, times, watts)]))
    return float(np.trapezoid(w, t)), int(inside.sum())


def estimate_delay(times: np.ndarray, watts: np.ndarray, bursts: Sequence[Burst], period: float,
                   limit: float = MAX_DELAY_S) -> float:
    """The shift (s, ≥ 0) at which the power trace best matches the bursts' on/off signal."""
    if times.size < 4 or not bursts:
        return 0.0
    step = max(period / 4, 0.002)
    centred = watts - watts.mean()
    best, best_score = 0.0, -math.inf
    starts = np.array([b.start for b in bursts])
    ends = np.array([b.end for b in bursts])
    for delay in np.arange(0.0, limit + step, step):
        shifted = times - delay
        on = ((shifted[:, None] >= starts) & (shifted[:, None] < ends)).any(axis=1)
        score = float(centred[on].sum())
        if score > best_score + 1e-12:
            best, best_score = float(delay), score
    return best


def profile(points: dict[str, Callable[[np.ndarray], Any]], images: Sequence[np.ndarray], log: SampleLog, *,
            bundle_path: str, family: str, monitor: str, board: str = "", seconds: float = 3.0, repeats: int = 3,
            say: Callable[[str], None] = lambda m: None, wait: Callable[[float], None] = time.sleep) -> EnergyProfile:
    """Measure idle power and each point's joules per inference (see the module docstring).

    Args:
        points: name → classify(image) for each operating point.
        images: int8 inputs cycled through the bursts.
        seconds: time given to each point, bursts and gaps together.
        wait: how the profiler idles (injected by tests; the monitor's thread keeps running).

    Raises:
        EdgeRuntimeError: the monitor gave no power reading at all.
    """
    if not log.wait_for(4, 10.0):
        raise EdgeRuntimeError(f"{monitor}: no power reading in 10 s: check the port and that the monitor "
                               "reports power (or voltage and current)")
    times, _ = log.arrays()
    period = float(np.median(np.diff(times))) if times.size > 1 else 1.0
    burst_s = max(0.3, 12 * period, seconds / (2 * repeats))
    gap_s = max(0.2, 4 * period, seconds / (2 * repeats))
    idle_s = max(1.0, 30 * period, seconds)
    total = idle_s + len(points) * repeats * (gap_s + burst_s) + gap_s + MAX_DELAY_S
    say(f"the monitor reports every {period * 1e3:.1f} ms: {idle_s:.1f} s of idle, then {repeats} bursts of "
        f"{burst_s:.1f} s for each of {len(points)} operating points; about {format_seconds(total)} in all")
    idle_start = time.monotonic()
    wait(idle_s)
    idle_end = time.monotonic()
    bursts: list[Burst] = []
    for index, (name, run) in enumerate(points.items()):
        for _ in range(repeats):
            wait(gap_s)
            start = time.monotonic()
            count = 0
            while True:
                run(images[count % len(images)])
                count += 1
                if count % 8 == 0 and time.monotonic() - start >= burst_s:
                    break
            bursts.append(Burst(name, start, time.monotonic(), count))
        left = (len(points) - index - 1) * repeats * (gap_s + burst_s) + gap_s + MAX_DELAY_S
        say(f"profiled {index + 1}/{len(points)}: {name} (ETA {format_seconds(left)})")
    wait(gap_s + MAX_DELAY_S)  # the monitor's late samples of the last burst
    times, watts = log.arrays()
    idle_mask = (times > idle_start + MAX_DELAY_S / 4) & (times < idle_end)
    if idle_mask.sum() < MIN_SAMPLES:
        raise EdgeRuntimeError(f"{monitor}: only {int(idle_mask.sum())} readings while idle: the monitor is too slow "
                               f"or went silent (expected one every {period:.2f} s)")
    idle_w = float(np.mean(watts[idle_mask]))
    idle_spread = float(np.std(watts[idle_mask]))
    delay = estimate_delay(times, watts, bursts, period)
    results: dict[str, PointEnergy] = {}
    for name in points:
        mine = [b for b in bursts if b.point == name]
        energies, used, samples = [], [], 0
        for burst in mine:
            joules, inside = integrate(times, watts, burst.start + delay, burst.end + delay)
            if inside >= MIN_SAMPLES and joules == joules:
                energies.append((joules - idle_w * (burst.end - burst.start)) / burst.inferences)
                used.append(burst)
                samples += inside
        runs = sum(b.inferences for b in mine)
        latency = sum(b.end - b.start for b in mine) / max(runs, 1) * 1e6
        if energies:
            results[name] = PointEnergy(round(latency, 3), sum(b.inferences for b in used), len(used), samples,
                                        float(np.mean(energies)), float(np.std(energies)))
        else:
            results[name] = PointEnergy(round(latency, 3), runs, 0, samples,
                                        missing=f"the monitor gave fewer than {MIN_SAMPLES} readings in every burst")
    reason = why_unordered(results)
    if reason is not None:
        raise EdgeRuntimeError(f"{monitor}: {reason}; idle {idle_w:.3f} W (± {idle_spread:.3f}), a reading every "
                               f"{period:.3g} s: check that the monitor measures this board's supply and that its power "
                               f"follows the work, its rate, and --seconds (longer bursts); nothing written")
    return EnergyProfile(FORMAT, VERSION, bundle_identity(bundle_path), bundle_path, family, monitor, round(idle_w, 6),
                         round(idle_spread, 6), round(delay, 4), round(period, 6), results, board,
                         datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
