"""Normalization (input standardization inside the model) and integer inputs cast batch by batch."""
import numpy as np
import pytest

import tweaknet as tn
from tweaknet import fast


def _pixels(n=120, d=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, d)).astype(np.uint8)
    y = tn.utils.to_categorical(rng.integers(0, 3, n), 3)
    return x, y


@pytest.mark.parametrize("axis", [None, -1])
def test_adapt_and_forward_follow_the_formula(axis):
    x, _ = _pixels()
    layer = tn.layers.Normalization(axis=axis)
    layer.adapt(x)
    xf = x.astype(np.float64)
    mean = xf.mean() if axis is None else xf.mean(axis=0)
    std = xf.std() if axis is None else xf.std(axis=0)
    out = layer(x.astype(np.float32))
    np.testing.assert_allclose(out, (xf - mean) / std, rtol=1e-5, atol=1e-5)
    inv = tn.layers.Normalization(axis=axis, mean=mean, variance=std ** 2, invert=True)
    np.testing.assert_allclose(inv(out), xf, rtol=1e-4, atol=1e-3)


def test_matches_keras():
    keras = pytest.importorskip("keras")
    x, _ = _pixels()
    x = x.astype(np.float32)
    ours = tn.layers.Normalization(axis=None)
    ours.adapt(x)
    theirs = keras.layers.Normalization(axis=None)
    theirs.adapt(x)
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)
    given = keras.layers.Normalization(mean=3.0, variance=4.0)
    np.testing.assert_allclose(tn.layers.Normalization(mean=3.0, variance=4.0)(x),
                               keras.ops.convert_to_numpy(given(x)), rtol=1e-6)


def test_gradient_is_finite_difference():
    tn.config.set_floatx("float64")
    try:
        layer = tn.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.25, 9.0])
        x = np.random.default_rng(1).standard_normal((5, 3))
        w = np.random.default_rng(2).standard_normal((5, 3))
        layer(x)
        dx = layer.backward(w)
        eps = 1e-6
        num = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += eps
            xm[idx] -= eps
            num[idx] = (np.sum(w * layer.forward(xp)) - np.sum(w * layer.forward(xm))) / (2 * eps)
        np.testing.assert_allclose(dx, num, rtol=1e-7)
    finally:
        tn.config.set_floatx("float32")


def _model(x):
    norm = tn.layers.Normalization(axis=None, input_shape=(x.shape[1],))
    norm.adapt(x)
    model = tn.Sequential([norm, tn.layers.Dense(8, activation="tanh"), tn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=tn.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_uint8_inputs_are_kept_and_cast_per_batch():
    x, y = _pixels()
    tn.utils.set_random_seed(4)
    a = _model(x)
    ha = a.fit(x, y, batch_size=7, epochs=2, verbose=0)
    tn.utils.set_random_seed(4)
    b = _model(x)
    hb = b.fit(x.astype(np.float32), y, batch_size=7, epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert ha.history == hb.history
    np.testing.assert_array_equal(a.predict(x), a.predict(x.astype(np.float32)))


@pytest.mark.parametrize("batch_size", [1, 16])
def test_compiled_path_serves_a_leading_normalization(batch_size, monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(fast, "COMPILE_MIN_SAMPLES", 0)  # a short fit, compiled all the same
    x, y = _pixels()
    tn.utils.set_random_seed(5)
    model = _model(x)
    model.build()
    assert fast.explain(model).compiled
    h = model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0)
    tn.utils.set_random_seed(5)
    ref = _model(x)
    with fast.reference_only():
        h_ref = ref.fit(x, y, batch_size=batch_size, epochs=2, verbose=0)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="both"):
        tn.layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        tn.layers.Normalization(mean=1.0, variance=-1.0)
    with pytest.raises(ValueError, match="empty"):
        tn.layers.Normalization().adapt(np.zeros((0, 3)))
