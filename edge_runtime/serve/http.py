"""The HTTP source: ``POST /classify`` (an image as the body), ``GET /health``, ``GET /metrics``.

Each request is handled on its own thread (``ThreadingHTTPServer``): it reads and decodes the body, queues
the pixels for the worker and waits for the answer. Bodies over the size limit, images over the pixel
limit (decompression bombs) and non-images are answered with a JSON error (413, 413, 415) before anything is
queued; a full queue is a 503 with ``Retry-After``. The body is the image, or one file of a
``multipart/form-data`` upload (``curl -F image=@photo.jpg``), parsed by the standard library's ``email``.
The service keeps serving whatever a request sends.

A client cannot hold the service: every read waits at most ``read_timeout`` seconds, a body must arrive
whole within that deadline (408 otherwise; a client that sent fewer bytes than its Content-Length held a
connection for over 40 s), and beyond ``max_connections`` open connections a new one is answered 503 at once
and closed, without a thread.
"""

from __future__ import annotations

import email.parser
import email.policy
import errno
import io
import json
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import EdgeRuntimeError, ImageTooLargeError, InputError, NotAnImageError
from .worker import Job

log = logging.getLogger(__name__)
ANSWER_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 256
_BUSY_BODY = (json.dumps({"error": "too many connections: try again", "status": 503}) + "\n").encode()
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY)
WHAT_TO_SEND = ("send the image itself as the body (curl --data-binary @photo.jpg), or one file as "
                "multipart/form-data (curl -F image=@photo.jpg)")


class ClassifyServer(ThreadingHTTPServer):
    """Binds ``address``; ``service`` gives the worker, the preprocessing, the health and the metrics.

    Thread rules: connections are accepted on the serving thread, each handled on its own thread, at most
    ``max_connections`` at a time.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: Any, max_body: int, max_pixels: int,
                 read_timeout: float = READ_TIMEOUT_S, max_connections: int = MAX_CONNECTIONS) -> None:
        self.service = service
        self.max_body = max_body
        self.max_pixels = max_pixels
        self.read_timeout = read_timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        self.counter = 0
        self.counter_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:  # answered on the accepting thread, in one write, without reading the request
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def next_id(self) -> int:
        with self.counter_lock:
            self.counter += 1
            return self.counter


class Handler(BaseHTTPRequestHandler):
    server: ClassifyServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write, on a socket without Nagle's delay: written apart, a small
    # response waits for the client's delayed ACK (40 ms a request on Linux).
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # each read of a request line, header or body waits this long
        super().setup()

    def read_body(self, length: int) -> bytes | None:
        """The body, read whole within the server's read deadline; None (and a 408) when it does not arrive."""
        deadline = time.monotonic() + self.server.read_timeout
        chunks, received = [], 0
        try:
            while received < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - received, 64 * 1024))
                if not chunk:
                    raise ConnectionResetError
                chunks.append(chunk)
                received += len(chunk)
        except (TimeoutError, socket.timeout):
            self.close_connection = True
            self.server.service.refuse("http", "timeout")
            self.error(HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within {self.server.read_timeout:g} s "
                       f"({received:,d} of {length:,d} bytes)")
            return None
        except OSError:
            self.close_connection = True
            return None
        finally:
            self.connection.settimeout(self.server.read_timeout)
        return b"".join(chunks)

    def image_bytes(self, body: bytes) -> bytes | None:
        """The image a request carries: its body, or the one file of a multipart/form-data upload (None, and a
        400 or 415, when there is not exactly one)."""
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/"):
            return body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
        files = [part for part in message.iter_parts() if part.get_filename() is not None] if \
            message.is_multipart() else []
        if len(files) != 1:
            self.server.service.refuse("http", "bad_request")
            self.error(HTTPStatus.BAD_REQUEST if files else HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                       f"a multipart upload with {len(files)} files: {WHAT_TO_SEND}")
            return None
        return files[0].get_payload(decode=True) or b""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def reply(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.reply(status, (json.dumps(data) + "\n").encode(), headers=headers)

    def error(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        self.json(status, {"error": message, "status": status.value}, headers)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.json(HTTPStatus.OK, self.server.service.health())
        elif path == "/metrics":
            self.reply(HTTPStatus.OK, self.server.service.metrics.text(), "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/classify":
            self.error(HTTPStatus.METHOD_NOT_ALLOWED, "POST an image to /classify", {"Allow": "POST"})
        else:
            self.error(HTTPStatus.NOT_FOUND, f"no {path}: expected POST /classify, GET /health or GET /metrics")

    def do_POST(self) -> None:  # noqa: N802
        service = self.server.service
        if self.path.split("?", 1)[0] != "/classify":
            self.error(HTTPStatus.NOT_FOUND, f"no {self.path}: expected POST /classify")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self.error(HTTPStatus.LENGTH_REQUIRED, "send the image with a Content-Length")
            return
        if int(length) > self.server.max_body:
            self.close_connection = True  # the body stays unread: this connection cannot be reused
            service.refuse("http", "too_large")
            self.error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       f"the body is {int(length):,d} bytes, more than the {self.server.max_body:,d} accepted")
            return
        body = self.read_body(int(length))
        if body is None:
            return
        image = self.image_bytes(body)
        if image is None:
            return
        number = self.server.next_id()
        name = f"request {number}"
        try:
            pixels = service.preprocessor.load_pixels(io.BytesIO(image), name, self.server.max_pixels)
        except ImageTooLargeError as exc:
            service.refuse("http", "too_large")
            self.error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc))
            return
        except NotAnImageError as exc:
            service.refuse("http", "not_an_image")
            self.error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"{exc}: {WHAT_TO_SEND}")
            return
        except InputError as exc:
            service.refuse("http", "bad_request")
            self.error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        answered = threading.Event()
        outcome: dict[str, Any] = {}

        def done(record: dict[str, Any] | None, error: str | None) -> None:
            outcome.update(record=record, error=error)
            answered.set()

        if not service.worker.submit(Job(pixels, "http", name, done)):
            reason = "the service is stopping" if service.worker.stopping else "the queue is full"
            self.error(HTTPStatus.SERVICE_UNAVAILABLE, f"{reason}: try again", {"Retry-After": "1"})
            return
        if not answered.wait(ANSWER_TIMEOUT_S):
            self.error(HTTPStatus.GATEWAY_TIMEOUT, f"no answer within {ANSWER_TIMEOUT_S:g} s")
            return
        if outcome["record"] is None:
            self.error(HTTPStatus.SERVICE_UNAVAILABLE, outcome["error"], {"Retry-After": "1"})
            return
        self.json(HTTPStatus.OK, outcome["record"])


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``, ``PORT``) → (host, port); the host defaults to 127.0.0.1."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT like 127.0.0.1:8080, got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def start_http(address: tuple[str, int], service: Any, max_body: int, max_pixels: int,
               read_timeout: float = READ_TIMEOUT_S, max_connections: int = MAX_CONNECTIONS) -> ClassifyServer:
    """Bind and serve on a daemon thread; returns the server (``server_address`` has the port bound).

    Raises:
        EdgeRuntimeError: the address cannot be bound (in use, not this machine's, a privileged port), named.
    """
    try:
        server = ClassifyServer(address, service, max_body, max_pixels, read_timeout, max_connections)
    except OSError as exc:
        shown = f"{address[0]}:{address[1]}"
        if exc.errno == errno.EADDRINUSE:
            raise EdgeRuntimeError(f"--http {shown}: the address is already in use (another service on that port: "
                                   "choose another, e.g. --http 127.0.0.1:8081)") from None
        raise EdgeRuntimeError(f"--http {shown}: cannot listen there ({exc.strerror or exc})") from None
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True).start()
    return server
