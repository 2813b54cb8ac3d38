"""What every ``edge-convert`` command shares: common options, the conversion session, a user's model."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
from typing import Any, Callable, Iterator

from edge_runtime.cli.arg_types import floor_text
from edge_runtime.core.datasets import is_image_source, load_dataset, with_calibration
from edge_runtime.core.floor import DEFAULT_FLOOR

from ..common.bundle_writer import check_output_folder
from ..common.distribute import STRATEGIES, check_tf_config, make_strategy, wait_for_workers
from ..common.errors import ConvertError
from ..common.progress import Progress, import_tensorflow, tf_output_to


def add_common(parser: argparse.ArgumentParser, out_required: bool = True) -> None:
    parser.add_argument("--dataset", default="digits",
                        help="'digits' (scikit-learn's 8×8 digits, offline), a .npz with x_train, y_train, x_test, "
                             "y_test (or a folder of such .npy files), a folder with one sub-folder of images per "
                             "class, or TFRecord files of image/encoded and image/class/label (default: digits)")
    parser.add_argument("--stream", action="store_true",
                        help="read the dataset batch by batch instead of holding it (default: only when its pixels "
                             "exceed 1 GiB; a .npz must be saved uncompressed, with np.savez)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="where training runs: default (a GPU when there is one, else the CPU), mirrored (every "
                             "local GPU, or --cpu-devices N logical CPUs), multiworker (the workers TF_CONFIG "
                             "names; run the same command on each, the chief writes the bundle) (default: default)")
    parser.add_argument("--cpu-devices", type=int, metavar="N",
                        help="--strategy mirrored: split the CPU into N logical devices (to try the distributed "
                             "path without GPUs)")
    parser.add_argument("--size", type=image_size, metavar="H,W",
                        help="image folders and TFRecords: the network's input size (default: --model's input size, "
                             "else the most common size); "
                             "every image is converted and resized to it")
    parser.add_argument("--strict", action="store_true",
                        help="image folders and TFRecords: refuse a file or record Pillow cannot read (default: skip and "
                             "name it)")
    parser.add_argument("--calibration", metavar="DATA",
                        help="images the model never saw in training (a .npz, using its x_val, y_val or else all "
                             "its images, or a folder of class sub-folders): quantization, exit accuracies and the "
                             "α table are measured on them (default: the dataset's x_val, y_val when the .npz has "
                             "them, else a seeded 15%% of x_train kept out of training)")
    parser.add_argument("--floor", type=floor_text, default=DEFAULT_FLOOR, metavar="A|-P|none",
                        help="the accuracy floor α = 1 ends at: the cheapest operating point whose held-out expected "
                             "accuracy is at least A (0.95), or P points under α = 0's (-2), or none (default -2); "
                             "stored in the bundle, and edge-runtime's --floor overrides it")
    parser.add_argument("--out", required=out_required, help="bundle folder to create")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed for training (default 0)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary of the bundle on stdout")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own output instead of logging it")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def image_size(text: str) -> tuple[int, int]:
    """``H,W`` or ``N`` (square) → (height, width)."""
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W or N in pixels, got {text!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected H,W or N in pixels, got {text!r}")
    return parts[0], parts[1]


def check_common(args: argparse.Namespace) -> None:
    """Refuse bad common options before any long work."""
    if args.epochs is not None and args.epochs < 1:
        raise ConvertError(f"--epochs {args.epochs}: expected a positive integer")
    if args.cpu_devices is not None and (args.cpu_devices < 1 or args.strategy != "mirrored"):
        raise ConvertError(f"--cpu-devices {args.cpu_devices}: expected a positive count, with --strategy mirrored")
    if args.strategy == "multiworker":
        check_tf_config()
    check_output_folder(args.out, args.force)
    if getattr(args, "model", None):
        check_model_file(args.model)


def check_model_file(path: str) -> None:
    """Refuse a ``--model`` that is not a file, naming what it is (a SavedModel folder cannot be cut)."""
    if os.path.isdir(path):
        raise ConvertError(f"--model {path}: a folder (a SavedModel?); expected a Keras model file, .keras or .h5: "
                           "load your model in Keras and model.save('m.keras')")
    if not os.path.isfile(path):
        raise ConvertError(f"--model {path}: no such file")


@contextlib.contextmanager
def session(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """Progress on stderr, the dataset loaded, TensorFlow imported with its output going to
    ``OUT.convert.log`` (unless ``--verbose``; removed when the conversion fails, unless ``--debug``): what every
    conversion runs inside."""
    with Progress(quiet=args.quiet) as progress:
        log_path = None if args.verbose else os.path.abspath(args.out.rstrip("/\\") + ".convert.log")
        if log_path:
            progress.say(f"TensorFlow's output goes to {log_path}")
        progress.say(f"loading dataset {args.dataset}")
        size = args.size or model_image_size(args, progress)
        dataset = load_dataset(args.dataset, size, args.strict, progress.say, stream=True if args.stream else None)
        if dataset.skipped:
            shown = "; ".join(dataset.skipped[:5]) + (f"; and {len(dataset.skipped) - 5} more" if
                                                       len(dataset.skipped) > 5 else "")
            progress.say(f"warning: skipped {len(dataset.skipped)} file(s) Pillow cannot read: {shown}")
        if getattr(args, "calibration", None):
            dataset = with_calibration(dataset, args.calibration, size, progress.say)
        progress.say(f"{len(dataset.y_train) + len(dataset.y_test):,d} images of {dataset.image_shape[1]}×"
                     f"{dataset.image_shape[0]} {dataset.color_mode}, {len(dataset.labels)} classes"
                     f"{', read batch by batch' if dataset.streamed else ''}; held out for "
                     f"calibration: {len(dataset.held_out_split()[3]):,d} images ({dataset.held_out_source})")
        try:
            with tf_output_to(log_path):
                tf = import_tensorflow()
                strategy = make_strategy(args.strategy, args.cpu_devices, progress.say)
                seed_everything(tf, args.seed)
                with strategy.scope():
                    yield progress, dataset
                wait_for_workers()
        except BaseException:
            # a failed conversion leaves nothing behind: no bundle, no log (--verbose shows TensorFlow's output)
            if log_path and not args.debug:
                with contextlib.suppress(OSError):
                    os.remove(log_path)
            raise


def model_image_size(args: argparse.Namespace, progress: Any) -> tuple[int, int] | None:
    """The input size of ``--model``, which image folders and TFRecords are resized to when ``--size`` is not
    given (said once when the dataset is one of those); None without a model or when its file does not say."""
    from ..common.keras_file import saved_image_size

    path = getattr(args, "model", None)
    size = saved_image_size(path) if path else None
    if size and is_image_source(args.dataset):
        progress.say(f"images are resized to {size[0]}×{size[1]}, the input of --model {path} (--size H,W to "
                     f"choose another)")
    return size


def chief_writes(progress: Any) -> bool:
    """Whether this process writes the bundle; a multi-worker run's other workers say they wait for the chief."""
    from ..common.distribute import is_chief

    if is_chief():
        return True
    progress.say("training done on this worker; waiting for the chief to write the bundle")
    return False


def seed_everything(tf: Any, seed: int) -> None:
    """The same command on the same machine makes the same bundle: Python's, numpy's and TensorFlow's generators
    seeded before any weight is created, and TensorFlow's kernels made deterministic."""
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def load_keras_model(path: str) -> Any:
    """A user's ``.keras`` model (functional or ``Sequential``), loaded without its training state."""
    import keras  # inside the session: TensorFlow's output is redirected by then

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for unreadable files
        raise ConvertError(f"--model {path}: Keras cannot load it ({type(exc).__name__}: {exc})") from exc


def load_backbone(path: str, image_shape: tuple[int, ...], say: Callable[[str], None] = lambda line: None) -> Any:
    """A user's ``.keras`` model as one flat graph (:func:`~converters.common.keras_graph.flatten`: nested
    and ``Sequential`` models included, the same layers and weights), checked to take the dataset's images; a
    model that takes any size is fixed at theirs, and ``say`` tells the user so."""
    from ..common.keras_graph import flatten, variable_size

    model = load_keras_model(path)
    if variable_size(model):
        say(f"--model {path} takes images of any size: converted at {image_shape[0]}×{image_shape[1]}, the "
            "dataset's (--size H,W to resize an image folder or TFRecords to another)")
    graph = flatten(model, tuple(image_shape[:2]))
    shape = tuple(graph.image.shape[1:])
    if shape != image_shape:
        raise ConvertError(f"--model {path} takes inputs of shape {shape}, the dataset's images are {image_shape} "
                           f"(--size H,W to resize a folder of images or TFRecords)")
    return graph


def adopt_input_contract(model: Any, dataset: Any, args: argparse.Namespace, progress: Any) -> tuple[Any, Any]:
    """The dataset as the user's model reads it (its pixel range, found or ``--input-range``), and the contract.

    When the held-out images are a slice of x_train, the user's model may have trained on them (users train on
    all of x_train): its accuracy there is compared with its accuracy on x_test and a gap beyond chance is said.
    """
    from ..common.input_contract import choose_input_contract, seen_in_training_warning

    _, _, x_held, y_held = dataset.held_out_split()
    contract = choose_input_contract(model, x_held, y_held, len(dataset.labels), args.model,
                                     getattr(args, "input_range", None))
    progress.say(f"input: {contract.reason}")
    if dataset.x_val is None:
        warning = seen_in_training_warning(model, contract, dataset)
        if warning:
            progress.say(warning)
    return dataclasses.replace(dataset, pixel_scale=contract.pixel_scale, pixel_offset=contract.pixel_offset), contract
