"""Dropout, GaussianNoise, weight regularizers and ModelCheckpoint."""
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


def test_dropout_matches_keras_semantics():
    keras = pytest.importorskip("keras")
    x = np.ones((1000, 40), np.float32)
    theirs = keras.ops.convert_to_numpy(keras.layers.Dropout(0.25, seed=3)(x, training=True))
    ours = L.Dropout(0.25, seed=3)(x, training=True)
    assert set(np.unique(theirs)) == set(np.unique(ours)) == {0.0, np.float32(1 / 0.75)}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.layers.Dropout(0.25)(x, training=False)),
                                  L.Dropout(0.25)(x))


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
    assert tn.fast.explain(model) == "weight regularizers are not compiled" or not tn.fast.available()


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
