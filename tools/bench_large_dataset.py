"""Converting datasets too large to hold: peak memory, and whether reading or training bounds the speed.

    python -m tools.bench_large_dataset [--images 200000] [--size 96] [--epochs 1] [--skip-npz] [--photos] [--json]

1. A folder of ``--images`` generated RGB JPEGs (``--size`` pixels square, 10 classes: a coloured shape
   on noise; made once, cached under ~/.cache/edge-adaptive/large) is converted with
   ``edge-convert multi-exit --dataset FOLDER --epochs E`` under ``/usr/bin/time -v``: its peak resident
   memory, wall time, the input pipeline's images/s and the training epochs' images/s.
2. The 60,000-image 28×28 ``.npz`` of ``tools.make_dataset`` (saved uncompressed) is converted with the
   defaults, held in memory and with ``--stream`` (memory-mapped), one after the other: the time ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool

import numpy as np

from edge_runtime.cli.arg_types import doc_summary

from edge_runtime.core.timing import cpu_model

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "edge-adaptive", "large")
CLASSES = 10
COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def _draw(args: tuple[str, int, int, int, str]) -> None:
    """One JPEG: class ``label``'s colour as a square (even classes) or a disc (odd) of random size and place,
    on noise (``mode`` L: in grey)."""
    from PIL import Image, ImageDraw

    path, label, size, seed, mode = args
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 120, size=(size, size, 3), dtype=np.uint8)
    image = Image.fromarray(noise, "RGB")
    draw = ImageDraw.Draw(image)
    side = int(rng.integers(size // 4, size // 2))
    x, y = (int(v) for v in rng.integers(0, size - side, size=2))
    box = (x, y, x + side, y + side)
    colour = tuple(int(min(255, max(0, c + rng.integers(-30, 30)))) for c in COLOURS[label])
    (draw.rectangle if label % 2 == 0 else draw.ellipse)(box, fill=colour)
    (image if mode == "RGB" else image.convert("L")).save(path, quality=90)


def jpeg_folder(images: int, size: int, mode: str = "RGB", classes: int = CLASSES) -> str:
    """The cached folder of generated JPEGs (made now when missing, through a temporary folder)."""
    folder = os.path.join(CACHE, f"jpeg{images}_{size}" + ("" if (mode, classes) == ("RGB", CLASSES) else
                                                           f"_{mode}{classes}"))
    if os.path.isdir(folder):
        return folder
    os.makedirs(CACHE, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".jpeg-", dir=CACHE)
    for c in range(classes):
        os.makedirs(os.path.join(staging, f"class{c}"))
    jobs = [(os.path.join(staging, f"class{i % classes}", f"{i:07d}.jpg"), i % classes, size, i, mode)
            for i in range(images)]
    started = time.monotonic()
    with Pool(os.cpu_count() or 1) as pool:
        for done, _ in enumerate(pool.imap_unordered(_draw, jobs, chunksize=256), 1):
            if done % 20000 == 0:
                print(f"  generated {done:,d} of {images:,d} JPEGs ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    os.rename(staging, folder)
    return folder


def timed_conversion(args: list[str], out: str) -> dict[str, float | str]:
    """Run ``edge-convert ARGS --out OUT`` under ``/usr/bin/time -v``: peak RSS (MB), wall time (s), and the
    progress lines' input-pipeline and epoch images/s."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "converters", *args, "--out", out, "--force"]
    print("  $ " + " ".join(command[2:]), file=sys.stderr)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"Error: the conversion failed:\n{done.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    pipeline = re.search(r"input pipeline: ([\d,]+) images/s", done.stderr)
    epochs = [float(v.replace(",", "")) for v in re.findall(r"epoch \d+/\d+ .* ([\d,]+) images/s", done.stderr)]
    loading = re.search(r"\[\s*([\d.]+)s\] training on", done.stderr)
    return {"peak_rss_mb": int(rss.group(1)) / 1024 if rss else float("nan"), "wall_s": wall,
            "pipeline_images_per_s": float(pipeline.group(1).replace(",", "")) if pipeline else float("nan"),
            "epoch_images_per_s": max(epochs) if epochs else float("nan"),
            "load_s": float(loading.group(1)) if loading else float("nan")}


def npz_ratio(work: str) -> dict[str, dict[str, float | str]]:
    """The 60,000-image .npz converted in memory and with --stream, one after the other."""
    from . import make_dataset

    path = os.path.join(CACHE, "digits28_uncompressed.npz")
    if not os.path.exists(path):
        os.makedirs(CACHE, exist_ok=True)
        print("  making the 60,000-image 28×28 dataset", file=sys.stderr)
        make_dataset.main(["--out", path])
    rows = {}
    for name, extra in (("in memory", []), ("--stream", ["--stream"])):
        rows[name] = timed_conversion(["multi-exit", "--dataset", path, *extra], os.path.join(work, "npz"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_large_dataset", description=doc_summary(__doc__))
    parser.add_argument("--images", type=int, default=200_000, help="JPEGs in the folder (default 200,000)")
    parser.add_argument("--size", type=int, default=96, help="their side in pixels (default 96)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs on the folder (default 1)")
    parser.add_argument("--skip-npz", action="store_true", help="skip the .npz in memory / --stream comparison")
    parser.add_argument("--skip-folder", action="store_true", help="skip the folder of JPEGs")
    parser.add_argument("--photos", action="store_true",
                        help="also: 2,624 grey 300×300 JPEGs in 4 classes, one epoch, held in memory and --stream "
                             "(where the memory of a small photo folder goes)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_model()}", file=sys.stderr)
    report: dict[str, object] = {"cpu": cpu_model()}
    work = tempfile.mkdtemp(prefix="bench-large-")
    try:
        if not args.skip_folder:
            folder = jpeg_folder(args.images, args.size)
            print(f"folder: {folder}", file=sys.stderr)
            report["folder"] = {"images": args.images, "size": args.size, "epochs": args.epochs,
                                **timed_conversion(["multi-exit", "--dataset", folder, "--epochs", str(args.epochs)],
                                                   os.path.join(work, "folder"))}
        if args.photos:
            photos = jpeg_folder(2624, 300, "L", 4)
            report["photos"] = {name: timed_conversion(["multi-exit", "--dataset", photos, "--epochs", "1", *extra],
                                                       os.path.join(work, "photos"))
                                for name, extra in (("in memory", []), ("--stream", ["--stream"]))}
        if not args.skip_npz:
            report["npz"] = npz_ratio(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
        return 0
    if "folder" in report:
        f = report["folder"]
        print(f"{f['images']:,d} JPEGs of {f['size']}×{f['size']} RGB, multi-exit, {f['epochs']} epoch(s): "
              f"peak RSS {f['peak_rss_mb'] / 1024:.2f} GB, {f['wall_s'] / 60:.1f} min "
              f"(dataset opened in {f['load_s']:.0f} s); input pipeline {f['pipeline_images_per_s']:,.0f} images/s, "
              f"training {f['epoch_images_per_s']:,.0f} images/s")
    if "photos" in report:
        print("2,624 grey 300×300 JPEGs (236 MB of pixels), multi-exit, 1 epoch:")
        for name, row in report["photos"].items():
            print(f"  {name:<10} peak RSS {row['peak_rss_mb']:6.0f} MB  {row['wall_s']:6.0f} s  "
                  f"pipeline {row['pipeline_images_per_s']:,.0f} images/s  training {row['epoch_images_per_s']:,.0f} "
                  "images/s")
    if "npz" in report:
        rows = report["npz"]
        mem, streamed = rows["in memory"], rows["--stream"]
        print("60,000 28×28 .npz, multi-exit defaults:")
        for name, row in rows.items():
            print(f"  {name:<10} {row['wall_s']:7.1f} s  peak RSS {row['peak_rss_mb']:6.0f} MB  "
                  f"pipeline {row['pipeline_images_per_s']:>9,.0f} images/s  training {row['epoch_images_per_s']:,.0f} "
                  "images/s")
        print(f"  --stream ÷ in memory: {streamed['wall_s'] / mem['wall_s']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
