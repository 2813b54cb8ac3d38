"""Firmware emulation: a simulated battery and monitors that speak any shipped profile.

Used by ``tools/power_emulator.py``, the tests and ``edge-runtime demo --battery``. A serial
monitor is emulated on a real pseudo-terminal (``os.openpty``) reached through a stable
symlink, as socat's ``link=`` gives; "unplugging" closes the terminal and "replugging" opens
a new one behind the same link. Request/response firmwares (RDTech) answer what is written
to them; the PiSugar server is emulated on a Unix socket; a kernel gauge as a folder of files.

Threads: each emulator runs one daemon thread; :class:`SimulatedBattery` is locked and may be
drained from any thread.
"""

from __future__ import annotations

import fcntl
import math
import os
import socket
import struct
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Callable, Mapping

from edge_runtime.power.profiles import BatteryProfile, MonitorProfile

SHUNT_OHM = 0.1


class SimulatedBattery:
    """A battery pack drained by the energy reported to it.

    ``capacity_j`` overrides the profile's capacity (a demo scales a real pack down so that a
    charge lasts seconds). Terminal voltage is OCV(SoC) − I·R. Thread-safe.
    """

    def __init__(self, profile: BatteryProfile, soc: float = 1.0, capacity_j: float | None = None,
                 base_load_w: float = 0.0) -> None:
        self.profile = profile
        self.capacity_j = capacity_j if capacity_j is not None else profile.capacity_c * profile.nominal_voltage_v
        self.base_load_w = base_load_w
        self._energy_j = soc * self.capacity_j
        self._load_w = base_load_w
        self._lock = threading.Lock()

    @property
    def soc(self) -> float:
        with self._lock:
            return max(self._energy_j, 0.0) / self.capacity_j

    @property
    def empty(self) -> bool:
        with self._lock:
            return self._energy_j <= 0.0

    def consume(self, joules: float, seconds: float) -> None:
        """Take ``joules`` spent over ``seconds`` (the base load is added); sets the present load."""
        with self._lock:
            total = joules + self.base_load_w * seconds
            self._energy_j -= total
            if seconds > 0:
                self._load_w = total / seconds

    def reading(self) -> dict[str, float]:
        """What a monitor on the battery's terminals would read now (SI units)."""
        with self._lock:
            soc = max(self._energy_j, 0.0) / self.capacity_j
            load = self._load_w
        ocv = self.profile.ocv_volts(soc)
        r = self.profile.internal_resistance_ohm
        # V = OCV − I·R and P = V·I, solved for I
        disc = ocv * ocv - 4 * r * load
        current = (ocv - math.sqrt(max(disc, 0.0))) / (2 * r) if r > 0 else load / ocv
        volts = ocv - current * r
        return record_values(volts, current, volts * current, soc * 100.0)


def record_values(volts: float, amps: float, watts: float, percent: float, t: float = 0.0,
                  charge_c: float = 0.0, energy_j: float = 0.0) -> dict[str, float]:
    """Every name a profile's ``[emulate] template`` may use, for one record."""
    return {"voltage_v": volts, "current_a": amps, "power_w": watts, "percent": percent,
            "current_ma": amps * 1e3, "power_mw": watts * 1e3, "shunt_v": amps * SHUNT_OHM,
            "shunt_mv": amps * SHUNT_OHM * 1e3, "t": t, "charge_c": charge_c, "energy_j": energy_j}


def encode_record(profile: MonitorProfile, values: Mapping[str, float], variant: int = 0) -> bytes:
    """One record as the firmware would send it (text template or binary frame)."""
    if profile.framing.type == "binary":
        return encode_frame(profile, values, variant)
    if not profile.emulate_template:
        raise ValueError(f"{profile.name}: the profile has no [emulate] template")
    return profile.emulate_template.format(**values).encode()


def encode_frame(profile: MonitorProfile, values: Mapping[str, float], variant: int = 0) -> bytes:
    """A binary frame of ``profile.framing.variants[variant]`` carrying ``values``."""
    f = profile.framing
    v = f.variants[variant]
    frame = bytearray(f.length)
    frame[f.sync_offset:f.sync_offset + f.sync_size] = v.sync_value.to_bytes(f.sync_size, "big")
    for spec in profile.fields:
        if spec.name not in values or spec.offset is None:
            continue
        raw = round(values[spec.name] / v.scales.get(spec.name, spec.scale))
        limit = 1 << (8 * spec.size)
        raw = min(max(raw, -(limit >> 1) if spec.signed else 0), (limit >> 1) - 1 if spec.signed else limit - 1)
        frame[spec.offset:spec.offset + spec.size] = raw.to_bytes(spec.size, "big", signed=spec.signed)
    if v.check == "xor":
        x = 0
        for byte in frame[:-1]:
            x ^= byte
        frame[-1] = x
    else:
        frame[f.end_offset:f.end_offset + f.end_size] = f.end_value.to_bytes(f.end_size, "big")
    return bytes(frame)


def header(profile: MonitorProfile) -> bytes:
    """The header line a CSV firmware prints first (empty for other framings)."""
    if profile.framing.type != "csv" or not profile.framing.header:
        return b""
    return (profile.framing.delimiter.join(s.column or "" for s in profile.fields) + "\n").encode()


ValueSource = Callable[[int, float], Mapping[str, float]]


def battery_values(battery: SimulatedBattery) -> ValueSource:
    def values(seq: int, t: float) -> Mapping[str, float]:
        reading = battery.reading()
        reading["t"] = t
        return reading
    return values


def pattern_values(seq: int, t: float) -> Mapping[str, float]:
    """Deterministic values from the record number, so a capture can be checked row by row."""
    volts = 3.0 + (seq % 1000) / 1000.0
    amps = 0.1 + (seq % 997) / 10000.0
    return record_values(volts, amps, volts * amps, 50.0, t)


def pattern_check(seq: int, volts: float, amps: float) -> bool:
    """True when a captured (volts, amps) is what :func:`pattern_values` sent as record ``seq``."""
    v = pattern_values(seq, 0.0)
    return abs(volts - v["voltage_v"]) < 5e-4 and abs(amps - v["current_a"]) < 5e-6


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

    def _write(self, data: bytes) -> bool:
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
            self._write(header(self.profile))
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
            if not self._write(b"".join(records)):
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
        import select

        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            return
        try:
            data = os.read(fd, 4096)
        except OSError:
            self._stop.wait(0.05)
            return
        for _ in range(sum(data.count(r) for r in requests)):
            if self._write(self._record()):
                self.written += 1


class PiSugarServerEmulator:
    """The PiSugar power manager's text protocol on a Unix socket: ``get KEY`` → ``KEY: value``."""

    def __init__(self, path: str, values: ValueSource, *, model: str = "PiSugar 2", old_mv: bool = False,
                 events: bool = False) -> None:
        self.path = path
        self.values = values
        self.model = model
        self.old_mv = old_mv
        self.events = events
        self.answered = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "PiSugarServerEmulator":
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(4)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, name="pisugar emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def reply(self, key: str, seq: int) -> str:
        v = self.values(seq, 0.0)
        if key == "battery":
            return f"battery: {v['percent']:.5f}"
        if key == "battery_v":
            return f"battery_v: {v['voltage_v'] * 1000:.4f}" if self.old_mv else f"battery_v: {v['voltage_v']:.5f}"
        if key == "battery_i":
            return "Invalid request." if self.model == "PiSugar 3" else f"battery_i: {v['current_a']:.5f}"
        if key == "battery_power_plugged":
            return "battery_power_plugged: false"
        if key == "model":
            return f"model: {self.model}"
        return "Invalid request."

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buffer = b""
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                out = []
                for line in lines:
                    words = line.decode(errors="replace").split()
                    if len(words) == 2 and words[0] == "get":
                        if self.events and self.answered % 3 == 1:
                            out.append("single")
                        out.append(self.reply(words[1], self.answered))
                        self.answered += 1
                if out:
                    try:
                        conn.sendall(("\n".join(out) + "\n").encode())
                    except OSError:
                        return


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
