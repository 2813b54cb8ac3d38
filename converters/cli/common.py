"""What every ``edge-convert`` command shares: common options, the conversion session, a user's model."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any, Iterator

from edge_runtime.core.datasets import load_dataset

from ..common.bundle_writer import check_output_folder
from ..common.errors import ConvertError
from ..common.progress import Progress, import_tensorflow, tf_output_to


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits",
                        help="'digits' (scikit-learn's 8×8 digits, offline), a .npz with x_train, y_train, x_test, "
                             "y_test, or a folder with one sub-folder of images per class (default: digits)")
    parser.add_argument("--out", required=True, help="bundle folder to create")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed for training (default 0)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary of the bundle on stdout")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own output instead of logging it")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def check_common(args: argparse.Namespace) -> None:
    """Refuse bad common options before any long work."""
    if args.epochs is not None and args.epochs < 1:
        raise ConvertError(f"--epochs {args.epochs}: expected a positive integer")
    check_output_folder(args.out, args.force)
    if getattr(args, "model", None) and not os.path.isfile(args.model):
        raise ConvertError(f"--model {args.model}: no such file")


@contextlib.contextmanager
def session(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """Progress on stderr, the dataset loaded, TensorFlow imported with its output going to
    ``OUT.convert.log`` (unless ``--verbose``): what every conversion runs inside."""
    with Progress(quiet=args.quiet) as progress:
        log_path = None if args.verbose else os.path.abspath(args.out.rstrip("/\\") + ".convert.log")
        if log_path:
            progress.say(f"TensorFlow's output goes to {log_path}")
        progress.say(f"loading dataset {args.dataset}")
        dataset = load_dataset(args.dataset)
        with tf_output_to(log_path):
            import_tensorflow()
            yield progress, dataset


def load_keras_model(path: str, image_shape: tuple[int, ...]):
    """A user's ``.keras`` model, checked to take the dataset's images."""
    import keras  # inside the session: TensorFlow's output is redirected by then

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for unreadable files
        raise ConvertError(f"--model {path}: Keras cannot load it ({type(exc).__name__}: {exc})") from exc
    if tuple(model.input.shape[1:]) != image_shape:
        raise ConvertError(f"--model {path} takes inputs of shape {tuple(model.input.shape[1:])}, "
                           f"the dataset's images are {image_shape}")
    return model
