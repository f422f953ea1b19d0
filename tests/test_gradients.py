"""Finite-difference gradient checks in float64 for activations, losses, layers and a whole model.

Central differences with step 1e-6: truncation error O(h^2) ~ 1e-12 and round-off
~ 1e-16 / h ~ 1e-10 relative, so an analytic gradient that is right agrees to ~1e-8 and
one that is wrong (a missing factor, a transposed kernel, a wrong reduction) is off by O(1).
Every check is parametrised over the registry, so a new activation or loss is covered as
soon as it is registered.
"""
from __future__ import annotations

import numpy as np
import pytest

import tweaknet
from tweaknet import activations, layers, losses, registry
from tweaknet.optimizers.base import Optimizer
from tweaknet.training import loop

H = 1e-6
RTOL = 1e-6  # relative error bound ||analytic - numeric|| / (||analytic|| + ||numeric||)


# -- helpers -------------------------------------------------------------------------------------
def numeric_grad(f, x, h=H):
    """Central-difference gradient of the scalar function ``f()`` w.r.t. the array ``x`` (perturbed in place)."""
    g = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    assert np.shares_memory(flat, x), "x must be contiguous so the perturbation reaches f"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g


def assert_grad_close(analytic, numeric, what=""):
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape} != {numeric.shape}"
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    err = np.linalg.norm(analytic - numeric) / denom if denom > 0 else 0.0
    assert err < RTOL, f"{what}: relative error {err:.3e}\nanalytic={analytic.ravel()[:8]}\nnumeric={numeric.ravel()[:8]}"
    # A vanishing gradient would pass the relative test trivially: require a real signal.
    assert denom > 1e-8, f"{what}: gradient is (numerically) zero; the check would be vacuous"


def away_from_kinks(rng, shape, low=0.05, scale=2.0):
    """Random values with |x| >= low, so that no central difference straddles a kink at 0."""
    x = rng.uniform(low, scale, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape)


def unique_registered(kind):
    """The registry's canonical names of ``kind``: one per registered object (aliases removed)."""
    seen = {}
    for name in registry.names(kind):
        obj = registry.lookup(kind, name)
        seen.setdefault(id(obj), obj._registry_name)
    return sorted(seen.values())


ACTIVATION_NAMES = unique_registered("activation")
LOSS_NAMES = unique_registered("loss")


def test_registry_lists_the_book_techniques():
    # The parametrisations below are generated from the registry; make sure it is not empty or partial.
    assert set(ACTIVATION_NAMES) >= {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "selu",
                                     "softmax"}
    assert set(LOSS_NAMES) >= {"mean_squared_error", "binary_crossentropy", "categorical_crossentropy",
                               "sparse_categorical_crossentropy"}


# -- activations ---------------------------------------------------------------------------------
EXTRA_ACTIVATIONS = [
    activations.ReLU(negative_slope=0.1, max_value=1.5, threshold=0.3),
    activations.ReLU(max_value=1.0),
    activations.LeakyReLU(negative_slope=0.01),
    activations.ELU(alpha=0.5),
    activations.Softmax(axis=0),
]


def _check_activation(act, rng):
    x = away_from_kinks(rng, (6, 5))
    # ReLU with threshold/max_value has kinks there too: keep clear of them.
    for kink in (getattr(act, "threshold", None), getattr(act, "max_value", None)):
        if kink:
            x = np.where(np.abs(x - kink) < 0.05, x + 0.1, x)
    w = rng.normal(size=x.shape)
    y = act(x)
    dx = act.backward(x, y, w)
    num = numeric_grad(lambda: float(np.sum(w * act(x))), x)
    assert_grad_close(dx, num, repr(act))


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_backward_matches_finite_differences(name, rng, float64):
    _check_activation(activations.get(name), rng)


@pytest.mark.parametrize("act", EXTRA_ACTIVATIONS, ids=repr)
def test_parameterised_activation_backward(act, rng, float64):
    _check_activation(act, rng)


@pytest.mark.parametrize("name", [n for n in ACTIVATION_NAMES if n != "softmax"])  # elementwise ones
def test_activation_derivative_helper(name, rng, float64):
    act = activations.get(name)
    x = away_from_kinks(rng, (40,))
    num = np.array([(act(np.array([v + H])) - act(np.array([v - H])))[0] / (2 * H) for v in x])
    np.testing.assert_allclose(act.derivative(x), num, rtol=1e-6, atol=1e-9)


# -- losses --------------------------------------------------------------------------------------
def make_targets(loss, shape, rng, kind="hard"):
    """Labels suited to ``loss`` for predictions of ``shape`` (hard labels or soft ones)."""
    c = shape[-1]
    if getattr(loss, "integer_targets", False):
        return rng.integers(0, c, size=shape[:-1])
    if isinstance(loss, losses.CategoricalCrossentropy):
        if kind == "soft":  # a distribution over classes (rows sum to 1)
            t = rng.uniform(0.1, 1.0, size=shape)
            return t / t.sum(axis=-1, keepdims=True)
        return np.eye(c)[rng.integers(0, c, size=shape[:-1])]
    if isinstance(loss, losses.BinaryCrossentropy):
        return rng.uniform(0, 1, size=shape) if kind == "soft" else rng.integers(0, 2, size=shape).astype(float)
    return rng.normal(size=shape)  # regression targets; also the default for new losses


def make_predictions(loss, shape, rng, from_logits):
    if from_logits or not isinstance(loss, (losses.BinaryCrossentropy, losses.CategoricalCrossentropy)):
        return rng.normal(scale=2.0, size=shape)
    if isinstance(loss, losses.CategoricalCrossentropy):  # incl. sparse
        # Positive and deliberately *not* normalised: Keras divides by the row sum first.
        return rng.uniform(0.2, 1.0, size=shape)
    return rng.uniform(0.05, 0.95, size=shape)


SHAPES = [(7, 4), (3, 2, 5)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_grad_is_derivative_of_reported_mean(name, from_logits, kind, shape, rng, float64):
    loss = losses.get(name)
    loss = type(loss)(from_logits=from_logits)
    y = make_targets(loss, shape, rng, kind)
    p = make_predictions(loss, shape, rng, from_logits)
    g = loss.grad(y, p)
    num = numeric_grad(lambda: float(np.mean(loss.per_sample(y, p))), p)
    assert_grad_close(g, num, f"{name} from_logits={from_logits}")
    # The reported number (Keras's __call__) is the same mean.
    assert loss(y, p) == pytest.approx(float(np.mean(loss.per_sample(y, p))), rel=1e-12)


FUSING = [n for n in LOSS_NAMES if losses.get(n).fuses_with is not None]


def test_the_cross_entropies_fuse():
    assert {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"} <= set(FUSING)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize("name", FUSING)
def test_fused_backward_is_derivative_at_the_logits(name, kind, shape, rng, float64):
    loss = losses.get(name)
    act = loss.fuses_with()
    assert loss.can_fuse(act)
    z = rng.normal(scale=2.0, size=shape)
    y = make_targets(loss, shape, rng, kind)
    dz = loss.fused_backward(y, act(z))
    num = numeric_grad(lambda: float(np.mean(loss.per_sample(y, act(z)))), z)
    assert_grad_close(dz, num, f"fused {name}")
    # ... and equals the from_logits gradient of the same loss.
    np.testing.assert_allclose(dz, type(loss)(from_logits=True).grad(y, z), rtol=1e-9, atol=1e-15)


def test_from_logits_losses_do_not_fuse():
    assert not losses.BinaryCrossentropy(from_logits=True).can_fuse(activations.Sigmoid())
    assert not losses.CategoricalCrossentropy().can_fuse(activations.Softmax(axis=0))
    assert not losses.CategoricalCrossentropy().can_fuse(activations.Sigmoid())
    assert not losses.MeanSquaredError().can_fuse(activations.Sigmoid())


# -- layers --------------------------------------------------------------------------------------
def check_layer(layer, x, rng, training=True, what=""):
    """dx and every param grad of ``layer`` vs finite differences of sum(w * layer.forward(x))."""
    layer(x, training=training)  # builds (Layer.__call__) and runs forward once
    w = rng.normal(size=layer.forward(x, training=training).shape)

    def f():
        return float(np.sum(w * layer.forward(x, training=training)))

    layer.forward(x, training=training)
    dx = layer.backward(w)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert_grad_close(dx, numeric_grad(f, x), f"{what} dx")
    assert set(grads) == set(layer.params)
    for name, p in layer.params.items():
        assert_grad_close(grads[name], numeric_grad(f, p), f"{what} d{name}")
    return grads


def dense_input_avoiding_kinks(layer, x_shape, rng):
    """Inputs whose pre-activations stay clear of 0 (the kink of the ReLU family)."""
    for _ in range(100):
        x = rng.normal(size=x_shape)
        layer(x)
        if np.abs(layer._z).min() > 1e-3:
            return x
    raise AssertionError("could not draw kink-free inputs")


@pytest.mark.parametrize("x_shape", [(6, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_dense_backward(activation, x_shape, rng, float64):
    layer = layers.Dense(3, activation=activation, bias_initializer=tweaknet.initializers.RandomNormal(stddev=0.5))
    x = dense_input_avoiding_kinks(layer, x_shape, rng)
    check_layer(layer, x, rng, what=f"Dense({activation})")


def test_dense_without_bias(rng, float64):
    layer = layers.Dense(3, activation="tanh", use_bias=False)
    grads = check_layer(layer, rng.normal(size=(5, 4)), rng, what="Dense(use_bias=False)")
    assert set(grads) == {"kernel"}


ACTIVATION_LAYERS = {
    "Activation(tanh)": lambda: layers.Activation("tanh"),
    "Activation(selu)": lambda: layers.Activation("selu"),
    "Activation(softmax)": lambda: layers.Activation("softmax"),
    "LeakyReLU": lambda: layers.LeakyReLU(),
    "LeakyReLU(0.1)": lambda: layers.LeakyReLU(negative_slope=0.1),
    "ELU": lambda: layers.ELU(alpha=0.7),
    "Softmax": lambda: layers.Softmax(),
    "ReLU": lambda: layers.ReLU(),
    "ReLU(max_value, slope, threshold)": lambda: layers.ReLU(max_value=1.2, negative_slope=0.2, threshold=0.4),
    "Flatten": lambda: layers.Flatten(),
}


@pytest.mark.parametrize("key", ACTIVATION_LAYERS)
def test_weightless_layer_backward(key, rng, float64):
    layer = ACTIVATION_LAYERS[key]()
    x = away_from_kinks(rng, (4, 3, 5) if key == "Flatten" else (5, 6))
    if "threshold" in key:
        x = np.where((np.abs(x - 0.4) < 0.05) | (np.abs(x - 1.2) < 0.05), x + 0.11, x)
    grads = check_layer(layer, x, rng, what=key)
    assert grads == {}


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("x_shape,axis", [((8, 3), -1), ((4, 3, 5), -1), ((4, 3, 5), 1)], ids=str)
def test_batch_normalization_backward(center, scale, training, x_shape, axis, rng, float64):
    layer = layers.BatchNormalization(axis=axis, center=center, scale=scale,
                                      gamma_initializer=tweaknet.initializers.RandomUniform(0.5, 1.5),
                                      beta_initializer=tweaknet.initializers.RandomNormal(stddev=1.0))
    x = rng.normal(loc=2.0, scale=3.0, size=x_shape)
    layer(x)  # build
    # Non-trivial moving statistics, so inference mode is not the identity normalisation.
    layer.buffers["moving_mean"][...] = rng.normal(size=layer.buffers["moving_mean"].shape)
    layer.buffers["moving_variance"][...] = rng.uniform(0.5, 4.0, size=layer.buffers["moving_variance"].shape)
    grads = check_layer(layer, x, rng, training=training, what="BatchNormalization")
    assert ("gamma" in grads) == scale and ("beta" in grads) == center


def test_maxout_backward_without_ties(rng, float64):
    layer = layers.Maxout(3)
    x = rng.normal(size=(5, 12))
    # Make sure no two entries of a group are within the finite-difference step of each other.
    groups = np.sort(x.reshape(5, 3, 4), axis=-1)
    assert np.diff(groups, axis=-1).min() > 10 * H
    check_layer(layer, x, rng, what="Maxout")


def test_maxout_backward_splits_ties_equally(float64):
    layer = layers.Maxout(1)
    x = np.array([[1.0, 3.0, 3.0, 2.0]])
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.array([[2.0]])), [[0.0, 1.0, 1.0, 0.0]])


def test_first_layer_may_skip_its_input_gradient(rng, float64):
    layer = layers.Dense(2)
    layer(rng.normal(size=(3, 4)))
    layer.needs_input_grad = False
    assert layer.backward(np.ones((3, 2))) is None
    np.testing.assert_allclose(layer.grads["bias"], [3.0, 3.0])


# -- a whole model -------------------------------------------------------------------------------
class RecordingOptimizer(Optimizer):
    """Leaves the weights alone and records the (flat) gradient the model hands to the optimizer."""

    def __init__(self):
        super().__init__(learning_rate=0.0, name="recorder")
        self.seen = []

    def update_step(self, g, w, lr):
        self.seen.append(g.copy())


MODELS = {
    "dense-tanh/bn/dense-softmax + cce (fused)": (
        lambda: [layers.Dense(5, activation="tanh", input_shape=(4,)), layers.BatchNormalization(),
                 layers.Dense(3, activation="softmax")], "categorical_crossentropy", "onehot"),
    "softmax in its own layer + cce (fused)": (
        lambda: [layers.Dense(5, activation="elu", input_shape=(4,)), layers.BatchNormalization(center=False),
                 layers.Dense(3), layers.Activation("softmax")], "categorical_crossentropy", "onehot"),
    "sparse cce (fused)": (
        lambda: [layers.Dense(5, activation="tanh", input_shape=(4,)), layers.Dense(3, activation="softmax")],
        "sparse_categorical_crossentropy", "sparse"),
    "sigmoid + bce (fused)": (
        lambda: [layers.Dense(6, activation="softplus", input_shape=(4,)), layers.Maxout(3),
                 layers.Dense(2, activation="sigmoid")], "binary_crossentropy", "binary"),
    "softmax + mse (not fused)": (
        lambda: [layers.Dense(5, activation="sigmoid", input_shape=(4,)), layers.BatchNormalization(),
                 layers.Dense(3, activation="softmax")], "mse", "onehot"),
    "from logits (not fused)": (
        lambda: [layers.Dense(5, activation="selu", input_shape=(4,)), layers.Dense(3)],
        tweaknet.losses.CategoricalCrossentropy(from_logits=True), "onehot"),
}


def _labels(kind, n, rng, c):
    if kind == "sparse":
        return rng.integers(0, c, size=n)
    if kind == "binary":
        return rng.integers(0, 2, size=(n, c)).astype(float)
    return np.eye(c)[rng.integers(0, c, size=n)]


@pytest.mark.parametrize("key", MODELS)
def test_model_train_step_gradient(key, rng, float64):
    make_layers, loss, label_kind = MODELS[key]
    model = tweaknet.Sequential(make_layers())
    opt = RecordingOptimizer()
    model.compile(optimizer=opt, loss=loss)
    x = rng.normal(size=(10, 4))
    model.build()
    c = model.layers[-1].output_shape[-1]
    y = _labels(label_kind, len(x), rng, c)
    assert model.fused_output == ("(fused)" in key)
    model.train_on_batch(x, y)
    (g,) = opt.seen
    params = model.flat.params

    def f():
        out = loop.forward(model, x, True)
        return float(np.mean(model.loss.per_sample(y, out)))

    num = numeric_grad(f, params)
    assert_grad_close(g, num, key)
    # Per-layer views hold the same numbers as the flat buffer.
    assert np.shares_memory(model.layers[0].grads["kernel"], model.flat.grads)


def test_model_sgd_step_moves_weights_by_the_gradient(rng, float64):
    """With SGD(learning_rate=1) one step changes the weights by exactly minus the loss gradient."""
    model = tweaknet.Sequential([layers.Dense(5, activation="tanh", input_shape=(4,)), layers.BatchNormalization(),
                                 layers.Dense(3, activation="softmax")])
    model.compile(optimizer=tweaknet.optimizers.SGD(learning_rate=1.0), loss="categorical_crossentropy")
    x = rng.normal(size=(10, 4))
    y = np.eye(3)[rng.integers(0, 3, size=10)]
    model.build()
    before = model.flat.params.copy()
    params = model.flat.params

    def f():
        return float(np.mean(model.loss.per_sample(y, loop.forward(model, x, True))))

    num = numeric_grad(f, params)
    model.train_on_batch(x, y)
    assert_grad_close(before - model.flat.params, num, "SGD(1) step")
