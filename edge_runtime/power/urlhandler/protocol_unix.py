"""``unix://PATH``: a Unix-domain stream socket as a pyserial port (the PiSugar server's
``/tmp/pisugar-server.sock``). Everything but connecting is pyserial's ``socket://`` handler."""

from __future__ import annotations

import socket

from serial.serialutil import SerialException
from serial.urlhandler import protocol_socket


class Serial(protocol_socket.Serial):
    """A Unix-domain socket; settings such as the baud rate are ignored."""

    def open(self) -> None:
        self.logger = None
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        path = self.from_url(self.portstr)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(protocol_socket.POLL_TIMEOUT)
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise SerialException(f"Could not open port {self.portstr}: {exc}") from None
        sock.setblocking(False)
        self._socket = sock
        self.is_open = True
        self.reset_input_buffer()

    def from_url(self, url: str) -> str:  # type: ignore[override]
        if not url.lower().startswith("unix://") or len(url) <= len("unix://"):
            raise SerialException(f'expected a string in the form "unix:///path/to/socket", got {url!r}')
        return url[len("unix://"):]

    def _reconfigure_port(self) -> None:
        pass
