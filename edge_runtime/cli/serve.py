"""``edge-runtime serve``: run as a service on the board, images from HTTP, a folder or a camera.

SIGTERM or Ctrl-C finishes the image in hand, flushes the results and exits 0 within a second; the log
goes to stderr (journald keeps it under systemd).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from typing import Any

from ..serve.http import MAX_CONNECTIONS, READ_TIMEOUT_S, parse_address
from ..serve.service import Service
from ..serve.systemd import unit_file
from ..serve.worker import FixedAlpha
from .arg_types import positive_float, positive_int, unit_interval
from .common import DEFAULT_ALPHA, add_audit_options, add_runtime_options, check_audit_options, open_from_args
from .monitor_options import add_monitor_options, start_live_alpha

log = logging.getLogger("edge_runtime.serve")
DEFAULT_HTTP = "127.0.0.1:8080"


def address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run as a service: classify images from HTTP, a folder or a camera",
                           description="Keep the bundle loaded and classify images as they come, α fixed or "
                                       "following the battery. Without a source, serves HTTP on 127.0.0.1:8080.")
    add_runtime_options(serve)
    serve.add_argument("--http", nargs="?", const=DEFAULT_HTTP, type=address, metavar="HOST:PORT",
                       help=f"POST /classify, GET /health, GET /metrics (default {DEFAULT_HTTP}; another address, "
                            "0.0.0.0:8080 for every interface, must be given)")
    serve.add_argument("--watch", metavar="DIR", help="classify each new image file in DIR once it is written")
    serve.add_argument("--camera", metavar="SRC", help="frames from a V4L2 camera (0, /dev/video0), a video file or "
                       "a stream URL, through OpenCV (the camera extra)")
    serve.add_argument("--fps", type=positive_float, default=5.0, help="--camera: frames a second at most (default 5)")
    serve.add_argument("--results", metavar="FILE.jsonl",
                       help="append every answer here, one JSON line each ('-': standard output)")
    serve.add_argument("--alpha", type=unit_interval, help=f"fixed α without --monitor (default {DEFAULT_ALPHA:g}: the "
                       "most accurate operating point at the least energy)")
    add_audit_options(serve)
    serve.add_argument("--queue", type=positive_int, default=32, help="images that may wait (default 32); beyond, "
                       "HTTP answers 503 with Retry-After and camera frames are dropped")
    serve.add_argument("--max-body", type=positive_float, default=10.0, metavar="MB",
                       help="largest request body in MB (default 10)")
    serve.add_argument("--read-timeout", type=positive_float, default=READ_TIMEOUT_S, metavar="S",
                       help=f"seconds a request's body may take to arrive whole, and any read may wait "
                            f"(default {READ_TIMEOUT_S:g}); then 408 and the connection is closed")
    serve.add_argument("--max-connections", type=positive_int, default=MAX_CONNECTIONS, metavar="N",
                       help=f"open HTTP connections at most (default {MAX_CONNECTIONS}); beyond, 503 at once")
    serve.add_argument("--print-systemd-unit", action="store_true",
                       help="print a systemd unit running this command (as you, in this folder) and exit")
    add_monitor_options(serve)
    serve.set_defaults(handler=cmd_serve, check=check)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.monitor and args.alpha is not None:
        parser.error("--monitor sets α from the battery: drop --alpha")
    check_audit_options(parser, args)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.print_systemd_unit:
        typed = args.argv[args.argv.index("serve") + 1:]
        argv = [os.path.abspath(a) if a == args.bundle else a for a in typed if a != "--print-systemd-unit"]
        print(unit_file(argv, f"edge-adaptive inference service ({os.path.basename(os.path.abspath(args.bundle))})"),
              end="")
        return 0
    logging.getLogger("edge_runtime").setLevel(logging.DEBUG if args.debug else logging.INFO)
    runtime = open_from_args(args)
    live = start_live_alpha(args, runtime)
    fixed = DEFAULT_ALPHA if args.alpha is None else args.alpha
    alpha = live if live is not None else FixedAlpha(fixed, runtime.plan_for_alpha(fixed))
    service = Service(runtime, alpha, results=args.results, queue_size=args.queue, live=live,
                      audit_rate=args.audit, adapt=args.adapt, audit_budget=args.audit_budget)
    stop = threading.Event()
    try:
        if args.http is None and not args.watch and not args.camera:
            args.http = parse_address(DEFAULT_HTTP)
        max_pixels = args.max_pixels
        if args.http is not None:
            server = service.add_http(args.http, int(args.max_body * 1e6), max_pixels, args.read_timeout,
                                      args.max_connections)
            host, port = server.server_address[:2]
            log.info("serving http://%s:%d (POST /classify, GET /health, GET /metrics)", host, port)
        if args.watch:
            service.add_watch(args.watch, max_pixels)
            log.info("watching %s", args.watch)
        camera = service.add_camera(args.camera, args.fps) if args.camera else None
        service.start()
        log.info("%s: α %s; results %s", runtime.bundle.path, f"from {args.monitor} ({args.policy})" if live else
                 f"= {alpha.current.alpha:g}",
                 args.results or "not kept (--results FILE.jsonl, or - for standard output)")
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            only_camera = camera is not None and args.http is None and not args.watch
            while not stop.wait(0.2):
                if only_camera and camera.ended.is_set():
                    break  # a video file that ended, and nothing else to serve
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        service.stop()
    log.info("stopped: %d served, %d refused", service.worker.served,
             service.worker.refused + service.refused_before_queue)
    return 0
