"""A device read by asking, every period, on a thread: the I2C bus and commands share this loop.

A subclass says how to connect, how to take one reading (bytes for the profile's parser, or
``None`` when there is nothing new) and how to close. Failures are reported, never raised: a
failed reading is a ``garbled`` gap; ``failures_to_disconnect`` in a row close the device with a
``disconnected`` gap, and it is connected again with back-off (and a ``reconnected`` gap).
"""

from __future__ import annotations

import logging
import threading
import time

from ..samples import Gap
from .port import ChunkCallback, Clock, EventCallback, hand_over, reconnect

log = logging.getLogger(__name__)


class ReadingFailed(Exception):
    """One reading that did not work; the message says what and why."""


class PolledReader:
    """Calls :meth:`read` every ``period_s`` on one daemon thread and hands its bytes to ``on_chunk``.

    Threads: ``start()`` spawns the thread; ``on_chunk`` and ``on_event`` run on it. ``stop()`` may be
    called from any thread.
    """

    failures_to_disconnect = 3

    def __init__(self, name: str, on_chunk: ChunkCallback, on_event: EventCallback, *, period_s: float,
                 backoff: tuple[float, float] = (0.1, 5.0), monotonic: Clock = time.monotonic,
                 wall: Clock = time.time) -> None:
        self.url = name
        self.on_chunk = on_chunk
        self.on_event = on_event
        self.period_s = period_s
        self.backoff = backoff
        self.monotonic = monotonic
        self.wall = wall
        self.bytes_read = 0
        self.reconnects = 0
        self._connected = False
        self._failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # what a subclass provides
    def connect(self) -> None:
        """Reach the device; raise :class:`PortError` saying why not."""
        raise NotImplementedError

    def read(self) -> bytes | None:
        """One reading as bytes for the parser; ``None`` for nothing new; :class:`ReadingFailed` on failure."""
        raise NotImplementedError

    def close(self) -> None:
        """Let the device go (idempotent)."""

    # the loop
    def open(self) -> None:
        """Connect now, in the caller's thread, so a wrong bus or a missing command fails before anything starts."""
        if not self._connected:
            self.connect()
            self._connected = True

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self._run, name=f"poll {self.url}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is None:
            self._disconnect()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def poll_once(self) -> None:
        """One reading, its bytes or its failure reported (the loop's body; tests call it directly)."""
        try:
            data = self.read()
        except ReadingFailed as exc:
            self._failures += 1
            t_mono, t_wall = self.monotonic(), self.wall()
            if self._failures >= self.failures_to_disconnect:
                log.warning("%s: %s; reconnecting", self.url, exc)
                self._disconnect()
                self.on_event([Gap(t_mono, t_wall, "disconnected", f"{self.url}: {exc}")])
            else:
                self.on_event([Gap(t_mono, t_wall, "garbled", f"{self.url}: {exc}")])
            return
        self._failures = 0
        if data:
            self.bytes_read += len(data)
            hand_over(self.url, self.on_chunk, self.on_event, data, self.monotonic(), self.wall())

    def _run(self) -> None:
        next_at = self.monotonic()
        try:
            while not self._stop.is_set():
                if not self._connected and not self._reconnect():
                    return
                self.poll_once()
                next_at += self.period_s
                now = self.monotonic()
                if next_at < now:  # a slow reading: keep the period, do not burst to catch up
                    next_at = now
                if self._stop.wait(next_at - now):
                    return
        finally:
            self._disconnect()

    def _reconnect(self) -> bool:
        if not reconnect(self.url, self.connect, self._stop, self.backoff, self.on_event, self.monotonic, self.wall):
            return False
        self._connected = True
        self._failures = 0
        self.reconnects += 1
        return True

    def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self.close()
