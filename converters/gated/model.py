"""EnergyNet's gated residual CNN (SkipNet's recurrent gates) and its energy-aware training.

Network: a stem convolution, then stages of basic residual blocks (a 1×1 projection shortcut
where the shape changes), global average pooling and a softmax layer. Before every block a gate
decides whether it runs: global average pooling → a per-gate linear projection to 10 → one LSTM
step whose weights (and output projection) are shared by all gates, its state carried from gate
to gate → an execute logit. A skipped block is its shortcut: the identity, or the projection.

Gates are hard (0/1) in the forward pass, in training as on the device, and learn through a
straight-through estimator: the forward value is the 0/1 decision, the gradient is that of the
sigmoid. SkipNet's hybrid scheme (supervised pre-training, then reinforcement learning) needs a
policy-gradient loop; the estimator trains the gates jointly with L(W, G) + α·E(W, G) in plain
Keras and gives the same 0/1 forward behaviour the device executes.

E (EnergyNet eq. 2) sums, over executed blocks, MACs·e_MAC + bytes moved·e_byte with the board
profile's constants, normalised by the gated blocks' total so that α weighs a fraction of the
network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np
from keras import ops

from ..common.distribute import fit as fit_model, predict
from ..common.macs import Cost, layer_cost, model_cost
from ..common.training import EpochProgress, recalibrate_batch_norm

GATE_WIDTH = 10


class SharedLSTMStep(keras.layers.Layer):
    """One LSTM step with ordinary ops (matmul, sigmoid, tanh), so the int8 converter sees no LSTM kernel.

    Call with ``[x, h, c]`` (each (batch, 10)); returns ``[h', c']``.
    """

    def __init__(self, units: int = GATE_WIDTH, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: Any) -> None:
        n = self.units
        self.kernel = self.add_weight(shape=(n, 4 * n), initializer="glorot_uniform", name="kernel")
        self.recurrent = self.add_weight(shape=(n, 4 * n), initializer="orthogonal", name="recurrent_kernel")
        bias = np.zeros(4 * n, dtype="float32")
        bias[n:2 * n] = 1.0  # forget gate starts open
        self.bias = self.add_weight(shape=(4 * n,), initializer=keras.initializers.Constant(bias), name="bias")

    def call(self, inputs: list[Any]) -> list[Any]:
        x, h, c = inputs
        z = ops.matmul(x, self.kernel) + ops.matmul(h, self.recurrent) + self.bias
        n = self.units
        i = ops.sigmoid(z[:, :n])
        f = ops.sigmoid(z[:, n:2 * n])
        g = ops.tanh(z[:, 2 * n:3 * n])
        o = ops.sigmoid(z[:, 3 * n:])
        c_new = f * c + i * g
        return [o * ops.tanh(c_new), c_new]

    def compute_output_shape(self, input_shape: Any) -> list[tuple]:
        return [(input_shape[0][0], self.units), (input_shape[0][0], self.units)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class HardGate(keras.layers.Layer):
    """Logit → 0/1 (execute when logit ≥ 0) forward; sigmoid gradient backward (straight-through)."""

    def call(self, logit: Any) -> Any:
        soft = ops.sigmoid(logit)
        hard = ops.cast(logit >= 0.0, soft.dtype)
        return soft + ops.stop_gradient(hard - soft)


class Mix(keras.layers.Layer):
    """g·run + (1 − g)·skip, with g (batch, 1) broadcast over the feature map."""

    def call(self, inputs: list[Any]) -> Any:
        gate, run, skip = inputs
        g = ops.reshape(gate, (-1, 1, 1, 1))
        return g * run + (1.0 - g) * skip


def cost_of(plain: keras.Model, layers: list[Any]) -> Cost:
    """What running ``layers`` costs, each as built inside ``plain`` (a nested model: all its layers)."""
    total = Cost(0, 0, 0)
    for layer in layers:
        total = total + (model_cost(layer) if isinstance(layer, keras.Model) else layer_cost(plain.get_layer(layer.name)))
    return total


@dataclass
class Block:
    """One residual block's layers; ``projection`` is None for an identity shortcut."""

    name: str
    layers: list[keras.layers.Layer]
    projection: list[keras.layers.Layer] | None

    def run(self, x: Any, training: bool | None = None) -> Any:
        t = x
        conv1, bn1, relu1, conv2, bn2, add, relu2 = self.layers
        t = relu1(bn1(conv1(t), training=training))
        t = bn2(conv2(t), training=training)
        return relu2(add([t, self.shortcut(x, training)]))

    def shortcut(self, x: Any, training: bool | None = None) -> Any:
        if self.projection is None:
            return x
        t = x
        for layer in self.projection:
            t = layer(t, training=training)
        return t

    @property
    def channels(self) -> int:
        """Channels of the block's output."""
        return int(self.layers[3].filters)

    def costs(self, plain: keras.Model) -> tuple[Cost, Cost]:
        """(running the block, taking its shortcut instead)."""
        skip = cost_of(plain, self.projection or [])
        return cost_of(plain, self.layers) + skip, skip

    def charged(self, plain: keras.Model) -> Cost:
        """What the energy loss charges for running the block: its layers and its projection."""
        return self.costs(plain)[0]


@dataclass
class GraphBlock:
    """A residual block of a user's network: ``run`` is the user's layers from the block's input up to the
    next gated block's input, ``skip`` the layers after the block's identity-shortcut sum up to there (None
    when there are none: skipping is then the identity, as in EnergyNet)."""

    name: str
    run_model: keras.Model
    skip_model: keras.Model | None
    channels: int

    @property
    def projection(self) -> keras.Model | None:
        return self.skip_model

    def run(self, x: Any, training: bool | None = None) -> Any:
        return self.run_model(x, training=training)

    def shortcut(self, x: Any, training: bool | None = None) -> Any:
        return x if self.skip_model is None else self.skip_model(x, training=training)

    def costs(self, plain: keras.Model) -> tuple[Cost, Cost]:
        """(running the block, taking its shortcut instead)."""
        skip = model_cost(self.skip_model) if self.skip_model is not None else Cost(0, 0, 0)
        return model_cost(self.run_model), skip

    def charged(self, plain: keras.Model) -> Cost:
        """What the energy loss charges for running the block: what skipping it saves."""
        run, skip = self.costs(plain)
        return run - skip


@dataclass
class GatedNet:
    """The layers of the network, shared by the plain, gated and per-segment Keras models."""

    image_shape: tuple[int, ...]
    stem: list[keras.layers.Layer]
    blocks: list[Block] | list[GraphBlock]
    head: list[keras.layers.Layer]
    gate_projections: list[keras.layers.Layer]
    lstm: SharedLSTMStep
    gate_out: keras.layers.Layer
    hard: HardGate
    stem_channels: int

    # ``training``, here and on the blocks: None lets Keras decide (training inside fit); the export passes False,
    # because a user's augmentation layers (RandomFlip …) default to training and would trace as random ops.
    def apply_stem(self, x: Any, training: bool | None = None) -> Any:
        for layer in self.stem:
            x = layer(x, training=training)
        return x

    def apply_head(self, x: Any, training: bool | None = None) -> Any:
        for layer in self.head:
            x = layer(x, training=training)
        return x

    def gate(self, i: int, x: Any, h: Any, c: Any, training: bool | None = None) -> tuple[Any, Any, Any]:
        """Gate i on block i's input: (execute logit (batch, 1), h', c')."""
        pooled = ops.mean(x, axis=(1, 2))  # global average pooling
        h, c = self.lstm([self.gate_projections[i](pooled, training=training), h, c], training=training)
        return self.gate_out(h, training=training), h, c

    def plain(self) -> keras.Model:
        """Every block run, no gates: the reference network."""
        x = keras.Input(self.image_shape, name="x")
        t = self.apply_stem(x)
        for block in self.blocks:
            t = block.run(t)
        return keras.Model(x, self.apply_head(t), name="plain")

    def gated(self) -> keras.Model:
        """image → [probs, gates (batch, n_blocks), logits (batch, n_blocks)] with hard gates (for training and
        for the reference decisions the device must reproduce)."""
        x = keras.Input(self.image_shape, name="x")
        t = self.apply_stem(x)
        zeros = ops.zeros_like(ops.mean(t, axis=(1, 2))[:, :1])
        h = c = ops.tile(zeros, (1, GATE_WIDTH))
        gates, logits = [], []
        for i, block in enumerate(self.blocks):
            logit, h, c = self.gate(i, t, h, c)
            g = self.hard(logit)
            gates.append(g)
            logits.append(logit)
            t = Mix()([g, block.run(t), block.shortcut(t)])
        probs = self.apply_head(t)
        return keras.Model(x, [probs, ops.concatenate(gates, axis=1), ops.concatenate(logits, axis=1)], name="gated")


FIRST_STAGE_BLOCK_MACS = 4.7e6  # about a 64-channel block at 8×8: far above what invoking a segment costs


def default_widths(image_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Stage widths for an input size: the first stage's block costs about :data:`FIRST_STAGE_BLOCK_MACS`
    (two 3×3 convolutions at full resolution), rounded to a power of two between 16 and 64, doubling by stage.

    Small inputs make small blocks, and a block that costs little next to invoking its segment and copying
    its joints saves nothing when skipped: on 8×8 digits, 32 channels saved 63% of the MACs but 17% of the time.
    """
    height, width = image_shape[0], image_shape[1]
    channels = (FIRST_STAGE_BLOCK_MACS / (height * width * 18)) ** 0.5
    first = int(min(64, max(16, 2 ** round(np.log2(max(channels, 1.0))))))
    return first, 2 * first, 4 * first


def build_gated_net(image_shape: tuple[int, ...], num_classes: int, widths: tuple[int, ...] = (32, 64, 128),
                    blocks_per_stage: int = 2, seed: int = 0) -> GatedNet:
    keras.utils.set_random_seed(seed)
    L = keras.layers
    stem = [L.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem_conv"),
            L.BatchNormalization(name="stem_bn"), L.ReLU(name="stem_relu")]
    blocks = []
    channels = widths[0]
    for s, width in enumerate(widths):
        for j in range(blocks_per_stage):
            stride = 2 if s > 0 and j == 0 else 1
            name = f"block{len(blocks) + 1}"
            layers = [L.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1"),
                      L.BatchNormalization(name=f"{name}_bn1"), L.ReLU(name=f"{name}_relu1"),
                      L.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv2"),
                      L.BatchNormalization(name=f"{name}_bn2"), L.Add(name=f"{name}_add"), L.ReLU(name=f"{name}_relu2")]
            projection = None
            if stride != 1 or width != channels:
                projection = [L.Conv2D(width, 1, strides=stride, use_bias=False, name=f"{name}_proj"),
                              L.BatchNormalization(name=f"{name}_proj_bn")]
            blocks.append(Block(name, layers, projection))
            channels = width
    head = [L.GlobalAveragePooling2D(name="head_pool"), L.Dense(num_classes, activation="softmax", name="head_dense")]
    return GatedNet(image_shape, stem, blocks, head, *gate_layers(len(blocks)), widths[0])


def gate_layers(count: int) -> tuple[list[keras.layers.Layer], SharedLSTMStep, keras.layers.Layer, HardGate]:
    """The gates' own layers: a projection per gate, the shared LSTM step, its output, the hard decision."""
    L = keras.layers
    projections = [L.Dense(GATE_WIDTH, name=f"gate{i + 1}_proj") for i in range(count)]
    gate_out = L.Dense(1, name="gate_out", bias_initializer=keras.initializers.Constant(3.0))
    return projections, SharedLSTMStep(name="gate_lstm"), gate_out, HardGate(name="hard_gate")


def block_costs(net: GatedNet) -> list[Cost]:
    """MACs, parameters and bytes the energy loss charges for running each block (see each block's ``charged``)."""
    plain = net.plain()  # builds every layer and gives them shapes
    return [block.charged(plain) for block in net.blocks]


def block_energies(costs: list[Cost], e_mac: float, e_byte: float) -> np.ndarray:
    """EnergyNet eq. 2 per block, normalised to sum to 1."""
    energy = np.array([c.macs * e_mac + c.bytes_moved * e_byte for c in costs], dtype="float32")
    return energy / energy.sum()


def _energy_loss(weights: np.ndarray, alpha: float) -> Callable[[Any, Any], Any]:
    w = ops.convert_to_tensor(weights.reshape(1, -1))

    def loss(y_true: Any, gates: Any) -> Any:
        return alpha * ops.mean(ops.sum(gates * w, axis=1))
    return loss


MARGIN = 1.0
MARGIN_WEIGHT = 0.1


def _margin_loss(y_true: Any, logits: Any) -> Any:
    """Keep gate logits at least MARGIN away from the threshold: a decision that rests on a hair's
    breadth would flip under int8 rounding on the device (without it logits settle within ±0.1)."""
    return MARGIN_WEIGHT * ops.mean(ops.relu(MARGIN - ops.abs(logits)))


def train_gated(net: GatedNet, x: np.ndarray, y: np.ndarray, x_held: np.ndarray, y_held: np.ndarray,
                energies: np.ndarray, *, plain_epochs: int, step_epochs: int, alphas: tuple[float, float, float],
                seed: int = 0, say: Callable[[str], None] = lambda m: None, recalibrate: bool = False) -> dict[str, Any]:
    """Baseline training of the plain network (none for a user's trained network: ``plain_epochs`` 0), then
    EnergyNet's three steps on the gated one. With ``recalibrate`` the batch normalization statistics are
    measured again after each step (a user's network may average them over thousands of steps, momentum
    0.999, and a few epochs of joint training would leave them describing the network before)."""
    keras.utils.set_random_seed(seed)
    plain = net.plain()
    if plain_epochs:
        plain.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        fit_model(plain, x, y, epochs=plain_epochs, batch_size=32, seed=seed,
                  callbacks=[EpochProgress(say, plain_epochs, "plain network: ")])
    baseline = float(np.mean(np.argmax(predict(plain, x_held), axis=-1) == y_held))
    say(f"plain network: held-out accuracy {baseline:.4f}" + (f" after {plain_epochs} epochs" if plain_epochs else ""))
    gated = net.gated()
    dummy = np.zeros((len(y), len(net.blocks)), dtype="float32")
    history = []

    def run_step(alpha: float, epochs: int, label: str) -> tuple[float, float]:
        gated.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=["sparse_categorical_crossentropy", _energy_loss(energies, alpha), _margin_loss])
        fit_model(gated, x, [y, dummy, dummy], epochs=epochs, batch_size=32, seed=seed,
                  callbacks=[EpochProgress(say, epochs, f"{label}: ")])
        if recalibrate:
            recalibrate_batch_norm(gated, x, seed)
        probs, gates, _ = predict(gated, x_held)
        acc = float(np.mean(np.argmax(probs, axis=-1) == y_held))
        saving = float(1.0 - np.mean(gates @ energies))
        history.append({"step": label, "alpha": alpha, "epochs": epochs, "accuracy": acc, "energy_saving": saving})
        say(f"{label}: α = {alpha}, held-out accuracy {acc:.4f}, energy saving {saving:.1%}")
        return acc, saving

    acc1, _ = run_step(alphas[0], step_epochs, "step I")
    tries = 1
    while acc1 < baseline and tries < 3:
        acc1, _ = run_step(alphas[0], step_epochs, "step I (until baseline)")
        tries += 1
    acc2, _ = run_step(alphas[1], step_epochs, "step II")
    if acc2 < acc1 - 0.001:
        run_step(alphas[2], step_epochs, "step III")
    return {"baseline_accuracy": baseline, "steps": history}
