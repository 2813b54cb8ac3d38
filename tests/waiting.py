"""Waiting on events instead of sleeping: a collector threads append to, and a child process whose
output lines are events."""

from __future__ import annotations

import signal
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
    """``python -m MODULE ARGS`` with its stderr lines collected as they come (stdout kept whole)."""

    def __init__(self, module: str, *args: str) -> None:
        self.process = _spawn([sys.executable, "-m", module, *args])
        self.lines = Collector()
        self._stdout: list[str] = []
        self._readers = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        self._stdout.append(self.process.stdout.read())

    def wait_line(self, predicate: Callable[[str], bool], timeout: float = TIMEOUT_S) -> str:
        """The first stderr line for which ``predicate`` holds (waits for it)."""
        assert self.lines.wait_for(lambda lines: any(predicate(line) for line in lines), timeout), self.lines.items
        return next(line for line in self.lines.items if predicate(line))

    def finish(self, timeout: float = TIMEOUT_S) -> tuple[int, str]:
        """Exit code and stdout, once the child has ended (killed, and the test failed, if it does not)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the child did not exit within {timeout:g} s; stderr: {self.lines.items}")
        finally:
            for reader in self._readers:
                reader.join(timeout)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        return self.process.returncode, "".join(self._stdout)


def _spawn(argv: list[str]) -> subprocess.Popen:
    """Start a child that takes Ctrl-C as from a terminal. A runner started in the background by a
    non-interactive shell (``pytest &``) ignores SIGINT, and a child would inherit that and never stop."""
    ignored = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
