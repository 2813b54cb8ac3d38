"""Waiting on events instead of sleeping: a collector threads append to, and a child process whose
output lines are events."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any, Callable

TIMEOUT_S = 30.0  # generous: a failure, not a pace; the machine may be busy


class Collector:
    """A list other threads append to; :meth:`wait_for` blocks until a predicate on it holds."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = threading.Condition()

    def extend(self, items: list[Any]) -> None:
        with self._changed:
            self.items.extend(items)
            self._changed.notify_all()

    def append(self, item: Any) -> None:
        self.extend([item])

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = TIMEOUT_S) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.items), timeout)


class Child:
    """``python -m MODULE ARGS`` with its stderr lines collected as they come."""

    def __init__(self, module: str, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines = Collector()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, predicate: Callable[[str], bool], timeout: float = TIMEOUT_S) -> str:
        """The first stderr line for which ``predicate`` holds (waits for it)."""
        assert self.lines.wait_for(lambda lines: any(predicate(line) for line in lines), timeout), self.lines.items
        return next(line for line in self.lines.items if predicate(line))

    def finish(self, timeout: float = TIMEOUT_S) -> tuple[int, str]:
        """Exit code and stdout, once the child has ended."""
        # not communicate(): it would read stderr too, racing the reader thread for its lines
        assert self.process.stdout is not None
        with self.process.stdout:
            stdout = self.process.stdout.read()
        self.process.wait(timeout)
        self._reader.join(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode, stdout
