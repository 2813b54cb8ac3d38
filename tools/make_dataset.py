"""A dataset at a real size, made offline from scikit-learn's digits: each 8×8 digit drawn at 28×28 (or
32×32 in colour) with a random rotation, scale, shift, stroke contrast and noise. ``--kind squares``
makes a quick 4-class colour problem instead (a square of one of four colours on noise), which any
network learns in an epoch or two: what tests of conversion mechanics train on.

    python -m tools.make_dataset --out digits28.npz [--size 28] [--colour] [--train 60000] [--test 10000]
    python -m tools.make_dataset --kind squares --out squares32.npz --size 32 --train 600 --test 200

Nothing is downloaded (the machines that build and test this project have no network). The test images
come from digits the training images never use, so the test split measures generalisation to new writers'
digits, not to new distortions of seen ones. Written through a temporary file and a rename.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import numpy as np
from PIL import Image

from edge_runtime.cli.arg_types import doc_summary


def render(digit: np.ndarray, size: int, rng: np.random.Generator, colour: bool) -> np.ndarray:
    """One 8×8 digit (0–16) as a distorted ``size``×``size`` image (uint8, L or RGB)."""
    base = Image.fromarray(np.round(digit * (255.0 / 16.0)).astype(np.uint8)).resize((size - 8, size - 8),
                                                                                      Image.Resampling.BICUBIC)
    canvas = Image.new("L", (size, size))
    canvas.paste(base, (4, 4))
    angle = rng.uniform(-15, 15)
    scale = rng.uniform(0.85, 1.1)
    dx, dy = rng.uniform(-2.5, 2.5, size=2)
    canvas = canvas.rotate(angle, resample=Image.Resampling.BILINEAR, translate=(dx, dy))
    if scale != 1.0:
        zoomed = canvas.resize((round(size * scale),) * 2, Image.Resampling.BILINEAR)
        canvas = Image.new("L", (size, size))
        offset = (size - zoomed.size[0]) // 2
        canvas.paste(zoomed, (offset, offset))
    ink = np.asarray(canvas, dtype=np.float32) / 255.0 * rng.uniform(0.6, 1.0)
    if colour:
        fg, bg = rng.uniform(0, 255, size=(2, 3))
        image = bg + ink[..., None] * (fg - bg)
    else:
        image = ink * 255.0
    image = image + rng.normal(0, 12.0, size=image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


SQUARE_COLOURS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]], dtype=np.float64)
SQUARE_NAMES = ("red", "green", "blue", "yellow")


def squares(count: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` RGB images (uint8) of a square in one of four colours (the label) at a random place and
    size on grey noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SQUARE_COLOURS), count)
    images = rng.normal(90, 30, (count, size, size, 3))
    for i, label in enumerate(labels):
        side = int(rng.integers(max(2, size // 4), max(3, size // 2)))
        top, left = rng.integers(0, size - side + 1, 2)
        images[i, top:top + side, left:left + side] = (SQUARE_COLOURS[label] * rng.uniform(0.7, 1.2)
                                                       + rng.normal(0, 20, (side, side, 3)))
    return np.clip(np.round(images), 0, 255).astype(np.uint8), labels.astype(np.int64)


def make(size: int, colour: bool, n_train: int, n_test: int, seed: int = 0,
         say=lambda m: None) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    cut = int(len(order) * 0.8)  # sources of training images | sources of test images
    arrays = {}
    for split, sources, count in (("train", order[:cut], n_train), ("test", order[cut:], n_test)):
        picks = rng.choice(sources, size=count)
        images = np.empty((count, size, size, 3) if colour else (count, size, size), dtype=np.uint8)
        next_report = time.monotonic() + 2.0
        for i, source in enumerate(picks):
            images[i] = render(digits.images[source], size, rng, colour)
            if time.monotonic() >= next_report:
                say(f"{split}: {i:,d} of {count:,d} images")
                next_report = time.monotonic() + 2.0
        arrays[f"x_{split}"] = images
        arrays[f"y_{split}"] = digits.target[picks].astype(np.int64)
    return arrays


def write_photos(arrays: dict[str, np.ndarray], out: str, seed: int, names: list[str]) -> int:
    """Every image of ``arrays`` as a photo in ``out/<class name>/``, as a user's folder is: sides from 3/4 to 3/2
    of the drawn size, PNG and JPEG alternating; written to ``out.partial`` and renamed. Returns the count."""
    rng = np.random.default_rng(seed)
    partial = out.rstrip("/\\") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    count = 0
    for split in ("train", "test"):
        for image, label in zip(arrays[f"x_{split}"], arrays[f"y_{split}"]):
            folder = os.path.join(partial, names[int(label)])
            os.makedirs(folder, exist_ok=True)
            side = int(round(image.shape[0] * rng.uniform(0.75, 1.5)))
            photo = Image.fromarray(image).resize((side, side), Image.BILINEAR)
            photo.save(os.path.join(folder, f"{split}_{count:06d}.{'png' if count % 2 else 'jpg'}"))
            count += 1
    os.replace(partial, out)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--out", required=True, help="the .npz to write (x_train, y_train, x_test, y_test)")
    parser.add_argument("--size", type=int, default=28, help="image side in pixels (default 28)")
    parser.add_argument("--kind", choices=("digits", "squares"), default="digits",
                        help="digits (default: 10 classes of distorted handwritten digits) or squares (4 colours)")
    parser.add_argument("--colour", action="store_true", help="digits: RGB images with random colours (default grey)")
    parser.add_argument("--train", type=int, default=60000, help="training images (default 60,000)")
    parser.add_argument("--test", type=int, default=10000, help="test images (default 10,000)")
    parser.add_argument("--photos", action="store_true",
                        help="write --out as a folder of photos, one sub-folder per class, of mixed sizes (3/4 to 3/2 "
                             "of --size) and formats (PNG, JPEG), training and test images together, as a user's "
                             "folder is (default: a .npz)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.path.exists(args.out) and args.photos:
        parser.error(f"--out {args.out}: already exists")
    if args.size < 12 or args.train < 1 or args.test < 1:
        parser.error("--size must be at least 12 and --train, --test positive")
    if args.kind == "squares":
        arrays = {}
        for split, count, seed in (("train", args.train, args.seed), ("test", args.test, args.seed + 1)):
            arrays[f"x_{split}"], arrays[f"y_{split}"] = squares(count, args.size, seed)
    else:
        arrays = make(args.size, args.colour, args.train, args.test, args.seed,
                      say=lambda m: print(m, file=sys.stderr, flush=True))
    mode = 'RGB' if args.colour or args.kind == 'squares' else 'L'
    if args.photos:
        names = list(SQUARE_NAMES) if args.kind == "squares" else [f"digit_{d}" for d in range(10)]
        count = write_photos(arrays, args.out, args.seed, names)
        print(f"wrote {args.out}: {count:,d} {mode} photos of {args.size * 3 // 4}–{args.size * 3 // 2} pixels in "
              f"{len(set(arrays['y_train']))} class folders", file=sys.stderr)
        return 0
    partial = args.out + ".partial.npz"
    np.savez(partial, **arrays)
    os.replace(partial, args.out)
    print(f"wrote {args.out}: {args.train:,d} + {args.test:,d} images of {args.size}×{args.size} {mode}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
