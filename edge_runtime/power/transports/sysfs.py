"""A kernel fuel gauge's ``/sys/class/power_supply/<name>`` folder, polled on a thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..parsers import decode_sysfs
from ..profiles import MonitorProfile
from ..samples import Event, Gap
from .port import Clock, EventCallback, PortError


class SysfsReader:
    """Polls a ``/sys/class/power_supply/<name>`` folder every ``period_s`` on a thread.

    A file that vanishes (the gauge's driver unloaded) gives one ``disconnected`` gap and the
    reader keeps polling until it is back.
    """

    def __init__(self, folder: str, profile: MonitorProfile, on_event: EventCallback, *, period_s: float = 1.0,
                 monotonic: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self.folder = Path(folder)
        self.profile = profile
        self.on_event = on_event
        self.period_s = period_s
        self.monotonic = monotonic
        self.wall = wall
        self.bytes_read = 0
        self.reconnects = 0
        self._files = sorted({spec.file for spec in profile.fields if spec.file})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._away = False

    def open(self) -> None:
        if not self.folder.is_dir():
            raise PortError(str(self.folder), "no such power_supply folder (see ls /sys/class/power_supply)")

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self._run, name=f"sysfs {self.folder}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def read_once(self) -> Event | None:
        files: dict[str, str] = {}
        for name in self._files:
            try:
                text = (self.folder / name).read_text()
            except FileNotFoundError:
                continue  # not every driver has every file (power_now is rare)
            except OSError as exc:  # ENODEV while the gauge resets
                return Gap(self.monotonic(), self.wall(), "garbled", f"{self.folder / name}: {exc.strerror}")
            self.bytes_read += len(text)
            files[name] = text
        if not files:
            if not self._away:
                self._away = True
                return Gap(self.monotonic(), self.wall(), "disconnected", f"{self.folder}: no readable files")
            return None
        if self._away:
            self._away = False
            self.reconnects += 1
            self.on_event([Gap(self.monotonic(), self.wall(), "reconnected", f"{self.folder} is back")])
        return decode_sysfs(self.profile, files, self.monotonic(), self.wall())

    def _run(self) -> None:
        while True:
            event = self.read_once()
            if event is not None:
                self.on_event([event])
            if self._stop.wait(self.period_s):
                return
