"""``edge-convert pruned``: Maleki et al.'s mildly and aggressively pruned pair and input classifier."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..common.bundle_writer import staging_folder
from ..common.errors import ConvertError
from ..common.input_contract import whole_network_drop
from .common import add_common, adopt_input_contract, check_common, chief_writes, load_backbone, session


def add_parser(sub: Any) -> None:
    pr = sub.add_parser("pruned", help="a mild/aggressive pruned pair + input classifier → int8 bundle",
                        description="Maleki et al.: prune your CNN (or a reference CNN trained first) mildly (MP) and "
                                    "aggressively (AP, swept over φ_AP), train the input classifier on AP's trunk, keep "
                                    "the lowest-energy AP meeting --min-accuracy, and export an int8 bundle.")
    add_common(pr)
    pr.add_argument("--model", help="your trained Keras CNN (.keras; Conv2D layers, then Dense layers)")
    pr.add_argument("--min-accuracy", type=float, metavar="ζ", help="the lowest held-out system accuracy to accept "
                    "(0–1)")
    pr.add_argument("--max-loss", type=float, metavar="L", help="accept at most L accuracy loss vs the original "
                    "(0–1, e.g. 0.02 for 2 points: the paper's second scenario). Default without either: 2 points "
                    "less one standard error of the held-out accuracy, so that the test split stays within 2 points")
    pr.add_argument("--input-range", choices=("0-255", "0-1", "-1-1"),
                    help="with --model: the pixel range your model expects (default: found from the model and "
                         "measured on held-out data)")
    pr.add_argument("--mild", type=float, metavar="φ", help="φ_MP (default: the largest of 0.5 … 0.1 that loses at "
                    "most 1 point)")
    pr.add_argument("--ap-ratios", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", metavar="LIST",
                    help="the φ_AP to sweep (default 0.1 … 0.9)")
    pr.add_argument("--retrain-epochs", type=int, default=2, help="epochs of retraining after each pruned layer (default 2)")
    pr.add_argument("--filters", type=int, default=32, help="reference model: filters of its first convolutions (default 32)")

    pr.set_defaults(handler=cmd_pruned)


def cmd_pruned(args: argparse.Namespace) -> int:
    summary = run_pruned(args)
    if summary["bundle"] is None:  # a multi-worker run's other worker: the chief prints the bundle
        return 0
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"φ_MP {summary['phi_mp']}  φ_AP {summary['phi_ap']}  int8 held-out: original "
              f"{summary['int8']['monolithic_accuracy']:.4f}, system {summary['int8']['acc_system']:.4f}, "
              f"{1 - summary['int8']['system_macs'] / summary['int8']['original_macs']:.1%} fewer MACs")
    return 0


def run_pruned(args: argparse.Namespace) -> dict[str, Any]:
    try:
        ratios = tuple(float(r) for r in args.ap_ratios.split(",") if r.strip())
    except ValueError:
        raise ConvertError(f"--ap-ratios {args.ap_ratios}: expected numbers in (0, 1) separated by commas") from None
    for name, value in (("--mild", args.mild), *(("--ap-ratios", r) for r in ratios)):
        if value is not None and not 0 < value < 1:
            raise ConvertError(f"{name} {value}: a pruning ratio must be in (0, 1)")
    for name, value in (("--min-accuracy", args.min_accuracy), ("--max-loss", args.max_loss)):
        if value is not None and not 0 <= value <= 1:
            raise ConvertError(f"{name} {value}: expected a fraction in [0, 1] (0.02 = 2 points)")
    check_common(args)
    with session(args) as (progress, dataset):
        from ..pruned.algorithm import (DEFAULT_MAX_LOSS, accuracy, build_pruned_system, default_max_loss, fit,
                                        reference_cnn)  # TensorFlow: inside the session
        from ..pruned.export import export_pruned

        x_fit, y_fit, x_held, y_held = dataset.held_out_split()
        source: dict[str, Any] = {}
        if args.model:
            original = load_backbone(args.model, dataset.image_shape, progress.say).model
            dataset, contract = adopt_input_contract(original, dataset, args, progress)
            source = {"model": os.path.basename(args.model), "input_range": contract.name,
                      "input_range_reason": contract.reason,
                      "model_held_out_accuracy": round(contract.accuracy[contract.name], 6)}
        x_fit_f, x_held_f = dataset.float_rows(x_fit), dataset.float_rows(x_held)
        if not args.model:
            epochs = args.epochs or 15
            original = reference_cnn(dataset.image_shape, len(dataset.labels), args.filters)
            progress.say(f"training the reference CNN on {len(y_fit)} images for {epochs} epochs")
            fit(original, x_fit_f, y_fit, epochs, args.seed)
            source.update({"model": "reference_cnn", "filters": args.filters, "epochs": epochs})
        max_loss = args.max_loss
        if max_loss is None and args.min_accuracy is None:
            max_loss = default_max_loss(accuracy(original, x_held_f, y_held), len(y_held))
            progress.say(f"keeping the cheapest AP within {100 * DEFAULT_MAX_LOSS:g} points of the original's held-out "
                         f"accuracy, less {100 * (DEFAULT_MAX_LOSS - max_loss):.2f} points for the {len(y_held)} "
                         "held-out images (--max-loss or --min-accuracy to choose)")
            source["max_loss"] = round(max_loss, 6)
        system = build_pruned_system(original, x_fit_f, y_fit, x_held_f, y_held, mild=args.mild,
                                     min_accuracy=args.min_accuracy, max_loss=max_loss, ap_ratios=ratios,
                                     required=args.max_loss is not None or args.min_accuracy is not None,
                                     retrain_epochs=args.retrain_epochs, seed=args.seed, say=progress.say)
        if not chief_writes(progress):
            return {"bundle": None, "worker": "done: the chief writes the bundle"}
        with staging_folder(args.out, args.force) as folder:
            manifest = export_pruned(system, dataset, folder, progress, source, args.floor)
        drop = whole_network_drop(system.acc_original, manifest["calibration"]["monolithic_accuracy"],
                                  "your network" if args.model else "the reference CNN")
        if drop:
            progress.say(drop)
        progress.say(f"wrote {args.out}")
    figures = {k: v for k, v in manifest["pruned"].items() if k not in ("alpha_table", "sweep", "note")}
    return {"bundle": os.path.abspath(args.out), **figures, "int8": manifest["calibration"],
            "sweep": manifest["pruned"]["sweep"]}
