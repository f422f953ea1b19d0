"""Loss values against Keras 3 (from logits and from probabilities, clipped probabilities included),
numerical safety at extreme inputs, and finite gradients in saturated fused model steps."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tweaknet
from tweaknet import losses

CLASSES = {
    "mean_squared_error": "MeanSquaredError",
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}


def data(name, shape, from_logits, rng, dtype, extreme=False):
    """Labels and predictions for loss ``name``; ``extreme`` puts probabilities at and beyond the clip."""
    c = shape[-1]
    if name == "sparse_categorical_crossentropy":
        y = rng.integers(0, c, size=shape[:-1])
    elif name == "categorical_crossentropy":
        y = np.eye(c)[rng.integers(0, c, size=shape[:-1])]
    elif name == "binary_crossentropy":
        y = rng.integers(0, 2, size=shape).astype(float)
    else:
        y = rng.normal(size=shape)
    if from_logits or name == "mean_squared_error":
        p = rng.normal(scale=3.0, size=shape)
        if extreme:
            p.reshape(-1)[:6] = [1e4, -1e4, 500.0, -500.0, 88.0, -88.0]
    elif name == "binary_crossentropy":
        p = rng.uniform(0.01, 0.99, size=shape)
        if extreme:  # exactly 0 and 1, and beyond the clip at 1e-7 on both sides
            p.reshape(-1)[:6] = [0.0, 1.0, 1e-12, 1 - 1e-12, 1e-8, 1 - 1e-8]
    else:
        p = rng.uniform(0.01, 1.0, size=shape)
        p /= p.sum(axis=-1, keepdims=True)
        if extreme:  # one row with exact zeros and ones, one with a tiny probability
            p.reshape(-1, c)[0] = np.eye(c)[0]
            p.reshape(-1, c)[1] = np.r_[1e-12, np.full(c - 1, (1 - 1e-12) / (c - 1))]
            y = y.copy()
            if name == "sparse_categorical_crossentropy":
                y.reshape(-1)[:2] = [1, 0]  # the true class has probability 0 and 1e-12
            else:
                y.reshape(-1, c)[:2] = np.eye(c)[[1, 0]]
    return y, p.astype(dtype)


def keras_values(name, y, p, from_logits):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    kwargs = {} if name == "mean_squared_error" else {"from_logits": from_logits}
    obj = getattr(keras.losses, CLASSES[name])(**kwargs)
    t = keras.ops.convert_to_tensor
    reduced = float(keras.ops.convert_to_numpy(obj(t(y), t(p))))
    per_sample = np.asarray(keras.ops.convert_to_numpy(getattr(keras.losses, name)(t(y), t(p), **kwargs)))
    return reduced, per_sample


@pytest.mark.parametrize("extreme", [False, True], ids=["moderate", "extreme"])
@pytest.mark.parametrize("shape", [(8, 5), (3, 4, 5)], ids=str)
@pytest.mark.parametrize("from_logits", [False, True], ids=["probs", "logits"])
@pytest.mark.parametrize("name", CLASSES)
def test_values_match_keras(name, from_logits, shape, extreme, rng):
    y, p = data(name, shape, from_logits, rng, np.float32, extreme)
    loss = getattr(losses, CLASSES[name])(from_logits=from_logits)
    ours_reduced = loss(y, p)
    ours_per_sample = getattr(losses, name)(y, p, **({} if name == "mean_squared_error"
                                                     else {"from_logits": from_logits}))
    theirs_reduced, theirs_per_sample = keras_values(name, y, p, from_logits)
    assert ours_per_sample.shape == theirs_per_sample.shape == shape[:-1]
    # float32 inputs; Keras computes in float32, tweaknet keeps the input dtype.
    np.testing.assert_allclose(ours_per_sample, theirs_per_sample, rtol=2e-6, atol=1e-6)
    assert ours_reduced == pytest.approx(theirs_reduced, rel=2e-6, abs=1e-6)
    assert np.isfinite(ours_reduced)


def test_clipped_probabilities_give_keras_bound():
    """A confident wrong prediction costs -ln(1e-7) = 16.118, as in Keras, not inf."""
    bce = losses.BinaryCrossentropy()
    assert bce(np.array([[1.0]]), np.array([[0.0]])) == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert bce(np.array([[0.0]]), np.array([[1.0]])) == pytest.approx(-np.log(1e-7), rel=1e-3)
    cce = losses.CategoricalCrossentropy()
    assert cce(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])) == pytest.approx(-np.log(1e-7), rel=1e-6)


def test_config_epsilon_controls_the_clip():
    tweaknet.config.set_epsilon(1e-4)  # restored by the conftest fixture
    bce = losses.BinaryCrossentropy()
    assert bce(np.array([[1.0]]), np.array([[0.0]])) == pytest.approx(-np.log(1e-4), rel=1e-6)


def test_known_values():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.8, 0.2], [0.4, 0.6]])
    assert losses.MeanSquaredError()(y, p) == pytest.approx(np.mean((y - p) ** 2))
    assert losses.CategoricalCrossentropy()(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert losses.SparseCategoricalCrossentropy()(np.array([0, 1]), p) == pytest.approx(
        -(np.log(0.8) + np.log(0.6)) / 2)
    assert losses.BinaryCrossentropy()(y, p) == pytest.approx(
        -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    z = np.array([[2.0, -1.0]])
    assert losses.BinaryCrossentropy(from_logits=True)(np.array([[1.0, 0.0]]), z) == pytest.approx(
        np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))]))


def test_sparse_labels_as_column():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    scce = losses.SparseCategoricalCrossentropy()
    assert scce(np.array([[0], [2]]), p) == pytest.approx(scce(np.array([0, 2]), p))


# -- numerical safety -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("from_logits", [False, True], ids=["probs", "logits"])
@pytest.mark.parametrize("name", CLASSES)
def test_no_nan_inf_or_warning_at_extremes(name, from_logits, dtype, rng):
    y, p = data(name, (6, 4), from_logits, rng, dtype, extreme=True)
    loss = getattr(losses, CLASSES[name])(from_logits=from_logits)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        warnings.simplefilter("error")
        value = loss(y, p)
        g = loss.grad(y, p)
        fused = None
        if loss.fuses_with is not None and loss.can_fuse(loss.fuses_with()):
            z = rng.normal(size=p.shape).astype(dtype)
            z.reshape(-1)[:4] = [1e4, -1e4, 1e3, -1e3]
            fused = loss.fused_backward(y, loss.fuses_with()(z))
    assert np.isfinite(value)
    assert np.all(np.isfinite(g))
    assert fused is None or np.all(np.isfinite(fused))


SATURATED_MODELS = {
    "softmax+cce": (lambda: [tweaknet.layers.Dense(4, activation="softmax", input_shape=(3,))],
                    "categorical_crossentropy"),
    "softmax layer+sparse cce": (lambda: [tweaknet.layers.Dense(4, input_shape=(3,)),
                                          tweaknet.layers.Activation("softmax")],
                                 "sparse_categorical_crossentropy"),
    "sigmoid+bce": (lambda: [tweaknet.layers.Dense(4, activation="sigmoid", input_shape=(3,))],
                    "binary_crossentropy"),
    "sigmoid layer+bce": (lambda: [tweaknet.layers.Dense(4, input_shape=(3,)), tweaknet.layers.Activation("sigmoid")],
                          "binary_crossentropy"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("key", SATURATED_MODELS)
def test_saturated_fused_step_has_finite_gradients(key, dtype, rng):
    tweaknet.config.set_floatx(dtype)
    make, loss = SATURATED_MODELS[key]
    model = tweaknet.Sequential(make())
    model.compile(optimizer=tweaknet.optimizers.SGD(learning_rate=1e-3), loss=loss)
    model.build()
    assert model.fused_output
    w = model.layers[0].params["kernel"]
    w[...] = rng.choice([-1.0, 1.0], size=w.shape) * 3000.0  # logits of order 1e4
    x = rng.choice([-1.0, 1.0], size=(8, 3))
    # Labels on the wrong side of the saturated outputs: the largest possible gradients.
    z = x @ w
    if loss == "sparse_categorical_crossentropy":
        y = np.argmin(z, axis=1)
    elif loss == "categorical_crossentropy":
        y = np.eye(4)[np.argmin(z, axis=1)]
    else:
        y = (z < 0).astype(float)
    assert np.abs(z).max() >= 3000
    before = model.flat.params.copy()
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        warnings.simplefilter("error")
        value = model.train_on_batch(x, y)
    g = model.flat.grads
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(model.flat.params))
    assert np.isfinite(value) and value > 10  # the loss is large (clipped at -ln 1e-7 per wrong output)...
    assert np.abs(g).max() > 0.1  # ... and so is the gradient: a saturated wrong output still learns
    assert not np.array_equal(before, model.flat.params)


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,cls", [("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
                                      ("mean_squared_error", losses.MeanSquaredError),
                                      ("binary_crossentropy", losses.BinaryCrossentropy),
                                      ("categorical_crossentropy", losses.CategoricalCrossentropy),
                                      ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
                                      ("CategoricalCrossentropy", losses.CategoricalCrossentropy)])
def test_loss_names_resolve(name, cls):
    assert type(losses.get(name)) is cls


def test_loss_functions_and_instances_resolve():
    assert type(losses.get(losses.categorical_crossentropy)) is losses.CategoricalCrossentropy
    assert type(losses.get(losses.mse)) is losses.MeanSquaredError
    inst = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(inst) is inst


@pytest.mark.parametrize("typo,suggestion", [("categorical_crossentopy", "categorical_crossentropy"),
                                             ("binary_cross_entropy", "binary_crossentropy"), ("mes", "mse")])
def test_unknown_loss_suggests(typo, suggestion):
    with pytest.raises(ValueError) as info:
        losses.get(typo)
    assert repr(suggestion) in str(info.value)


def test_from_logits_must_be_bool():
    with pytest.raises(TypeError, match="from_logits"):
        losses.BinaryCrossentropy(from_logits="yes")
