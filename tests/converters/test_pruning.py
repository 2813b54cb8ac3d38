"""Structured ℓ1 filter pruning: the right filters go, shapes stay valid, MACs fall as computed."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from converters.common.errors import ConvertError  # noqa: E402
from converters.common.macs import model_cost  # noqa: E402
from converters.pruned.algorithm import (HCI, balanced_weights, eq5_accuracy, icnn_head, selector_labels,  # noqa: E402
                                         spread_for_int8)
from converters.pruned.pruning import analyse, channels_to_keep, prune_group, prune_model  # noqa: E402


def residual_model(seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((8, 8, 1), name="x")
    a = keras.layers.Conv2D(8, 3, padding="same", name="c1")(x)
    b = keras.layers.BatchNormalization(name="bn")(a)
    b = keras.layers.ReLU(name="r1")(b)
    c = keras.layers.Conv2D(8, 3, padding="same", name="c2")(b)
    d = keras.layers.Add(name="add")([b, c])
    e = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(d)
    f = keras.layers.Conv2D(6, 3, padding="same", name="c3")(e)
    g = keras.layers.Flatten(name="fl")(f)
    h = keras.layers.Dense(12, activation="relu", name="d1")(g)
    out = keras.layers.Dense(10, activation="softmax", name="out")(h)
    return keras.Model(x, out)


def images(n=5, seed=1):
    return np.random.default_rng(seed).random((n, 8, 8, 1)).astype("float32")


def test_groups_follow_the_residual_add_and_stop_at_the_output():
    graph = analyse(residual_model())
    assert [g.producers for g in graph.prunable()] == [["c1", "c2"], ["c3"], ["d1"]]
    assert graph.group_named("out").fixed == "the model's output"
    assert graph.repeat["fl"] == 64  # 8×8 positions per channel after Flatten


def test_the_smallest_l1_filters_are_removed():
    model = residual_model()
    layer = model.get_layer("c3")
    kernel, bias = layer.get_weights()
    scale = np.array([5.0, 0.1, 3.0, 0.2, 4.0, 1.0], dtype="float32")
    layer.set_weights([np.ones_like(kernel) * scale, bias])
    graph = analyse(model)
    keep = channels_to_keep(model, graph.group_named("c3"), 0.5)
    assert keep.tolist() == [0, 2, 4]


def test_kept_channels_compute_what_they_computed_before():
    model = residual_model()
    graph = analyse(model)
    group = graph.group_named("c3")
    keep = np.array([0, 2, 5])
    pruned = prune_group(model, graph, group, keep)
    before = keras.Model(model.input, model.get_layer("c3").output).predict(images(), verbose=0)
    after = keras.Model(pruned.input, pruned.get_layer("c3").output).predict(images(), verbose=0)
    np.testing.assert_allclose(after, before[..., keep], rtol=1e-5, atol=1e-5)


def test_channels_that_contribute_nothing_are_removed_without_changing_the_output():
    """Zero filters (and a zero BN scale) have the smallest ℓ1 norms; removing them must not change the answer."""
    model = residual_model()
    dead = [1, 4, 6]
    for name in ("c1", "c2"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[..., dead] = 0.0
        bias[dead] = 0.0
        layer.set_weights([kernel, bias])
    bn = model.get_layer("bn")
    gamma, beta, mean, var = bn.get_weights()
    gamma[dead] = 0.0
    beta[dead] = 0.0
    bn.set_weights([gamma, beta, mean, var])
    graph = analyse(model)
    pruned = prune_group(model, graph, graph.group_named("c1"), channels_to_keep(model, graph.group_named("c1"), 3 / 8))
    assert pruned.get_layer("c1").filters == 5 and pruned.get_layer("c2").filters == 5
    np.testing.assert_allclose(pruned.predict(images(), verbose=0), model.predict(images(), verbose=0), rtol=1e-4,
                               atol=1e-6)


def test_macs_fall_as_computed():
    model = residual_model()
    pruned = prune_model(model, 0.5)
    # c1 (1→4), c2 (4→4), depthwise on 4, c3 (4→3), d1 (192→6), out (6→10), on 8×8
    expected = 64 * 9 * 1 * 4 + 64 * 9 * 4 * 4 + 64 * 9 * 4 + 64 * 9 * 4 * 3 + 192 * 6 + 6 * 10
    assert model_cost(pruned).macs == expected < model_cost(model).macs
    assert pruned.predict(images(), verbose=0).shape == (5, 10)


def test_retraining_is_called_after_each_layer_with_the_last_pruned_producer():
    calls = []
    prune_model(residual_model(), 0.5, retrain=lambda m, last: calls.append(last))
    assert calls == ["c2", "c3", "d1"]


def test_bad_requests_are_clear_errors():
    model = residual_model()
    for ratio in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ConvertError, match=r"pruning ratio must be in \(0, 1\)"):
            prune_model(model, ratio)
    x = keras.Input((4,), name="x")
    dense_only = keras.Model(x, keras.layers.Dense(3, name="out")(keras.layers.Dense(5, name="h")(x)))
    with pytest.raises(ConvertError, match="no Conv2D layer"):
        prune_model(dense_only, 0.5)


def test_an_unknown_layer_is_named_or_passed_through():
    x = keras.Input((8, 8, 1), name="x")
    a = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    b = keras.layers.LayerNormalization(name="ln")(a)  # not known to the pruner
    c = keras.layers.Conv2D(4, 3, padding="same", name="c2")(b)
    out = keras.layers.Dense(3, name="out")(keras.layers.Flatten(name="fl")(c))
    model = keras.Model(x, out)
    graph = analyse(model)
    assert "'ln' (LayerNormalization)" in graph.group_named("c1").fixed
    with pytest.raises(ConvertError, match="'ln' \\(LayerNormalization\\) reads them"):
        prune_group(model, graph, graph.group_named("c1"), np.array([0, 1]))
    pruned = prune_model(model, 0.5)  # c2 can still be pruned; ln passes through untouched
    assert pruned.get_layer("c1").filters == 4 and pruned.get_layer("c2").filters == 2


def test_selector_labels_follow_maleki_fig_5():
    ap = np.array([True, False, False, True])
    mp = np.array([True, True, False, False])
    assert selector_labels(ap, mp).tolist() == [0, 1, 0, 0]  # both → LCI, only MP → HCI, neither → LCI, only AP → LCI
    assert balanced_weights(np.array([0, 0, 0, 1])) == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0)}


def test_eq5_by_hand():
    true = np.array([1, 1, 0, 0, 0])
    decided = np.array([1, 0, 0, 0, 1])
    # ξ_HH = 1/5, ξ_LL = 2/5, ξ_LH = 1/5
    assert eq5_accuracy(true, decided, acc_ap=0.9, acc_mp=0.95) == pytest.approx(0.2 * 0.95 + 0.4 * 0.9 + 0.2 * 0.95)


def test_a_confident_input_classifier_is_spread_over_the_int8_codes():
    """All of a confident ICNN's HCI probabilities fell under 1/256, one int8 code: the α table had nothing to
    sweep between all-MP and none. Spread, its decisions stay and the codes differ."""
    features_in = keras.Input((6,))
    ap_head = keras.Model(features_in, keras.layers.Dense(10, activation="softmax")(
        keras.layers.Dense(5, activation="relu")(features_in)))
    head = icnn_head(ap_head, seed=0)
    last = head.layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel * 40.0, bias - np.array([0.0, 30.0], "float32")])  # very sure: almost nothing is hard
    features = np.random.default_rng(0).normal(size=(400, 6)).astype("float32")

    def codes(probs):
        return np.clip(np.round(probs[:, HCI] * 256) - 128, -128, 127)

    def saturated(probs):
        return float(np.isin(codes(probs), (-128, 127)).mean())

    before = head.predict(features, verbose=0)
    assert saturated(before) > 0.8
    temperature = spread_for_int8(head, features)
    after = head.predict(features, verbose=0)
    assert temperature > 5.0
    assert np.array_equal(before.argmax(-1), after.argmax(-1))
    assert saturated(after) < 0.05 and len(np.unique(codes(after))) > 50
    assert spread_for_int8(head, features) == 1.0  # already spread: left as it is


def inverted_residual_model():
    """A MobileNetV2 block with squeeze-excite, worked by hand: the stem and the projection meet at the Add, the
    expansion and the excitation meet at the Multiply, the depthwise convolution and the batch norms follow
    the channels they read."""
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3), name="x")
    t0 = keras.layers.ReLU(name="relu0")(keras.layers.BatchNormalization(name="bn0")(
        keras.layers.Conv2D(8, 3, padding="same", name="stem")(x)))
    e = keras.layers.ReLU(name="relu1")(keras.layers.BatchNormalization(name="bn1")(
        keras.layers.Conv2D(16, 1, name="expand")(t0)))
    e = keras.layers.ReLU(name="relu2")(keras.layers.BatchNormalization(name="bn2")(
        keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(e)))
    se = keras.layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(e)
    se = keras.layers.Conv2D(4, 1, activation="relu", name="se_reduce")(se)
    se = keras.layers.Conv2D(16, 1, activation="sigmoid", name="se_expand")(se)
    e = keras.layers.Multiply(name="se_mul")([e, se])
    p = keras.layers.BatchNormalization(name="bn3")(keras.layers.Conv2D(8, 1, name="project")(e))
    t1 = keras.layers.Add(name="add")([t0, p])
    out = keras.layers.Dense(10, activation="softmax", name="out")(keras.layers.GlobalAveragePooling2D(name="gap")(t1))
    return keras.Model(x, out)


def test_groups_of_an_inverted_residual_block_with_squeeze_excite():
    graph = analyse(inverted_residual_model())
    assert [sorted(g.producers) for g in graph.prunable()] == [["project", "stem"], ["expand", "se_expand"],
                                                               ["se_reduce"]]
    assert {"bn1", "dw", "bn2", "relu2", "se_mul"} <= set(graph.group_named("expand").members)
    assert {"bn0", "bn3", "add", "gap"} <= set(graph.group_named("stem").members)


def test_pruning_the_block_keeps_it_consistent_and_kept_channels_compute_the_same():
    model = inverted_residual_model()
    graph = analyse(model)
    group = graph.group_named("expand")
    keep = channels_to_keep(model, group, 0.5)
    pruned = prune_group(model, graph, group, keep)
    assert pruned.get_layer("expand").filters == 8 and pruned.get_layer("se_expand").filters == 8
    assert pruned.get_layer("dw").get_weights()[0].shape[2] == 8 and pruned.get_layer("bn2").get_weights()[0].shape == (8,)
    assert pruned.get_layer("se_reduce").get_weights()[0].shape[2] == 8  # reads the pruned channels
    x = np.random.default_rng(2).random((3, 8, 8, 3)).astype("float32")
    before = keras.Model(model.input, model.get_layer("se_mul").output).predict(x, verbose=0)[..., keep]
    after = keras.Model(pruned.input, pruned.get_layer("relu2").output).predict(x, verbose=0)
    np.testing.assert_allclose(after, keras.Model(model.input, model.get_layer("relu2").output).predict(
        x, verbose=0)[..., keep], rtol=1e-5, atol=1e-5)
    assert before.shape == (3, 8, 8, 8)


def test_a_big_graph_is_pruned_in_one_shot():
    """MobileNetV2 has 25 channel groups: every one is pruned at once (a retrain per group would take hours)."""
    from converters.pruned.pruning import one_shot

    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=4)
    assert one_shot(model)
    calls = []
    pruned = prune_model(model, 0.5, retrain=lambda m, last: calls.append(last))
    assert calls == []  # no per-group retrain in one shot
    graph = analyse(model)
    for group in graph.prunable():
        for name in group.producers:
            width = model.get_layer(name).get_weights()[0].shape[-1]
            assert pruned.get_layer(name).get_weights()[0].shape[-1] == max(1, int(round(width * 0.5)))
    assert model_cost(pruned).macs < 0.45 * model_cost(model).macs
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    assert pruned.predict(x, verbose=0).shape == (2, 4)


def test_batch_norm_statistics_are_measured_again():
    from converters.common.training import recalibrate_batch_norm

    inner = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="bn")], name="inner")
    outer = keras.Sequential([keras.Input((4,)), inner])
    x = np.random.default_rng(0).normal(5.0, 2.0, (512, 4)).astype("float32")
    recalibrate_batch_norm(outer, x, seed=0)
    bn = inner.get_layer("bn")
    mean, variance = bn.get_weights()[2:]
    np.testing.assert_allclose(mean, 5.0, atol=0.3)
    np.testing.assert_allclose(variance, 4.0, rtol=0.25)
    assert bn.momentum == 0.99  # put back


def hard_swish_block_model():
    """MobileNetV3's hard swish and squeeze-excite written as Keras writes them: ``x + 3.0`` and ``* (1 / 6)`` are
    operations, not layers; a constant with one value per channel is not elementwise-with-a-scalar."""
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3), name="x")
    t = keras.layers.BatchNormalization(name="bn0")(keras.layers.Conv2D(8, 3, padding="same", name="stem")(x))
    t = keras.layers.Multiply(name="hswish")([t, keras.layers.ReLU(6.0, name="relu6")(t + 3.0) * (1.0 / 6.0)])
    se = keras.layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(t)
    se = keras.layers.Conv2D(8, 1, name="se_expand")(keras.layers.Conv2D(4, 1, activation="relu", name="se_reduce")(se))
    t = keras.layers.Multiply(name="se_mul")([t, keras.layers.ReLU(6.0, name="se_relu6")(se + 3.0) * (1.0 / 6.0)])
    t = keras.layers.Conv2D(6, 1, name="project")(t)
    scaled = keras.layers.Conv2D(5, 1, name="scaled")(t) * np.arange(1, 6, dtype="float32")  # per channel
    out = keras.layers.Dense(3, name="out")(keras.layers.GlobalAveragePooling2D(name="gap")(scaled))
    return keras.Model(x, out)


def test_operations_that_are_not_layers_follow_the_channels_they_read():
    model = hard_swish_block_model()
    graph = analyse(model)
    assert [sorted(g.producers) for g in graph.prunable()] == [["se_expand", "stem"], ["se_reduce"], ["project"]]
    assert graph.group_named("scaled").fixed  # read by a multiply with one constant per channel
    group = graph.group_named("stem")
    keep = channels_to_keep(model, group, 0.5)
    pruned = prune_group(model, graph, group, keep)
    assert pruned.get_layer("stem").filters == 4 and pruned.get_layer("se_expand").filters == 4
    x = np.random.default_rng(3).random((2, 8, 8, 3)).astype("float32")
    before = keras.Model(model.input, model.get_layer("hswish").output).predict(x, verbose=0)[..., keep]
    after = keras.Model(pruned.input, pruned.get_layer("hswish").output).predict(x, verbose=0)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    assert pruned.predict(x, verbose=0).shape == (2, 3)


def test_mobilenet_v3_small_is_pruned_in_one_shot():
    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=4)
    pruned = prune_model(model, 0.5)
    assert model_cost(pruned).macs < 0.6 * model_cost(model).macs
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32") * 255
    assert pruned.predict(x, verbose=0).shape == (2, 4)


@pytest.mark.parametrize("build", ["mobilenet_v3", "dense_head"])
def test_the_trunk_ends_at_the_feature_vector_whatever_the_classifier(build):
    """MobileNetV3's classifier is 1×1 convolutions after its last global pooling (no Dense layer): AP's trunk ends at
    that pooling, the head is everything after it, and the input classifier reads the flattened features."""
    from converters.pruned.algorithm import split_trunk

    if build == "mobilenet_v3":
        model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=4)
        cut_layer = [layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)][-1]
    else:
        model = inverted_residual_model()
        cut_layer = model.get_layer("gap")
    trunk, head = split_trunk(model)
    assert trunk.output.shape == cut_layer.output.shape
    x = np.random.default_rng(0).random((3, *model.input.shape[1:])).astype("float32") * 255
    np.testing.assert_allclose(head(trunk(x)), model(x), rtol=1e-5, atol=1e-6)
    icnn = icnn_head(head, seed=0)
    assert icnn(trunk(x)).shape == (3, 2)


def test_efficientnets_squeeze_excite_reshape_follows_the_channels():
    """EfficientNet pools its squeeze-excite to (N, C) and reshapes it to (N, 1, 1, C): a reshape that keeps the
    channels last and each position's channels together is pruned with them (its target shape follows); one that
    mixes channels into positions stops the pruning of what it reads."""
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3), name="x")
    e = keras.layers.Activation("swish", name="act")(keras.layers.Conv2D(8, 3, padding="same", name="expand")(x))
    se = keras.layers.Reshape((1, 1, 8), name="se_reshape")(keras.layers.GlobalAveragePooling2D(name="se_pool")(e))
    se = keras.layers.Conv2D(8, 1, activation="sigmoid", name="se_expand")(
        keras.layers.Conv2D(2, 1, activation="swish", name="se_reduce")(se))
    e = keras.layers.Multiply(name="se_mul")([e, se])
    p = keras.layers.Conv2D(4, 1, name="project")(e)
    mixed = keras.layers.Reshape((8, 32), name="mix")(p)  # (8, 8, 4) → (8, 32): channels mixed into positions
    out = keras.layers.Dense(3, name="out")(keras.layers.Flatten(name="flat")(mixed))
    model = keras.Model(x, out)
    graph = analyse(model)
    assert [sorted(g.producers) for g in graph.prunable()] == [["expand", "se_expand"], ["se_reduce"]]
    assert "mix" in graph.group_named("project").fixed
    group = graph.group_named("expand")
    keep = channels_to_keep(model, group, 0.5)
    pruned = prune_group(model, graph, group, keep)
    assert pruned.get_layer("se_reshape").output.shape == (None, 1, 1, 4)
    x_in = np.random.default_rng(4).random((2, 8, 8, 3)).astype("float32")
    for name in ("act", "se_reshape"):  # up to the squeeze: the kept channels compute what they did
        before = keras.Model(model.input, model.get_layer(name).output).predict(x_in, verbose=0)[..., keep]
        after = keras.Model(pruned.input, pruned.get_layer(name).output).predict(x_in, verbose=0)
        np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    assert pruned.predict(x_in, verbose=0).shape == (2, 3)


def test_efficientnet_b0_is_pruned_in_every_block():
    model = keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=4)
    graph = analyse(model)
    assert not [g for g in graph.groups.values() if g.producers and g.fixed and "output" not in g.fixed]
    pruned = prune_model(model, 0.5)
    assert model_cost(pruned).macs < 0.35 * model_cost(model).macs
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32") * 255
    assert pruned.predict(x, verbose=0).shape == (2, 4)
