"""Benchmark: the networks users deploy, converted with exits and measured side by side.

    python -m tools.bench_architectures [--archs mobilenet_v2] [--data digits|squares] [--size 96]
                                        [--train 10000] [--exits 5] [--rounds 5] [--json]
    python -m tools.bench_architectures --archs efficientnet_b0 --data squares
    python -m tools.bench_architectures --families pruned,gated --size 64   # the other families' savings

For each ``keras.applications`` architecture (built with ``weights=None``) a user model is trained briefly
on generated colour digits (``tools.make_dataset``: 10 classes, ``--size`` pixels, with ``x_val`` images
kept out of training) and saved, as a user would; both are cached under
``~/.cache/edge-adaptive/architectures``. Then it runs, and prints per architecture:

* ``edge-convert multi-exit --model M --exits auto:N --dataset D`` (frozen backbone, the defaults a user
  types) as a child process: wall time and peak resident memory;
* MACs of the network and of each exit, and each exit's int8 accuracy beside its float accuracy;
* the chain through every exit to the last one, through every other exit (half the invocations), and the
  whole network as one invocation, ÷ the monolithic int8 model, at 1 and 2 threads (interleaved rounds in one
  process, medians);
* α = 0 on the test split: accuracy against the monolithic int8 model (the user's network), MAC saving;
* ``import edge_runtime`` + loading the bundle in a fresh process;
* with ``--families pruned,gated``: ``edge-convert pruned|gated --model M --dataset D`` (the defaults), time
  and memory, and α = 0 and α = 1 (the floor) on the test split against the bundle's monolithic network.

Every timing line names the CPU it was taken on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from edge_runtime.cli.demo import default_workdir
from edge_runtime.core.datasets import load_dataset
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.core.timing import cpu_model
from edge_runtime.families.multi_exit.evaluate import evaluate
from edge_runtime.registry import open_runtime
from edge_runtime.cli.arg_types import doc_summary
from tools.bench_multi_exit import chain_latencies, load_time

ARCHITECTURES = ("mobilenet_v2", "efficientnet_b0", "mobilenet_v3_small", "resnet50_v2")


def cache_folder() -> str:
    return os.path.join(os.path.dirname(default_workdir()), "architectures")


def dataset_path(kind: str, size: int, n_train: int, say) -> str:
    """Generated images at ``size`` pixels: ``n_train`` training, 1,500 x_val and 2,000 test images; ``digits``
    (10 classes of colour digits) or ``squares`` (4 colours, which any network learns in an epoch)."""
    from tools.make_dataset import make, squares

    path = os.path.join(cache_folder(), f"{kind}{size}-{n_train}.npz")
    if not os.path.isfile(path):
        os.makedirs(cache_folder(), exist_ok=True)
        say(f"generating {n_train:,d} + 1,500 + 2,000 {kind} at {size}×{size} → {path}")
        if kind == "squares":
            arrays = {}
            for split, count, seed in (("train", n_train, 0), ("test", 2000, 1), ("val", 1500, 2)):
                arrays[f"x_{split}"], arrays[f"y_{split}"] = squares(count, size, seed)
        else:
            arrays = make(size, True, n_train, 2000, seed=0)
            held = make(size, True, 1500, 1, seed=1)  # other draws of the training writers: never trained on
            arrays.update(x_val=held["x_train"], y_val=held["y_train"])
        partial = path + ".partial.npz"
        np.savez(partial, **arrays)
        os.replace(partial, path)
    return path


def build(name: str, size: int, classes: int) -> Any:
    import keras

    shape = (size, size, 3)
    if name == "mobilenet_v2":
        image = keras.Input(shape)
        scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
        return keras.applications.MobileNetV2(input_tensor=scaled, alpha=0.35, weights=None, classes=classes)
    if name == "mobilenet_v3_small":
        return keras.applications.MobileNetV3Small(input_shape=shape, weights=None, classes=classes)
    if name == "efficientnet_b0":
        return keras.applications.EfficientNetB0(input_shape=shape, weights=None, classes=classes)
    if name == "resnet50_v2":
        image = keras.Input(shape)
        scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
        return keras.applications.ResNet50V2(input_tensor=scaled, weights=None, classes=classes)
    raise SystemExit(f"Error: --archs: unknown architecture {name!r}; expected {', '.join(ARCHITECTURES)}")


# From scratch in a few epochs: Adam's default 1e-3 left MobileNetV2 at 22% after 4; 5e-3 left EfficientNetB0
# at chance (loss 2.5 after 3 epochs).
LEARNING_RATE = {"mobilenet_v2": 5e-3, "mobilenet_v3_small": 5e-3}
DEFAULT_LEARNING_RATE = 1e-3


def user_model(name: str, data: str, size: int, epochs: int, say) -> tuple[str, dict[str, Any]]:
    """The architecture trained as a user would (Adam, ``epochs`` on all of x_train), saved; cached."""
    rate = LEARNING_RATE.get(name, DEFAULT_LEARNING_RATE)
    path = os.path.join(cache_folder(), f"{name}-{size}-{os.path.basename(data)[:-4]}-{epochs}ep-lr{rate:g}.keras")
    info_path = path + ".json"
    if not os.path.isfile(path):
        import keras

        from converters.common.training import EpochProgress

        keras.utils.set_random_seed(0)
        with np.load(data) as arrays:
            x, y = arrays["x_train"].astype(np.float32), arrays["y_train"]
            x_test, y_test = arrays["x_test"].astype(np.float32), arrays["y_test"]
        model = build(name, size, int(y.max()) + 1)
        for layer in model.layers:  # a few epochs: Keras' momentum of 0.99 would leave the statistics unconverged
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
        say(f"training {name} at {size}×{size} for {epochs} epochs on {len(y):,d} images")
        start = time.monotonic()
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=0,
                  callbacks=[EpochProgress(say, epochs, f"{name}: ")])
        info = {"training_seconds": round(time.monotonic() - start, 1),
                "float_test_accuracy": round(float(model.evaluate(x_test, y_test, verbose=0)[1]), 4),
                "parameters": int(model.count_params())}
        model.save(path + ".partial.keras")
        os.replace(path + ".partial.keras", path)
        with open(info_path, "w", encoding="utf-8") as handle:
            json.dump(info, handle)
    with open(info_path, encoding="utf-8") as handle:
        return path, json.load(handle)


PEAK_RSS_OF = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)"
)


def convert(model: str, data: str, exits: int, out: str, say, family: str = "multi-exit") -> dict[str, Any]:
    """``edge-convert FAMILY`` with a user's defaults, as a child: wall seconds and peak RSS."""
    command = [sys.executable, "-m", "converters", family, "--model", model, "--dataset", data, "--out", out,
               "--force", "--json"] + (["--exits", f"auto:{exits}"] if family == "multi-exit" else [])
    say("$ edge-convert " + " ".join(command[3:]))
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        # a wrapper per conversion: getrusage(RUSAGE_CHILDREN) here would be the largest child so far, not this one
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-c", PEAK_RSS_OF, rss.name, *command], stdout=subprocess.PIPE,
                              stderr=sys.stderr, text=True)
        seconds = time.monotonic() - start
        peak_kb = int(rss.read().strip() or 0)
    if done.returncode != 0:
        return {"seconds": round(seconds, 1), "failed": f"edge-convert exited {done.returncode} (its error is above)"}
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024), "summary": json.loads(done.stdout)}


def measure(bundle: str, data: str, rounds: int, test_limit: int) -> dict[str, Any]:
    """Chain ratios at 1 and 2 threads, α = 0 on the test split, exits' MACs and int8 drops, load time."""
    dataset = load_dataset(data)
    report: dict[str, Any] = {"threads": {}}
    for threads in (1, 2):
        runtime = open_runtime(bundle, num_threads=threads)
        pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
        images = [pre.from_pixels(p) for p in dataset.x_test[:test_limit]]
        latency = chain_latencies(runtime, images[:200], rounds)
        report["threads"][threads] = {
            "monolithic_us": round(latency["monolithic"], 1),
            "every_exit_chain_ratio": round(latency["every_joint"] / latency["monolithic"], 3),
            "every_other_exit_chain_ratio": round(latency["every_other_joint"] / latency["monolithic"], 3),
            "every_other_exit_invocations": latency["every_other_joint_invocations"],
            "one_invocation_ratio": round(latency["plan_alpha0"] / latency["monolithic"], 3),
            # what an input that no exit takes runs, under the α table's plans
            "chain_at_alpha": {f"{alpha:g}": {"ratio": round(latency[f"chain_at_{alpha:g}"] / latency["monolithic"], 3),
                                              "invocations": latency[f"chain_at_{alpha:g}_invocations"]}
                               for alpha in (0.0, 0.5, 1.0)}}
        if threads == 1:
            result = evaluate(runtime, images, dataset.y_test[:test_limit], count=11)
            alpha0 = result["by_rule"]["frontier"]["rows"][0]
            report["alpha_0"] = {"accuracy": alpha0["accuracy"], "mac_saving": alpha0["mac_saving"],
                                 "monolithic_accuracy": result["monolithic"]["accuracy"],
                                 "points_vs_monolithic": round(100 * (alpha0["accuracy"]
                                                                      - result["monolithic"]["accuracy"]), 2),
                                 "test_images": len(images)}
            report["macs"] = runtime.bundle.full_macs
            report["exits"] = [{"name": e.name, "macs": e.macs, "int8": e.accuracy, "float": e.float_accuracy,
                                "int8_minus_float_points": round(100 * (e.accuracy - e.float_accuracy), 2)}
                               for e in runtime.exits]
    report["load"] = load_time(bundle)
    return report


def family_savings(bundle: str, data: str, test_limit: int) -> dict[str, Any]:
    """A pruned or gated bundle at α = 0 and α = 1 (its floor) on the test split: accuracy beside its monolithic
    int8 network (the user's, for pruned; the ungated one, for gated) and the MACs saved."""
    dataset = load_dataset(data)
    runtime = open_runtime(bundle)
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    images = [pre.from_pixels(p) for p in dataset.x_test[:test_limit]]
    labels = dataset.y_test[:test_limit]
    reference = float(np.mean([runtime.classify_monolithic(image) == label for image, label in zip(images, labels)]))
    points = {}
    for alpha in (0.0, 1.0):
        decisions = [runtime.classify(image, runtime.plan_for_alpha(alpha)) for image in images]
        accuracy = float(np.mean([d.label == label for d, label in zip(decisions, labels)]))
        points[f"alpha_{alpha:g}"] = {
            "accuracy": accuracy, "points_vs_monolithic": round(100 * (accuracy - reference), 2),
            "mac_saving": round(1 - float(np.mean([d.macs for d in decisions])) / runtime.bundle.full_macs, 4)}
    return {"monolithic_accuracy": reference, "monolithic_macs": runtime.bundle.full_macs,
            "test_images": len(images), **points}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--archs", default="mobilenet_v2",
                        help=f"comma-separated, of {', '.join(ARCHITECTURES)} (default mobilenet_v2; efficientnet_b0 "
                             "learns only --data squares in a few epochs from scratch)")
    parser.add_argument("--size", type=int, default=96, help="image side in pixels (default 96)")
    parser.add_argument("--data", choices=("digits", "squares"), default="digits",
                        help="generated colour digits (default: 10 classes) or squares (4 colours: for networks that "
                             "do not learn digits in a few epochs from scratch, EfficientNetB0 here)")
    parser.add_argument("--train", type=int, default=10000, help="training images (default 10,000)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs the user model trains (default 4)")
    parser.add_argument("--exits", type=int, default=5, help="exits before the output (default 5: auto:5)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default 5)")
    parser.add_argument("--test", type=int, default=1000, help="test images measured (default 1,000)")
    parser.add_argument("--families", default="multi-exit",
                        help="comma-separated, of multi-exit, pruned, gated (default multi-exit; pruned and gated "
                             "convert the same user model with their defaults and print their savings)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = set(families) - {"multi-exit", "pruned", "gated"}
    if unknown:
        parser.error(f"--families: expected multi-exit, pruned or gated, got {', '.join(sorted(unknown))}")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    cpu = cpu_model()
    data = dataset_path(args.data, args.size, args.train, say)
    results: dict[str, Any] = {"cpu": cpu, "size": args.size, "data": args.data, "train_images": args.train,
                               "architectures": {}}
    for name in [a.strip() for a in args.archs.split(",") if a.strip()]:
        model, info = user_model(name, data, args.size, args.epochs, say)
        bundle = os.path.join(cache_folder(), f"{os.path.basename(model)[:-6]}-auto{args.exits}")
        entry: dict[str, Any] = {"user_model": info}
        if "multi-exit" in families:
            conversion = convert(model, data, args.exits, bundle, say)
            entry["conversion"] = {k: v for k, v in conversion.items() if k != "summary"}
            if "failed" not in conversion:
                entry.update(measure(bundle, data, args.rounds, args.test))
        for family in (f for f in families if f != "multi-exit"):
            out = os.path.join(cache_folder(), f"{os.path.basename(model)[:-6]}-{family}")
            conversion = convert(model, data, args.exits, out, say, family)
            entry[family] = {"conversion": {k: v for k, v in conversion.items() if k != "summary"}}
            if "failed" not in conversion:
                entry[family].update(family_savings(out, data, args.test))
        results["architectures"][name] = entry
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"CPU: {cpu}; {args.size}×{args.size} {args.data}, {args.train:,d} training images, auto:{args.exits}")
    for name, r in results["architectures"].items():
        for family in (f for f in families if f != "multi-exit"):
            f = r[family]
            if "failed" in f["conversion"]:
                print(f"\n{name}, {family}: conversion failed: {f['conversion']['failed']}")
                continue
            print(f"\n{name}, {family}: conversion {f['conversion']['seconds']:.0f} s, peak RSS "
                  f"{f['conversion']['peak_rss_mb']:,d} MB; monolithic int8 {f['monolithic_accuracy']:.4f} on "
                  f"{f['test_images']} test images, {f['monolithic_macs']:,d} MACs")
            for key in ("alpha_0", "alpha_1"):
                p = f[key]
                print(f"  α = {key[6:]}: {p['accuracy']:.4f} ({p['points_vs_monolithic']:+.2f} points), "
                      f"{p['mac_saving']:.1%} fewer MACs")
        if "conversion" not in r:
            continue
        if "failed" in r["conversion"]:
            print(f"\n{name}: user model float test accuracy {r['user_model']['float_test_accuracy']:.4f}; conversion "
                  f"failed: {r['conversion']['failed']}")
            continue
        a0 = r["alpha_0"]
        print(f"\n{name}: {r['macs']:,d} MACs, user model float test accuracy {r['user_model']['float_test_accuracy']:.4f}")
        print(f"  conversion: {r['conversion']['seconds']:.0f} s, peak RSS {r['conversion']['peak_rss_mb']:,d} MB")
        print("  exits (MACs share, int8 − float points): " + ", ".join(
            f"{e['name']} {e['macs'] / r['macs']:.0%} {e['int8_minus_float_points']:+.1f}" for e in r["exits"]))
        for threads, t in r["threads"].items():
            print(f"  {threads} thread(s) on {cpu}: monolithic {t['monolithic_us']:,.0f} µs; chain through every exit "
                  f"{t['every_exit_chain_ratio']:.3f}×, through every other exit "
                  f"({t['every_other_exit_invocations']} invocations) {t['every_other_exit_chain_ratio']:.3f}×, "
                  f"one invocation {t['one_invocation_ratio']:.3f}×")
            print("    the chain to the last exit under the α table's plan (invocations): " + ", ".join(
                f"α = {a} {c['ratio']:.3f}× ({c['invocations']})" for a, c in t["chain_at_alpha"].items()))
        print(f"  α = 0 on {a0['test_images']} test images: {a0['accuracy']:.4f} (monolithic int8 "
              f"{a0['monolithic_accuracy']:.4f}, {a0['points_vs_monolithic']:+.2f} points), "
              f"{a0['mac_saving']:.1%} fewer MACs")
        print(f"  import + load: {r['load']['import_and_load_ms']:.0f} ms on {cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
