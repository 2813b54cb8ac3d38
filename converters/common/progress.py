"""Progress for people, and TensorFlow's own output kept out of their way.

TensorFlow and Keras print to the process's file descriptors 1 and 2 from C++ and Python
(a SavedModel dump for every export, converter statistics, absl warnings). While
:func:`tf_output_to` is active those descriptors point at a log file; :class:`Progress`
writes to a duplicate of the original stderr taken before, so it stays visible.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import IO, Iterator

from edge_runtime.core.units import format_seconds


class Progress:
    """Progress lines on the terminal's stderr, with elapsed seconds. Not thread-safe."""

    def __init__(self, stream: IO[str] | None = None, quiet: bool = False) -> None:
        self._owned = False
        if stream is None and not quiet:
            try:
                stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
                self._owned = True
            except (AttributeError, OSError, ValueError):  # stderr is no file (captured, redirected in-process)
                stream = sys.stderr
        self._stream = stream
        self._start = time.monotonic()
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet and self._stream is not None:
            self._stream.write(f"[{time.monotonic() - self._start:6.1f}s] {message}\n")
            self._stream.flush()

    def close(self) -> None:
        """Close the duplicated stderr this object opened (if any)."""
        if self._owned and self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Countdown:
    """Time left for ``total`` similar steps, from the mean time of the steps done. Not thread-safe."""

    def __init__(self, total: int, clock=time.monotonic) -> None:
        self.total, self.done, self.clock = total, 0, clock
        self.started = clock()

    def step(self) -> str:
        """Count one step done; → ``step 3 of 9, ETA 2 min 10 s`` (or ``step 9 of 9``)."""
        self.done += 1
        left = (self.clock() - self.started) / self.done * (self.total - self.done)
        where = f"step {self.done} of {self.total}"
        return where if self.done >= self.total else f"{where}, ETA {format_seconds(left)}"


@contextlib.contextmanager
def tf_output_to(log_path: str | None) -> Iterator[None]:
    """Send everything written to fds 1 and 2 to ``log_path`` (appending); no-op for None."""
    if log_path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def import_tensorflow():
    """Import TensorFlow with its C++ logging reduced to errors."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf
