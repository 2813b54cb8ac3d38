"""``edge-capture``: record a power monitor to CSV without losing a sample.

    edge-capture --port URL --profile NAME --out FILE [--duration S] [--rotate-mb N] [--raw] [--plot PNG]
    edge-capture --list-profiles

The summary (records, gaps, duration, mean power, energy) goes to stdout (``--json`` for one
JSON object); progress and warnings go to stderr. Ctrl-C or SIGTERM ends cleanly with the
summary; errors are one ``Error: …`` line (exit 1; usage errors exit 2).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from ..power.capture.log import CaptureError, CaptureLog
from ..power.capture.plot import plot_capture, read_events
from ..power.capture.run import print_summary, run_capture
from ..power.profiles import available, load_profile
from .arg_types import positive_float, positive_int
from .guard import one_line_warnings, run_guarded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-capture",
        description="Record a power monitor (serial, socket, sysfs, I2C or a command like vcgencmd) to a CSV file, "
                    "stamping each record when it arrives, marking every gap, flushing every second.",
        epilog="Ports are pyserial URLs: /dev/ttyACM0, loop://, socket://HOST:PORT, rfc2217://HOST:PORT, "
               "hwgrep://REGEX, unix:///PATH, replay:///PATH.raw?speed=S. Add ?baud=N to override the profile's rate. "
               "I2C sensors: /dev/i2c-1 or /dev/i2c-1?address=0x41. Command profiles (pi5-pmic) need no port.")
    parser.add_argument("--port", default="", metavar="URL", help="the monitor's port (default: the profile's, if any)")
    parser.add_argument("--profile", metavar="NAME", help="the firmware profile (name, or path to a .toml)")
    parser.add_argument("--out", metavar="FILE", help="the CSV to write")
    parser.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--records", type=positive_int, metavar="N", help="stop after N records")
    parser.add_argument("--rotate-mb", type=positive_float, metavar="N", help="start FILE.1.csv, FILE.2.csv… every N MB")
    parser.add_argument("--raw", action="store_true", help="also keep the raw bytes in FILE.raw (+ FILE.raw.idx timing)")
    parser.add_argument("--plot", metavar="PNG", help="draw power over time to this PNG at the end")
    parser.add_argument("--events", metavar="FILE.jsonl", help="with --plot: draw these inference events (edge-runtime "
                        "run --trace) over the power")
    parser.add_argument("--events-clock", choices=("monotonic", "wall"), default="monotonic",
                        help="the clock events and capture share: monotonic on one board (default), wall across "
                             "machines")
    parser.add_argument("--events-offset", type=float, default=0.0, metavar="S",
                        help="seconds to add to the events' clock to reach the capture's (across machines)")
    parser.add_argument("--baud", type=int, help="override the profile's baud rate")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--append", action="store_true", help="continue an existing capture")
    mode.add_argument("--force", action="store_true", help="replace an existing capture")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--list-profiles", action="store_true", help="list the monitor profiles and exit")
    parser.add_argument("--debug", action="store_true", help="tracebacks and debug logs")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    one_line_warnings()
    if not args.list_profiles:
        missing = [flag for flag, value in (("--profile", args.profile), ("--out", args.out)) if not value]
        if missing:
            parser.error("the following arguments are required: " + ", ".join(missing))
        if args.baud is not None and args.baud <= 0:
            parser.error(f"--baud must be a positive rate, got {args.baud}")

    def handle() -> int:
        if args.list_profiles:
            names = {name: str(path) for name, path in available("monitor").items()}
            if args.json:
                print(json.dumps(names))
            else:
                for name, path in names.items():
                    print(f"{name}\t{path}")
            return 0
        return _capture(args, load_profile(args.profile, "monitor"))

    return run_guarded(handle, args.debug)


def _capture(args: argparse.Namespace, profile) -> int:
    for path, what in ((args.out, "the capture"), (args.plot, "the plot")):
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise CaptureError(f"{path}: cannot write {what}: the folder {folder} does not exist")
    def make_capture() -> CaptureLog:
        return CaptureLog(args.out, max_dt_s=3 * profile.transport.period_s + 0.5,
                          rotate_bytes=int(args.rotate_mb * 1e6) if args.rotate_mb else 0, raw=args.raw,
                          append=args.append, force=args.force)

    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    summary = run_capture(profile, args.port, make_capture, duration_s=args.duration, records=args.records,
                          baud=args.baud, progress=progress)
    if args.plot:
        events = read_events(args.events) if args.events else None
        inside, outside = plot_capture(summary.files, args.plot, events, args.events_clock, args.events_offset)
        if progress:
            drawn = f" with {inside} inference events" if events is not None else ""
            progress(f"wrote {args.plot}{drawn}")
        if outside:
            print(f"warning: {outside} of {inside + outside} events of {args.events} fall outside the capture: "
                  + ("do the runtime and the capture run on one board? Across machines use --events-clock wall "
                     "and --events-offset" if args.events_clock == "monotonic" else "check --events-offset"),
                  file=sys.stderr)
    print_summary(summary, args.json)
    if summary.interrupted and progress:
        progress("stopped by the user")
    return 0


if __name__ == "__main__":
    sys.exit(main())
