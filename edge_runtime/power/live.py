"""The live α: a monitor read on a background thread, turned into the α (and the exit plan) that
each inference reads.

The inference thread only reads :attr:`LiveAlpha.current`, one attribute holding an immutable
:class:`AlphaReading` that the monitor thread replaces whole (an atomic reference swap in
CPython), so reading α costs one attribute load and never waits for the monitor. The plan for
each α is compiled on the monitor thread and cached.

Failure rules: a monitor that goes silent or breaks keeps the last α for ``grace_s``, then
``safe_alpha``; each change is logged once; the inference loop never stops for the monitor.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from typing import Any, Callable, NamedTuple

from ..errors import EdgeRuntimeError
from .battery import BatteryState, SocEstimator
from .policies import Policy
from .profiles import BatteryProfile, MonitorProfile
from .samples import Event, Gap, Sample
from .transports import Monitor

log = logging.getLogger(__name__)


class AlphaReading(NamedTuple):
    """What one inference uses.

    Attributes:
        alpha: the trade-off factor in [0, 1].
        soc: state of charge 0–1 (nan before the first reading).
        source: "start" (no reading yet), "monitor", "held" (silent, within the grace
            period) or "safe" (silent beyond it).
        plan: the runtime's plan for ``alpha`` (opaque here).
        t_monotonic: when this reading was published, s.
    """

    alpha: float
    soc: float
    source: str
    plan: Any
    t_monotonic: float


class LiveAlpha:
    """Owns a :class:`Monitor`, a :class:`SocEstimator` and a policy; publishes :attr:`current`.

    Args:
        plan_for: α → the runtime's plan (called on the monitor thread, results cached per 0.001 of α).
            It must not touch the interpreter, which belongs to the inference thread: the runtimes'
            ``plan_for_alpha`` only combine signature handles opened when the runtime was built.
        grace_s: how long a silent monitor's last α is kept, s.
        safe_alpha: the α used after that, and before the first reading.
    """

    def __init__(self, profile: MonitorProfile, url: str, battery: BatteryProfile | None, policy: Policy,
                 plan_for: Callable[[float], Any], *, baud: int | None = None, grace_s: float = 30.0,
                 safe_alpha: float = 0.5, monitor: Any = None) -> None:
        names = {f.name for f in profile.fields}
        if battery is None and "percent" not in names:
            raise EdgeRuntimeError(f"--monitor {profile.name}: this monitor reports no state of charge, so a battery "
                                   f"profile is needed: add --battery NAME (for example liion-1s-pisugar)")
        self.profile = profile
        self.policy = policy
        self.plan_for = plan_for
        self.grace_s = grace_s
        self.safe_alpha = safe_alpha
        self.estimator = SocEstimator(battery)
        self.samples = 0
        self.gaps: Counter[str] = Counter()
        self.errors = 0
        self._plans: dict[float, Any] = {}
        self._last_sample = time.monotonic()
        self._first = threading.Event()
        self._reading = threading.Condition()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.current = AlphaReading(safe_alpha, math.nan, "start", self._plan(safe_alpha), time.monotonic())
        self.monitor = monitor if monitor is not None else Monitor(profile, url, self._on_events, baud=baud)

    @property
    def state(self) -> BatteryState | None:
        return self.estimator.state

    @property
    def last_reading_at(self) -> float:
        """``time.monotonic()`` of the last sample folded in (of the start before the first), s."""
        return self._last_sample

    def _plan(self, alpha: float) -> Any:
        key = round(alpha, 3)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self.plan_for(key)
        return plan

    def _publish(self, alpha: float, soc: float, source: str) -> None:
        self.current = AlphaReading(alpha, soc, source, self._plan(alpha), time.monotonic())

    def _on_events(self, events: list[Event]) -> None:
        """Monitor thread. Never raises: a fault here must not end the reader."""
        try:
            for event in events:
                if isinstance(event, Gap):
                    self.gaps[event.reason] += event.count
                    continue
                self.feed(event)
        except Exception as exc:  # noqa: BLE001 - keep reading; the watchdog falls back to the safe α
            self.errors += 1
            log.error("monitor %s: could not use a sample (%s: %s)", self.profile.name, type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))

    def feed(self, sample: Sample) -> None:
        """Fold one sample in and publish the new α (monitor thread, or a test)."""
        self.samples += 1
        prev_state = self.estimator.state
        state = self.estimator.update(sample)
        if state is None:
            return
        self._last_sample = time.monotonic()
        dt = state.t_monotonic - prev_state.t_monotonic if prev_state else 0.0
        previous = self.current.alpha
        alpha = min(max(float(self.policy(state, state.t_wall, previous, dt)), 0.0), 1.0)
        if self.current.source in ("held", "safe"):
            log.warning("monitor %s: readings are back (α = %.3f)", self.profile.name, alpha)
        self._publish(alpha, state.soc, "monitor")
        self._first.set()
        with self._reading:
            self._reading.notify_all()

    def check_silence(self, now: float | None = None) -> None:
        """Apply the grace/safe rule (watchdog thread, or a test)."""
        now = time.monotonic() if now is None else now
        silent = now - self._last_sample
        current = self.current
        if silent > self.grace_s and current.source != "safe":
            log.warning("monitor %s: silent for %.0f s: using the safe α = %g", self.profile.name, silent,
                        self.safe_alpha)
            self._publish(self.safe_alpha, current.soc, "safe")
        elif silent > max(3 * self.profile.transport.period_s, 1.0) and current.source == "monitor":
            log.warning("monitor %s: silent for %.1f s: keeping α = %.3f for up to %g s", self.profile.name, silent,
                        current.alpha, self.grace_s)
            self.current = current._replace(source="held")

    def _watch(self) -> None:
        period = min(1.0, max(self.grace_s / 4, 0.05))
        while not self._stop.wait(period):
            try:
                self.check_silence()
            except Exception as exc:  # noqa: BLE001 - the watchdog must outlive a bug
                log.error("monitor watchdog: %s: %s", type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))

    def start(self) -> "LiveAlpha":
        """Open the monitor (errors raise here, in the caller's thread) and start both threads."""
        self.monitor.open()
        self._last_sample = time.monotonic()
        self.monitor.start()
        self._watchdog = threading.Thread(target=self._watch, name="alpha watchdog", daemon=True)
        self._watchdog.start()
        return self

    def wait_first(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the first reading; False if none came."""
        return self._first.wait(timeout)

    def wait_samples(self, count: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s until ``count`` samples have been folded in (any thread)."""
        with self._reading:
            return self._reading.wait_for(lambda: self.samples >= count, timeout)

    def stop(self) -> None:
        self._stop.set()
        self.monitor.stop()
        if self._watchdog is not None:
            self._watchdog.join(5)
