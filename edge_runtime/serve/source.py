"""What every image source of ``serve`` shares: a daemon thread running the source's loop until stopped.

Thread rules: :meth:`Source.start` and :meth:`Source.stop` are called from the service's thread; the loop
(``_run``) runs on the source's own thread and ends when ``_stop`` is set.
"""

from __future__ import annotations

import threading
from typing import TypeVar

SourceT = TypeVar("SourceT", bound="Source")


class Source:
    """A loop on a daemon thread named ``name``; subclasses implement ``_run`` and poll ``self._stop``."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self: SourceT) -> SourceT:
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the loop to end and wait for it up to ``timeout`` seconds."""
        self._stop.set()
        self._thread.join(timeout)
