"""``edge-runtime calibrate``: fit a bundle's α table on the converter's held-out split and store it.

Bundles converted before there were α tables get one this way (the converter fits it itself now);
it runs on the device with the device's interpreter, nothing but numpy and the bundle.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.backends import BACKEND_NAMES
from ..registry import calibrate_bundle, check_invocation_cost, load_bundle
from ..schema import dump
from .arg_types import INVOCATION_COST_HELP, invocation_cost
from .common import load_split


def add_parser(sub: Any) -> None:
    cal = sub.add_parser("calibrate", help="fit and store a bundle's α table (for bundles made without one)",
                         description="Measure every operating point of the bundle on the held-out split of the "
                                     "dataset it was converted from (seeded, as the converter splits it), and store the "
                                     "α table in its manifest.")
    cal.add_argument("bundle", help="bundle folder")
    cal.add_argument("--dataset", required=True, help="the dataset the bundle was converted from: 'digits', a .npz "
                     "(or .npy folder), an image folder or TFRecord shards (its held-out part of the training split is used)")
    cal.add_argument("--unseen", action="store_true", help="every image of --dataset is one the model never saw "
                     "(photos labelled on the board, say): fit on all of them, not on the held-out part")
    cal.add_argument("--backend", choices=BACKEND_NAMES, help="interpreter package (default: the first installed)")
    cal.add_argument("--invocation-cost", type=invocation_cost, metavar="MACS", help=INVOCATION_COST_HELP)
    cal.add_argument("--json", action="store_true", help="print the table as JSON")
    cal.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    cal.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    check_invocation_cost(bundle, args.invocation_cost)
    images, labels = load_split(args.dataset, bundle, "all" if args.unseen else "held-out")
    print(f"fitting the α table on {len(labels)} {'' if args.unseen else 'held-out '}images of {args.dataset}"
          + (" (all of them: --unseen)" if args.unseen else ""), file=sys.stderr)
    table = calibrate_bundle(args.bundle, images, labels, args.backend, args.invocation_cost)
    if args.json:
        print(json.dumps(dump(table)))
        return 0
    print(f"{'alpha':>7} {'cost':>12} {'held-out acc':>13}  setting")
    for point in table.points:
        print(f"{point.alpha:7.4f} {point.cost:12,.1f} {point.accuracy:13.4f}  {json.dumps(point.setting)}")
    print(f"stored in {args.bundle}/manifest.json", file=sys.stderr)
    return 0
