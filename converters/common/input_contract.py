"""What a user's model expects of its input: which pixel range, found from the model itself.

Keras tutorials put the scaling inside the model (``Rescaling(1/255)`` first, or a ``Normalization``
adapted on raw pixels); other models expect pixels already scaled to 0–1 or −1–1. Feeding the wrong
range converts a 98% model into a 10% bundle without a word, so the converter measures the model as
given on held-out data under each usual convention and keeps the one it scores best with (the
preprocessing layers it finds break ties and are named in the reason). ``--input-range`` overrides.
A model that scores near chance under every convention is refused: its labels' order or its input
range is not what the dataset has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConvertError

# name → (pixel_scale, pixel_offset): real input = pixel · scale + offset, pixel 0–255
CONVENTIONS: dict[str, tuple[float, float]] = {"0-255": (1.0, 0.0), "0-1": (1.0 / 255.0, 0.0),
                                               "-1-1": (2.0 / 255.0, -1.0)}
PREPROCESSING = ("Rescaling", "Normalization")


@dataclass(frozen=True)
class InputContract:
    """The pixel convention chosen for a user's model.

    Attributes:
        name: one of :data:`CONVENTIONS`.
        accuracy: the model's held-out accuracy as given, under each convention measured.
        layers: the preprocessing layers found at the model's input, described.
        reason: one sentence saying why this convention was chosen.
    """

    name: str
    accuracy: dict[str, float]
    layers: tuple[str, ...]
    reason: str

    @property
    def pixel_scale(self) -> float:
        return CONVENTIONS[self.name][0]

    @property
    def pixel_offset(self) -> float:
        return CONVENTIONS[self.name][1]


def preprocessing_layers(model: Any) -> tuple[str, ...]:
    """``Rescaling``/``Normalization`` layers among the model's layers (nested models included), described."""
    found = []
    for layer in getattr(model, "layers", ()):
        kind = type(layer).__name__
        if kind in PREPROCESSING:
            config = layer.get_config()
            detail = (f"scale={config.get('scale')}, offset={config.get('offset')}" if kind == "Rescaling"
                      else "mean and variance adapted on the training data")
            found.append(f"{kind}({detail}) '{layer.name}'")
        elif hasattr(layer, "layers"):
            found.extend(preprocessing_layers(layer))
    return tuple(found)


def _has_batch_norm(model: Any) -> bool:
    return any(type(layer).__name__ == "BatchNormalization" or _has_batch_norm(layer)
               for layer in getattr(model, "layers", ()))


def _accuracy(model: Any, pixels: Any, labels: np.ndarray, scale: float, offset: float) -> float:
    """Accuracy on uint8 ``pixels`` (held or read batch by batch), scaled batch by batch."""
    from .training import accuracy_of, inference

    return accuracy_of(inference(model), pixels, labels, scale, offset)[0]


def choose_input_contract(model: Any, pixels: np.ndarray, labels: np.ndarray, n_classes: int, model_path: str,
                          override: str | None = None) -> InputContract:
    """Measure ``model`` on held-out ``pixels`` (uint8) under each convention and choose one.

    Raises:
        ConvertError: the model scores near chance under every convention (or under ``override``).
    """
    layers = preprocessing_layers(model)
    accuracy = {name: _accuracy(model, pixels, labels, *pair) for name, pair in CONVENTIONS.items()}
    shown = ", ".join(f"{name}: {acc:.1%}" for name, acc in accuracy.items())
    if override is not None:
        name = override
        reason = f"--input-range {override} (held-out accuracy as given {shown})"
    else:
        best = max(accuracy.values())
        tied = [n for n, a in accuracy.items() if a >= best - 0.005]
        name = "0-255" if layers and "0-255" in tied else ("0-1" if "0-1" in tied else tied[0])
        because = (f"the model starts with {', '.join(layers)}" if layers and name == "0-255" else
                   "it scores best that way")
        reason = f"pixels {name}: {because} (held-out accuracy as given {shown})"
    chance = 1.0 / n_classes
    if accuracy[name] < chance + 0.25 * (1.0 - chance):
        batch_norm = ("; if it trained well, its BatchNormalization moving statistics may not have converged (a few "
                      "epochs at Keras' momentum of 0.99): check model.evaluate on images it did not train on"
                      if _has_batch_norm(model) else "")
        raise ConvertError(f"--model {model_path} scores {accuracy[name]:.1%} on the dataset's held-out images (chance "
                           f"is {chance:.0%}; {shown}): check that its classes are in the dataset's order (image "
                           f"folders: sub-folder names, sorted) and what pixel range it expects (--input-range)"
                           f"{batch_norm}")
    return InputContract(name, accuracy, layers, reason)


def seen_in_training_warning(model: Any, contract: InputContract, dataset: Any) -> str | None:
    """A warning when ``model`` scores higher on the converter's held-out slice of x_train than on x_test by more
    than two standard errors of the difference: it has likely trained on those images, so the exit accuracies
    and the α table measured on them would be optimistic."""
    held = contract.accuracy[contract.name]
    n_held = len(dataset.held_out_split()[3])
    if not len(dataset.y_test) or not n_held:
        return None
    test = _accuracy(model, dataset.x_test, dataset.y_test, contract.pixel_scale, contract.pixel_offset)
    spread = 2 * np.sqrt(held * (1 - held) / n_held + test * (1 - test) / len(dataset.y_test))
    if held - test <= max(spread, 0.005):
        return None
    return (f"warning: your model scores {held:.1%} on the {n_held} held-out images (a slice of x_train) and "
            f"{test:.1%} on x_test: it has probably trained on them, and exits and the α table calibrated there "
            "will promise more than they give. Put images it never saw in the .npz as x_val, y_val, or pass "
            "--calibration DATA")


def int8_drops(exits: list[dict[str, Any]], limit: float = 0.01) -> list[str]:
    """Warnings for exits whose int8 held-out accuracy is more than ``limit`` below their float accuracy."""
    return [f"warning: exit {e['name']} loses {100 * (e['float_accuracy'] - e['accuracy']):.1f} points in int8 "
            f"({e['float_accuracy']:.3f} float → {e['accuracy']:.3f} int8 on held-out data)"
            for e in exits if e["float_accuracy"] - e["accuracy"] > limit]


def whole_network_drop(float_accuracy: float, int8_accuracy: float, what: str, limit: float = 0.01) -> str | None:
    """A warning when the bundle's whole network in int8 scores more than ``limit`` under ``what`` in float
    (both on the same held-out images), or None. That int8 network is the reference of every comparison the
    runtime makes (the audit's agreement, ``eval``'s reference rows, the battery demo's fixed model); the
    operating points themselves are measured in int8 as they run and may lose less."""
    loss = float_accuracy - int8_accuracy
    if loss <= limit:
        return None
    return (f"warning: the bundle's whole network scores {int8_accuracy:.3f} on the held-out images in full-integer "
            f"int8 against {float_accuracy:.3f} for {what} in float, a {100 * loss:.1f}-point loss; the runtime "
            "compares every answer with this int8 network (the audit, eval, the battery demo's fixed model). "
            "Swish or hard-swish with squeeze-excite (EfficientNet, MobileNetV3) and "
            "briefly trained batch normalization quantize worst; a network trained longer, or a ReLU6 variant "
            "(EfficientNet-Lite), usually loses less")
