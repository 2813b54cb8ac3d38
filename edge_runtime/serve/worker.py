"""The one thread that owns the interpreter: jobs arrive through a bounded queue, each is classified under
the plan α holds at that moment, and its record goes to the results file, the metrics and the job's caller.

Thread rules: :meth:`Worker.submit` may be called from any thread and never blocks; everything touching
the runtime runs on the worker thread; ``done`` callbacks run there too and must not block.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..core.preprocess import Preprocessor
from ..power.live import AlphaReading
from ..core.adapt import PromiseKeeper
from ..core.audit import DEFAULT_AUDIT_RATE, AgreementAudit, Checked
from .metrics import Metrics
from ..core.jsonl import JsonLines

log = logging.getLogger(__name__)
Done = Callable[[dict[str, Any] | None, str | None], None]


@dataclass
class Job:
    """One image to classify: uint8 pixels (H, W, C) already in the bundle's mode and size."""

    pixels: np.ndarray
    source: str  # http, watch or camera
    name: str  # a file path, a request number, a frame number
    done: Done | None = None  # (record, None) once answered, (None, reason) when it could not be
    queued_at: float = field(default_factory=time.monotonic)


class FixedAlpha:
    """α given on the command line: the same plan for every image."""

    def __init__(self, alpha: float, plan: Any) -> None:
        self.reading = AlphaReading(alpha, math.nan, "fixed", plan, time.monotonic())

    @property
    def current(self) -> AlphaReading:
        return self.reading


class Worker:
    """Owns ``runtime``: classifies queued jobs one at a time.

    Args:
        alpha: anything with a ``current`` :class:`AlphaReading` (a :class:`FixedAlpha` or a live monitor's).
        queue_size: jobs that may wait; beyond it :meth:`submit` refuses (HTTP answers 503).
    """

    def __init__(self, runtime: Any, alpha: Any, metrics: Metrics, results: JsonLines | None = None,
                 queue_size: int = 32, audit_rate: float = DEFAULT_AUDIT_RATE, adapt: bool = False,
                 audit_budget: float | None = None) -> None:
        self.runtime = runtime
        self.audit = AgreementAudit(audit_rate, budget=audit_budget)
        self.keeper = (PromiseKeeper(runtime, self.audit, log.warning)
                       if adapt and getattr(runtime, "alpha_plans", None) is not None else None)
        self.audit_snapshot: dict[str, Any] = self.audit.snapshot()  # replaced whole: any thread may read it
        self.alpha = alpha
        self.metrics = metrics
        self.results = results
        self.pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self.served = 0
        self.refused = 0
        self.failed = 0
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # called with each record (worker thread)
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._stopping = threading.Event()

    def start(self) -> "Worker":
        self._thread.start()
        return self

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False (and nothing queued) when the queue is full or the worker is stopping."""
        if self._stopping.is_set():
            self.refused += 1
            self.metrics.requests.labels(job.source, "stopping").inc()
            return False
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            self.refused += 1
            self.metrics.requests.labels(job.source, "busy").inc()
            return False
        self.metrics.queue.set(self.jobs.qsize())
        return True

    def stop(self, timeout: float = 1.0) -> None:
        """Finish the job in hand, refuse the ones still queued, and end the thread."""
        self._stopping.set()
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._finish(job, None, "the service is stopping")
        try:
            self.jobs.put_nowait(None)
        except queue.Full:  # pragma: no cover - emptied just above
            pass
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            self.metrics.queue.set(self.jobs.qsize())
            if job is None:
                return
            try:
                self._finish(job, self.classify(job), None)
            except Exception as exc:  # noqa: BLE001 - one bad job must not end the service
                self.failed += 1
                log.error("%s %s: %s: %s", job.source, job.name, type(exc).__name__, exc,
                          exc_info=log.isEnabledFor(logging.DEBUG))
                self.metrics.requests.labels(job.source, "error").inc()
                self._finish(job, None, f"{type(exc).__name__}: {exc}")

    def classify(self, job: Job) -> dict[str, Any]:
        """Classify one job now (worker thread) and record it."""
        point = self.alpha.current
        image = self.pre.from_pixels(job.pixels)
        start = time.perf_counter_ns()
        plan = point.plan if self.keeper is None else self.keeper.plan(point.alpha, point.plan)
        decision = self.runtime.classify(image, plan)
        latency_s = (time.perf_counter_ns() - start) * 1e-9
        where = self.runtime.describe(decision)
        macs, audited = decision.macs, None
        skipped = self.audit.skipped
        checked = self.audit.check(self.runtime, image, decision, point.alpha)
        if checked is not None:  # the monolithic network's answer too; its MACs count for this image
            audited = self._audited(image, checked, point.alpha)
            macs += checked.macs
        elif self.audit.skipped > skipped:
            self.metrics.audit_skipped.inc()
            self.audit_snapshot = self.audit.snapshot()  # whole before /health can read it (another thread)
        record = {"source": job.source, "name": job.name, "label": self.runtime.bundle.labels[decision.label],
                  "class_index": decision.label, "confidence": round(decision.confidence, 6), **where,
                  "macs": macs, "latency_us": round(latency_s * 1e6, 2), "alpha": round(point.alpha, 6),
                  "soc": None if point.soc != point.soc else round(point.soc, 4), "alpha_source": point.source,
                  "t_wall": round(time.time(), 6), "wait_ms": round((time.monotonic() - job.queued_at) * 1e3, 3)}
        if audited is not None:
            record["audit"] = audited
        if self.results is not None:
            self.results.append(record)
        self.served += 1
        metrics = self.metrics
        metrics.requests.labels(job.source, "ok").inc()
        metrics.latency.observe(latency_s)
        metrics.macs.inc(macs)
        metrics.alpha.set(point.alpha)
        metrics.soc.set(point.soc)
        ratio = self.audit.cost_drift.ratio()
        metrics.cost_vs_table.set(float("nan") if ratio is None else ratio)
        metrics.answers.labels(where["exit_name"]).inc()
        for observe in self.observers:
            observe(record)
        return record

    def _audited(self, image: Any, checked: Checked, alpha: float) -> dict[str, Any]:
        """An audited ``image``: the keeper sees it, /health and /metrics learn the audit; the record's audit."""
        agrees = checked.agrees
        if self.keeper is not None:
            self.keeper.observe(image, checked.reference, agrees, alpha)
        snapshot = self.audit.snapshot()
        if self.keeper is not None:
            snapshot["cap"] = self.runtime.alpha_plans.cap
        self.audit_snapshot = snapshot  # whole before /health can read it (another thread)
        self.metrics.audited.labels("yes" if agrees else "no").inc()
        for name in ("agreement", "low", "high", "promise"):
            value = snapshot[name]
            self.metrics.agreement.labels(name).set(float("nan") if value is None else value)
        return {"agrees": agrees, **snapshot}

    @staticmethod
    def _finish(job: Job, record: dict[str, Any] | None, error: str | None) -> None:
        if job.done is not None:
            try:
                job.done(record, error)
            except Exception as exc:  # noqa: BLE001 - the caller's callback must not end the worker
                log.error("%s %s: the result could not be handed back (%s)", job.source, job.name, exc)
