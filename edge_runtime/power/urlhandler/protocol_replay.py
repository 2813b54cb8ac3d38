"""``replay://PATH[?speed=S]``: a recorded raw log (``edge-capture --raw``) played back as a port.

With the capture's ``PATH.idx`` beside it, bytes come out with their recorded timing divided by
``speed``; without one, at the port's baud rate (10 bits a byte) times ``speed``. ``speed=0``
plays as fast as the reader reads. At the end ``finished`` becomes true and reads return
nothing; writes (poll requests) are accepted and dropped.
"""

from __future__ import annotations

import bisect
import os
import time
import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException


MAX_CHUNK = 65536


class Serial(SerialBase):
    """A read-only port over a file. Not thread-safe: one reader thread.

    ``clock`` (seconds, monotonic) paces the replay; tests may replace it on an instance.
    """

    clock = staticmethod(time.monotonic)

    def open(self) -> None:
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        path, self._speed = self._parse(self.portstr)
        try:
            with open(path, "rb") as file:
                self._data = file.read()
        except OSError as exc:
            raise SerialException(f"Could not open port {self.portstr}: {exc.strerror}") from None
        self._schedule = self._read_index(path + ".idx")
        self._pos = 0
        self._start = self.clock()
        self.finished = False
        self.is_open = True

    def restart(self) -> None:
        """Play from the first byte again, timed from now on ``clock``."""
        self._pos = 0
        self._start = self.clock()
        self.finished = False

    @staticmethod
    def _parse(url: str) -> tuple[str, float]:
        parts = urllib.parse.urlsplit(url)
        form = 'expected a string in the form "replay:///path/to/capture.raw[?speed=1]"'
        if parts.scheme.lower() != "replay":
            raise SerialException(f"{form}, got {url!r}")
        path = parts.netloc + parts.path
        speed = 1.0
        for key, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
            if key != "speed":
                raise SerialException(f"{form}: unknown option {key!r}")
            try:
                speed = float(values[0])
            except ValueError:
                raise SerialException(f"{form}: speed must be a number ≥ 0, got {values[0]!r}") from None
            if speed < 0:
                raise SerialException(f"{form}: speed must be a number ≥ 0, got {speed}")
        if not path:
            raise SerialException(f"{form}, got {url!r}")
        return path, speed

    @staticmethod
    def _read_index(path: str) -> tuple[list[float], list[int]] | None:
        """(seconds since the first chunk, end offset) of each recorded chunk, or None."""
        if not os.path.exists(path):
            return None
        times: list[float] = []
        ends: list[int] = []
        first = None
        with open(path, encoding="utf-8") as file:
            for line in file:
                cells = line.strip().split(",")
                try:
                    t, offset, length = float(cells[0]), int(cells[2]), int(cells[3])
                except (ValueError, IndexError):
                    continue  # the header, or a torn last line
                first = t if first is None else first
                times.append(t - first)
                ends.append(offset + length)
        return (times, ends) if times else None

    def _available_end(self) -> int:
        if self._speed == 0:
            return len(self._data)
        elapsed = (self.clock() - self._start) * self._speed
        if self._schedule is None:
            return min(len(self._data), int(elapsed * self._baudrate / 10))
        times, ends = self._schedule
        i = bisect.bisect_right(times, elapsed)
        return min(ends[i - 1], len(self._data)) if i else 0

    @property
    def in_waiting(self) -> int:
        """Bytes ready now, at most 64 KiB (a kernel tty buffer holds 4 KiB: reads stay chunk-sized)."""
        if not self.is_open:
            raise PortNotOpenError()
        return min(MAX_CHUNK, max(0, self._available_end() - self._pos))

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = time.monotonic() + (self._timeout if self._timeout is not None else 1e9)
        while True:
            end = min(self._available_end(), self._pos + size)
            if end > self._pos:
                chunk = self._data[self._pos:end]
                self._pos = end
                return chunk
            if self._pos >= len(self._data):
                self.finished = True
                return b""
            if time.monotonic() >= deadline:
                return b""
            time.sleep(0.001)

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return len(data)

    def close(self) -> None:
        self.is_open = False

    def _reconfigure_port(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        pass

    def reset_output_buffer(self) -> None:
        pass
