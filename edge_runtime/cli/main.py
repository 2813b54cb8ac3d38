"""``edge-runtime``: run bundles on the device.

    edge-runtime run BUNDLE IMAGE… [--alpha A | --accuracy Ã] [--json]
    edge-runtime eval BUNDLE --dataset D [--threads N] [--json] [--plot FILE.png]
    edge-runtime info BUNDLE [--json]
    edge-runtime calibrate BUNDLE --dataset D
    edge-runtime profile BUNDLE --monitor PROFILE@URL --out ENERGY.json
    edge-runtime serve BUNDLE [--http HOST:PORT] [--watch DIR] [--camera SRC] [--monitor …]
    edge-runtime demo [--json]

Data goes to stdout, progress and diagnostics to stderr; errors are one ``Error: …`` line
(exit 1; usage errors exit 2), with a traceback only under ``--debug``. Each command is one
module of this package that registers its parser and handler.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import calibrate, demo, evaluate, info, profile, run, serve
from .common import check_runtime_options
from .guard import one_line_warnings, run_guarded
from .monitor_options import check_monitor_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-runtime", description="Energy-adaptive early-exit inference on the device.",
                                     epilog="Run 'edge-runtime COMMAND --help' for each command's options.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (run, evaluate, info, calibrate, profile, serve, demo):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # what was typed, for commands that repeat it (serve --print-systemd-unit)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    one_line_warnings()
    check_runtime_options(parser, args)
    check_monitor_options(parser, args)
    if hasattr(args, "check"):
        args.check(parser, args)
    return run_guarded(lambda: args.handler(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
