"""``edge-convert edgetpu``: compile a bundle's segments for the Coral Edge TPU."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..edgetpu.export import export_edgetpu


def add_parser(sub: Any) -> None:
    tpu = sub.add_parser("edgetpu", help="compile a bundle's segments for the Coral Edge TPU (needs edgetpu_compiler)",
                         description="Write every segment of BUNDLE as its own single-signature int8 file, co-compile "
                                     "them with edgetpu_compiler (x86-64 Linux), and record the compiled files and "
                                     "which operations run on the TPU in the manifest. The CPU segments stay: the "
                                     "bundle still runs without a TPU.")
    tpu.add_argument("bundle", help="a bundle folder (made by edge-convert multi-exit, pruned or gated)")
    tpu.add_argument("--out", help="write the result here instead of updating BUNDLE in place")
    tpu.add_argument("--force", action="store_true", help="replace --out if it exists")
    tpu.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    tpu.add_argument("--debug", action="store_true", help="tracebacks and debug logs")
    tpu.set_defaults(handler=cmd_edgetpu)


def cmd_edgetpu(args: argparse.Namespace) -> int:
    summary = export_edgetpu(args.bundle, args.out, args.force, say=lambda m: print(m, file=sys.stderr))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"compiled with Edge TPU Compiler {summary['compiler']} into {summary['bundle']}")
    print(f"{'segment':<16} {'ops on TPU':>10} {'on CPU':>7} {'on-chip':>9} {'off-chip':>9}  left on the CPU")
    for name, s in summary["segments"].items():
        left = ", ".join(f"{op['operator']} ({op['status']})" for op in s["cpu_operations"])
        print(f"{name:<16} {s['ops_tpu']:>10} {s['ops_cpu']:>7} {s['on_chip_bytes'] / 1024:>8.1f}K "
              f"{s['off_chip_bytes'] / 1024:>8.1f}K  {left}")
    return 0
