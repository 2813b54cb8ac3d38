"""Records appended to a JSON Lines file (serve's results, run's trace), one ``write`` per record, so a crash
loses at most the record being written; ``-`` is standard output, flushed per record. Thread-safe."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from ..errors import EdgeRuntimeError


class JsonLines:
    """``path`` opened for appending (created if missing); ``option`` names it in errors."""

    def __init__(self, path: str, option: str = "--results") -> None:
        self.path = path
        self._lock = threading.Lock()
        self.written = 0
        self._stdout = path == "-"
        if self._stdout:
            self._fd = -1
            return
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise EdgeRuntimeError(f"{option} {path}: cannot write: {exc.strerror}") from None

    def append(self, record: dict[str, Any]) -> None:
        if self._stdout:
            with self._lock:
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
                self.written += 1
            return
        data = (json.dumps(record) + "\n").encode()
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            self.written += 1

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
