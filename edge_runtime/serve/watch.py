"""The folder source: each new image file in a folder is classified once, when it is completely written.

The folder is scanned every ``poll_s`` (a portable poll: inotify is Linux-only and misses files on network
shares). A file is taken once its size and modification time have not changed between two scans and it
decodes to the end; a file still being written fails to decode and is tried again at the next scan, until
it has been still for ``settle_s``, after which it is logged and skipped as not an image. Hidden files and
``*.partial`` / ``*.tmp`` names (the usual write-then-rename temporaries) are never read. Files already in
the folder when the service starts are handled once, like new ones.

Thread rules: the watcher runs one daemon thread; it only decodes files and queues jobs.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ..core.preprocess import DEFAULT_MAX_PIXELS
from ..errors import ImageTooLargeError, InputError, NotAnImageError
from .source import Source
from .worker import Job

log = logging.getLogger(__name__)
TEMPORARY_SUFFIXES = (".partial", ".tmp", ".part", ".crdownload", "~")


class FolderWatcher(Source):
    """Watches ``folder`` and queues each new image to ``service.worker``.

    Args:
        max_pixels: refuse images with more pixels (logged and skipped).
        settle_s: how long an undecodable file must stay unchanged before it is skipped as not an image.
    """

    def __init__(self, folder: str, service: Any, *, poll_s: float = 0.25, settle_s: float = 2.0,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        if not os.path.isdir(folder):
            raise InputError(folder, "--watch: no such folder")
        super().__init__(f"watch {folder}")
        self.folder = folder
        self.service = service
        self.poll_s, self.settle_s, self.max_pixels = poll_s, settle_s, max_pixels
        self.seen: dict[str, tuple[int, int]] = {}  # path → (size, mtime) at the last scan
        self.still_since: dict[str, float] = {}
        self.done: set[tuple[str, int, int]] = set()  # (path, size, mtime) handled or skipped
        self.skipped = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - a folder that vanishes or a bug must not end the service
                log.error("watch %s: %s: %s", self.folder, type(exc).__name__, exc,
                          exc_info=log.isEnabledFor(logging.DEBUG))
            self._stop.wait(self.poll_s)

    def scan(self, now: float) -> None:
        """One pass over the folder (watcher thread, or a test)."""
        entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        present = set()
        for entry in entries:
            if entry.name.startswith(".") or entry.name.endswith(TEMPORARY_SUFFIXES) or not entry.is_file():
                continue
            stat = entry.stat()
            key = (stat.st_size, stat.st_mtime_ns)
            present.add(entry.path)
            if (entry.path, *key) in self.done or self.service.worker.stopping:
                continue
            if self.seen.get(entry.path) != key:
                self.seen[entry.path] = key
                self.still_since[entry.path] = now
                continue  # changed since the last scan: still being written, perhaps
            self.take(entry.path, key, now)
        for path in list(self.seen):
            if path not in present:
                self.seen.pop(path, None)
                self.still_since.pop(path, None)

    def take(self, path: str, key: tuple[int, int], now: float) -> None:
        try:
            pixels = self.service.preprocessor.load_pixels(path, path, self.max_pixels)
        except NotAnImageError as exc:
            if now - self.still_since.get(path, now) < self.settle_s:
                return  # may be half written: try again at the next scan
            self._skip(path, key, str(exc))
            return
        except (ImageTooLargeError, InputError) as exc:
            self._skip(path, key, str(exc))
            return
        if self.service.worker.submit(Job(pixels, "watch", path)):
            self.done.add((path, *key))
        # a full queue: the file stays unhandled and is offered again at the next scan

    def _skip(self, path: str, key: tuple[int, int], reason: str) -> None:
        self.done.add((path, *key))
        self.skipped += 1
        self.service.refuse("watch", "not_an_image")
        log.warning("watch: skipping %s", reason)
