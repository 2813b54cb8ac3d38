"""``edge-convert``: train and convert models into bundles on a workstation.

    edge-convert multi-exit --dataset digits --out bundle/
    edge-convert multi-exit --model m.keras --exits conv_2,conv_4 --dataset data.npz --out bundle/
    edge-convert pruned --dataset digits [--model m.keras] [--min-accuracy 0.97] [--mild 0.3] --out bundle/
    edge-convert gated --dataset digits [--alpha-schedule 0.1,0.9,0.1] --out bundle/
    edge-convert edgetpu bundle/ [--out bundle-tpu/]
"""

from __future__ import annotations

import argparse
import logging
import sys

from edge_runtime.cli.guard import one_line_warnings, run_guarded
from edge_runtime.cli.arg_types import doc_summary

from . import edgetpu, gated, multi_exit, pruned


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-convert", description=doc_summary(__doc__))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (multi_exit, pruned, gated, edgetpu):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    one_line_warnings()
    return run_guarded(lambda: args.handler(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
