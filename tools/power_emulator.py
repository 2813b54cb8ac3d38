#!/usr/bin/env python3
"""Emulate a power monitor's firmware for any shipped profile, for trying edge-capture and
``edge-runtime run --monitor`` without hardware.

    python -m tools.power_emulator --profile adafruit-ina219-sketch --link /tmp/ttyINA219
    edge-capture --port /tmp/ttyINA219 --profile adafruit-ina219-sketch --out log.csv

Serial firmwares speak on a pseudo-terminal reached through the symlink --link (like socat's
``link=``); ``pisugar`` serves its text protocol on the Unix socket --link; ``linux-power-supply``
writes a power_supply folder at --link. Values come from a simulated battery under a constant
load (--load-w), or with --pattern from the record number (so a capture can be checked row by
row: see tools/bench_power.py). Prints one JSON line with the records written when it ends.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from edge_sim.battery import SimulatedBattery, battery_values
from edge_sim.pisugar import PiSugarServerEmulator
from edge_sim.pty import PtyEmulator
from edge_sim.sysfs import SysfsEmulator
from edge_sim.wire import pattern_values
from edge_runtime.cli.guard import run_guarded
from edge_runtime.power.profiles import load_profile
from edge_runtime.cli.arg_types import doc_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--profile", required=True, help="monitor profile to speak")
    parser.add_argument("--link", required=True, help="path users open: a pty symlink, a socket or a folder")
    parser.add_argument("--interval", type=float, default=None, help="seconds between records (default: the "
                        "profile's period; 0 = as fast as the reader takes them)")
    parser.add_argument("--count", type=int, help="stop after N records")
    parser.add_argument("--duration", type=float, help="stop after S seconds")
    parser.add_argument("--pattern", action="store_true", help="values from the record number, not a battery")
    parser.add_argument("--battery", default="liion-1s-pisugar", help="battery profile to simulate")
    parser.add_argument("--soc", type=float, default=0.9, help="starting state of charge 0–1")
    parser.add_argument("--load-w", type=float, default=3.0, help="constant load on the battery, W")
    parser.add_argument("--variant", type=int, default=0, help="binary profiles: which model (0 = first)")
    parser.add_argument("--start-after", type=float, default=0.0, metavar="S",
                        help="create the link, then wait S seconds before the first record (time to open it)")
    parser.add_argument("--debug", action="store_true", help="tracebacks")
    args = parser.parse_args(argv)

    def handle() -> int:
        profile = load_profile(args.profile, "monitor")
        battery = SimulatedBattery(load_profile(args.battery, "battery"), soc=args.soc, base_load_w=args.load_w)
        values = pattern_values if args.pattern else battery_values(battery)
        interval = profile.transport.period_s if args.interval is None else args.interval
        if profile.transport.type == "sysfs":
            emulator = SysfsEmulator(args.link, values, interval_s=interval or 0.1)
        elif profile.transport.type == "socket":
            emulator = PiSugarServerEmulator(args.link, values)
        else:
            emulator = PtyEmulator(profile, args.link, values, interval_s=interval, count=args.count,
                                   variant=args.variant)
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
        if isinstance(emulator, PtyEmulator):
            emulator.open()
        print(f"emulating {profile.name} at {args.link} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        time.sleep(args.start_after)
        emulator.start()
        start = time.monotonic()
        last = start
        try:
            while not stop["now"]:
                time.sleep(0.05)
                now = time.monotonic()
                battery.consume(0.0, now - last)
                last = now
                if args.duration and now - start >= args.duration:
                    break
                if getattr(emulator, "done", None) is not None and emulator.done.is_set():
                    break
        except KeyboardInterrupt:
            pass
        finally:
            emulator.stop()
        written = getattr(emulator, "written", getattr(emulator, "answered", 0))
        print(json.dumps({"profile": profile.name, "written": written, "seconds": round(time.monotonic() - start, 3)}),
              flush=True)
        return 0


    return run_guarded(handle, args.debug)

if __name__ == "__main__":
    sys.exit(main())
