"""``edge-runtime info``: what a bundle holds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..registry import FAMILIES, load_bundle


def add_parser(sub: Any) -> None:
    info = sub.add_parser("info", help="summarise a bundle")
    info.add_argument("bundle", help="bundle folder")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    info.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    info.set_defaults(handler=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    if args.json:
        print(json.dumps(bundle.manifest))
        return 0
    spec = bundle.input
    producer = bundle.header.producer
    print(f"bundle      {bundle.path}")
    print(f"family      {bundle.family}   (made by {producer.get('tool', '?')} {producer.get('version', '')}, "
          f"model {producer.get('model', '?')})")
    print(f"input       {spec.width}×{spec.height} {spec.color_mode}, real = pixel × {spec.pixel_scale:.6g} + "
          f"{spec.pixel_offset:g}, resize {spec.resize}")
    print(f"labels      {', '.join(bundle.labels[:12])}{' …' if len(bundle.labels) > 12 else ''}")
    table = bundle.header.alpha_table
    if table is None:
        print("α table     none (made before there was one): the family's older rule applies; "
              "'edge-runtime calibrate' adds a table")
    else:
        dear, cheap = table.points[0], table.points[-1]
        unit = "MACs" if table.cost == "macs" else "J"
        print(f"α table     {len(table.points)} operating points from {table.held_out_samples} held-out inputs "
              f"({unit}): α = 0 accuracy {dear.accuracy:.4f} at {dear.cost / bundle.full_macs:.1%} of the network's "
              f"MACs, α = 1 accuracy {cheap.accuracy:.4f} at {cheap.cost / bundle.full_macs:.2%}" if unit == "MACs" else
              f"α table     {len(table.points)} operating points ({unit}): α = 0 accuracy {dear.accuracy:.4f} at "
              f"{dear.cost:.3g} J, α = 1 accuracy {cheap.accuracy:.4f} at {cheap.cost:.3g} J")
    for line in FAMILIES[bundle.family].info_lines(bundle):
        print(line)
    for name, entry in bundle.header.files.items():
        print(f"file        {name}  {entry.bytes:,d} bytes  sha256 {entry.sha256[:16]}…")
    return 0
