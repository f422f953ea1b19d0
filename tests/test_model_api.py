"""The Sequential API: structure, summary, weights, fit/History, metrics, determinism, clear errors,
and the books' Keras code running with only the import changed."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tweaknet
from tweaknet import layers as L
from tweaknet import metrics as M


def book_model(**first_kwargs):
    """The chapter's 784-25-10 network."""
    return tweaknet.Sequential([L.Dense(25, activation="tanh", **first_kwargs), L.Dense(10, activation="sigmoid")])


def toy_data(rng, n=64, d=784, classes=10):
    x = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.integers(0, classes, size=n)
    return x, tweaknet.utils.to_categorical(labels, classes), labels


# -- structure ------------------------------------------------------------------------------------
def test_three_ways_to_declare_the_input_give_the_same_model():
    a = book_model(input_shape=(784,))
    b = tweaknet.Sequential([tweaknet.Input(shape=(784,)), L.Dense(25, activation="tanh"),
                             L.Dense(10, activation="sigmoid")])
    c = tweaknet.Sequential()
    c.add(tweaknet.Input(shape=(784,)))
    c.add(L.Dense(25, activation="tanh"))
    c.add(L.Dense(10, activation="sigmoid"))
    d = tweaknet.Sequential([L.Dense(25, activation="tanh", input_dim=784), L.Dense(10, activation="sigmoid")])
    for m in (a, b, c, d):
        assert m.input_shape == (None, 784)
        assert len(m.layers) == 2  # Input is not a layer of the model
        assert m.count_params() == 784 * 25 + 25 + 25 * 10 + 10
        assert m.output_shape == (None, 10)
        assert [w.shape for w in m.get_weights()] == [(784, 25), (25,), (25, 10), (10,)]


def test_model_without_input_shape_builds_on_first_fit(rng):
    model = tweaknet.Sequential([L.Dense(4, activation="relu"), L.Dense(2, activation="softmax")])
    assert not model.built and model.get_weights() == []
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(rng.normal(size=(8, 3)), np.eye(2)[rng.integers(0, 2, 8)], verbose=0)
    assert model.built and model.input_shape == (None, 3) and model.count_params() == 3 * 4 + 4 + 4 * 2 + 2


def test_add_rejects_non_layers():
    with pytest.raises(TypeError, match="layer"):
        tweaknet.Sequential().add("dense")


def test_input_must_come_first():
    with pytest.raises(ValueError, match="Input"):
        tweaknet.Sequential([L.Dense(3, input_shape=(2,)), tweaknet.Input(shape=(2,))])


def test_layer_names_are_unique_and_keras_like():
    m = tweaknet.Sequential([L.Dense(3, input_shape=(2,)), L.Dense(3), L.BatchNormalization(),
                             L.Activation("relu"), L.Dense(1, name="out")])
    assert [layer.name for layer in m.layers] == ["dense", "dense_1", "batch_normalization", "activation", "out"]


# -- summary and parameter counts -----------------------------------------------------------------
def expected_counts(shapes):
    return sum(int(np.prod(s)) for s in shapes)


def test_summary_of_the_book_network():
    model = book_model(input_shape=(784,))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    total = expected_counts([(784, 25), (25,), (25, 10), (10,)])
    assert total == 19_885
    assert f"Total params: {total:,}" in text and "Total params: 19,885" in text
    assert f"Trainable params: {total:,}" in text
    assert "Non-trainable params: 0" in text
    assert f"({total * 4 / 1024:.2f} KB)" in text  # float32 weights
    for layer, count in zip(model.layers, (784 * 25 + 25, 25 * 10 + 10)):
        row = next(line for line in text.splitlines() if f"{layer.name} (Dense)" in line)
        assert f"{count:,}" in row and str((None, layer.units)) in row


def test_summary_with_batch_normalization_counts_non_trainable():
    model = tweaknet.Sequential([L.Dense(25, input_shape=(784,)), L.BatchNormalization(), L.Activation("relu"),
                                 L.Dense(10, activation="softmax")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    trainable = expected_counts([(784, 25), (25,), (25,), (25,), (25, 10), (10,)])
    non_trainable = 2 * 25
    assert model.count_params() == trainable + non_trainable
    assert f"Total params: {trainable + non_trainable:,}" in text
    assert f"Trainable params: {trainable:,}" in text
    assert f"Non-trainable params: {non_trainable:,}" in text
    assert "batch_normalization (BatchNormalization)" in text and "activation (Activation)" in text


def test_summary_matches_keras_counts():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    ours = tweaknet.Sequential([L.Dense(25, input_shape=(784,)), L.BatchNormalization(), L.Dense(10)])
    theirs = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(25), keras.layers.BatchNormalization(),
                               keras.layers.Dense(10)])
    assert ours.count_params() == theirs.count_params()
    out = []
    theirs.summary(print_fn=lambda line, **kw: out.append(line))
    keras_total = re.search(r"Total params: ([\d,]+)", "\n".join(out)).group(1)
    lines = []
    ours.summary(print_fn=lines.append)
    assert f"Total params: {keras_total}" in "\n".join(lines)


# -- weights --------------------------------------------------------------------------------------
def test_weight_order_and_layout_match_keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    ours = tweaknet.Sequential([L.Dense(25, input_shape=(784,)), L.BatchNormalization(), L.Dense(10)])
    theirs = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(25), keras.layers.BatchNormalization(),
                               keras.layers.Dense(10)])
    w = ours.get_weights()
    assert [x.shape for x in w] == [tuple(x.shape) for x in theirs.get_weights()] == [
        (784, 25), (25,), (25,), (25,), (25,), (25,), (25, 10), (10,)]
    # BN order: gamma (ones), beta (zeros), moving_mean (zeros), moving_variance (ones), as in Keras.
    np.testing.assert_array_equal(w[2], np.ones(25))
    np.testing.assert_array_equal(w[3], np.zeros(25))
    np.testing.assert_array_equal(w[4], np.zeros(25))
    np.testing.assert_array_equal(w[5], np.ones(25))
    for a, b in zip(w, theirs.get_weights()):
        if a.ndim == 1:
            np.testing.assert_array_equal(a, np.asarray(b))  # same initial constants
    # Weights move between the libraries unchanged: a Keras model with our weights computes our function.
    theirs.set_weights(w)
    x = np.random.default_rng(0).normal(size=(5, 784)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_set_weights_round_trip_and_copies(rng):
    model = tweaknet.Sequential([L.Dense(3, input_shape=(4,)), L.BatchNormalization(), L.Dense(2)])
    new = [rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(new)
    got = model.get_weights()
    for a, b in zip(got, new):
        np.testing.assert_array_equal(a, b)
    got[0][...] = 0  # get_weights returns copies
    assert not np.all(model.get_weights()[0] == 0)
    # Per-layer views and the flat buffer are the same memory: set_weights reached the optimizer's buffer.
    np.testing.assert_array_equal(model.flat.params[:12].reshape(4, 3), new[0])


def test_set_weights_errors():
    model = tweaknet.Sequential([L.Dense(3, input_shape=(4,)), L.Dense(2)])
    with pytest.raises(ValueError, match="expects 4 arrays"):
        model.set_weights(model.get_weights()[:3])
    bad = model.get_weights()
    bad[0] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        model.set_weights(bad)


# -- fit, History, validation ---------------------------------------------------------------------
def test_history_keys_and_lengths(rng):
    x, y, _ = toy_data(rng)
    model = book_model(input_shape=(784,))
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert history is model.history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert history.history["learning_rate"] == [model.optimizer.learning_rate] * 3
    assert history.epoch == [0, 1, 2]
    assert all(len(v) == 3 for v in history.history.values())
    assert all(isinstance(v, float) for vs in history.history.values() for v in vs)


def test_validation_data_gives_val_keys(rng):
    x, y, _ = toy_data(rng)
    model = book_model(input_shape=(784,))
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    h = model.fit(x[:48], y[:48], validation_data=(x[48:], y[48:]), epochs=1, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(model.evaluate(x[48:], y[48:], verbose=0)[0], rel=1e-6)


def test_validation_split_takes_the_last_fraction(rng):
    x, y, _ = toy_data(rng, n=100)
    tweaknet.utils.set_random_seed(3)
    a = book_model(input_shape=(784,))
    init = a.get_weights()
    b = book_model(input_shape=(784,))
    b.set_weights(init)
    for m in (a, b):
        m.compile(optimizer=tweaknet.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["accuracy"])
    ha = a.fit(x, y, validation_split=0.2, epochs=1, batch_size=10, shuffle=False, verbose=0)
    b.fit(x[:80], y[:80], epochs=1, batch_size=10, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)  # trained on exactly the first 80 samples
    loss, acc = a.evaluate(x[80:], y[80:], verbose=0)
    assert ha.history["val_loss"][0] == pytest.approx(loss, rel=1e-6)
    assert ha.history["val_accuracy"][0] == pytest.approx(acc, rel=1e-6)
    # ... and not on the first 20.
    loss_first, _ = a.evaluate(x[:20], y[:20], verbose=0)
    assert ha.history["val_loss"][0] != pytest.approx(loss_first, rel=1e-6)


def test_training_log_is_a_running_mean_over_samples(rng):
    """History's loss is the sample-weighted mean of the per-batch losses (a short last batch counts less)."""
    x, y, _ = toy_data(rng, n=50, d=6, classes=3)
    model = tweaknet.Sequential([L.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(optimizer=tweaknet.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    init = model.get_weights()
    h = model.fit(x, y, batch_size=20, epochs=1, shuffle=False, verbose=0)
    model.set_weights(init)
    model.optimizer.iterations = 0
    batch_losses = [model.train_on_batch(x[i:i + 20], y[i:i + 20]) for i in (0, 20, 40)]
    expected = (20 * batch_losses[0] + 20 * batch_losses[1] + 10 * batch_losses[2]) / 50
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_verbose_output_format(rng, capsys):
    x, y, _ = toy_data(rng, n=40)
    model = book_model(input_shape=(784,))
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    model.fit(x, y, epochs=2, validation_split=0.25, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert re.search(r"30/30 - \d+m?s - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - "
                     r"val_accuracy: \d\.\d{4}", out)
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# -- metrics --------------------------------------------------------------------------------------
@pytest.mark.parametrize("units,loss,label_kind,expected", [
    (1, "binary_crossentropy", "binary", M.BinaryAccuracy),
    (4, "binary_crossentropy", "multi_hot", M.CategoricalAccuracy),  # Keras too: by shapes, not by loss
    (4, "sparse_categorical_crossentropy", "sparse", M.SparseCategoricalAccuracy),
    (4, "sparse_categorical_crossentropy", "sparse_column", M.SparseCategoricalAccuracy),
    (4, "categorical_crossentropy", "onehot", M.CategoricalAccuracy),
])
def test_accuracy_resolves_by_shapes(units, loss, label_kind, expected, rng):
    x = rng.normal(size=(30, 5))
    labels = rng.integers(0, units if units > 1 else 2, size=30)
    y = {"binary": lambda: labels.reshape(-1, 1).astype(float),
         "multi_hot": lambda: rng.integers(0, 2, (30, units)).astype(float),
         "sparse": lambda: labels, "sparse_column": lambda: labels.reshape(-1, 1),
         "onehot": lambda: np.eye(units)[labels]}[label_kind]()
    act = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    model = tweaknet.Sequential([L.Dense(units, activation=act, input_shape=(5,))])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    h = model.fit(x, y, epochs=1, verbose=0)
    (metric,) = model.compiled_metrics
    assert type(metric) is expected and metric.name == "accuracy"
    # The value is what the resolved metric means.
    out = model.predict(x, verbose=0)
    if expected is M.BinaryAccuracy:
        want = np.mean((out > 0.5) == y)
    elif expected is M.SparseCategoricalAccuracy:
        want = np.mean(np.argmax(out, 1) == y.reshape(-1))
    else:
        want = np.mean(np.argmax(out, 1) == np.argmax(y, 1))
    assert model.evaluate(x, y, verbose=0)[1] == pytest.approx(want)
    assert 0.0 <= h.history["accuracy"][0] <= 1.0


def test_accuracy_resolution_matches_keras(rng):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    from keras.src.trainers.compile_utils import get_metric
    cases = [((30, 1), (30, 1)), ((30,), (30, 4)), ((30, 1), (30, 4)), ((30, 4), (30, 4))]
    for y_shape, out_shape in cases:
        ours = M.resolve("accuracy", y_shape, out_shape)
        theirs = get_metric("accuracy", keras.ops.zeros(y_shape), keras.ops.zeros(out_shape))
        assert type(ours).__name__ == type(theirs).__name__, (y_shape, out_shape)


@pytest.mark.parametrize("reference", [True, False], ids=["reference", "compiled"])
def test_binary_accuracy_with_soft_targets_matches_keras(reference, rng, monkeypatch):
    monkeypatch.setattr(tweaknet.fast, "COMPILE_MIN_SAMPLES", 0)  # a short fit, compiled all the same
    """The book's 0.1/0.9 targets: Keras compares thresholded predictions with the labels as given."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    from tweaknet import fast
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = np.where(rng.integers(0, 2, size=(40, 1)) == 1, 0.9, 0.1).astype(np.float32)
    y[:10] = np.round(y[:10])  # some hard labels too, so that the value is not trivially zero
    tweaknet.utils.set_random_seed(1)
    model = tweaknet.Sequential([L.Dense(1, activation="sigmoid", input_shape=(5,))])
    model.compile(optimizer=tweaknet.optimizers.SGD(0.0), loss="mse", metrics=["accuracy"])
    if reference:
        with fast.reference_only():
            h = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    else:
        model.build()
        assert fast.explain(model).compiled
        h = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    out = model.predict(x, verbose=0)
    want = float(np.mean(keras.ops.convert_to_numpy(keras.metrics.binary_accuracy(y, out))))
    assert 0.0 < want < 0.25
    assert h.history["accuracy"][0] == pytest.approx(want)  # learning rate 0: the same predictions throughout
    assert model.evaluate(x, y, verbose=0)[1] == pytest.approx(want)


# -- determinism ------------------------------------------------------------------------------------
@pytest.mark.parametrize("compiled_stack", [False, True], ids=["with_bn", "dense_only"])
def test_same_seed_gives_bit_identical_weights(compiled_stack, rng):
    x = rng.normal(size=(40, 6))
    y = np.eye(3)[rng.integers(0, 3, size=40)]

    def run(seed):
        tweaknet.utils.set_random_seed(seed)
        stack = [L.Dense(8, activation="relu", input_shape=(6,))]
        if not compiled_stack:
            stack.append(L.BatchNormalization())
        model = tweaknet.Sequential([*stack, L.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        h = model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
        return model.get_weights(), h.history

    w1, h1 = run(7)
    w2, h2 = run(7)
    w3, _ = run(8)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3))


def test_shuffle_changes_the_order_but_seed_fixes_it(rng):
    x = rng.normal(size=(40, 6))
    y = np.eye(3)[rng.integers(0, 3, size=40)]

    def run(shuffle):
        tweaknet.utils.set_random_seed(1)
        model = tweaknet.Sequential([L.Dense(3, activation="softmax", input_shape=(6,))])
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, shuffle=shuffle, verbose=0)
        return model.get_weights()[0]

    assert not np.array_equal(run(True), run(False))


# -- clear errors -----------------------------------------------------------------------------------
def compiled_book_model(loss="categorical_crossentropy"):
    model = tweaknet.Sequential([L.Dense(25, activation="tanh", input_shape=(784,)),
                                 L.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    return model


def test_error_input_width(rng):
    x, y, _ = toy_data(rng, n=8)
    with pytest.raises(ValueError) as info:
        compiled_book_model().fit(x[:, :100], y, verbose=0)
    msg = str(info.value)
    assert "(100)" in msg and "784" in msg
    with pytest.raises(ValueError, match="Flatten"):
        compiled_book_model().fit(x.reshape(8, 28, 28), y, verbose=0)
    with pytest.raises(ValueError, match="784"):
        compiled_book_model().predict(x[:, :100])


def test_error_integer_labels_with_categorical_crossentropy(rng):
    x, _, labels = toy_data(rng, n=8)
    with pytest.raises(ValueError) as info:
        compiled_book_model().fit(x, labels, verbose=0)
    msg = str(info.value)
    assert "to_categorical" in msg and "sparse_categorical_crossentropy" in msg and "(8,)" in msg


def test_error_label_shape_and_count(rng):
    x, y, labels = toy_data(rng, n=8)
    with pytest.raises(ValueError, match=r"\(8, 5\)"):
        compiled_book_model().fit(x, y[:, :5], verbose=0)
    with pytest.raises(ValueError, match="8 samples but `y` has 4"):
        compiled_book_model().fit(x, y[:4], verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        compiled_book_model("sparse_categorical_crossentropy").fit(x, labels + 10, verbose=0)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        compiled_book_model("sparse_categorical_crossentropy").fit(x, y, verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "y"])
def test_error_non_finite_data(where, bad, rng):
    x, y, _ = toy_data(rng, n=8)
    (x if where == "x" else y)[3, 2] = bad
    with pytest.raises(ValueError) as info:
        compiled_book_model().fit(x, y, verbose=0)
    msg = str(info.value)
    assert f"`{where}`" in msg and ("NaN" if np.isnan(bad) else "inf") in msg and "(3, 2)" in msg


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(40, 7), (40, 1), (40, 3, 5)])
def test_finite_check_finds_each_nan_and_inf_and_passes_sums_that_overflow(dtype, shape, rng):
    """``validation._all_finite`` sums the values: a non-finite value anywhere makes the sum non-finite; finite values
    whose sum overflows are checked one by one."""
    from tweaknet.validation import _all_finite, as_float_array
    x = rng.standard_normal(shape).astype(dtype)
    assert _all_finite(x)
    for flat in (0, 17, x.size - 1):
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y.reshape(-1)[flat] = bad
            assert not _all_finite(y)
    huge = np.full(shape, np.finfo(dtype).max, dtype)  # the sum overflows to inf, every value is finite
    assert _all_finite(huge)
    assert as_float_array("x", huge, dtype) is not None
    mixed = np.full(shape, np.finfo(dtype).max, dtype)
    mixed.reshape(len(mixed), -1)[::2] *= -1  # +max and -max rows: the total is finite
    mixed.reshape(-1)[5] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        as_float_array("x", mixed, dtype)


def test_error_non_finite_validation_data(rng):
    x, y, _ = toy_data(rng, n=8)
    xv = x.copy()
    xv[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"validation_data\[0\]"):
        compiled_book_model().fit(x, y, validation_data=(xv, y), verbose=0)


@pytest.mark.parametrize("make,typo,suggestion", [
    (lambda t: L.Dense(3, activation=t), "rleu", "relu"),
    (lambda t: L.Activation(t), "tahn", "tanh"),
    (lambda t: compiled_book_model(loss=t), "categorical_crossentopy", "categorical_crossentropy"),
    (lambda t: compiled_book_model().compile(optimizer=t, loss="mse"), "adma", "adam"),
    (lambda t: compiled_book_model().compile(optimizer=t, loss="mse"), "rmsprp", "rmsprop"),
    (lambda t: L.Dense(3, kernel_initializer=t), "glorot_unifrom", "glorot_uniform"),
    (lambda t: L.Dense(3, bias_initializer=t), "zeroes", "zeros"),
], ids=["activation", "activation_layer", "loss", "optimizer", "optimizer2", "initializer", "bias_initializer"])
def test_error_unknown_names_suggest(make, typo, suggestion):
    with pytest.raises(ValueError) as info:
        make(typo)
    msg = str(info.value)
    assert repr(typo) in msg and "Did you mean" in msg and repr(suggestion) in msg


def test_error_negative_learning_rate():
    with pytest.raises(ValueError, match=r"`learning_rate` must be >= 0"):
        tweaknet.optimizers.SGD(learning_rate=-0.1)


@pytest.mark.parametrize("bs,exc,fragment", [(0, ValueError, ">= 1"), (-4, ValueError, ">= 1"),
                                             (2.5, TypeError, "integer"), ("32", TypeError, "integer")])
def test_error_batch_size(bs, exc, fragment, rng):
    x, y, _ = toy_data(rng, n=8)
    with pytest.raises(exc, match="batch_size") as info:
        compiled_book_model().fit(x, y, batch_size=bs, verbose=0)
    assert fragment in str(info.value)


def test_error_empty_data():
    with pytest.raises(ValueError, match="empty"):
        compiled_book_model().fit(np.zeros((0, 784)), np.zeros((0, 10)), verbose=0)
    with pytest.raises(ValueError, match="None"):
        compiled_book_model().fit(None, np.zeros((1, 10)), verbose=0)
    with pytest.raises(ValueError, match="scalar"):
        compiled_book_model().fit(np.float32(1.0), np.zeros((1, 10)), verbose=0)
    for x in (np.zeros((4, 0)), np.zeros((4, 0), dtype=np.uint8)):  # samples with no features
        model = tweaknet.Sequential([L.Dense(3)])
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="no values"):
            model.fit(x, np.zeros((4, 3)), verbose=0)


def test_error_unknown_metric_name_at_compile():
    model = tweaknet.Sequential([L.Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="Did you mean 'accuracy'"):
        model.compile(optimizer="sgd", loss="mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match="'categorical_accuracy'"):
        model.compile(optimizer="sgd", loss="mse", metrics=["categorical_acuracy"])
    with pytest.raises(TypeError, match="metric"):
        model.compile(optimizer="sgd", loss="mse", metrics=[3])
    with pytest.raises(ValueError) as info:
        L.Dense(2, activation="rellu")
    assert "'ELU'" not in str(info.value) and "'relu'" in str(info.value)  # snake_case names only


def test_error_non_numeric_data():
    with pytest.raises(TypeError, match="numbers"):
        compiled_book_model().fit(np.full((2, 784), "a"), np.zeros((2, 10)), verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_error_before_compile(method, rng):
    x, y, _ = toy_data(rng, n=8)
    model = book_model(input_shape=(784,))
    with pytest.raises(RuntimeError, match=r"compile\(") as info:
        getattr(model, method)(x, y)
    assert method in str(info.value)


def test_error_unknown_arguments():
    with pytest.raises(TypeError, match="Did you mean 'activation'"):
        L.Dense(3, activaton="relu")
    with pytest.raises(TypeError, match="Did you mean 'momentum'"):
        L.BatchNormalization(momentm=0.9)
    with pytest.raises(TypeError, match="learning_rate"):
        tweaknet.optimizers.SGD(learnig_rate=0.1)
    with pytest.raises(TypeError, match="optimzer"):
        tweaknet.Sequential([L.Dense(1, input_shape=(2,))]).compile(optimzer="sgd", loss="mse")


def test_error_validation_split_bounds(rng):
    x, y, _ = toy_data(rng, n=8)
    with pytest.raises(ValueError, match="validation_split"):
        compiled_book_model().fit(x, y, validation_split=1.0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        compiled_book_model().fit(x, y, validation_split=-0.1, verbose=0)
    with pytest.raises(ValueError, match="no samples for training"):
        compiled_book_model().fit(x, y, validation_split=0.9, verbose=0)


@pytest.mark.parametrize("n", [7, 10, 64, 101])
@pytest.mark.parametrize("frac", [0.1, 0.2, 0.25, 1 / 3, 0.5])
def test_validation_split_sizes_match_keras(n, frac):
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    from tweaknet.training.data import split_validation
    x, y = np.arange(n, dtype=float).reshape(n, 1), np.arange(n, dtype=float)
    (kx, ky), (kvx, kvy) = train_validation_split((x, y), validation_split=frac)
    tx, ty, (tvx, tvy) = split_validation(x, y, frac)
    np.testing.assert_array_equal(tx, np.asarray(kx))
    np.testing.assert_array_equal(tvx, np.asarray(kvx))
    np.testing.assert_array_equal(tvy, np.asarray(kvy))


# -- the books' Keras code, import changed ----------------------------------------------------------
def test_book_snippet_runs_with_only_the_import_changed(capsys):
    import tweaknet as keras
    from tweaknet.utils import to_categorical

    rng = np.random.default_rng(7)
    train_images = rng.integers(0, 256, size=(200, 28, 28)).astype(np.uint8)
    train_labels = rng.integers(0, 10, size=200)
    test_images = rng.integers(0, 256, size=(50, 28, 28)).astype(np.uint8)
    test_labels = rng.integers(0, 10, size=50)

    # --- as in the book from here on ---
    keras.utils.set_random_seed(7)
    EPOCHS = 2
    BATCH_SIZE = 32
    mean = np.mean(train_images)
    stddev = np.std(train_images)
    train_images = (train_images - mean) / stddev
    test_images = (test_images - mean) / stddev
    train_labels = to_categorical(train_labels, num_classes=10)
    test_labels = to_categorical(test_labels, num_classes=10)

    initializer = keras.initializers.RandomUniform(minval=-0.1, maxval=0.1)
    configs = [
        ([keras.layers.Flatten(input_shape=(28, 28)),
          keras.layers.Dense(25, activation="tanh", kernel_initializer=initializer, bias_initializer="zeros"),
          keras.layers.Dense(10, activation="sigmoid", kernel_initializer=initializer, bias_initializer="zeros")],
         lambda: keras.optimizers.SGD(learning_rate=0.01), "mean_squared_error", False),
        ([keras.layers.Flatten(input_shape=(28, 28)),
          keras.layers.Dense(25, activation="tanh", kernel_initializer=keras.initializers.glorot_uniform(),
                             bias_initializer="zeros"),
          keras.layers.Dense(10, activation="sigmoid", kernel_initializer=keras.initializers.glorot_uniform(),
                             bias_initializer="zeros")],
         lambda: keras.optimizers.Adam(lr=0.01, epsilon=0.1, decay=0.0), "binary_crossentropy", True),
        ([keras.layers.Flatten(input_shape=(28, 28)),
          keras.layers.Dense(64, kernel_initializer=keras.initializers.he_normal(), bias_initializer="zeros"),
          keras.layers.BatchNormalization(),
          keras.layers.Activation("relu"),
          keras.layers.Dense(64), keras.layers.BatchNormalization(), keras.layers.Activation("tanh"),
          keras.layers.Dense(10, activation="softmax")],
         lambda: keras.optimizers.RMSprop(lr=0.001, rho=0.8, epsilon=None), "categorical_crossentropy", True),
        ([keras.layers.Flatten(input_shape=(28, 28)),
          keras.layers.Dense(25, activation="relu", kernel_initializer="he_normal"),
          keras.layers.Dense(10, activation="softmax")],
         lambda: keras.optimizers.Adagrad(lr=0.01, epsilon=None), "categorical_crossentropy", True),
    ]
    for model_layers, make_opt, loss, legacy in configs:
        model = keras.Sequential(model_layers)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt = make_opt()
        # The Keras 2 spelling lr= still works, with a DeprecationWarning (and only then).
        assert any(issubclass(w.category, DeprecationWarning) and "lr" in str(w.message) for w in caught) == legacy
        model.compile(loss=loss, optimizer=opt, metrics=["accuracy"])
        history = model.fit(train_images, train_labels, validation_data=(test_images, test_labels),
                            epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2, shuffle=True)
        assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
        assert history.history["loss"][1] < history.history["loss"][0]
        assert np.all(np.isfinite(model.predict(test_images)))
    out = capsys.readouterr().out
    assert out.count("Epoch 2/2") == len(configs)


def test_keras_optimizer_spellings_from_the_books():
    with pytest.warns(DeprecationWarning):
        a = tweaknet.optimizers.Adagrad(lr=0.01, epsilon=None)
    assert a.learning_rate == 0.01 and a.epsilon == 1e-7
    with pytest.warns(DeprecationWarning):
        r = tweaknet.optimizers.RMSprop(lr=0.001, rho=0.8, epsilon=None)
    assert (r.learning_rate, r.rho, r.epsilon) == (0.001, 0.8, 1e-7)
    with pytest.warns(DeprecationWarning):
        m = tweaknet.optimizers.Adam(lr=0.01, epsilon=0.1, decay=0.0)
    assert (m.learning_rate, m.epsilon, m.schedule) == (0.01, 0.1, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tweaknet.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    with pytest.warns(DeprecationWarning, match="epsilon"):
        tweaknet.optimizers.Adam(epsilon=None)
    with pytest.raises(TypeError, match=r"Did you mean 'learning_rate'\?"):  # one suggestion, not the same twice
        tweaknet.optimizers.SGD(learnin_rate=0.1)


def test_one_label_per_sample_fits_a_one_unit_output_as_in_keras():
    tn = tweaknet
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.float32)
    histories = []
    for y in (labels, labels.reshape(-1, 1)):
        tn.utils.set_random_seed(2)
        model = tn.Sequential([tn.layers.Dense(1, activation="sigmoid", input_shape=(5,))])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        histories.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0).history)
    assert histories[0] == histories[1]
    with pytest.raises(ValueError, match="labels"):
        model.fit(x, np.stack([labels, labels], 1), verbose=0)  # two columns cannot fit one output


def test_keras_attributes_of_layers_and_building_at_construction():
    model = tweaknet.Sequential([tweaknet.Input(shape=(4,)), L.Dense(3), L.BatchNormalization(), L.LeakyReLU()])
    dense, bn, leaky = model.layers
    # built at once, as Keras builds a model whose input shape is known
    assert [w.shape for w in dense.get_weights()] == [(4, 3), (3,)]
    assert dense.kernel is dense.params["kernel"] and dense.bias.shape == (3,)  # live arrays, not copies
    dense.kernel[...] = 2.0
    assert model.get_weights()[0].max() == 2.0
    assert [w.shape for w in bn.trainable_weights] == [(3,), (3,)] and len(bn.non_trainable_weights) == 2
    assert np.all(bn.moving_variance == 1.0) and np.all(bn.gamma == 1.0)
    assert leaky.negative_slope == 0.3 and L.ELU(alpha=0.5).alpha == 0.5 and L.Softmax().axis == -1
    with pytest.raises(AttributeError, match="no attribute 'kernal'"):
        dense.kernal


def test_model_flat_holds_the_parameter_arrays_and_store_is_its_deprecated_name():
    model = tweaknet.Sequential([L.Dense(3, input_shape=(4,)), L.Dense(2)])
    assert model.flat.size == model.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    assert np.shares_memory(model.layers[1].params["kernel"], model.flat.params)
    with pytest.warns(DeprecationWarning, match="model.flat"):
        assert model.store is model.flat


def test_preactivation_is_public_for_dense_and_activation_layers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    dense, act, flat = L.Dense(3, activation="tanh"), L.Activation("relu"), L.Flatten()
    model = tweaknet.Sequential([tweaknet.Input((4,)), dense, act, flat])
    assert dense.preactivation is None and flat.preactivation is None  # before any forward pass, or no activation
    model(x)
    np.testing.assert_allclose(dense.preactivation, x @ dense.kernel + dense.bias, rtol=1e-6)
    np.testing.assert_array_equal(act.preactivation, np.tanh(dense.preactivation))
    assert flat.preactivation is None


def test_fit_gives_callbacks_the_training_arrays_after_validation_split():
    seen = {}

    class Peek(tweaknet.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["data"] = self.params["training_data"]

    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    y = np.ones((10, 1), dtype=np.float32)
    model = tweaknet.Sequential([L.Dense(1, input_shape=(4,))])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.2, callbacks=[Peek()])
    np.testing.assert_array_equal(seen["data"][0], x[:8])
    np.testing.assert_array_equal(seen["data"][1], y[:8])


def test_sparse_and_one_hot_categorical_crossentropy_share_one_definition():
    from tweaknet import losses
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 5))
    labels = rng.integers(0, 5, 6)
    onehot = np.eye(5)[labels]
    for from_logits in (False, True):
        out = logits if from_logits else np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        sparse = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        dense = losses.CategoricalCrossentropy(from_logits=from_logits)
        assert isinstance(sparse, losses.ClassCrossentropy) and isinstance(dense, losses.ClassCrossentropy)
        np.testing.assert_array_equal(sparse.per_sample(labels, out), dense.per_sample(onehot, out))
        np.testing.assert_array_equal(sparse.grad(labels, out), dense.grad(onehot, out))
        if not from_logits:  # fusion is for a softmax output, not for logits
            np.testing.assert_array_equal(sparse.fused_backward(labels, out), dense.fused_backward(onehot, out))
