"""``edge-convert multi-exit``: Merkel's multi-exit CNN, or exits attached to your Keras model."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..common.bundle_writer import staging_folder
from ..common.errors import ConvertError
from ..common.input_contract import int8_drops
from .common import add_common, adopt_input_contract, check_common, load_keras_model, session


def add_parser(sub: Any) -> None:
    me = sub.add_parser("multi-exit", help="a multi-exit network → int8 segment bundle",
                        description="Build Merkel's multi-exit CNN (or attach exits to your Keras model), train it "
                                    "with the sum of all exits' cross-entropies, and export an int8 bundle.")
    add_common(me)
    me.add_argument("--model", help="your Keras model (.keras): exits are attached after the --exits layers")
    me.add_argument("--exits", help="comma-separated layer names of --model after which to attach exits")
    me.add_argument("--input-range", choices=("0-255", "0-1", "-1-1"),
                    help="with --model: the pixel range your model expects (default: found from the model and "
                         "measured on held-out data)")
    me.add_argument("--finetune", action="store_true",
                    help="with --model: train the backbone too, with the summed loss (default: heads only)")
    me.add_argument("--blocks", type=int, default=5, help="reference model: convolution blocks (default 5: 6 exits)")
    me.add_argument("--filters", type=int, default=64, help="reference model: filters per block at 8×8 (default 64)")
    me.add_argument("--architecture", choices=("scaled", "merkel"), default="scaled",
                    help="reference model: scaled (default: blocks pool while the feature map is over 8 pixels, so "
                         "the cost stays bounded as images grow; identical to Merkel's on 8×8) or merkel (every "
                         "block at full resolution, as in the paper)")

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
    from ..common.training import default_epochs
    from ..multi_exit.training import float_exit_accuracies, train_multi_exit

    n_classes = len(dataset.labels)
    as_given = None
    if args.model:
        backbone = load_keras_model(args.model, dataset.image_shape)
        dataset, contract = adopt_input_contract(backbone, dataset, args, progress)
        as_given = contract.accuracy[contract.name]
        cuts = [c.strip() for c in args.exits.split(",") if c.strip()]
        model = attach_exits(backbone, cuts, n_classes, input_exit=False, train_backbone=args.finetune)
        source = {"model": os.path.basename(args.model), "exits_after": cuts, "finetune": bool(args.finetune),
                  "input_range": contract.name, "input_range_reason": contract.reason,
                  "model_held_out_accuracy": round(as_given, 6)}
    else:
        model = reference_multi_exit(dataset.image_shape, n_classes, args.blocks, args.filters, args.architecture)
        source = {"model": model.training_model.name.replace("multi_exit", f"{args.architecture}_cnn"),
                  "architecture": args.architecture, "blocks": args.blocks, "filters": args.filters}
    x_fit, y_fit, x_held, y_held = dataset.held_out_split()
    epochs = args.epochs or default_epochs(len(y_fit), most=10 if args.model else 25)
    scale, offset = dataset.pixel_scale, dataset.pixel_offset
    progress.say(f"training {len(model.exit_names)} exits on {len(y_fit)} images for up to {epochs} epochs "
                 "(stopping when validation accuracy stops improving)")
    source["training"] = train_multi_exit(model, x_fit, y_fit, scale, offset, epochs, progress, seed=args.seed)
    float_acc = float_exit_accuracies(model, x_held, y_held, scale, offset)
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
    if as_given is not None:
        progress.say(f"your model as given: {as_given:.3f} on held-out data; the bundle's last exit (your output, int8): "
                     f"{manifest['exits'][-1]['accuracy']:.3f}")
        summary["model_held_out_accuracy"] = as_given
    for warning in int8_drops(manifest["exits"]):
        progress.say(warning)
    progress.say(f"wrote {args.out}")
    return summary
