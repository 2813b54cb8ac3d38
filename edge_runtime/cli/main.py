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
import importlib
import logging
import sys

from .guard import one_line_warnings, run_guarded

# command → (its module, the one-line help the command list shows). Only the command typed is imported: a
# board running `run` or `info` loads neither the service, the profiler nor the plots (importing every
# command took 250–320 ms before `info` could start).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "classify image files"),
    "eval": ("evaluate", "sweep α over a test split and compare with the monolithic model"),
    "info": ("info", "summarise a bundle"),
    "calibrate": ("calibrate", "fit and store a bundle's α table (for bundles made without one)"),
    "profile": ("profile", "measure each operating point's joules with the power monitor"),
    "serve": ("serve", "run as a service: classify images from HTTP, a folder or a camera"),
    "demo": ("demo", "train, convert and evaluate the reference model on digits"),
}


def typed_command(argv: list[str]) -> str | None:
    """The command named in ``argv`` (its first word that is one), or None."""
    return next((word for word in argv if word in COMMANDS), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``command``'s full options (its module imported); the others are listed by name and help
    only. ``None``: every command in full (documentation, tests)."""
    parser = argparse.ArgumentParser(prog="edge-runtime", description="Energy-adaptive early-exit inference on the device.",
                                     epilog="Run 'edge-runtime COMMAND --help' for each command's options.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, summary) in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(f"{__package__}.{module}").add_parser(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(typed_command(argv) or "")
    args = parser.parse_args(argv)
    args.argv = argv  # what was typed, for commands that repeat it (serve --print-systemd-unit)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    one_line_warnings()
    from .common import check_runtime_options  # the runtime's modules, once a command is known

    check_runtime_options(parser, args)
    if hasattr(args, "monitor"):
        from .monitor_options import check_monitor_options

        check_monitor_options(parser, args)
    if hasattr(args, "check"):
        args.check(parser, args)
    return run_guarded(lambda: args.handler(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
