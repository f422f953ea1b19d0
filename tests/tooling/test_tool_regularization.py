"""Dropout, GaussianNoise, weight regularizers and ModelCheckpoint; Keras 3 (torch backend) as the oracle
where installed: layer statistics against Keras's, and a regularized `fit` against Keras's `fit`."""
import numpy as np
import pytest

import tweaknet as tn

L = tn.layers


def test_dropout_is_inverted_and_off_at_inference():
    x = np.ones((2000, 50), np.float32)
    layer = L.Dropout(0.3, seed=1)
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.01 and abs(y.mean() - 1.0) < 0.02
    dy = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(dy), dy * y, rtol=1e-6)  # same mask, same scale
    with pytest.raises(ValueError):
        L.Dropout(1.0)


# -- Dropout and GaussianNoise against Keras 3 (torch backend), statistically ------------------------------
# The two libraries draw from different generators, so their masks differ element by element; what must
# agree is the distribution.  Every draw is seeded, so these tests are deterministic; the tolerances are
# Z standard errors of the statistic (Z = 5: a correct layer fails with probability < 1e-6 per check).
Z = 5.0


def _binomial_tol(p, n):
    """Z standard errors of the fraction of successes in n Bernoulli(p) trials."""
    return Z * np.sqrt(p * (1 - p) / n)


def _keras_np(keras, y):
    return keras.ops.convert_to_numpy(y)


def _check_dropout_output(x, y, rate, what, maxulp=1):
    """y = Dropout(rate)(x, training=True): Bernoulli mask, independent per element, kept values x / (1 - rate)."""
    n = x.size
    dropped = y == 0
    assert abs(dropped.mean() - rate) <= _binomial_tol(rate, n), (what, dropped.mean(), rate)
    # kept values: x / (1 - rate); tweaknet divides as Keras's seeded path does, to the last bit (torch's
    # unseeded dropout multiplies by 1 / (1 - rate), which can round once more: one ulp for the oracle)
    if maxulp:
        np.testing.assert_array_max_ulp(y[~dropped], x[~dropped] / np.asarray(1 - rate, x.dtype), maxulp=maxulp)
    else:
        np.testing.assert_array_equal(y[~dropped], x[~dropped] / np.asarray(1 - rate, x.dtype))
    # independent per element: the zero fraction per row (and per column) spreads like Binomial(len, rate) / len;
    # a mask shared along an axis (a noise_shape-like bug) would give a spread of 0 or far above it
    for axis in (0, 1):
        per = dropped.mean(axis=axis)
        expected_sd = np.sqrt(rate * (1 - rate) / x.shape[axis])
        # the sample sd of m values has relative standard error ~ 1 / sqrt(2 (m - 1))
        assert abs(per.std(ddof=1) / expected_sd - 1) <= Z / np.sqrt(2 * (per.size - 1)), (what, axis)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
def test_dropout_mask_statistics_match_keras(rate):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((400, 500)).astype(np.float32)  # no zeros in x
    assert np.all(x != 0)
    theirs = _keras_np(keras, keras.layers.Dropout(rate, seed=3)(x, training=True))
    ours = L.Dropout(rate, seed=3)(x, training=True)
    assert ours.dtype == theirs.dtype == np.float32
    _check_dropout_output(x, theirs, rate, "keras")  # the oracle itself passes the same checks
    _check_dropout_output(x, ours, rate, "tweaknet", maxulp=0)
    # the two zero fractions agree within the spread of a difference of two independent fractions
    assert abs((ours == 0).mean() - (theirs == 0).mean()) <= np.sqrt(2) * _binomial_tol(rate, x.size)
    # the mean is preserved in expectation (inverted dropout): E[y] = x elementwise, so mean(y - x) ~ 0
    for y in (ours, theirs):
        sd = np.sqrt(np.mean(x ** 2) * rate / (1 - rate) / x.size)  # sd of mean(y - x)
        assert abs(np.mean(y - x)) <= Z * sd


def test_dropout_is_identity_at_inference_like_keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((64, 30)).astype(np.float32)
    for kw in ({}, {"training": False}):
        np.testing.assert_array_equal(_keras_np(keras, keras.layers.Dropout(0.4, seed=1)(x, **kw)), x)
        np.testing.assert_array_equal(L.Dropout(0.4, seed=1)(x, **kw), x)
    # rate 0 keeps everything even in training
    np.testing.assert_array_equal(_keras_np(keras, keras.layers.Dropout(0.0)(x, training=True)), x)
    np.testing.assert_array_equal(L.Dropout(0.0)(x, training=True), x)
    # in a model: predict and evaluate run at inference, in both libraries
    ours = tn.Sequential([tn.Input(shape=(30,)), L.Dropout(0.5, seed=2)])
    theirs = keras.Sequential([keras.Input(shape=(30,)), keras.layers.Dropout(0.5, seed=2)])
    np.testing.assert_array_equal(ours.predict(x, verbose=0), x)
    np.testing.assert_array_equal(theirs.predict(x, verbose=0), x)
    for model, opt in ((ours, tn.optimizers.SGD()), (theirs, keras.optimizers.SGD())):
        model.compile(optimizer=opt, loss="mse")
        assert model.evaluate(x, x, verbose=0) == 0.0


def test_dropout_seeded_determinism():
    """Same seed, same mask (as Keras: two layers built with one seed draw the same first mask);
    successive calls draw fresh masks; another seed, another mask; unseeded layers follow the global seed."""
    x = np.ones((200, 100), np.float32)
    a, b = L.Dropout(0.3, seed=11), L.Dropout(0.3, seed=11)
    first_a, first_b = a(x, training=True), b(x, training=True)
    np.testing.assert_array_equal(first_a, first_b)
    second_a = a(x, training=True)
    np.testing.assert_array_equal(second_a, b(x, training=True))  # the streams stay in step
    assert not np.array_equal(first_a, second_a)
    assert not np.array_equal(first_a, L.Dropout(0.3, seed=12)(x, training=True))
    tn.utils.set_random_seed(5)
    g1 = L.Dropout(0.3)(x, training=True)
    tn.utils.set_random_seed(5)
    g2 = L.Dropout(0.3)(x, training=True)
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(g1, L.Dropout(0.3)(x, training=True))
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    k1, k2 = keras.layers.Dropout(0.3, seed=11), keras.layers.Dropout(0.3, seed=11)
    first = _keras_np(keras, k1(x, training=True))
    np.testing.assert_array_equal(first, _keras_np(keras, k2(x, training=True)))
    assert not np.array_equal(first, _keras_np(keras, k1(x, training=True)))


def _check_gaussian_noise(x, y, stddev, what):
    noise = (y - x).astype(np.float64).ravel()
    n = noise.size
    assert abs(noise.mean()) <= Z * stddev / np.sqrt(n), (what, noise.mean())
    # the sample sd of n normal draws has standard error stddev / sqrt(2 n)
    assert abs(noise.std() - stddev) <= Z * stddev / np.sqrt(2 * n), (what, noise.std())
    # normal, not merely the right sd: P(|N| < stddev) = 0.6827, P(|N| < 2 stddev) = 0.9545
    for k, p in ((1, 0.682689492137086), (2, 0.954499736103642)):
        assert abs(np.mean(np.abs(noise) < k * stddev) - p) <= _binomial_tol(p, n), (what, k)
    # additive and independent of x: correlation with x ~ 0 (standard error 1 / sqrt(n))
    assert abs(np.corrcoef(noise, x.astype(np.float64).ravel())[0, 1]) <= Z / np.sqrt(n), what


@pytest.mark.parametrize("stddev", [0.1, 0.5, 1.0])  # Keras accepts 0 <= stddev <= 1 only
def test_gaussian_noise_statistics_match_keras(stddev):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x = (3 * np.random.default_rng(2).standard_normal((400, 500))).astype(np.float32)
    theirs = _keras_np(keras, keras.layers.GaussianNoise(stddev, seed=4)(x, training=True))
    ours = L.GaussianNoise(stddev, seed=4)(x, training=True)
    assert ours.dtype == theirs.dtype == np.float32
    _check_gaussian_noise(x, theirs, stddev, "keras")
    _check_gaussian_noise(x, ours, stddev, "tweaknet")
    for kw in ({}, {"training": False}):  # identity at inference, both
        np.testing.assert_array_equal(_keras_np(keras, keras.layers.GaussianNoise(stddev, seed=4)(x, **kw)), x)
        np.testing.assert_array_equal(L.GaussianNoise(stddev, seed=4)(x, **kw), x)


def test_gaussian_noise_seeded_determinism():
    x = np.zeros((100, 50), np.float32)
    a, b = L.GaussianNoise(0.5, seed=9), L.GaussianNoise(0.5, seed=9)
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))
    assert not np.array_equal(first, L.GaussianNoise(0.5, seed=10)(x, training=True))


def test_gaussian_noise_statistics():
    x = np.zeros((4000, 50), np.float32)
    layer = L.GaussianNoise(0.5, seed=2)
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    assert abs(y.std() - 0.5) < 0.01 and abs(y.mean()) < 0.01


@pytest.mark.parametrize("reg", [tn.regularizers.l1(0.03), tn.regularizers.l2(0.02), tn.regularizers.l1_l2(0.01, 0.05)])
def test_regularizers_match_keras_and_their_gradient(reg):
    keras = pytest.importorskip("keras")
    w = np.random.default_rng(0).standard_normal((6, 4))
    theirs = {"L1": keras.regularizers.L1, "L2": keras.regularizers.L2, "L1L2": keras.regularizers.L1L2}[
        type(reg).__name__](**reg.get_config())
    assert reg(w) == pytest.approx(float(keras.ops.convert_to_numpy(theirs(w.astype(np.float32)))), rel=1e-5)
    eps, num = 1e-6, np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        num[idx] = (reg(wp) - reg(wm)) / (2 * eps)
    np.testing.assert_allclose(reg.gradient(w), num, rtol=1e-6, atol=1e-8)


def test_penalty_is_in_the_loss_and_its_gradient_in_the_step():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 5)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)
    tn.utils.set_random_seed(0)
    model = tn.Sequential([L.Dense(2, input_shape=(5,), kernel_regularizer=tn.regularizers.l2(0.1))])
    model.compile(optimizer=tn.optimizers.SGD(0.1), loss="mse")
    w0, b0 = model.get_weights()
    loss = model.train_on_batch(x, y)
    pred = x @ w0 + b0
    assert loss == pytest.approx(np.mean((pred - y) ** 2) + 0.1 * np.sum(w0 ** 2), rel=1e-5)
    grad = x.T @ (2 * (pred - y) / (16 * 2)) + 0.2 * w0
    np.testing.assert_allclose(model.get_weights()[0], w0 - 0.1 * grad, rtol=1e-5, atol=1e-6)
    assert tn.fast.explain(model).compiled or not tn.fast.available()


# -- Weight regularizers through fit, against Keras 3 (torch backend) -------------------------------------
# The same two-layer Dense model in both libraries, float64, the same initial weights and data,
# shuffle=False, plain SGD with a learning rate exact in binary (Keras keeps it in a variable), an
# uneven last batch (30 samples, batch 8).  Keras includes the penalty in the training loss, in
# val_loss and in evaluate (checked here on Keras itself); tweaknet must do the same.
# Tolerances: Keras's torch backend reduces the loss with float32 round-off even under float64 (its
# reported losses are float32 values), so the runs differ at ~1e-8: measured max |dw| 1.6e-8 and
# relative loss differences 9.3e-8 (both cases).  The penalties themselves move the weights by
# 6e-3 to 0.18 and the reported loss by 4e-2 to 0.23 over these 4 epochs (the smallest, L1(0.001)
# on a bias alone, 0.125 * 0.001 * 16 steps = 2e-3), four orders of magnitude above the tolerances.
_REGULARIZED = {
    "kernel_l2_bias_l1": (lambda R: R.l2(0.01), lambda R: R.l1(0.001)),
    "kernel_l1_l2_bias_l1_l2": (lambda R: R.l1_l2(l1=0.003, l2=0.02), lambda R: R.l1_l2(l1=0.002, l2=0.05)),
}


def _penalty(weights, kernel_reg, bias_reg):
    """The penalty by hand, for weights [k1, b1, k2, b2] and regularizer configs."""
    def one(w, c):
        return c.get("l1", 0.0) * np.sum(np.abs(w)) + c.get("l2", 0.0) * np.sum(w ** 2)
    return sum(one(w, kernel_reg if i % 2 == 0 else bias_reg) for i, w in enumerate(weights))


def _regularized_pair(keras, key):
    kr, br = _REGULARIZED[key]

    def build(lib):
        R, D = lib.regularizers, lib.layers.Dense
        return lib.Sequential([lib.Input(shape=(3,)),
                               D(5, activation="tanh", kernel_regularizer=kr(R), bias_regularizer=br(R)),
                               D(2, kernel_regularizer=kr(R), bias_regularizer=br(R))])
    ours, theirs = build(tn), build(keras)
    rng = np.random.default_rng(7)
    # non-zero biases, so that the L1 bias penalty and its gradient act from the first step
    w0 = [0.5 * rng.standard_normal(w.shape) for w in theirs.get_weights()]
    ours.set_weights(w0)
    theirs.set_weights(w0)
    ours.compile(optimizer=tn.optimizers.SGD(0.125), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.125), loss="mse")
    return ours, theirs, w0, kr(tn.regularizers).get_config(), br(tn.regularizers).get_config()


@pytest.mark.parametrize("key", list(_REGULARIZED))
def test_regularized_fit_matches_keras(key, float64):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    ours, theirs, w0, kcfg, bcfg = _regularized_pair(keras, key)
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((30, 2))
    xv, yv = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))

    def mse_at(model, weights):
        model.set_weights(weights)
        return float(np.mean((model.predict(xv, verbose=0) - yv) ** 2))

    # Keras itself: the penalty is in evaluate (hence in val_loss), at the initial weights
    bare_mse = float(np.mean((np.tanh(xv @ w0[0] + w0[1]) @ w0[2] + w0[3] - yv) ** 2))
    assert theirs.evaluate(xv, yv, verbose=0) == pytest.approx(bare_mse + _penalty(w0, kcfg, bcfg), rel=1e-6)
    assert ours.evaluate(xv, yv, verbose=0) == pytest.approx(bare_mse + _penalty(w0, kcfg, bcfg), rel=1e-12)

    fit = dict(epochs=4, batch_size=8, shuffle=False, verbose=0, validation_data=(xv, yv))
    h_ours, h_theirs = ours.fit(x, y, **fit).history, theirs.fit(x, y, **fit).history
    for name in ("loss", "val_loss"):
        assert len(h_ours[name]) == 4
        np.testing.assert_allclose(h_ours[name], h_theirs[name], rtol=1e-6, err_msg=name)
    w_ours, w_theirs = ours.get_weights(), theirs.get_weights()
    for i, (a, b) in enumerate(zip(w_ours, w_theirs)):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7, err_msg=f"weight {i}")
    # the last val_loss is the penalised loss at the final weights, and the penalty is not negligible
    penalty = _penalty(w_ours, kcfg, bcfg)
    assert penalty > 1e-2
    assert h_ours["val_loss"][-1] == pytest.approx(mse_at(ours, w_ours) + penalty, rel=1e-12)
    assert ours.evaluate(xv, yv, verbose=0) == pytest.approx(h_ours["val_loss"][-1], rel=1e-12)
    assert theirs.evaluate(xv, yv, verbose=0) == pytest.approx(h_ours["val_loss"][-1], rel=1e-6)


def test_model_checkpoint_keeps_the_best(tmp_path):
    pytest.importorskip("safetensors")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = tn.utils.to_categorical(rng.integers(0, 2, 32), 2)
    model = tn.Sequential([L.Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")

    class Script(tn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [3.0, 1.0, 2.0, 0.5][epoch]
    saved = []
    ck = tn.callbacks.ModelCheckpoint(str(tmp_path / "best.tweaknet"), save_best_only=True)
    probe = tn.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: saved.append((tmp_path / "best.tweaknet").stat().st_mtime_ns))
    model.fit(x, y, epochs=4, verbose=0, callbacks=[Script(), ck, probe])
    assert saved[0] < saved[1] and saved[1] == saved[2] and saved[2] < saved[3]  # rewritten only on improvement
    best = tn.models.load_model(tmp_path / "best.tweaknet")
    for a, b in zip(best.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    every = tn.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch:02d}.safetensors"), save_weights_only=True)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[every])
    assert sorted(p.name for p in tmp_path.glob("w-*")) == ["w-01.safetensors", "w-02.safetensors"]
