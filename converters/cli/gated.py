"""``edge-convert gated``: EnergyNet's gated residual CNN trained with the energy loss."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from edge_runtime.power.profiles import load_profile

from ..common.bundle_writer import staging_folder
from ..common.errors import ConvertError
from ..common.input_contract import whole_network_drop
from ..gated.reference import reference_moved
from .common import add_common, adopt_input_contract, check_common, chief_writes, load_backbone, session

OVERHEAD_WARNING = 0.5  # warn when the chain with every block skipped costs half the ungated network or more


def add_parser(sub: Any) -> None:
    ga = sub.add_parser("gated", help="a residual CNN with recurrent skip gates, trained with the energy loss → int8 bundle",
                        description="EnergyNet: train a residual CNN, then its shared-LSTM gates with L + α·E in three "
                                    "steps (α small, large, small again if accuracy fell), and export an int8 bundle in "
                                    "which a skipped block is never invoked.")
    add_common(ga)
    ga.add_argument("--alpha-schedule", default="0.1,0.9,0.1", metavar="A1,A2,A3",
                    help="α of EnergyNet's three training steps (default 0.1,0.9,0.1)")
    ga.add_argument("--step-epochs", type=int, default=8, help="epochs of each gated training step (default 8)")
    ga.add_argument("--widths", help="channels of the three stages (default: from the input size, so that a block "
                    "costs far more than invoking it: 64,128,256 at 8×8, 16,32,64 from 32×32 up)")
    ga.add_argument("--board", default="raspberry-pi-4", help="board profile with the energy constants of eq. 2")
    ga.add_argument("--model", help="your trained residual Keras model (.keras): a gate goes before each of its "
                                    "identity-shortcut blocks, blocks that change shape stay ungated, and the whole "
                                    "network trains with the energy loss (default: the reference residual CNN)")
    ga.add_argument("--input-range", choices=("0-255", "0-1", "-1-1"),
                    help="with --model: the pixel range your model expects (default: found from the model and "
                         "measured on held-out data)")
    ga.set_defaults(handler=cmd_gated)


def cmd_gated(args: argparse.Namespace) -> int:
    summary = run_gated(args)
    if summary["bundle"] is None:  # a multi-worker run's other worker: the chief prints the bundle
        return 0
    print(json.dumps(summary) if args.json else
          f"int8 held-out: ungated {summary['monolithic_accuracy']:.4f}; device gates agree with Keras on "
          f"{summary['gate_agreement_with_keras']:.1%} of decisions")
    return 0


def run_gated(args: argparse.Namespace) -> dict[str, Any]:
    def numbers(text: str, name: str, kind: type) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(","))
        except ValueError:
            raise ConvertError(f"{name} {text}: expected numbers separated by commas") from None
        return values

    schedule = numbers(args.alpha_schedule, "--alpha-schedule", float)
    if len(schedule) != 3 or not all(a >= 0 for a in schedule):
        raise ConvertError(f"--alpha-schedule {args.alpha_schedule}: expected three α ≥ 0, like 0.1,0.9,0.1")
    widths = numbers(args.widths, "--widths", int) if args.widths else None
    if widths is not None and (not widths or min(widths) < 1):
        raise ConvertError(f"--widths {args.widths}: expected positive channel counts, like 32,64,128")
    if args.step_epochs < 1:
        raise ConvertError(f"--step-epochs {args.step_epochs}: expected a positive integer")
    board = load_profile(args.board, "board")
    check_common(args)
    with session(args) as (progress, dataset):
        from ..gated.export import export_gated  # TensorFlow: inside the session
        from ..gated.model import block_costs, block_energies, build_gated_net, default_widths, train_gated

        if args.model:
            net, dataset, source = _users_network(args, dataset, progress)
            plain_epochs = 0
        else:
            if widths is None:
                widths = default_widths(dataset.image_shape)
                progress.say(f"widths {','.join(map(str, widths))} for {dataset.image_shape[1]}×"
                             f"{dataset.image_shape[0]} images (--widths to choose)")
            net = build_gated_net(dataset.image_shape, len(dataset.labels), widths, seed=args.seed)
            source = {"model": "gated_resnet", "widths": list(widths)}
            plain_epochs = args.epochs or 15
        x_fit, y_fit, x_held, y_held = dataset.held_out_split()
        energies = block_energies(block_costs(net), board.e_mac_j, board.e_byte_j)
        what = "your network and" if args.model else f"the residual network for {plain_epochs} epochs, then"
        progress.say(f"training {what} the gates of its {len(net.blocks)} blocks in three steps of "
                     f"{args.step_epochs} epochs (α {schedule})")
        training = train_gated(net, dataset.float_rows(x_fit), y_fit, dataset.float_rows(x_held), y_held, energies,
                               plain_epochs=plain_epochs, step_epochs=args.step_epochs, alphas=schedule,
                               seed=args.seed, say=progress.say, recalibrate=bool(args.model))
        source.update({"board": board.name, "alpha_schedule": list(schedule)})
        if not chief_writes(progress):
            return {"bundle": None, "worker": "done: the chief writes the bundle"}
        with staging_folder(args.out, args.force) as folder:
            manifest = export_gated(net, dataset, folder, progress, training, energies, source,
                                    args.floor)
        overhead = manifest["calibration"].get("overhead")
        if overhead and overhead["no_block_share"] >= OVERHEAD_WARNING:
            progress.say(f"warning: on this machine skipping every block still takes {overhead['no_block_us']:.1f} µs, "
                         f"{overhead['no_block_share']:.0%} of the ungated network's {overhead['ungated_us']:.1f} µs: "
                         "invocation and joint overhead eats most of what skipping saves; "
                         + ("blocks this small do not pay for their segments on this machine" if args.model else
                            "wider blocks (--widths) make skipping pay"))
        calibration = manifest["calibration"]
        drop = whole_network_drop(calibration["ungated_keras_accuracy"], calibration["monolithic_accuracy"],
                                  "the same ungated network")
        if drop:
            progress.say(drop)
        moved = reference_moved(training["baseline_accuracy"], calibration["ungated_keras_accuracy"],
                                calibration["keras_gated_accuracy"], "your network" if args.model else
                                "the residual network")
        if moved:
            progress.say(moved)
        progress.say(f"wrote {args.out}")
    return {"bundle": os.path.abspath(args.out), **manifest["calibration"], "training": training}


def _users_network(args: argparse.Namespace, dataset: Any, progress: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The user's model with gates before its identity-shortcut blocks, the dataset as it reads it, and the
    bundle's producer fields."""
    from ..gated.user_model import gated_from_graph

    if args.widths:
        raise ConvertError("--widths shapes the reference network; with --model your network's widths are used")
    graph = load_backbone(args.model, dataset.image_shape, progress.say)
    net = gated_from_graph(graph, args.model)
    dataset, contract = adopt_input_contract(graph.model, dataset, args, progress)
    progress.say(f"gates before {len(net.blocks)} identity-shortcut blocks: {', '.join(b.name for b in net.blocks)}")
    source = {"model": os.path.basename(args.model), "gated_blocks": [b.name for b in net.blocks],
              "input_range": contract.name, "input_range_reason": contract.reason,
              "model_held_out_accuracy": round(contract.accuracy[contract.name], 6)}
    return net, dataset, source
