"""A serial firmware on a real pseudo-terminal (``os.openpty``) reached through a stable symlink, as
socat's ``link=`` gives; "unplugging" closes the terminal and "replugging" opens a new one behind the
same link. Request/response firmwares (RDTech) answer what is written to them.

Threads: the emulator runs one daemon thread.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty

from edge_runtime.power.profiles import MonitorProfile

from .wire import ValueSource, encode_record, header


class PtyEmulator:
    """A serial firmware on a pseudo-terminal, reachable at ``link`` (a symlink to the pty).

    Args:
        profile: the firmware to speak.
        link: the stable path users open (like socat's ``link=``).
        values: record number and seconds since start → the record's values.
        interval_s: seconds between records; 0 writes as fast as the reader takes them.
        count: stop after this many records (``None``: until stopped).
    """

    def __init__(self, profile: MonitorProfile, link: str, values: ValueSource, *, interval_s: float = 1.0,
                 count: int | None = None, variant: int = 0, chunk_records: int = 64) -> None:
        self.profile = profile
        self.link = link
        self.values = values
        self.interval_s = interval_s
        self.count = count
        self.variant = variant
        self.chunk_records = chunk_records
        self.written = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()
        self.done = threading.Event()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass as the firmware sent them
        tmp = f"{self.link}.tmp{os.getpid()}"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.link)
        except OSError as exc:
            os.close(master)
            os.close(slave)
            raise OSError(exc.errno, f"cannot create the link: {exc.strerror}", self.link) from None
        self._master, self._slave = master, slave

    def open(self) -> "PtyEmulator":
        """Create the terminal and the link without writing yet (open the reader, then start)."""
        if self._master < 0:
            self._open_pty()
        return self

    def start(self) -> "PtyEmulator":
        self.open()
        self._thread = threading.Thread(target=self._run, name=f"emulator {self.profile.name}", daemon=True)
        self._thread.start()
        return self

    def unplug(self) -> None:
        """Close the terminal as a USB unplug would; the link then points nowhere."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd >= 0:
                    os.close(fd)
            self._master = self._slave = -1

    def replug(self) -> None:
        with self._lock:
            self._open_pty()

    def stop(self, drain_s: float = 2.0) -> None:
        """Stop writing, let the reader take what is still queued (up to ``drain_s``, and only while
        it keeps reading), then close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        deadline = time.monotonic() + drain_s
        queued, idle_since = self._queued(), time.monotonic()
        while self._slave >= 0 and queued > 0 and time.monotonic() < min(deadline, idle_since + 0.2):
            time.sleep(0.01)
            now_queued = self._queued()
            if now_queued < queued:  # somebody is reading: keep waiting
                idle_since = time.monotonic()
            queued = now_queued
        self.unplug()
        if os.path.lexists(self.link):
            os.unlink(self.link)

    def _queued(self) -> int:
        """Bytes written but not yet read by the other side."""
        try:
            return struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return 0

    def write_raw(self, data: bytes) -> bool:
        """Send ``data`` as the firmware would (any bytes: garbage, half a line); False once unplugged."""
        view = memoryview(data)
        while view:
            with self._lock:
                fd = self._master
            if fd < 0:
                return False
            try:
                n = os.write(fd, view)
            except OSError:
                return False
            view = view[n:]
        return True

    def _record(self) -> bytes:
        data = encode_record(self.profile, self.values(self.written, time.monotonic() - self._start), self.variant)
        return data

    def _run(self) -> None:
        requests = self.profile.transport.requests
        if header(self.profile):
            self.write_raw(header(self.profile))
        next_at = time.monotonic()
        while not self._stop.is_set() and (self.count is None or self.written < self.count):
            if requests:
                self._answer(requests)
                continue
            if self.interval_s > 0:
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                next_at += self.interval_s
                n = 1
            else:
                n = self.chunk_records if self.count is None else min(self.chunk_records, self.count - self.written)
            records = []
            for _ in range(n):
                records.append(self._record())
                self.written += 1
            if not self.write_raw(b"".join(records)):
                self.written -= n  # the terminal was unplugged: those records never left
                self._stop.wait(0.05)
        self.done.set()

    def _answer(self, requests: tuple[bytes, ...]) -> None:
        """Request/response firmware: answer each complete request read from the terminal."""
        with self._lock:
            fd = self._master
        if fd < 0:
            self._stop.wait(0.05)
            return
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            return
        try:
            data = os.read(fd, 4096)
        except OSError:
            self._stop.wait(0.05)
            return
        for _ in range(sum(data.count(r) for r in requests)):
            if self.write_raw(self._record()):
                self.written += 1
