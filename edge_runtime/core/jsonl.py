"""Records appended to a JSON Lines file (serve's results, run's trace), one ``write`` per record, so a crash
loses at most the record being written; ``-`` is standard output, flushed per record (a reader that goes away,
``serve --results - | head``, is said once; later records go nowhere). Thread-safe."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any

from ..errors import EdgeRuntimeError

log = logging.getLogger(__name__)


class JsonLines:
    """``path`` opened for appending (created if missing); ``option`` names it in errors."""

    def __init__(self, path: str, option: str = "--results") -> None:
        self.path = path
        self.option = option
        self._lock = threading.Lock()
        self.written = 0
        self._stdout = path == "-"
        self._reader_gone = False  # standard output's reader went away
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
                if self._reader_gone:
                    return
                try:
                    sys.stdout.write(json.dumps(record) + "\n")
                    sys.stdout.flush()
                except BrokenPipeError:
                    self._reader_gone = True
                    # stdout's buffer still holds the record: point the descriptor at nothing so that neither
                    # later flushes nor the interpreter's exit raise again
                    nowhere = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(nowhere, sys.stdout.fileno())
                    os.close(nowhere)
                    log.warning("%s -: standard output was closed; answers are no longer written", self.option)
                    return
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
