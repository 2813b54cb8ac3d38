"""``edge-convert multi-exit``: Merkel's multi-exit CNN, or exits attached to your Keras model."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from edge_runtime.cli.arg_types import INVOCATION_COST_HELP, invocation_cost

from ..common.bundle_writer import staging_folder
from ..common.errors import ConvertError
from ..common.input_contract import int8_drops
from ..multi_exit.heads import DEFAULT_HEAD_BUDGET, describe_head, head_grid, head_macs
from .common import (add_common, adopt_input_contract, check_common, check_model_file, chief_writes, load_backbone,
                     load_keras_model, session)


def add_parser(sub: Any) -> None:
    me = sub.add_parser("multi-exit", help="a multi-exit network → int8 segment bundle",
                        description="Build Merkel's multi-exit CNN (or attach exits to your Keras model), train it "
                                    "with the sum of all exits' cross-entropies, and export an int8 bundle.")
    add_common(me, out_required=False)
    me.add_argument("--model", help="your Keras model (.keras; functional, Sequential or nested): exits are attached "
                                    "after the --exits layers")
    me.add_argument("--exits", help="with --model: comma-separated layer names after which to attach exits, or "
                                    "auto:N for N exits spread evenly by MACs at block boundaries (--list-cuts "
                                    "shows where exits can go)")
    me.add_argument("--list-cuts", action="store_true",
                    help="with --model: print every layer an exit can follow, with its share of the MACs, and stop")
    me.add_argument("--head-budget", type=float, default=100 * DEFAULT_HEAD_BUDGET, metavar="PERCENT",
                    help="with --model: the most MACs one exit head may cost, in percent of the network's "
                         f"(default {100 * DEFAULT_HEAD_BUDGET:g}); heads pool to the finest of 4×4, 2×2 or 1×1 "
                         "positions that fits")
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

    me.add_argument("--invocation-cost", type=invocation_cost, metavar="MACS", help=INVOCATION_COST_HELP)

    me.set_defaults(handler=cmd_multi_exit, parser=me)


def cmd_multi_exit(args: argparse.Namespace) -> int:
    if not 0 < args.head_budget <= 100:
        raise ConvertError(f"--head-budget {args.head_budget:g}: expected a percentage in (0, 100]")
    if args.list_cuts:
        return list_cuts(args)
    if not args.out:
        args.parser.error("the following arguments are required: --out (or --list-cuts with --model)")
    summary = run_multi_exit(args)
    if summary["bundle"] is None:  # a multi-worker run's other worker: the chief prints the bundle
        return 0
    if args.json:
        print(json.dumps(summary))
    else:
        for e in summary["exits"]:
            print(f"{e['name']:>8}  {e['macs']:>10,d} MACs  int8 {e['accuracy']:.3f}  float {e['float_accuracy']:.3f}")
    return 0


def run_multi_exit(args: argparse.Namespace) -> dict[str, Any]:
    if (args.model is None) != (args.exits is None):
        raise ConvertError("--model and --exits go together: --model M.keras --exits LAYER,LAYER,… (or auto:N; "
                           "--list-cuts shows where exits can go)")
    if args.blocks < 1 or args.filters < 1:
        raise ConvertError("--blocks and --filters must be positive integers")
    check_common(args)
    with session(args) as (progress, dataset):
        return _convert(args, progress, dataset)


def _convert(args: argparse.Namespace, progress: Any, dataset: Any) -> dict[str, Any]:
    """Train and export inside :func:`session` (TensorFlow imported, its output redirected)."""
    from ..multi_exit.export import export_multi_exit  # TensorFlow: imported inside the session
    from ..multi_exit.model import attach_exits, plan_heads, reference_multi_exit
    from ..common.training import default_epochs
    from ..multi_exit.training import float_exit_accuracies, train_multi_exit

    n_classes = len(dataset.labels)
    as_given = None
    if args.model:
        graph = load_backbone(args.model, dataset.image_shape, progress.say)
        budget = args.head_budget / 100
        cuts = choose_cuts(graph, args.exits, n_classes, budget)
        grids = plan_heads(graph, cuts, n_classes, budget)
        dataset, contract = adopt_input_contract(graph.model, dataset, args, progress)
        as_given = contract.accuracy[contract.name]
        for cut, grid in zip(cuts, grids):
            progress.say(f"exit after {cut.name} ({_shape(cut.shape)}, {cut.macs_before / graph.total_macs:.1%} of the "
                         f"MACs): {describe_head(cut.shape, n_classes, grid, graph.total_macs)}")
        model = attach_exits(graph, cuts, n_classes, grids, input_exit=False, train_backbone=args.finetune)
        cut_names = [cut.name for cut in cuts]
        source = {"model": os.path.basename(args.model), "exits_after": cut_names, "finetune": bool(args.finetune),
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
    source["training"] = train_multi_exit(model, x_fit, y_fit, scale, offset, epochs, progress, seed=args.seed,
                                          frozen_backbone=bool(args.model) and not args.finetune)
    float_acc = float_exit_accuracies(model, x_held, y_held, scale, offset)
    progress.say("held-out float accuracy per exit: " + " ".join(f"{a:.3f}" for a in float_acc))
    source["epochs"] = epochs
    if not chief_writes(progress):
        return {"bundle": None, "worker": "done: the chief writes the bundle"}
    with staging_folder(args.out, args.force) as folder:
        manifest = export_multi_exit(model, dataset, folder, progress, float_acc, source, args.floor,
                                     args.invocation_cost)
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
    drops = int8_drops(manifest["exits"])
    for warning in drops:
        progress.say(warning)
    if drops and args.model:
        progress.say(_where_int8_loses(model, args.out, x_held[:200], scale, offset, cut_names))
    progress.say(f"wrote {args.out}")
    return summary


def choose_cuts(graph: Any, exits: str, n_classes: int, budget: float) -> list[Any]:
    """The cuts ``--exits`` names (checked), or ``auto:N``'s N boundary cuts spread by MACs whose heads fit."""
    from ..common.keras_graph import spaced_cuts

    if exits.strip().startswith("auto"):
        try:
            count = int(exits.strip()[len("auto:"):]) if exits.strip() != "auto" else 0
        except ValueError:
            raise ConvertError(f"--exits {exits}: expected auto:N with N a whole number of exits") from None
        if exits.strip() == "auto" or count < 1:
            raise ConvertError(f"--exits {exits}: expected auto:N with N ≥ 1 (auto:4 puts 4 exits before the output)")
        return spaced_cuts(graph, count,
                           lambda cut: head_grid(cut.shape, n_classes, budget * graph.total_macs) is not None)
    names = [c.strip() for c in exits.split(",") if c.strip()]
    if not names:
        raise ConvertError(f"--exits {exits!r}: expected layer names separated by commas, or auto:N")
    return [graph.cut(name) for name in names]


def list_cuts(args: argparse.Namespace) -> int:
    """``--list-cuts``: every cut of ``--model`` with its share of the MACs, on stdout."""
    from ..common.progress import import_tensorflow

    if not args.model:
        raise ConvertError("--list-cuts lists the places an exit can go in your model: give it --model M.keras")
    check_model_file(args.model)
    import_tensorflow()
    from ..common.keras_graph import flatten, variable_size

    model = load_keras_model(args.model)
    if variable_size(model) and not args.size:
        raise ConvertError(f"--model {args.model} takes images of any size (input {tuple(model.inputs[0].shape[1:])}), "
                           "and where an exit can go depends on it: --list-cuts --size H,W (the size you will "
                           "convert at)")
    graph = flatten(model, args.size)
    n_classes = int(graph.output.shape[-1])
    budget = args.head_budget / 100 * graph.total_macs
    rows = []
    for cut in graph.cuts:
        grid = head_grid(cut.shape, n_classes, budget)
        rows.append({"layer": cut.name, "macs_before": cut.macs_before,
                     "share": round(cut.macs_before / max(graph.total_macs, 1), 6), "shape": list(cut.shape),
                     "boundary": cut.boundary, "head_grid": grid,
                     "head_macs": None if grid is None else head_macs(cut.shape, n_classes, grid)})
    if args.json:
        print(json.dumps({"model": args.model, "total_macs": graph.total_macs, "classes": n_classes, "cuts": rows}))
        return 0
    print(f"{args.model}: {len(graph.calls)} layers, {graph.total_macs:,d} MACs per image, {len(rows)} places an exit "
          "can follow (* a block boundary: what auto:N picks from)")
    width = max([len(r["layer"]) for r in rows] + [5])
    print(f"  {'layer':<{width}}  {'MACs before':>13}  {'share':>6}  {'output':<14}  exit head")
    for row, cut in zip(rows, graph.cuts):
        head = ("over the --head-budget" if row["head_grid"] is None else
                describe_head(cut.shape, n_classes, row["head_grid"], graph.total_macs))
        print(f"{'*' if row['boundary'] else ' '} {row['layer']:<{width}}  {row['macs_before']:>13,d}  "
              f"{row['share']:>6.1%}  {_shape(cut.shape):<14}  {head}")
    return 0


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _where_int8_loses(model: Any, bundle: str, pixels: Any, scale: float, offset: float, cuts: list[str]) -> str:
    """One line saying how far the int8 network drifts from float at each cut and at its output, and where the
    drift grows most."""
    from ..multi_exit.export import feature_drift

    drift = feature_drift(model, bundle, pixels, scale, offset)
    places = cuts + ["the output"]
    steps = [drift[0]] + [b - a for a, b in zip(drift, drift[1:])]
    worst = int(max(range(len(steps)), key=steps.__getitem__))
    where = f"before {places[0]}" if worst == 0 else f"between {places[worst - 1]} and {places[worst]}"
    return ("why: the int8 network drifts from float by "
            + ", ".join(f"{d:.0%} at {c}" for d, c in zip(drift, places))
            + f" (‖int8 − float‖ / ‖float‖ on {len(pixels)} held-out images); quantization loses most {where}, "
            "and the exits after inherit it. A network trained longer (converged batch normalization) usually "
            "quantizes better")
