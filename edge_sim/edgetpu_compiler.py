"""A stand-in for ``edgetpu_compiler`` (Google's, x86-64 Linux only, not installable here): same
arguments, same output files, a report in the real compiler's format.

    python -m edge_sim.edgetpu_compiler [-s] [-o OUT_DIR] MODEL.tflite [MODEL.tflite …]

For each model it writes ``OUT_DIR/NAME_edgetpu.tflite`` and ``NAME_edgetpu.log`` and prints the
per-model block (input and output, on-chip and off-chip parameter memory, subgraphs, operations)
and, with ``-s``, the ``Operator Count Status`` table. What it cannot do is the compiling: the output
model is the input unchanged (it still runs on the CPU, and on any delegate that claims nothing).
Which ops it calls mapped follows Coral's list of supported operations; parameters fill the 8 MiB
cache in argument order, as co-compiled models share it. ``EDGETPU_STANDIN_FAIL=1`` makes it fail as
the real one does on a model it refuses.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import Counter

VERSION = "16.0.384591198"
CACHE_BYTES = 8 * 1024 * 1024
SUPPORTED = {"ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
             "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL",
             "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1",
             "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH",
             "SPLIT", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE",
             "TRANSPOSE_CONV"}


def human(size: int) -> str:
    for unit, scale in (("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size:.2f}B"


def describe(path: str) -> tuple[Counter[str], int]:
    """(operator counts, bytes of constant parameters) of a .tflite file."""
    from converters.edgetpu.split import builtin_name, read_model  # the workstation side's own reader

    with open(path, "rb") as handle:
        model = read_model(handle.read())
    ops: Counter[str] = Counter(builtin_name(model.operatorCodes[op.opcodeIndex])
                                for subgraph in model.subgraphs for op in subgraph.operators or [])
    params = sum(len(b.data) for b in model.buffers if b.data is not None)
    return ops, params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgetpu_compiler")
    parser.add_argument("-s", "--show_operations", action="store_true")
    parser.add_argument("-o", "--out_dir", default=".")
    parser.add_argument("-v", "--version", action="store_true")
    parser.add_argument("models", nargs="*")
    args = parser.parse_args(argv)
    print(f"Edge TPU Compiler version {VERSION}")
    if args.version:
        return 0
    if not args.models:
        print("ERROR: no input model", file=sys.stderr)
        return 1
    if os.environ.get("EDGETPU_STANDIN_FAIL"):
        print("ERROR: Attempting to use a delegate that only supports static-sized tensors with a graph that has "
              "dynamic-sized tensors.", file=sys.stderr)
        print("Compilation failed!", file=sys.stderr)
        return 1
    print("Started a compilation timeout timer of 180 seconds.\n")
    print(f"Model{'s' if len(args.models) > 1 else ''} compiled successfully in 42 ms.\n")
    cache_left = CACHE_BYTES
    for path in args.models:
        ops, params = describe(path)
        base = os.path.basename(path)[:-len(".tflite")]
        out = os.path.join(args.out_dir, f"{base}_edgetpu.tflite")
        log = os.path.join(args.out_dir, f"{base}_edgetpu.log")
        shutil.copyfile(path, out)
        on_chip = min(params, cache_left)
        cache_left -= on_chip
        mapped = sum(n for op, n in ops.items() if op in SUPPORTED)
        rows = [(op, n, "Mapped to Edge TPU" if op in SUPPORTED else "Operation not supported")
                for op, n in sorted(ops.items())]
        print(f"Input model: {path}\nInput size: {human(os.path.getsize(path))}\nOutput model: {out}\n"
              f"Output size: {human(os.path.getsize(out))}\n"
              f"On-chip memory used for caching model parameters: {human(on_chip)}\n"
              f"On-chip memory remaining for caching model parameters: {human(cache_left)}\n"
              f"Off-chip memory used for streaming uncached model parameters: {human(params - on_chip)}\n"
              f"Number of Edge TPU subgraphs: {1 if mapped else 0}\n"
              f"Total number of operations: {sum(ops.values())}\nOperation log: {log}\n")
        if mapped < sum(ops.values()):
            print("Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of "
                  "the model will instead run on the CPU, which is slower. If possible, consider updating your model "
                  "to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.")
            print(f"Number of operations that will run on Edge TPU: {mapped}")
            print(f"Number of operations that will run on CPU: {sum(ops.values()) - mapped}\n")
        table = "Operator                       Count      Status\n\n" + "".join(
            f"{op:<30} {n:<10} {status}\n" for op, n, status in rows)
        with open(log, "w") as handle:
            handle.write(f"Edge TPU Compiler version {VERSION}\nInput: {path}\nOutput: {out}\n\n{table}")
        if args.show_operations:
            print(table)
        else:
            print("See the operation log file for individual operation details.")
    print("Compilation child process completed within timeout period.\nCompilation succeeded! ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
