"""The HTTP source: ``POST /classify`` (an image as the body), ``GET /health``, ``GET /metrics``.

Each request is handled on its own thread (``ThreadingHTTPServer``): it reads and decodes the body, queues
the pixels for the worker and waits for the answer. Bodies over the size limit, images over the pixel
limit (decompression bombs) and non-images are answered with a JSON error (413, 413, 415) before anything is
queued; a full queue is a 503 with ``Retry-After``. The service keeps serving whatever a request sends.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import ImageTooLargeError, InputError, NotAnImageError
from .worker import Job

log = logging.getLogger(__name__)
ANSWER_TIMEOUT_S = 30.0


class ClassifyServer(ThreadingHTTPServer):
    """Binds ``address``; ``service`` gives the worker, the preprocessing, the health and the metrics."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: Any, max_body: int, max_pixels: int) -> None:
        self.service = service
        self.max_body = max_body
        self.max_pixels = max_pixels
        self.counter = 0
        self.counter_lock = threading.Lock()
        super().__init__(address, Handler)

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
        body = self.rfile.read(int(length))
        number = self.server.next_id()
        name = f"request {number}"
        try:
            pixels = service.preprocessor.load_pixels(io.BytesIO(body), name, self.server.max_pixels)
        except ImageTooLargeError as exc:
            service.refuse("http", "too_large")
            self.error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc))
            return
        except NotAnImageError as exc:
            service.refuse("http", "not_an_image")
            self.error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc))
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


def start_http(address: tuple[str, int], service: Any, max_body: int, max_pixels: int) -> ClassifyServer:
    """Bind and serve on a daemon thread; returns the server (``server_address`` has the port bound)."""
    server = ClassifyServer(address, service, max_body, max_pixels)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True).start()
    return server
