"""A kernel fuel gauge: a power_supply folder whose files are rewritten on a daemon thread."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .wire import ValueSource


class SysfsEmulator:
    """A kernel gauge: writes a power_supply folder's files every ``interval_s`` (µV, µA, %)."""

    def __init__(self, folder: str, values: ValueSource, *, interval_s: float = 0.2,
                 negative_current: bool = True) -> None:
        self.folder = Path(folder)
        self.values = values
        self.interval_s = interval_s
        self.negative_current = negative_current
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    def write_once(self) -> None:
        v = self.values(self.written, 0.0)
        self.folder.mkdir(parents=True, exist_ok=True)
        amps = -v["current_a"] if self.negative_current else v["current_a"]
        files = {"voltage_now": f"{round(v['voltage_v'] * 1e6)}\n", "current_now": f"{round(amps * 1e6)}\n",
                 "capacity": f"{round(v['percent'])}\n", "status": "Discharging\n", "temp": "250\n"}
        for name, text in files.items():
            tmp = self.folder / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, self.folder / name)
        self.written += 1

    def start(self) -> "SysfsEmulator":
        self.write_once()
        self._thread = threading.Thread(target=self._run, name="sysfs emulator", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
