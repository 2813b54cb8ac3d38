"""The service: one runtime, one worker, the sources that feed it, and what ``/health`` reports.

Lifecycle: :meth:`Service.start` starts the worker, then the sources; :meth:`Service.stop` stops the
sources first (no new images), lets the worker finish the image in hand while refusing the queued ones,
closes the results file and stops the monitor. Both are called from the main thread.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .camera import CameraSource
from .http import MAX_CONNECTIONS, READ_TIMEOUT_S, ClassifyServer, start_http
from ..core.audit import DEFAULT_AUDIT_RATE
from .metrics import Metrics
from ..core.jsonl import JsonLines
from .watch import FolderWatcher
from .worker import Worker

log = logging.getLogger(__name__)


class Service:
    """``runtime`` served with α from ``alpha`` (a :class:`~.worker.FixedAlpha` or a live monitor's)."""

    def __init__(self, runtime: Any, alpha: Any, *, results: str | None = None, queue_size: int = 32,
                 live: Any = None, audit_rate: float = DEFAULT_AUDIT_RATE, adapt: bool = False,
                 audit_budget: float | None = None) -> None:
        self.runtime = runtime
        self.alpha = alpha
        self.live = live
        self.metrics = Metrics()
        self.results = JsonLines(results) if results else None
        self.worker = Worker(runtime, alpha, self.metrics, self.results, queue_size, audit_rate, adapt,
                             audit_budget)
        self.preprocessor = self.worker.pre
        self.sources: list[Any] = []
        self.http: ClassifyServer | None = None
        self.refused_before_queue = 0
        self.started = time.monotonic()

    def add_http(self, address: tuple[str, int], max_body: int, max_pixels: int, read_timeout: float = READ_TIMEOUT_S,
                 max_connections: int = MAX_CONNECTIONS) -> ClassifyServer:
        self.http = start_http(address, self, max_body, max_pixels, read_timeout, max_connections)
        self.sources.append(self.http)
        return self.http

    def add_watch(self, folder: str, max_pixels: int, poll_s: float = 0.25) -> FolderWatcher:
        watcher = FolderWatcher(folder, self, max_pixels=max_pixels, poll_s=poll_s)
        self.sources.append(watcher)
        return watcher

    def add_camera(self, source: str, fps: float) -> CameraSource:
        camera = CameraSource(source, self, fps)
        self.sources.append(camera)
        return camera

    def start(self) -> "Service":
        self.worker.start()
        for source in self.sources:
            if not isinstance(source, ClassifyServer):  # the HTTP server serves from the moment it binds
                source.start()
        return self

    def refuse(self, source: str, outcome: str) -> None:
        """Count an image refused before it reached the queue (not an image, too large)."""
        self.refused_before_queue += 1
        self.metrics.requests.labels(source, outcome).inc()

    def health(self) -> dict[str, Any]:
        point = self.alpha.current
        bundle = self.runtime.bundle
        audit = self.worker.audit_snapshot
        # degraded: the audited agreement's whole interval is more than a point under the α table's promise
        status = "stopping" if self.worker.stopping else "degraded" if audit["status"] == "degraded" else "ok"
        return {"status": status, "audit": audit, "bundle": bundle.path,
                "family": bundle.family, "rule": getattr(self.runtime, "rule", "frontier"),
                "alpha": round(point.alpha, 6), "soc": None if point.soc != point.soc else round(point.soc, 4),
                "alpha_source": point.source, "served": self.worker.served,
                "refused": self.worker.refused + self.refused_before_queue, "failed": self.worker.failed,
                "queue": self.worker.jobs.qsize(), "uptime_s": round(time.monotonic() - self.started, 3),
                "monitor_samples": None if self.live is None else self.live.samples}

    def stop(self, timeout: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        for source in self.sources:
            if isinstance(source, ClassifyServer):
                source.shutdown()
                source.server_close()
            else:
                source.stop(max(0.05, deadline - time.monotonic()))
        self.worker.stop(max(0.05, deadline - time.monotonic()))
        if self.results is not None:
            self.results.close()
        if self.live is not None:
            self.live.stop()
