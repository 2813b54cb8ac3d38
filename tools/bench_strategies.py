"""The same conversion under each ``--strategy``: time, and the bundle's α = 0 accuracy on the test split.

    python -m tools.bench_strategies [--dataset digits] [--family multi-exit] [--epochs N] [--json]

Runs ``edge-convert FAMILY --dataset D`` three times on this machine: ``--strategy default``,
``--strategy mirrored --cpu-devices 2``, and ``--strategy multiworker`` with two worker processes on
localhost ports (``TF_CONFIG`` set for each; the chief writes the bundle). Each bundle is evaluated with
``edge-runtime eval --floor none`` at α = 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.timing import cpu_model


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports free on localhost now (bound and released; another process could take one)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_workers(convert_args: list[str], out: str, workers: int = 2, timeout: float = 1800.0
                ) -> list[subprocess.CompletedProcess]:
    """``edge-convert CONVERT_ARGS --strategy multiworker`` in ``workers`` processes on localhost, each with its
    ``TF_CONFIG``; the chief (worker 0) writes ``out``, the others ``out.worker-N`` (never created)."""
    ports = free_ports(workers)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    processes = []
    for index in range(workers):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        target = out if index == 0 else f"{out}.worker-{index}"
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "converters", *convert_args, "--strategy", "multiworker", "--out", target],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return results


def alpha0_accuracy(bundle: str, dataset: str) -> float:
    """The bundle's accuracy at α = 0 on the dataset's test split (``eval --floor none --json``)."""
    done = subprocess.run([sys.executable, "-m", "edge_runtime", "eval", bundle, "--dataset", dataset, "--points", "2",
                           "--floor", "none", "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(done.stdout)["rows"]
    return float(min(rows, key=lambda r: r["alpha"])["accuracy"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_strategies", description=doc_summary(__doc__))
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--family", default="multi-exit", choices=("multi-exit", "pruned", "gated"))
    parser.add_argument("--epochs", type=int, help="training epochs (default: the converter's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_model()}", file=sys.stderr)
    base = [args.family, "--dataset", args.dataset, "--quiet"] + (["--epochs", str(args.epochs)] if args.epochs else [])
    work = tempfile.mkdtemp(prefix="bench-strategies-")
    rows = []
    try:
        for name, extra in (("default", []), ("mirrored, 2 CPU devices", ["--strategy", "mirrored", "--cpu-devices", "2"])):
            out = os.path.join(work, name.split(",")[0])
            started = time.monotonic()
            subprocess.run([sys.executable, "-m", "converters", *base, *extra, "--out", out], check=True,
                           capture_output=True)
            rows.append({"strategy": name, "seconds": time.monotonic() - started,
                         "alpha0_accuracy": alpha0_accuracy(out, args.dataset)})
            print(f"  {name}: done", file=sys.stderr)
        out = os.path.join(work, "multiworker")
        started = time.monotonic()
        results = run_workers(base, out)
        for r in results:
            if r.returncode != 0:
                raise SystemExit(f"Error: a worker failed:\n{r.stderr[-2000:]}")
        rows.append({"strategy": "multiworker, 2 workers", "seconds": time.monotonic() - started,
                     "alpha0_accuracy": alpha0_accuracy(out, args.dataset)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "family": args.family, "dataset": args.dataset, "rows": rows}))
        return 0
    reference = rows[0]["alpha0_accuracy"]
    print(f"{args.family} on {args.dataset}: α = 0 test accuracy per strategy")
    for row in rows:
        print(f"  {row['strategy']:<24} {row['seconds']:6.0f} s  {row['alpha0_accuracy']:.2%}  "
              f"({100 * (row['alpha0_accuracy'] - reference):+.2f} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
