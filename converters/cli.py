"""``edge-convert``: train and convert models into bundles on a workstation.

    edge-convert multi-exit --dataset digits --out bundle/
    edge-convert multi-exit --model m.keras --exits conv_2,conv_4 --dataset data.npz --out bundle/
    edge-convert pruned --dataset digits [--model m.keras] [--min-accuracy 0.97] [--mild 0.3] --out bundle/
    edge-convert gated --dataset digits [--alpha-schedule 0.1,0.9,0.1] --out bundle/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os

from typing import Any, Iterator

from edge_runtime.cli_errors import run_guarded

from .errors import ConvertError

log = logging.getLogger("edge_convert")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits",
                        help="'digits' (scikit-learn's 8×8 digits, offline), a .npz with x_train, y_train, x_test, "
                             "y_test, or a folder with one sub-folder of images per class (default: digits)")
    parser.add_argument("--out", required=True, help="bundle folder to create")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed for training (default 0)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary of the bundle on stdout")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own output instead of logging it")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-convert", description=__doc__.split("\n\n")[0].strip())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    me = sub.add_parser("multi-exit", help="a multi-exit network → int8 segment bundle",
                        description="Build Merkel's multi-exit CNN (or attach exits to your Keras model), train it "
                                    "with the sum of all exits' cross-entropies, and export an int8 bundle.")
    _add_common(me)
    me.add_argument("--model", help="your Keras model (.keras): exits are attached after the --exits layers")
    me.add_argument("--exits", help="comma-separated layer names of --model after which to attach exits")
    me.add_argument("--finetune", action="store_true",
                    help="with --model: train the backbone too, with the summed loss (default: heads only)")
    me.add_argument("--blocks", type=int, default=5, help="reference model: convolution blocks (default 5: 6 exits)")
    me.add_argument("--filters", type=int, default=64, help="reference model: filters per block (default 64)")

    pr = sub.add_parser("pruned", help="a mild/aggressive pruned pair + input classifier → int8 bundle",
                        description="Maleki et al.: prune your CNN (or a reference CNN trained first) mildly (MP) and "
                                    "aggressively (AP, swept over φ_AP), train the input classifier on AP's trunk, keep "
                                    "the lowest-energy AP meeting --min-accuracy, and export an int8 bundle.")
    _add_common(pr)
    pr.add_argument("--model", help="your trained Keras CNN (.keras; Conv2D layers, then Dense layers)")
    pr.add_argument("--min-accuracy", type=float, metavar="ζ", help="the lowest held-out system accuracy to accept "
                    "(0–1; default: none, the lowest-energy point)")
    pr.add_argument("--max-loss", type=float, metavar="L", help="accept at most L accuracy loss vs the original "
                    "(0–1, e.g. 0.02 for 2 points: the paper's second scenario)")
    pr.add_argument("--mild", type=float, metavar="φ", help="φ_MP (default: the largest of 0.5 … 0.1 that loses at "
                    "most 1 point)")
    pr.add_argument("--ap-ratios", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", metavar="LIST",
                    help="the φ_AP to sweep (default 0.1 … 0.9)")
    pr.add_argument("--retrain-epochs", type=int, default=2, help="epochs of retraining after each pruned layer (default 2)")
    pr.add_argument("--filters", type=int, default=32, help="reference model: filters of its first convolutions (default 32)")

    ga = sub.add_parser("gated", help="a residual CNN with recurrent skip gates, trained with the energy loss → int8 bundle",
                        description="EnergyNet: train a residual CNN, then its shared-LSTM gates with L + α·E in three "
                                    "steps (α small, large, small again if accuracy fell), and export an int8 bundle in "
                                    "which a skipped block is never invoked.")
    _add_common(ga)
    ga.add_argument("--alpha-schedule", default="0.1,0.9,0.1", metavar="A1,A2,A3",
                    help="α of EnergyNet's three training steps (default 0.1,0.9,0.1)")
    ga.add_argument("--step-epochs", type=int, default=8, help="epochs of each gated training step (default 8)")
    ga.add_argument("--widths", default="32,64,128", help="channels of the three stages (default 32,64,128)")
    ga.add_argument("--board", default="raspberry-pi-4", help="board profile with the energy constants of eq. 2")
    return parser


def load_keras_model(path: str, image_shape: tuple[int, ...]):
    """A user's ``.keras`` model, checked to take the dataset's images."""
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for unreadable files
        raise ConvertError(f"--model {path}: Keras cannot load it ({type(exc).__name__}: {exc})") from exc
    if tuple(model.input.shape[1:]) != image_shape:
        raise ConvertError(f"--model {path} takes inputs of shape {tuple(model.input.shape[1:])}, "
                           f"the dataset's images are {image_shape}")
    return model


def run_multi_exit(args: argparse.Namespace) -> dict:
    from .bundle_writer import check_output_folder

    if (args.model is None) != (args.exits is None):
        raise ConvertError("--model and --exits go together: --model M.keras --exits LAYER,LAYER,…")
    if args.epochs is not None and args.epochs < 1:
        raise ConvertError(f"--epochs {args.epochs}: expected a positive integer")
    if args.blocks < 1 or args.filters < 1:
        raise ConvertError("--blocks and --filters must be positive integers")
    check_output_folder(args.out, args.force)
    if args.model and not os.path.isfile(args.model):
        raise ConvertError(f"--model {args.model}: no such file")
    with _session(args) as (progress, dataset):
        return _convert(args, progress, dataset)


def _convert(args: argparse.Namespace, progress, dataset) -> dict:
    """Train and export inside :func:`_session` (TensorFlow imported, its output redirected)."""
    from .bundle_writer import staging_folder
    from .models import attach_exits, reference_multi_exit
    from .multi_exit_export import export_multi_exit
    from .training import float_exit_accuracies, train_multi_exit

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


@contextlib.contextmanager
def _session(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """Progress on stderr, the dataset loaded, TensorFlow imported with its output going to
    ``OUT.convert.log`` (unless ``--verbose``): what every conversion runs inside."""
    from edge_runtime.datasets import load_dataset

    from .progress import Progress, import_tensorflow, tf_output_to

    with Progress(quiet=args.quiet) as progress:
        log_path = None if args.verbose else os.path.abspath(args.out.rstrip("/\\") + ".convert.log")
        if log_path:
            progress.say(f"TensorFlow's output goes to {log_path}")
        progress.say(f"loading dataset {args.dataset}")
        dataset = load_dataset(args.dataset)
        with tf_output_to(log_path):
            import_tensorflow()
            yield progress, dataset


def run_pruned(args: argparse.Namespace) -> dict:
    from .bundle_writer import check_output_folder, staging_folder

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
    if args.epochs is not None and args.epochs < 1:
        raise ConvertError(f"--epochs {args.epochs}: expected a positive integer")
    check_output_folder(args.out, args.force)
    if args.model and not os.path.isfile(args.model):
        raise ConvertError(f"--model {args.model}: no such file")
    with _session(args) as (progress, dataset):
        from .pruned import build_pruned_system, fit, reference_cnn
        from .pruned_export import export_pruned

        x_fit, y_fit, x_held, y_held = dataset.held_out_split()
        x_fit_f, x_held_f = dataset.to_float(x_fit), dataset.to_float(x_held)
        if args.model:
            original = load_keras_model(args.model, dataset.image_shape)
            source = {"model": os.path.basename(args.model)}
        else:
            epochs = args.epochs or 15
            original = reference_cnn(dataset.image_shape, len(dataset.labels), args.filters)
            progress.say(f"training the reference CNN on {len(y_fit)} images for {epochs} epochs")
            fit(original, x_fit_f, y_fit, epochs, args.seed)
            source = {"model": "reference_cnn", "filters": args.filters, "epochs": epochs}
        system = build_pruned_system(original, x_fit_f, y_fit, x_held_f, y_held, mild=args.mild,
                                     min_accuracy=args.min_accuracy, max_loss=args.max_loss, ap_ratios=ratios,
                                     retrain_epochs=args.retrain_epochs, seed=args.seed, say=progress.say)
        with staging_folder(args.out, args.force) as folder:
            manifest = export_pruned(system, dataset, folder, progress, source)
        progress.say(f"wrote {args.out}")
    figures = {k: v for k, v in manifest["pruned"].items() if k not in ("alpha_table", "sweep", "note")}
    return {"bundle": os.path.abspath(args.out), **figures, "int8": manifest["calibration"],
            "sweep": manifest["pruned"]["sweep"]}


def run_gated(args: argparse.Namespace) -> dict:
    from edge_runtime.power.profiles import load_profile

    from .bundle_writer import check_output_folder, staging_folder

    def numbers(text: str, name: str, kind: type) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(","))
        except ValueError:
            raise ConvertError(f"{name} {text}: expected numbers separated by commas") from None
        return values

    schedule = numbers(args.alpha_schedule, "--alpha-schedule", float)
    if len(schedule) != 3 or not all(a >= 0 for a in schedule):
        raise ConvertError(f"--alpha-schedule {args.alpha_schedule}: expected three α ≥ 0, like 0.1,0.9,0.1")
    widths = numbers(args.widths, "--widths", int)
    if not widths or min(widths) < 1:
        raise ConvertError(f"--widths {args.widths}: expected positive channel counts, like 32,64,128")
    for name, value in (("--epochs", args.epochs), ("--step-epochs", args.step_epochs)):
        if value is not None and value < 1:
            raise ConvertError(f"{name} {value}: expected a positive integer")
    board = load_profile(args.board, "board")
    check_output_folder(args.out, args.force)
    with _session(args) as (progress, dataset):
        from .gated import block_costs, block_energies, build_gated_net, train_gated
        from .gated_export import export_gated

        x_fit, y_fit, x_held, y_held = dataset.held_out_split()
        net = build_gated_net(dataset.image_shape, len(dataset.labels), widths, seed=args.seed)
        energies = block_energies(block_costs(net), board.e_mac_j, board.e_byte_j)
        epochs = args.epochs or 15
        progress.say(f"training the residual network ({len(net.blocks)} gated blocks) for {epochs} epochs, then "
                     f"the gates in three steps of {args.step_epochs} epochs (α {schedule})")
        training = train_gated(net, dataset.to_float(x_fit), y_fit, dataset.to_float(x_held), y_held, energies,
                               plain_epochs=epochs, step_epochs=args.step_epochs, alphas=schedule, seed=args.seed,
                               say=progress.say)
        source = {"model": "gated_resnet", "widths": list(widths), "board": board.name,
                  "alpha_schedule": list(schedule)}
        with staging_folder(args.out, args.force) as folder:
            manifest = export_gated(net, dataset, folder, progress, training, energies, source)
        progress.say(f"wrote {args.out}")
    return {"bundle": os.path.abspath(args.out), **manifest["calibration"], "training": training}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def handle() -> int:
        if args.command == "gated":
            summary = run_gated(args)
            print(json.dumps(summary) if args.json else
                  f"int8 held-out: ungated {summary['monolithic_accuracy']:.4f}; device gates agree with Keras on "
                  f"{summary['gate_agreement_with_keras']:.1%} of decisions")
            return 0
        if args.command == "pruned":
            summary = run_pruned(args)
            if args.json:
                print(json.dumps(summary))
            else:
                print(f"φ_MP {summary['phi_mp']}  φ_AP {summary['phi_ap']}  int8 held-out: original "
                      f"{summary['int8']['monolithic_accuracy']:.4f}, system {summary['int8']['acc_system']:.4f}, "
                      f"{1 - summary['int8']['system_macs'] / summary['int8']['original_macs']:.1%} fewer MACs")
            return 0
        summary = run_multi_exit(args)
        if args.json:
            print(json.dumps(summary))
        else:
            for e in summary["exits"]:
                print(f"{e['name']:>8}  {e['macs']:>10,d} MACs  int8 {e['accuracy']:.3f}  float {e['float_accuracy']:.3f}")
        return 0

    return run_guarded(handle, args.debug)
