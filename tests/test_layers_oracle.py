"""Layers against Keras 3 (torch backend) with identical weights, and Maxout against a NumPy reference.

Precision of the oracle: even with floatx float64, Keras 3's type promotion on the torch backend
maps float64 to float32 in every op that goes through ``result_type`` (``BIT64_TO_BIT32_DTYPE``,
"to be aligned with JAX"), so ``ops.matmul`` and the batch-norm moments are computed in float32
and cast back.  Elementwise activations stay float64 and are compared to 1e-12; Dense and
BatchNormalization to KERAS_F32 (measured max differences ~4e-7 absolute, ~2e-5 relative on
entries near zero), still far below any formula error (biased vs unbiased variance alone is a
6% difference at batch size 16).
"""
from __future__ import annotations

import numpy as np
import pytest

import tweaknet
from tweaknet import layers, registry

keras = pytest.importorskip("keras")
pytest.importorskip("torch")


# Every registered activation, one canonical name each (aliases removed).
ACTIVATION_NAMES = sorted({registry.lookup("activation", n)._registry_name for n in registry.names("activation")})


KERAS_F32 = dict(rtol=1e-5, atol=1e-5)
# Keras's batch-norm variance E[x^2] - E[x]^2 in float32 cancels for shifted inputs (mean^2 ~ 40 x var
# here): measured max abs difference of the normalised outputs 2.5e-5.
KERAS_F32_BN = dict(rtol=1e-5, atol=1e-4)


def to_numpy(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


# -- BatchNormalization ---------------------------------------------------------------------------
BN_CONFIGS = {
    "defaults": dict(),
    "momentum0.9_eps1e-5": dict(momentum=0.9, epsilon=1e-5),
    "momentum0.5_eps0.1_no_center": dict(momentum=0.5, epsilon=0.1, center=False),
    "no_scale": dict(momentum=0.8, scale=False),
}


@pytest.mark.parametrize("x_shape", [(16, 5), (6, 4, 3)], ids=str)
@pytest.mark.parametrize("key", BN_CONFIGS)
def test_batch_normalization_matches_keras_over_training_steps(key, x_shape, rng, float64):
    kwargs = BN_CONFIGS[key]
    ours = layers.BatchNormalization(**kwargs)
    theirs = keras.layers.BatchNormalization(**kwargs)
    theirs.build((None, *x_shape[1:]))
    ours.build(x_shape[1:])
    # Same non-trivial gamma and beta in both (Keras order: gamma, beta, moving_mean, moving_variance).
    weights = [w.copy() for w in ours.get_weights()]
    n = 0
    if ours.scale:
        weights[n] = rng.uniform(0.5, 1.5, size=weights[n].shape)
        n += 1
    if ours.center:
        weights[n] = rng.normal(size=weights[n].shape)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]

    shift = rng.normal(scale=3.0, size=x_shape[-1])
    for step in range(10):
        x = rng.normal(size=x_shape) * rng.uniform(0.5, 4.0, size=x_shape[-1]) + shift
        y_ours = ours(x, training=True)
        y_theirs = to_numpy(theirs(keras.ops.convert_to_tensor(x), training=True))
        np.testing.assert_allclose(y_ours, y_theirs, **KERAS_F32_BN, err_msg=f"training output, step {step}")
        # Moving statistics after each step.
        for a, b, name in zip(ours.get_weights()[-2:], theirs.get_weights()[-2:], ("moving_mean", "moving_var")):
            np.testing.assert_allclose(a, to_numpy(b), **KERAS_F32, err_msg=f"{name}, step {step}")
    # The moving statistics really moved away from their (0, 1) initial values.
    assert np.abs(ours.buffers["moving_mean"]).max() > 0.1
    x = rng.normal(size=x_shape) * 2 + shift
    np.testing.assert_allclose(ours(x, training=False), to_numpy(theirs(keras.ops.convert_to_tensor(x),
                                                                         training=False)), **KERAS_F32_BN)
    # Inference leaves the moving statistics alone.
    before = ours.get_weights()
    ours(x, training=False)
    for a, b in zip(before, ours.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_batch_normalization_float32_matches_keras(rng):
    ours, theirs = layers.BatchNormalization(), keras.layers.BatchNormalization()
    theirs.build((None, 7))
    for _ in range(5):
        x = (rng.normal(size=(32, 7)) * 3 + 1).astype(np.float32)
        y_ours = ours(x, training=True)
        assert y_ours.dtype == np.float32
        np.testing.assert_allclose(y_ours, to_numpy(theirs(x, training=True)), rtol=1e-4, atol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, to_numpy(b), rtol=1e-5, atol=1e-6)


def test_batch_normalization_defaults_match_keras():
    ours, theirs = layers.BatchNormalization(), keras.layers.BatchNormalization()
    for attr in ("axis", "momentum", "epsilon", "center", "scale"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


def test_batch_normalization_not_trainable_uses_moving_statistics(rng, float64):
    """Keras: a frozen BatchNormalization layer runs in inference mode even when training=True."""
    ours, theirs = layers.BatchNormalization(trainable=False), keras.layers.BatchNormalization()
    theirs.trainable = False
    theirs.build((None, 3))
    ours.build((3,))
    w = [np.ones(3), np.zeros(3), np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 1.0])]
    ours.set_weights(w)
    theirs.set_weights(w)
    x = rng.normal(size=(8, 3))
    np.testing.assert_allclose(ours(x, training=True), to_numpy(theirs(keras.ops.convert_to_tensor(x),
                                                                        training=True)), **KERAS_F32)
    np.testing.assert_array_equal(ours.buffers["moving_mean"], w[2])


# -- Maxout ---------------------------------------------------------------------------------------
def maxout_reference(x, num_units):
    """TensorFlow Addons' Maxout: reshape features to (num_units, C // num_units) and take the max."""
    c = x.shape[-1]
    return np.max(x.reshape(*x.shape[:-1], num_units, c // num_units), axis=-1)


@pytest.mark.parametrize("shape,num_units", [((4, 12), 3), ((4, 12), 12), ((4, 12), 1), ((2, 5, 6), 2)],
                         ids=str)
def test_maxout_matches_reference(shape, num_units, rng, float64):
    x = rng.normal(size=shape)
    layer = layers.Maxout(num_units)
    y = layer(x)
    assert y.shape == (*shape[:-1], num_units) == (shape[0], *layer.output_shape)
    np.testing.assert_array_equal(y, maxout_reference(x, num_units))
    # Groups are contiguous blocks, not strided: unit 0 of a (.., 12) input with 3 units looks at 0..3.
    if shape == (4, 12) and num_units == 3:
        np.testing.assert_array_equal(y[:, 0], x[:, :4].max(axis=1))


def test_maxout_rejects_indivisible_features():
    with pytest.raises(ValueError, match="divisible"):
        tweaknet.Sequential([layers.Dense(10, input_shape=(3,)), layers.Maxout(3)]).build()


# -- Dense and Activation forward -------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_dense_forward_matches_keras(activation, rng, float64):
    ours = layers.Dense(6, activation=activation)
    theirs = keras.layers.Dense(6, activation=activation)
    x = rng.normal(scale=2.0, size=(9, 5))
    ours(x)
    theirs.build((None, 5))
    kernel, bias = rng.normal(size=(5, 6)), rng.normal(size=(6,))
    ours.set_weights([kernel, bias])
    theirs.set_weights([kernel, bias])
    np.testing.assert_allclose(ours(x), to_numpy(theirs(keras.ops.convert_to_tensor(x))), **KERAS_F32)
    # Keras layout: kernel (inputs, units), then bias.
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]


def test_dense_3d_input_matches_keras(rng, float64):
    ours, theirs = layers.Dense(4, activation="tanh"), keras.layers.Dense(4, activation="tanh")
    x = rng.normal(size=(3, 7, 5))
    ours(x)
    theirs.build((None, 7, 5))
    w = [rng.normal(size=(5, 4)), rng.normal(size=(4,))]
    ours.set_weights(w)
    theirs.set_weights(w)
    np.testing.assert_allclose(ours(x), to_numpy(theirs(keras.ops.convert_to_tensor(x))), **KERAS_F32)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_activation_layer_matches_keras(activation, rng, float64):
    x = rng.normal(scale=3.0, size=(6, 8))
    np.testing.assert_allclose(layers.Activation(activation)(x),
                               to_numpy(keras.layers.Activation(activation)(keras.ops.convert_to_tensor(x))),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,kwargs", [("ReLU", {}), ("ReLU", dict(max_value=1.0, negative_slope=0.1,
                                                                      threshold=0.5)),
                                         ("LeakyReLU", {}), ("LeakyReLU", dict(negative_slope=0.05)),
                                         ("ELU", {}), ("ELU", dict(alpha=0.3)), ("Softmax", {})])
def test_parameterised_activation_layers_match_keras(name, kwargs, rng, float64):
    x = rng.normal(scale=3.0, size=(6, 8))
    ours = getattr(layers, name)(**kwargs)(x)
    theirs = to_numpy(getattr(keras.layers, name)(**kwargs)(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_flatten_matches_keras(rng, float64):
    x = rng.normal(size=(3, 4, 5, 2))
    np.testing.assert_array_equal(layers.Flatten()(x), to_numpy(keras.layers.Flatten()(keras.ops.convert_to_tensor(x))))
