"""What a saved ``.keras`` file says about its model's input, read from its ``config.json`` without TensorFlow.

The dataset is loaded before TensorFlow is imported, and a folder of photos of mixed sizes needs a size to
resize to: a user who passes ``--model`` expects that size to be the model's own input, not the folder's most
common size.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any


def saved_image_size(path: str) -> tuple[int, int] | None:
    """(height, width) in pixels of the image input of the model saved at ``path`` (a Keras 3 ``.keras`` zip);
    None when the file is not one, its input is not one fixed-size image, or its config is not understood."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    shape = _input_shape(config)
    if shape is None or len(shape) != 4 or not all(isinstance(side, int) and side > 0 for side in shape[1:3]):
        return None
    return shape[1], shape[2]


def _input_shape(config: Any) -> list | None:
    """The batch shape of the model's first input: its ``build_config``, or else its first ``InputLayer``."""
    if not isinstance(config, dict):
        return None
    built = (config.get("build_config") or {}).get("input_shape")
    if isinstance(built, list) and built and not isinstance(built[0], list):
        return built
    layers = (config.get("config") or {}).get("layers") or []
    inputs = [layer for layer in layers if isinstance(layer, dict) and layer.get("class_name") == "InputLayer"]
    if inputs:
        return (inputs[0].get("config") or {}).get("batch_shape")
    if layers and isinstance(layers[0], dict) and layers[0].get("class_name") in ("Functional", "Sequential"):
        return _input_shape(layers[0])  # a Sequential whose first layer is a saved model
    return None
