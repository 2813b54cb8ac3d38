"""The ``--monitor``/``--battery``/``--policy`` options shared by ``edge-runtime run`` and ``eval``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from .arg_types import seconds, unit_interval

if TYPE_CHECKING:  # the power stack loads only when a monitor is used: run and eval start without it
    from ..power.live import LiveAlpha
    from ..power.policies import Policy

log = logging.getLogger(__name__)


def add_monitor_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("battery-driven α (instead of --alpha)")
    group.add_argument("--monitor", metavar="PROFILE@URL",
                       help="read a power monitor in the background, e.g. adafruit-ina219-sketch@/dev/ttyACM0, "
                            "pisugar@unix:///tmp/pisugar-server.sock, linux-power-supply@/sys/class/power_supply/BAT0")
    group.add_argument("--battery", metavar="PROFILE", help="the battery behind the monitor (e.g. liion-1s-pisugar); "
                       "needed when the monitor reports no percentage")
    group.add_argument("--policy", default="linear", metavar="SPEC",
                       help="how α follows the battery: linear (α rises as the charge falls, to where the bundle's "
                            "α table expects half a point less accuracy than at α = 0, less the standard error of its "
                            "held-out count), linear:loss=2 (another "
                            "budget, in points), linear:hi=1 (α = 1 − SoC, to the cheapest point), table, "
                            "table:80%%=0,50%%=0.9,0%%=1, lifetime:8h, lifetime:until=18:00 (default linear)")
    group.add_argument("--grace", type=seconds, default=30.0, metavar="S",
                       help="keep the last α this long when the monitor falls silent (default 30)")
    group.add_argument("--safe-alpha", type=unit_interval, default=0.5, metavar="A",
                       help="α after the grace period, and before the first reading (default 0.5)")
    group.add_argument("--baud", type=int, help="override the monitor profile's baud rate")


def check_monitor_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors of the monitor options (exit 2)."""
    if getattr(args, "baud", None) is not None and args.baud <= 0:
        parser.error(f"--baud must be a positive rate, got {args.baud}")


def policy_for(spec: str, runtime: Any) -> Policy:
    """``--policy spec`` for ``runtime``: ``linear``'s accuracy budget is read from the runtime's α table (when its
    rule is the table's); how α will follow the charge goes to stderr."""
    from ..power.policies import Linear, policy_for_runtime

    policy = policy_for_runtime(spec, runtime, time.time())
    if isinstance(policy, Linear):
        print(f"policy {spec}: {policy.basis}", file=sys.stderr)
    return policy


def start_live_alpha(args: argparse.Namespace | None, runtime: Any) -> LiveAlpha | None:
    """Start the live α of ``runtime`` for ``args.monitor`` (or return None); waits briefly for a first reading."""
    if args is None or not getattr(args, "monitor", None):
        return None
    from ..power.live import LiveAlpha
    from ..power.profiles import load_profile
    from ..power.transports import parse_monitor_spec

    name, url = parse_monitor_spec(args.monitor)
    profile = load_profile(name, "monitor")
    battery = load_profile(args.battery, "battery") if args.battery else None
    policy = policy_for(args.policy, runtime)
    live = LiveAlpha(profile, url, battery, policy, runtime.plan_for_alpha, baud=args.baud, grace_s=args.grace,
                     safe_alpha=args.safe_alpha)
    live.start()
    wait = min(max(args.grace, 0.5), 3 * profile.transport.period_s + 1.0)
    if not live.wait_first(wait):
        print(f"warning: no reading from {args.monitor} after {wait:.1f} s; using α = {args.safe_alpha:g} until one "
              f"comes", file=sys.stderr)
    return live
