"""What several ``edge-runtime`` commands share: the runtime options, opening a bundle, a test split."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import numpy as np

from ..core.audit import BUDGET_PER_RATE, DEFAULT_AUDIT_RATE, default_budget
from ..core.backends import BACKEND_NAMES
from ..core.bundle import Bundle
from ..core.datasets import load_dataset
from ..core.image_rows import mapped_images
from ..core.preprocess import DEFAULT_MAX_PIXELS, Preprocessor
from ..errors import InputError
from ..families.multi_exit.runtime import RULES
from ..registry import open_runtime
from .arg_types import budget_share, floor_text, positive_int, unit_interval


# α without a monitor: the most accurate operating point at the least energy that reaches it. (0.5 gave a
# gated user 72% where α = 0 gives 97%: the cheap half of the range is for a draining battery to choose.)
DEFAULT_ALPHA = 0.0


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle folder (made by edge-convert)")
    parser.add_argument("--backend", choices=BACKEND_NAMES,
                        help="interpreter package (default: the first installed, in this order)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="interpreter threads (default 1: fastest for small models)")
    parser.add_argument("--delegate", action="append", choices=("edgetpu",), default=[],
                        help="run the bundle's Edge TPU build (edge-convert edgetpu) through libedgetpu.so.1; "
                             "without a usable TPU the CPU segments run, with one warning")
    parser.add_argument("--edgetpu-device", metavar="DEVICE",
                        help="with --delegate edgetpu: usb, pci, usb:0, :1… (default: the first Edge TPU found)")
    parser.add_argument("--rule", choices=RULES, default="frontier",
                        help="how α sets the operating point: frontier (the bundle's α table: expected energy linear in "
                             "α; default) or merkel (multi-exit only: eq. 7 then eq. 10 with β1, β2)")
    parser.add_argument("--energy", metavar="ENERGY.json", help="measured joules of this bundle (edge-runtime "
                        "profile): the α table is fitted again on them instead of MACs")
    parser.add_argument("--floor", type=floor_text, metavar="A|-P|none",
                        help="where α = 1 ends: the cheapest operating point whose expected accuracy is at least A "
                             "(0.95), or P points under α = 0's (-2), or none (default: the bundle's, set by "
                             "edge-convert --floor; -2 unless said otherwise)")
    parser.add_argument("--beta1", type=float, help="eq. 10's β1 (default: the bundle's, 0.8)")
    parser.add_argument("--beta2", type=float, help="eq. 10's β2 (default: the bundle's, 1.1)")
    parser.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="largest image in pixels, checked before decoding, for image files and folders "
                             f"(default {DEFAULT_MAX_PIXELS:,d}: a 50-megapixel photo, 150 MB decoded; sized for a "
                             "board with 1 GB)")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_audit_options(parser: argparse.ArgumentParser, context: str = "") -> None:
    """``--audit RATE`` and ``--adapt`` (:mod:`edge_runtime.core.audit`, :mod:`edge_runtime.core.adapt`), the same
    for ``run``, ``serve`` and ``eval --stream``; ``context`` prefixes their help (``"with --stream: "``)."""
    parser.add_argument("--audit", type=unit_interval, default=DEFAULT_AUDIT_RATE, metavar="RATE",
                        help=f"{context}share of inputs also run through the monolithic network to count, without "
                             "labels, how often the answer given agrees with it (default 0.02, one at a random place "
                             "in each block of 50; 0: none), with a 95%% interval against the α table's promise; "
                             "serve's /health says 'degraded' when the interval is more than a point under it")
    parser.add_argument("--audit-budget", type=budget_share, metavar="SHARE",
                        help=f"{context}the audit's largest share of the MACs spent (default {BUDGET_PER_RATE:g} × "
                             f"RATE: {default_budget(DEFAULT_AUDIT_RATE):g} at the default rate; 1: no limit). An "
                             "audit finishes the network from the exit that answered, so where answers come early "
                             "it costs many answers; a scheduled audit is skipped while the audit is over budget, "
                             "which leaves fewer audits and a wider interval, except for 50 audits when answers "
                             "cost measurably more than the α table expects (inputs unlike the held-out ones)")
    parser.add_argument("--adapt", action="store_true",
                        help=f"{context}when the inputs audited lately say the promise is broken, stop using the α "
                             "table's cheaper points until the audited inputs agree as promised again (said once per "
                             "change); while the agreement looks low, audit 5× as often (those audits count in the "
                             "MACs)")


def check_audit_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The usage error the option types cannot catch: ``--adapt`` with nothing audited (exit 2)."""
    if args.adapt and args.audit == 0:
        parser.error("--adapt keeps the promise from audited inputs: --audit must be above 0")


def check_runtime_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors the option types cannot catch alone (exit 2)."""
    for name in ("beta1", "beta2"):
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            parser.error(f"--{name} must be positive, got {value}")


def open_from_args(args: argparse.Namespace) -> Any:
    """The runtime of ``args.bundle`` with the options of :func:`add_runtime_options`; says once on stderr
    when α cannot follow an α table."""
    runtime = open_runtime(args.bundle, args.backend, args.threads, args.delegate, energy=args.energy,
                           edgetpu_device=args.edgetpu_device, beta1=args.beta1, beta2=args.beta2, rule=args.rule,
                           floor=getattr(args, "floor", None))
    for note in (runtime.placement_note, runtime.rule_note, runtime.energy_note):
        if note:
            print(f"warning: {note}", file=sys.stderr)
    return runtime


def load_split(spec: str, bundle: Bundle, split: str = "test", limit: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Sequence[np.ndarray], np.ndarray]:
    """The ``test`` split (or the converter's ``held-out`` one, or ``all`` the images) of dataset ``spec`` as
    the bundle's int8 inputs,
    checked to fit the bundle (folders: images over ``max_pixels`` skipped and named). A dataset too large
    to hold is converted as it is read, image by image, on each pass."""
    dataset = load_dataset(spec, (bundle.input.height, bundle.input.width), max_pixels=max_pixels)
    if dataset.skipped:
        print(f"warning: skipped {len(dataset.skipped)} file(s) Pillow cannot read: "
              + "; ".join(dataset.skipped[:5]) + (" …" if len(dataset.skipped) > 5 else ""), file=sys.stderr)
    shape = (bundle.input.height, bundle.input.width, bundle.input.channels)
    if dataset.image_shape != shape:
        raise InputError(spec, f"images are {dataset.image_shape}, the bundle takes {shape}")
    if len(dataset.labels) != len(bundle.labels):
        raise InputError(spec, f"has {len(dataset.labels)} classes, the bundle has {len(bundle.labels)}")
    numbered = tuple(str(i) for i in range(len(bundle.labels)))
    if numbered not in (dataset.labels, bundle.labels) and tuple(dataset.labels) != tuple(bundle.labels):
        raise InputError(spec, f"names its classes {', '.join(dataset.labels)}; the bundle's are "
                         f"{', '.join(bundle.labels)} (the same names, in the same order, are expected)")
    pre = Preprocessor(bundle.input, bundle.monolithic.inputs["x"].quantization)
    if split == "test":
        pixels, labels = dataset.x_test, dataset.y_test
    elif split == "all":
        pixels, labels = dataset.every_image()
    else:
        _, _, pixels, labels = dataset.held_out_split()
    if limit:
        pixels, labels = pixels[:limit], labels[:limit]
    return mapped_images(pixels, pre.from_pixels), labels


def load_test_split(spec: str, runtime: Any, limit: int | None = None,
                    max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Sequence[np.ndarray], np.ndarray]:
    """The test split of dataset ``spec`` as ``runtime``'s int8 inputs."""
    return load_split(spec, runtime.bundle, "test", limit, max_pixels)
