"""A pyserial port read in bulk on a reader thread, and what every transport's thread shares: handing a
chunk to its callback and reconnecting with back-off (see the package docstring for the thread rules)."""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from typing import Callable

import serial

from ...errors import EdgeRuntimeError
from ..samples import Event, Gap

if "edge_runtime.power.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("edge_runtime.power.urlhandler")

log = logging.getLogger(__name__)

ChunkCallback = Callable[[bytes, float, float], None]
EventCallback = Callable[[list[Event]], None]
Clock = Callable[[], float]


class PortError(EdgeRuntimeError):
    """A port that cannot be opened: missing, held by another process, a malformed URL.

    Attributes:
        url: the port's URL; reason: pyserial's or the OS's explanation.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


def split_baud(url: str) -> tuple[str, int | None]:
    """Take our ``baud=N`` option out of a URL's query (pyserial's handlers refuse unknown ones)."""
    if "?" not in url:
        return url, None
    base, query = url.split("?", 1)
    kept, baud = [], None
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key == "baud":
            try:
                baud = int(value)
            except ValueError:
                raise PortError(url, f'expected "baud=" followed by a rate like 9600, got {value!r}') from None
            if baud <= 0:
                raise PortError(url, f"expected a positive baud rate, got {baud}")
        else:
            kept.append((key, value))
    return (base + "?" + urllib.parse.urlencode(kept) if kept else base), baud


def open_port(url: str, baud: int, timeout: float, keep_input: bool = False) -> serial.SerialBase:
    """Open ``url`` with pyserial, locking it exclusively where the OS can (posix ports).

    pyserial discards the OS's input buffer on open. ``keep_input`` keeps it: after a replug,
    what the device sent before we reopened is data, not stale noise.
    """
    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=timeout, exclusive=True, do_not_open=True)
        flushes = [name for name in ("_reset_input_buffer", "reset_input_buffer") if keep_input and hasattr(port, name)]
        for name in flushes:
            setattr(port, name, lambda: None)
        port.open()
        for name in flushes:
            delattr(port, name)
        return port
    except serial.SerialException as exc:
        reason = str(exc)
        if "exclusively lock" in reason:
            reason = "held by another process (close the other program, or use a different port)"
        raise PortError(url, reason) from None
    except ValueError as exc:  # an unknown URL scheme, a bad option
        raise PortError(url, str(exc)) from None
    except OSError as exc:
        raise PortError(url, exc.strerror or str(exc)) from None


def hand_over(url: str, on_chunk: ChunkCallback, on_event: EventCallback, data: bytes, t_mono: float,
              t_wall: float) -> None:
    """Give ``data`` to ``on_chunk``; a bug in the callback becomes an ``internal_error`` gap naming the bytes
    not parsed, never the end of the reader thread."""
    try:
        on_chunk(data, t_mono, t_wall)
    except Exception as exc:  # noqa: BLE001 - a callback's bug must not end the reader
        log.error("%s: could not handle %d bytes (%s: %s)", url, len(data), type(exc).__name__, exc,
                  exc_info=log.isEnabledFor(logging.DEBUG))
        on_event([Gap(t_mono, t_wall, "internal_error", f"{type(exc).__name__}: {exc} ({len(data)} bytes not parsed)",
                      len(data))])


def reconnect(url: str, attempt: Callable[[], None], stop: threading.Event, backoff: tuple[float, float],
              on_event: EventCallback, monotonic: Clock, wall: Clock) -> bool:
    """Call ``attempt`` (it raises :class:`PortError` while the device is away), waiting from ``backoff[0]``
    doubling to ``backoff[1]`` s between tries, until it works (True, after a ``reconnected`` gap) or ``stop``
    is set (False)."""
    lost_at = monotonic()
    wait = backoff[0]
    while not stop.wait(wait):
        try:
            attempt()
        except PortError as exc:
            log.debug("%s: still away (%s)", url, exc.reason)
            wait = min(wait * 2, backoff[1])
            continue
        away = monotonic() - lost_at
        log.warning("%s: reconnected after %.1f s", url, away)
        on_event([Gap(monotonic(), wall(), "reconnected", f"{url} back after {away:.1f} s")])
        return True
    return False


class PortReader:
    """A pyserial port read in bulk on a background thread, reconnecting after an unplug.

    Args:
        url: a pyserial URL (``?baud=`` stripped by the caller).
        baud: the baud rate.
        on_chunk: gets (bytes, t_monotonic, t_wall) for every read.
        on_event: gets transport events: ``disconnected`` and ``reconnected`` gaps.
        on_end: called once when a finite source (``replay://``) is exhausted.
        requests: bytes written every ``poll_s`` (request/response devices).
        backoff: first and longest wait between reconnection attempts, s.
    """

    def __init__(self, url: str, baud: int, on_chunk: ChunkCallback, on_event: EventCallback, *,
                 on_end: Callable[[], None] | None = None, requests: tuple[bytes, ...] = (),
                 poll_s: float = 0.0, backoff: tuple[float, float] = (0.1, 5.0),
                 monotonic: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self.url = url
        self.baud = baud
        self.on_chunk = on_chunk
        self.on_event = on_event
        self.on_end = on_end
        self.requests = requests
        self.poll_s = poll_s
        self.backoff = backoff
        self.monotonic = monotonic
        self.wall = wall
        self.bytes_read = 0
        self.reconnects = 0
        self._port: serial.SerialBase | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Open the port now, in the caller's thread, so a bad URL fails before anything starts."""
        self._port = open_port(self.url, self.baud, timeout=0.05)

    def start(self) -> None:
        if self._port is None:
            self.open()
        self._thread = threading.Thread(target=self._run, name=f"reader {self.url}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread and close the port (also when the thread never started)."""
        self._stop.set()
        if self._thread is None:
            if self._port is not None:
                self._close(self._port)
                self._port = None
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        next_poll = 0.0
        try:
            while not self._stop.is_set():
                port = self._port
                if port is None:
                    port = self._reconnect()
                    if port is None:
                        return
                try:
                    if self.requests and self.monotonic() >= next_poll:
                        for request in self.requests:
                            port.write(request)
                        next_poll = self.monotonic() + self.poll_s
                    data = port.read(port.in_waiting or 1)
                except (serial.SerialException, OSError) as exc:
                    self._lost(port, str(exc))
                    continue
                if data:
                    self.bytes_read += len(data)
                    hand_over(self.url, self.on_chunk, self.on_event, data, self.monotonic(), self.wall())
                elif getattr(port, "finished", False):
                    if self.on_end is not None:
                        self.on_end()
                    return
        finally:
            if self._port is not None:
                self._close(self._port)

    def _lost(self, port: serial.SerialBase, reason: str) -> None:
        log.warning("%s: lost the port (%s); reconnecting", self.url, reason)
        self._close(port)
        self._port = None
        self.on_event([Gap(self.monotonic(), self.wall(), "disconnected", f"{self.url}: {reason}")])

    def _reconnect(self) -> serial.SerialBase | None:
        def attempt() -> None:
            self._port = open_port(self.url, self.baud, timeout=0.05, keep_input=True)

        if not reconnect(self.url, attempt, self._stop, self.backoff, self.on_event, self.monotonic, self.wall):
            return None
        self.reconnects += 1
        return self._port

    @staticmethod
    def _close(port: serial.SerialBase) -> None:
        try:
            port.close()
        except (serial.SerialException, OSError):
            pass
