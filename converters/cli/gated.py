"""``edge-convert gated``: EnergyNet's gated residual CNN trained with the energy loss."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from edge_runtime.power.profiles import load_profile

from ..common.bundle_writer import staging_folder
from ..common.errors import ConvertError
from .common import add_common, check_common, session

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
    ga.set_defaults(handler=cmd_gated)


def cmd_gated(args: argparse.Namespace) -> int:
    summary = run_gated(args)
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

        x_fit, y_fit, x_held, y_held = dataset.held_out_split()
        if widths is None:
            widths = default_widths(dataset.image_shape)
            progress.say(f"widths {','.join(map(str, widths))} for {dataset.image_shape[1]}×{dataset.image_shape[0]} "
                         "images (--widths to choose)")
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
        overhead = manifest["calibration"].get("overhead")
        if overhead and overhead["no_block_share"] >= OVERHEAD_WARNING:
            progress.say(f"warning: on this machine skipping every block still takes {overhead['no_block_us']:.1f} µs, "
                         f"{overhead['no_block_share']:.0%} of the ungated network's {overhead['ungated_us']:.1f} µs: "
                         "invocation and joint overhead eats most of what skipping saves; wider blocks (--widths) "
                         "make skipping pay")
        progress.say(f"wrote {args.out}")
    return {"bundle": os.path.abspath(args.out), **manifest["calibration"], "training": training}
