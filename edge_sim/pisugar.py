"""The PiSugar power manager's text protocol on a Unix socket. Threads: one per client, daemon."""

from __future__ import annotations

import os
import socket
import threading

from .wire import ValueSource


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
