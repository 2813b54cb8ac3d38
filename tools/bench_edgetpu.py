"""The Edge TPU path on this machine: what separate interpreters per compiled segment cost the host.

    python -m tools.bench_edgetpu [BUNDLE] [--rounds 7] [--json]

The TPU needs one single-signature file per segment, so a TPU build runs one interpreter per segment
where the CPU build runs every signature of ``segments.tflite`` through one interpreter. No Coral TPU
exists here: the bundle is compiled by the stand-in compiler (the files stay CPU models) and run
through the stand-in ``libedgetpu.so.1`` (a delegate that claims no operation), so every op runs on
the CPU in both builds and the difference is the host-side cost of the joints: one interpreter per
segment against one for all. What a real TPU adds per invocation (USB or PCIe transfers, parameter
caching) is not measured here.

Without BUNDLE it uses the demo bundle (built if needed). Variants are interleaved in rounds; figures
are medians of the mean µs per image over the digits test split.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from edge_runtime.cli.demo import demo_bundle
from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.timing import cpu_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def export_with_standin(bundle: str, out: str) -> None:
    folder = tempfile.mkdtemp()
    script = os.path.join(folder, "edgetpu_compiler")
    with open(script, "w") as handle:
        handle.write(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m edge_sim.edgetpu_compiler "$@"\n')
    os.chmod(script, 0o755)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([sys.executable, "-m", "converters", "edgetpu", bundle, "--out", out, "--force"], check=True,
                   env=env, stdout=subprocess.DEVNULL)


def measure(bundle: str, rounds: int) -> dict[str, float]:
    """(in the process that has the stand-in library on its loader path)"""
    from edge_runtime.core.datasets import load_digits_dataset
    from edge_runtime.core.preprocess import Preprocessor
    from edge_runtime.registry import open_runtime

    cpu = open_runtime(bundle)
    tpu = open_runtime(bundle, delegate_names=["edgetpu"])
    if tpu.placement is None:
        raise SystemExit(f"the stand-in delegate did not load: {tpu.placement_note}")
    data = load_digits_dataset()
    pre = Preprocessor(cpu.bundle.input, cpu.input_quantization)
    images = [pre.from_pixels(p) for p in data.x_test]
    variants = {}
    for name, runtime in (("cpu", cpu), ("tpu", tpu)):
        every, alpha0 = runtime.every_exit_plan(), runtime.plan_for_alpha(0.0)
        variants[f"{name}_every_joint"] = lambda im, r=runtime, p=every: r.classify(im, p)
        variants[f"{name}_alpha0"] = lambda im, r=runtime, p=alpha0: r.classify(im, p)
        variants[f"{name}_monolithic"] = runtime.classify_monolithic
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds + 1):
        for key, run in variants.items():
            start = time.perf_counter_ns()
            for image in images:
                run(image)
            samples[key].append((time.perf_counter_ns() - start) / len(images) / 1000.0)
    result = {key: statistics.median(values[1:]) for key, values in samples.items()}  # the first round warms up
    result["interpreters_cpu"] = len(cpu.open_files)
    result["interpreters_tpu"] = len(tpu.open_files)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("bundle", nargs="?", help="a multi-exit bundle (default: the demo bundle)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        print(json.dumps(measure(args.inner, args.rounds)))
        return 0
    bundle = args.bundle or demo_bundle()
    from edge_sim.edgetpu_delegate import build

    work = tempfile.mkdtemp()
    tpu_bundle = os.path.join(work, "tpu-bundle")
    print("exporting with the stand-in compiler…", file=sys.stderr)
    export_with_standin(bundle, tpu_bundle)
    library = build(os.path.join(work, "lib"))
    env = {**os.environ, "LD_LIBRARY_PATH": os.path.dirname(library)}
    done = subprocess.run([sys.executable, "-m", "tools.bench_edgetpu", "--inner", tpu_bundle, "--rounds",
                           str(args.rounds)], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if args.json:
        print(json.dumps({**result, "cpu": cpu_model()}))
        return 0
    print(f"CPU: {cpu_model()}")
    print(f"bundle {bundle}; interpreters: CPU build {result['interpreters_cpu']}, TPU build "
          f"{result['interpreters_tpu']} (one per compiled segment)")
    for variant in ("every_joint", "alpha0", "monolithic"):
        cpu, tpu = result[f"cpu_{variant}"], result[f"tpu_{variant}"]
        print(f"{variant:<12} one interpreter {cpu:7.2f} µs   one per segment {tpu:7.2f} µs   ({tpu / cpu:.2f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
