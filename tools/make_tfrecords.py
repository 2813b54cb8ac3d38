"""A folder of images (one sub-folder per class) as TFRecord shards that ``edge-convert --dataset`` streams.

    python -m tools.make_tfrecords FOLDER OUT [--shards N] [--prefix train]

Each image becomes one ``tf.train.Example``: ``image/encoded`` (the file's bytes, not re-encoded),
``image/format``, ``image/class/label`` (the class's index among the sorted sub-folder names),
``image/class/text`` (the sub-folder's name) and ``image/filename``, as TF-Slim's and TFDS's image
writers lay them out. Shards are named ``PREFIX-00000-of-0000N.tfrecord``; name a second set
``--prefix test`` to give the converter a test split of your own (else it takes 20% by a hash of
each record's file and index). The shards are written into a temporary folder renamed to OUT at the
end, so OUT is never half-written. Needs TensorFlow (a workstation tool).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.image_folder import IMAGE_SUFFIXES

RECORDS_PER_SHARD = 1024


def class_files(folder: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(class names, [(file, class index)]) of a folder with one sub-folder of images per class."""
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and not d.startswith("."))
    files = [(os.path.join(folder, c, f), i) for i, c in enumerate(classes)
             for f in sorted(os.listdir(os.path.join(folder, c))) if f.lower().endswith(IMAGE_SUFFIXES)]
    return classes, files


def write_shards(folder: str, out: str, shards: int | None = None, prefix: str = "train",
                 say: callable = lambda m: None) -> int:
    """Write ``folder``'s images as TFRecord shards in ``out`` (created; must not exist). Returns the count."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up lines are not this tool's output
    import tensorflow as tf

    classes, files = class_files(folder)
    if len(classes) < 2 or not files:
        raise ValueError(f"{folder}: expected one sub-folder of images per class (found {len(classes)} "
                         f"sub-folders, {len(files)} images)")
    count = shards or max(1, -(-len(files) // RECORDS_PER_SHARD))
    parent = os.path.dirname(os.path.abspath(out))
    staging = tempfile.mkdtemp(prefix=".tfrecords-", dir=parent)
    try:
        next_report = time.monotonic() + 2.0
        for shard in range(count):
            name = os.path.join(staging, f"{prefix}-{shard:05d}-of-{count:05d}.tfrecord")
            with tf.io.TFRecordWriter(name) as writer:
                for index in range(shard, len(files), count):
                    path, label = files[index]
                    with open(path, "rb") as stream:
                        encoded = stream.read()
                    feature = {
                        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(
                            value=[os.path.splitext(path)[1].lstrip(".").lower().encode()])),
                        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                        "image/class/text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[classes[label].encode()])),
                        "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(
                            value=[os.path.relpath(path, folder).encode()])),
                    }
                    writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
            if time.monotonic() >= next_report:
                say(f"shard {shard + 1} of {count} written")
                next_report = time.monotonic() + 2.0
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.make_tfrecords", description=doc_summary(__doc__))
    parser.add_argument("folder", help="a folder with one sub-folder of images per class")
    parser.add_argument("out", help="the folder of shards to create")
    parser.add_argument("--shards", type=int, help=f"number of shards (default: one per {RECORDS_PER_SHARD} images)")
    parser.add_argument("--prefix", default="train", help="shard name prefix: train (default) or test")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.folder):
        print(f"Error: {args.folder}: no such folder; expected one sub-folder of images per class", file=sys.stderr)
        return 1
    if os.path.exists(args.out):
        print(f"Error: {args.out}: already exists; expected a new folder for the shards", file=sys.stderr)
        return 1
    if args.shards is not None and args.shards < 1:
        parser.error(f"--shards {args.shards}: expected a positive count")
    try:
        n = write_shards(args.folder, args.out, args.shards, args.prefix, lambda m: print(m, file=sys.stderr))
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {n} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
