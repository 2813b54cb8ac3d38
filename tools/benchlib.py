"""What the family benchmarks share: a benchmark bundle built once and cached."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

import numpy as np


from edge_runtime.cli.demo import default_workdir
from edge_runtime.core.datasets import load_digits_dataset
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.registry import open_runtime


def cached_bundle(family: str, name: str, convert_args: list[str], minutes: str, folder: str | None = None) -> str:
    """``~/.cache/edge-adaptive/FOLDER/NAME`` (FOLDER defaults to FAMILY), converted with ``edge-convert FAMILY
    ARGS`` if missing."""
    bundle = os.path.join(os.path.dirname(default_workdir()), folder or family, name)
    if not os.path.isfile(os.path.join(bundle, "manifest.json")):
        os.makedirs(os.path.dirname(bundle), exist_ok=True)
        print(f"building {bundle} ({minutes})", file=sys.stderr)
        # the converter's summary goes to stderr: stdout carries only the benchmark's figures
        subprocess.run([sys.executable, "-m", "converters", family, "--dataset", "digits", *convert_args,
                        "--out", bundle, "--force"], check=True, stdout=sys.stderr)
    return bundle


def parse_bench_args(description: str, family: str, argv: list[str] | None) -> Any:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("bundle", nargs="?", help=f"a {family} bundle (default: the benchmark bundle, built if missing)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def open_with_test_split(bundle: str, threads: int) -> tuple[Any, list[np.ndarray], np.ndarray]:
    """The bundle's runtime and the digits test split, quantized for it."""
    runtime = open_runtime(bundle, num_threads=threads)
    data = load_digits_dataset()
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    return runtime, [pre.from_pixels(p) for p in data.x_test], data.y_test
