"""``edge-convert multi-exit``: Merkel's multi-exit CNN, or exits attached to your Keras model."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..common.bundle_writer import staging_folder
from ..common.errors import ConvertError
from .common import add_common, check_common, load_keras_model, session


def add_parser(sub: Any) -> None:
    me = sub.add_parser("multi-exit", help="a multi-exit network → int8 segment bundle",
                        description="Build Merkel's multi-exit CNN (or attach exits to your Keras model), train it "
                                    "with the sum of all exits' cross-entropies, and export an int8 bundle.")
    add_common(me)
    me.add_argument("--model", help="your Keras model (.keras): exits are attached after the --exits layers")
    me.add_argument("--exits", help="comma-separated layer names of --model after which to attach exits")
    me.add_argument("--finetune", action="store_true",
                    help="with --model: train the backbone too, with the summed loss (default: heads only)")
    me.add_argument("--blocks", type=int, default=5, help="reference model: convolution blocks (default 5: 6 exits)")
    me.add_argument("--filters", type=int, default=64, help="reference model: filters per block (default 64)")

    me.set_defaults(handler=cmd_multi_exit)


def cmd_multi_exit(args: argparse.Namespace) -> int:
    summary = run_multi_exit(args)
    if args.json:
        print(json.dumps(summary))
    else:
        for e in summary["exits"]:
            print(f"{e['name']:>8}  {e['macs']:>10,d} MACs  int8 {e['accuracy']:.3f}  float {e['float_accuracy']:.3f}")
    return 0


def run_multi_exit(args: argparse.Namespace) -> dict[str, Any]:
    if (args.model is None) != (args.exits is None):
        raise ConvertError("--model and --exits go together: --model M.keras --exits LAYER,LAYER,…")
    if args.blocks < 1 or args.filters < 1:
        raise ConvertError("--blocks and --filters must be positive integers")
    check_common(args)
    with session(args) as (progress, dataset):
        return _convert(args, progress, dataset)


def _convert(args: argparse.Namespace, progress: Any, dataset: Any) -> dict[str, Any]:
    """Train and export inside :func:`session` (TensorFlow imported, its output redirected)."""
    from ..multi_exit.export import export_multi_exit  # TensorFlow: imported inside the session
    from ..multi_exit.model import attach_exits, reference_multi_exit
    from ..multi_exit.training import float_exit_accuracies, train_multi_exit

    n_classes = len(dataset.labels)
    if args.model:
        backbone = load_keras_model(args.model, dataset.image_shape)
        cuts = [c.strip() for c in args.exits.split(",") if c.strip()]
        model = attach_exits(backbone, cuts, n_classes, input_exit=False, train_backbone=args.finetune)
        source = {"model": os.path.basename(args.model), "exits_after": cuts, "finetune": bool(args.finetune)}
        epochs = args.epochs or 10
    else:
        model = reference_multi_exit(dataset.image_shape, n_classes, args.blocks, args.filters)
        source = {"model": "merkel_cnn", "blocks": args.blocks, "filters": args.filters}
        epochs = args.epochs or 25
    x_fit, y_fit, x_held, y_held = dataset.held_out_split()
    progress.say(f"training {len(model.exit_names)} exits on {len(y_fit)} images for {epochs} epochs")
    train_multi_exit(model, dataset.to_float(x_fit), y_fit, epochs, progress, seed=args.seed)
    float_acc = float_exit_accuracies(model, dataset.to_float(x_held), y_held)
    progress.say("held-out float accuracy per exit: " + " ".join(f"{a:.3f}" for a in float_acc))
    source["epochs"] = epochs
    with staging_folder(args.out, args.force) as folder:
        manifest = export_multi_exit(model, dataset, folder, progress, float_acc, source)
    summary = {
        "bundle": os.path.abspath(args.out),
        "exits": [{"name": e["name"], "macs": e["macs"], "accuracy": e["accuracy"],
                   "float_accuracy": e["float_accuracy"]} for e in manifest["exits"]],
        "monolithic_accuracy": manifest["calibration"]["monolithic_accuracy"],
        "energy_fit": manifest["calibration"]["energy_fit"],
    }
    progress.say("int8 held-out accuracy per exit: " + " ".join(f"{e['accuracy']:.3f}" for e in manifest["exits"]))
    progress.say(f"wrote {args.out}")
    return summary
