"""``edge-runtime info``: what a bundle holds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..core.floor import parse_floor
from ..core.operating import describe_ends
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
        unit = "MACs" if table.cost == "macs" else "J"
        full = bundle.full_macs if unit == "MACs" else 0.0
        print(f"α table     {len(table.points)} operating points from {table.held_out_samples} held-out inputs "
              f"({unit}): {describe_ends(table, parse_floor(bundle.header.accuracy_floor), full)}")
    for line in FAMILIES[bundle.family].info_lines(bundle):
        print(line)
    for line in edgetpu_lines(bundle):
        print(line)
    build = bundle.header.edgetpu
    compiled = {f for s in build.segments.values() for f in (s.file, s.source)} if build else set()
    shown = [(n, e) for n, e in bundle.header.files.items() if n not in compiled]
    for name, entry in shown:
        print(f"file        {name}  {entry.bytes:,d} bytes  sha256 {entry.sha256[:16]}…")
    if compiled:
        size = sum(bundle.header.files[f].bytes for f in compiled)
        print(f"file        {len(compiled)} Edge TPU files (tpu_*), {size:,d} bytes: edge-runtime info --json lists them")
    return 0


def edgetpu_lines(bundle: Any) -> list[str]:
    """Which segments run on the Edge TPU, and which of their operations fall back to the CPU."""
    build = bundle.header.edgetpu
    if build is None:
        return ["edge tpu    no build: the segments run on the CPU ('edge-convert edgetpu BUNDLE' on an x86-64 "
                "workstation compiles them)"]
    on_tpu = [name for name, s in build.segments.items() if s.ops_tpu > 0]
    lines = [f"edge tpu    compiled by Edge TPU Compiler {build.compiler}: {len(on_tpu)} of {len(build.segments)} "
             "segments on the TPU with --delegate edgetpu"]
    for name, s in build.segments.items():
        where = "TPU" if s.ops_tpu > 0 else "CPU"
        fallback = "; ".join(f"{op.operator}×{op.count} ({op.status})" for op in s.cpu_operations)
        lines.append(f"  {name:<14} {where}  {s.ops_tpu} ops on the TPU, {s.ops_cpu} on the CPU, "
                     f"{s.on_chip_bytes / 1024:.1f} KiB cached on chip, {s.off_chip_bytes / 1024:.1f} KiB streamed"
                     + (f"; on the CPU: {fallback}" if fallback else ""))
    return lines
