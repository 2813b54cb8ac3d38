"""Maleki et al.'s pruned pair and input classifier (Algorithm 1), on a Keras CNN.

* MP: the original network pruned at φ_MP, the largest ratio losing at most 1 point (or given);
* AP candidates at each φ_AP: pruned, fine-tuned, split into its convolutional *trunk* (up to
  the first Dense layer) and its dense *head*;
* ICNN: the trunk plus a head with AP's dense layers but 2 outputs (LCI/HCI), trained on
  labels from AP's and MP's answers (only MP correct → HCI, anything else → LCI), balanced;
* each candidate's system accuracy (eq. 5, and measured by routing) and energy (MACs of
  trunk + ICNN head + (1−β)·AP head + β·MP) on held-out data; the lowest-energy candidate
  meeting ζ (or the lowest-energy one) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np

from edge_runtime.core.floor import held_out_error

from ..common.distribute import fit as fit_model, predict
from ..common.errors import ConvertError
from ..common.macs import model_cost
from ..common.progress import Countdown
from ..common.training import EpochProgress, recalibrate_batch_norm
from .pruning import check_ratio, one_shot, prune_model

HCI, LCI = 1, 0
MILD_RATIOS = (0.5, 0.4, 0.3, 0.2, 0.1)
AP_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEFAULT_MAX_LOSS = 0.02  # Maleki et al.'s headline: at most 2 points below the original
RETRAIN_LR = 1e-3  # after each pruned layer, the layers after it only
FINETUNE_LR = 5e-4  # the whole pruned network at the end: gentler, or it forgets


def reference_cnn(image_shape: tuple[int, ...], num_classes: int, filters: int = 32) -> keras.Model:
    """A VGG-style CNN: two pairs of 3×3 convolutions with batch norm, pooling after each pair,
    a dense layer, a softmax layer."""
    x = keras.Input(image_shape, name="x")
    t = x
    for stage, width in enumerate((filters, 2 * filters)):
        for j in range(2):
            t = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{stage + 1}_{j + 1}")(t)
            t = keras.layers.BatchNormalization(name=f"bn{stage + 1}_{j + 1}")(t)
            t = keras.layers.ReLU(name=f"relu{stage + 1}_{j + 1}")(t)
        t = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{stage + 1}")(t)
    t = keras.layers.Flatten(name="flatten")(t)
    t = keras.layers.Dense(4 * filters, activation="relu", name="fc1")(t)
    probs = keras.layers.Dense(num_classes, activation="softmax", name="fc2")(t)
    return keras.Model(x, probs, name="reference_cnn")


def fit(model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0, learning_rate: float = 2e-3,
        class_weight: dict[int, float] | None = None, say: Callable[[str], None] | None = None,
        what: str = "") -> None:
    """Train ``model`` with Adam; with ``say``, one progress line per epoch (``what`` in front) with an ETA."""
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callbacks = [EpochProgress(say, epochs, what)] if say is not None else []
    fit_model(model, x, y, epochs=epochs, batch_size=32, class_weight=class_weight, callbacks=callbacks, seed=seed)


def default_max_loss(original_accuracy: float, n_held_out: int) -> float:
    """2 points less one standard error of a held-out accuracy: on ~200 held-out images a candidate just
    inside 2 points there is as likely as not to fall outside them on new data."""
    margin = held_out_error(original_accuracy, n_held_out, least_variance=1e-4)
    return max(0.0, DEFAULT_MAX_LOSS - min(margin, DEFAULT_MAX_LOSS / 2))


def predictions(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.argmax(predict(model, x), axis=-1)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predictions(model, x) == y))


def layer_by_layer(model: keras.Model, ratio: float, x: np.ndarray, y: np.ndarray, retrain_epochs: int,
                   seed: int, say: Callable[[str], None] = lambda m: None) -> keras.Model:
    """Prune every layer at ``ratio`` from first to last; after each, retrain with that layer and
    all before it frozen."""
    def retrain(pruned: keras.Model, last: str) -> None:
        index = [layer.name for layer in pruned.layers].index(last)
        for i, layer in enumerate(pruned.layers):
            layer.trainable = i > index
        fit(pruned, x, y, retrain_epochs, seed, learning_rate=RETRAIN_LR)
        for layer in pruned.layers:
            layer.trainable = True

    return prune_model(model, ratio, retrain if retrain_epochs > 0 else None, say)


def pruned_and_tuned(original: keras.Model, ratio: float, x: np.ndarray, y: np.ndarray, retrain_epochs: int,
                     finetune_epochs: int, seed: int, say: Callable[[str], None] | None = None) -> keras.Model:
    """:func:`layer_by_layer` pruning at ``ratio``, then a gentle fine-tune of the whole network. A network
    pruned in one shot (a big graph) then has its batch normalization statistics measured again: its layers
    see other inputs than the ones those statistics were averaged over."""
    model = layer_by_layer(original, ratio, x, y, retrain_epochs, seed)
    big = one_shot(original)
    if finetune_epochs:  # a big graph's fine-tune takes minutes: its epochs are shown
        fit(model, x, y, finetune_epochs, seed, learning_rate=FINETUNE_LR, say=say if big else None,
            what=f"  φ = {ratio:.1f}, fine-tuning: ")
    if big:
        recalibrate_batch_norm(model, x, seed)
    return model


_GLOBAL_POOLING = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


def split_trunk(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(trunk: image → features, head: features → probs), sharing ``model``'s layers.

    The features are the output of the network's last global pooling (``keras.applications`` networks, whose
    classifier may be 1×1 convolutions, as MobileNetV3's is), else of its last ``Flatten``, else the first
    Dense layer's input.
    """
    layers = model.layers
    pooling = [layer for layer in layers if isinstance(layer, _GLOBAL_POOLING)]
    flattens = [layer for layer in layers if isinstance(layer, keras.layers.Flatten)]
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    if pooling or flattens:
        cut_layer = (pooling or flattens)[-1]
        cut = cut_layer.output
    elif dense:
        cut_layer, cut = dense[0], dense[0].input
    else:
        raise ConvertError("the model has no global pooling, Flatten or Dense layer: the input classifier needs a "
                           "convolutional trunk ending in a feature vector")
    try:
        head = keras.Model(cut, model.output, name="ap_head")
    except ValueError as exc:  # Keras: the output is reached other than through the cut
        raise ConvertError(f"the classifier at {cut_layer.name!r} also reads earlier layers: "
                           f"the input classifier needs one feature tensor between trunk and head ({exc})") from exc
    return keras.Model(model.input, cut, name="trunk"), head


def icnn_head(ap_head: keras.Model, seed: int) -> keras.Model:
    """AP's dense layers (fresh weights), the last one with 2 softmax outputs (LCI, HCI); a head of 1×1
    convolutions (MobileNetV3's) gets one dense layer on the flattened features."""
    keras.utils.set_random_seed(seed)
    features = keras.Input(tuple(ap_head.input.shape[1:]), name="features")
    dense = [layer for layer in ap_head.layers if isinstance(layer, keras.layers.Dense)]
    t = keras.layers.Flatten(name="icnn_flatten")(features) if len(features.shape) > 2 else features
    for layer in dense[:-1]:
        t = keras.layers.Dense(layer.units, activation=layer.activation, name=f"icnn_{layer.name}")(t)
    probs = keras.layers.Dense(2, activation="softmax", name="icnn_out")(t)
    return keras.Model(features, probs, name="icnn_head")


#: |HCI − LCI logit| that the ICNN's int8 probability still resolves: σ(5.5) ≈ 1 − 1/256, one code from the top
INT8_RESOLVED_LOGIT = 5.5


def spread_for_int8(head: keras.Model, features: np.ndarray) -> float:
    """Divide the ICNN's last layer by a temperature T ≥ 1 so its HCI probability spans the int8 codes.

    A confident ICNN puts nearly every input under 1/256 HCI probability, one int8 code, and the α table then
    has no threshold to sweep between all-MP and none. Dividing the logits by T keeps every decision at 0.5
    (the logits' sign) and spreads the codes: 98% of ``features`` get |logit difference| ≤ 5.5 after it.

    Returns:
        T (1.0: already spread; the layer is left as it is).
    """
    last = head.layers[-1]
    penultimate = predict(keras.Model(head.input, last.input), features)
    kernel, bias = last.get_weights()
    gap = penultimate @ (kernel[:, HCI] - kernel[:, LCI]) + (bias[HCI] - bias[LCI])
    temperature = max(1.0, float(np.quantile(np.abs(gap), 0.98)) / INT8_RESOLVED_LOGIT)
    if temperature > 1.0:
        last.set_weights([kernel / temperature, bias / temperature])
    return temperature


def selector_labels(ap_correct: np.ndarray, mp_correct: np.ndarray) -> np.ndarray:
    """Maleki et al.'s Fig. 5: only MP correct → HCI; both, neither, or only AP correct → LCI."""
    return np.where(mp_correct & ~ap_correct, HCI, LCI).astype(np.int64)


def balanced_weights(labels: np.ndarray) -> dict[int, float]:
    counts = np.bincount(labels, minlength=2).astype(float)
    present = counts > 0
    weights = np.ones(2)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {0: float(weights[0]), 1: float(weights[1])}


def eq5_accuracy(true_labels: np.ndarray, decided: np.ndarray, acc_ap: float, acc_mp: float) -> float:
    """Eq. 5: ξ_HH·Acc_MP + ξ_LL·Acc_AP + ξ_LH·Acc_MP (ξ: probabilities over held-out inputs)."""
    xi_hh = float(np.mean((true_labels == HCI) & (decided == HCI)))
    xi_ll = float(np.mean((true_labels == LCI) & (decided == LCI)))
    xi_lh = float(np.mean((true_labels == LCI) & (decided == HCI)))
    return xi_hh * acc_mp + xi_ll * acc_ap + xi_lh * acc_mp


@dataclass
class Candidate:
    """One φ_AP of the sweep, with its networks and held-out figures."""

    phi_ap: float
    ap: keras.Model
    trunk: keras.Model
    ap_head: keras.Model
    icnn: keras.Model
    acc_ap: float
    acc_system: float
    acc_eq5: float
    hci_fraction: float
    macs: float
    ap_macs: int

    def row(self, original_macs: int) -> dict[str, Any]:
        return {"phi_ap": self.phi_ap, "acc_ap": round(self.acc_ap, 6), "acc_system": round(self.acc_system, 6),
                "acc_eq5": round(self.acc_eq5, 6), "hci_fraction": round(self.hci_fraction, 6),
                "system_macs": round(self.macs), "energy": round(self.macs / original_macs, 6),
                "ap_mac_reduction": round(1.0 - self.ap_macs / original_macs, 6)}


@dataclass
class PrunedSystem:
    original: keras.Model
    mp: keras.Model
    chosen: Candidate
    phi_mp: float
    acc_original: float
    acc_mp: float
    sweep: list[dict[str, Any]]
    min_accuracy: float | None


def build_candidate(original: keras.Model, mp_pred: np.ndarray, phi: float, x_fit: np.ndarray, y_fit: np.ndarray,
                    x_held: np.ndarray, y_held: np.ndarray, mp_held_pred: np.ndarray, acc_mp: float, mp_macs: int,
                    retrain_epochs: int, finetune_epochs: int, icnn_epochs: int, seed: int,
                    say: Callable[[str], None] | None = None) -> Candidate:
    ap = pruned_and_tuned(original, phi, x_fit, y_fit, retrain_epochs, finetune_epochs, seed, say)
    trunk, ap_head = split_trunk(ap)
    labels = selector_labels(predictions(ap, x_fit) == y_fit, mp_pred == y_fit)
    features_fit = predict(trunk, x_fit)
    head = icnn_head(ap_head, seed)
    fit(head, features_fit, labels, icnn_epochs, seed, class_weight=balanced_weights(labels))
    spread_for_int8(head, features_fit)
    features_held = predict(trunk, x_held)
    ap_held = np.argmax(predict(ap_head, features_held), axis=-1)
    decided = np.argmax(predict(head, features_held), axis=-1)
    routed = np.where(decided == HCI, mp_held_pred, ap_held)
    acc_ap = float(np.mean(ap_held == y_held))
    true_held = selector_labels(ap_held == y_held, mp_held_pred == y_held)
    beta = float(np.mean(decided == HCI))
    macs = (model_cost(trunk).macs + model_cost(head).macs + (1 - beta) * model_cost(ap_head).macs + beta * mp_macs)
    return Candidate(phi, ap, trunk, ap_head, head, acc_ap, float(np.mean(routed == y_held)),
                     eq5_accuracy(true_held, decided, acc_ap, acc_mp), beta, macs, model_cost(ap).macs)


def _how(original: keras.Model, retrain_epochs: int, finetune_epochs: int) -> str:
    if one_shot(original):
        return (f" (a big graph: every channel group pruned at once, then {finetune_epochs} epochs of fine-tuning "
                "and its batch normalization measured again)")
    return f" (layer by layer, {retrain_epochs} epochs of retraining after each, then {finetune_epochs} of fine-tuning)"


def _above_mild(ap_ratios: tuple[float, ...], phi_mp: float, say: Callable[[str], None]) -> tuple[float, ...]:
    """The φ_AP that prune more than MP (the others are no cheaper than MP: skipped, and said).

    Raises:
        ConvertError: none does.
    """
    kept = tuple(phi for phi in ap_ratios if phi > phi_mp)
    dropped = [phi for phi in ap_ratios if phi <= phi_mp]
    if not kept:
        raise ConvertError(f"every φ_AP asked ({', '.join(f'{p:g}' for p in dropped)}) prunes no more than MP "
                           f"(φ_MP = {phi_mp:g}): an aggressive copy must prune more than the mild one")
    if dropped:
        say(f"skipping φ_AP {', '.join(f'{p:.1f}' for p in dropped)}: no more than φ_MP = {phi_mp:.1f}, so no "
            "cheaper than MP")
    return kept


def build_pruned_system(original: keras.Model, x_fit: np.ndarray, y_fit: np.ndarray, x_held: np.ndarray,
                        y_held: np.ndarray, *, mild: float | None, min_accuracy: float | None,
                        max_loss: float | None = None, required: bool = True,
                        ap_ratios: tuple[float, ...] = AP_RATIOS, retrain_epochs: int = 2, finetune_epochs: int = 5,
                        icnn_epochs: int = 15, seed: int = 0,
                        say: Callable[[str], None] = lambda m: None) -> PrunedSystem:
    """Algorithm 1 on held-out data; see the module docstring.

    ``min_accuracy`` is ζ (absolute); ``max_loss`` sets ζ to the original's accuracy minus it; when the
    budget is not the user's (``required`` False) and no candidate meets it, the most accurate is kept
    (the paper's second scenario, loss_EXP); with neither, the lowest-energy point is kept.
    """
    for phi in ap_ratios:
        check_ratio(phi)
    if mild is not None:
        _above_mild(ap_ratios, mild, lambda m: None)  # refused before anything trains
    original_macs = model_cost(original).macs
    acc_o = accuracy(original, x_held, y_held)
    say(f"original: held-out accuracy {acc_o:.4f}, {original_macs:,d} MACs")
    if mild is not None:
        check_ratio(mild)
        mp = pruned_and_tuned(original, mild, x_fit, y_fit, retrain_epochs, finetune_epochs, seed, say)
        phi_mp, acc_mp = mild, accuracy(mp, x_held, y_held)
    else:
        mp, phi_mp, acc_mp = original, 0.0, acc_o
        countdown = Countdown(len(MILD_RATIOS))
        say(f"finding MP: pruning at φ = {', '.join(f'{r:.1f}' for r in MILD_RATIOS)} until one loses at most a point"
            f"{_how(original, retrain_epochs, finetune_epochs)}")
        for phi in MILD_RATIOS:
            candidate = pruned_and_tuned(original, phi, x_fit, y_fit, retrain_epochs, finetune_epochs, seed, say)
            acc = accuracy(candidate, x_held, y_held)
            say(f"mild pruning φ = {phi:.1f}: accuracy {acc:.4f} ({(acc - acc_o) * 100:+.2f} points; "
                f"{countdown.step()} at most)")
            if acc >= acc_o - 0.01:
                mp, phi_mp, acc_mp = candidate, phi, acc
                break
    say(f"MP: φ_MP = {phi_mp:.1f}, accuracy {acc_mp:.4f}, {model_cost(mp).macs:,d} MACs")
    mp_pred = predictions(mp, x_fit)
    mp_held_pred = predictions(mp, x_held)
    mp_macs = model_cost(mp).macs
    ap_ratios = _above_mild(ap_ratios, phi_mp, say)
    if max_loss is not None:
        floor = acc_o - max_loss
        min_accuracy = floor if min_accuracy is None else max(min_accuracy, floor)

    def meets(c: Candidate) -> bool:
        return min_accuracy is None or c.acc_system >= min_accuracy

    rows = []
    cheapest: Candidate | None = None  # the cheapest meeting the floor so far
    most_accurate: Candidate | None = None
    countdown = Countdown(len(ap_ratios))
    say(f"sweeping AP over φ = {', '.join(f'{r:.1f}' for r in ap_ratios)}, each with its input classifier"
        f"{_how(original, retrain_epochs, finetune_epochs)}")
    for phi in ap_ratios:
        c = build_candidate(original, mp_pred, phi, x_fit, y_fit, x_held, y_held, mp_held_pred, acc_mp, mp_macs,
                            retrain_epochs, finetune_epochs, icnn_epochs, seed, say)
        rows.append(c.row(original_macs))
        # only the candidates that can still be chosen keep their networks (nine MobileNetV2 copies took 4 GB)
        if meets(c) and (cheapest is None or c.macs < cheapest.macs):
            cheapest = c
        if most_accurate is None or (c.acc_system, -c.macs) > (most_accurate.acc_system, -most_accurate.macs):
            most_accurate = c
        say(f"AP φ = {phi:.1f}: AP accuracy {c.acc_ap:.4f}, system {c.acc_system:.4f} (eq. 5: {c.acc_eq5:.4f}), "
            f"HCI {c.hci_fraction:.1%}, energy {c.macs / original_macs:.1%} of the original ({countdown.step()})")
    assert most_accurate is not None
    eligible = [cheapest] if cheapest is not None else []
    if not eligible and not required:
        eligible = [most_accurate]
        say(f"no φ_AP stays within the default budget ({min_accuracy:.4f}): keeping the most accurate, "
            f"φ_AP = {most_accurate.phi_ap}")
    if not eligible:
        raise ConvertError(f"no φ_AP reaches --min-accuracy {min_accuracy}: the best system accuracy was "
                           f"{most_accurate.acc_system:.4f} (φ_AP = {most_accurate.phi_ap})")
    chosen = min(eligible, key=lambda c: c.macs)
    say(f"chose φ_AP = {chosen.phi_ap:.1f}")
    return PrunedSystem(original, mp, chosen, phi_mp, acc_o, acc_mp, rows, min_accuracy)
