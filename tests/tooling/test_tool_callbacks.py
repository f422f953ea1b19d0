"""Callbacks that steer training: each one's behaviour, and the Keras complaints not repeated."""
import csv
import io
import logging
import re
import warnings

import numpy as np
import pytest

import tweaknet as tn
from tweaknet.callbacks import (CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler, ModelCheckpoint,
                                ProgressLogger, ReduceLROnPlateau, TerminateOnNaN)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = tn.utils.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0), 3)
    return x, y


def _model(lr=0.05):
    tn.utils.set_random_seed(0)
    model = tn.Sequential([tn.layers.Dense(8, activation="tanh", input_shape=(6,)),
                           tn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=tn.optimizers.SGD(lr), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


class Scripted(tn.callbacks.Callback):
    """Replaces the monitored value with a script, to test the monitors deterministically."""

    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def test_early_stopping_stops_and_restores_the_best_weights():
    x, y = _data()
    model = _model()
    snapshots = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=20, verbose=0, callbacks=[Scripted([5, 3, 4, 4, 4, 1, 0]), keep, stop])
    assert len(history.epoch) == 4 and stop.stopped_epoch == 3 and stop.best_epoch == 1
    for a, b in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_restores_at_the_natural_end_too(capsys):
    x, y = _data()
    model = _model()
    snapshots = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    stop = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True, verbose=1)
    model.fit(x, y, epochs=4, verbose=0, callbacks=[Scripted([3, 1, 2, 2]), keep, stop])
    for a, b in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)
    assert "Restoring the weights of epoch 2" in capsys.readouterr().out


def test_early_stopping_names_a_missing_monitor():
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = _model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])
    messages = [str(w.message) for w in caught]
    assert any("'val_loss'" in m and "Pass validation data" in m and "Skipping" in m for m in messages), messages
    assert len(h.history["loss"]) == 2  # warned, as Keras does; the training is not lost to an error


def test_terminate_on_nan_stops_on_that_step_with_the_last_finite_weights():
    x, y = _data()
    tn.utils.set_random_seed(0)
    model = tn.Sequential([tn.layers.Dense(1, input_shape=(6,))])
    model.compile(optimizer=tn.optimizers.SGD(1e5), loss="mse")
    steps = []
    model.fit(x * 1e3, y[:, :1] * 1e3, epochs=5, batch_size=4, verbose=0,
              callbacks=[LambdaCallback(on_batch_end=lambda b, logs: steps.append(logs["loss"])), TerminateOnNaN()])
    assert not np.isfinite(steps[-1]) and all(np.isfinite(steps[:-1]))
    assert len(steps) < 5 * 16  # stopped early
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_learning_rate_scheduler_sets_the_rate_the_optimizer_uses():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert model.optimizer.learning_rate == pytest.approx(0.1 / 3)


def test_reduce_lr_on_plateau():
    x, y = _data()
    model = _model(lr=0.1)
    model.fit(x, y, epochs=6, verbose=0,
              callbacks=[Scripted([1, 1, 1, 1, 1, 1]), ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.03)])
    # no improvement after epoch 0: reduced after epochs 2 and 4, the second time bounded by min_lr
    assert model.optimizer.learning_rate == pytest.approx(0.03)


def test_csv_logger_appends_without_a_second_header(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    model.fit(x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert lines[0].startswith("epoch,") and sum(line.startswith("epoch") for line in lines) == 1
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2", "3"]


def test_verbose_2_line_format():
    x, y = _data()
    out = io.StringIO()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[ProgressLogger(2, stream=out)])
    lines = out.getvalue().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"64/64 - \d+m?s - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - "
                        r"val_accuracy: \d\.\d{4}", lines[1]), lines[1]


def _read_events(folder):
    """Scalars from TensorBoard event files, read through the TFRecord framing and the Event protobuf."""
    import struct
    from pathlib import Path

    from tensorboardX.proto import event_pb2
    out = {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + length])
            i += 12 + length + 4
            for v in event.summary.value:
                value = v.histo if v.HasField("histo") else v.simple_value
                out.setdefault(v.tag, []).append((event.step, value))
    return out


def test_tensorboard_event_files_read_back(tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
                        callbacks=[tn.callbacks.TensorBoard(tmp_path)])
    train, val = _read_events(tmp_path / "train"), _read_events(tmp_path / "validation")
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val["epoch_accuracy"]], history.history["val_accuracy"], rtol=1e-6)
    assert "epoch_learning_rate" in train


# -- TerminateOnNaN: weights that overflow on a step whose loss is still finite ------------------------------
def _overflow_run(callbacks, blow_up_at=3):
    """A linear model whose step ``blow_up_at`` (learning rate 1e36, large inputs) overflows the weights to inf
    while that step's loss, computed before the update, is finite."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6)).astype(np.float32) * 100
    y = x[:, :1] * 3
    tn.utils.set_random_seed(0)
    model = tn.Sequential([tn.layers.Dense(1, input_shape=(6,))])
    model.compile(optimizer=tn.optimizers.SGD(1e-7), loss="mse")
    record = []

    def begin(batch, logs):
        if batch == blow_up_at:
            model.optimizer.learning_rate = 1e36

    def end(batch, logs):
        record.append((logs["loss"], model.get_weights()))
    spy = LambdaCallback(on_train_batch_begin=begin, on_train_batch_end=end)
    with np.errstate(all="ignore"):
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[spy, *callbacks])
    return model, record, history


def test_terminate_on_nan_keeps_the_last_finite_weights_when_a_finite_loss_step_overflows(capsys):
    stop = TerminateOnNaN()
    model, record, history = _overflow_run([stop])
    loss, weights = record[-1]
    # the scenario: the last step's loss is finite but its update left non-finite weights
    assert np.isfinite(loss) and not all(np.isfinite(w).all() for w in weights)
    assert stop.stopped_batch == 3 and len(record) == 4 and len(history.epoch) == 1  # stopped on that step
    for a, b in zip(model.get_weights(), record[2][1]):  # the weights after the last good step
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert "Batch 3: non-finite weights" in capsys.readouterr().out


def test_terminate_on_nan_restores_the_optimizer_so_training_can_go_on():
    x, y = _data()
    x, y = x * 1e3, y[:, :1] * 1e3
    tn.utils.set_random_seed(0)
    model = tn.Sequential([tn.layers.Dense(1, input_shape=(6,))])
    model.compile(optimizer=tn.optimizers.SGD(1e5, momentum=0.9), loss="mse")
    states = []
    spy = LambdaCallback(on_train_batch_begin=lambda b, logs: states.append(model.optimizer.get_state()))
    stop = TerminateOnNaN()
    with np.errstate(all="ignore"):
        model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[spy, stop])
    before = states[-1]  # the optimizer as it was before the step that failed
    after = model.optimizer.get_state()
    assert after["iterations"] == before["iterations"] == stop.stopped_batch
    np.testing.assert_array_equal(after["m"], before["m"])
    assert np.isfinite(after["m"]).all() and np.abs(after["m"]).max() > 0  # real momentum, not a reset


def test_terminate_on_nan_also_restores_weights_outside_the_parameter_buffer():
    x, y = _data()
    tn.utils.set_random_seed(0)
    model = tn.Sequential([tn.layers.Dense(4, input_shape=(6,)), tn.layers.BatchNormalization(),
                           tn.layers.Dense(1)])
    model.compile(optimizer=tn.optimizers.SGD(1e5), loss="mse")
    before = []
    spy = LambdaCallback(on_train_batch_begin=lambda b, logs: before.append(model.get_weights()))
    stop = TerminateOnNaN()
    with np.errstate(all="ignore"):
        model.fit(x * 1e3, y[:, :1] * 1e3, epochs=5, batch_size=4, verbose=0, callbacks=[spy, stop])
    assert stop.stopped_batch is not None
    names = [n for layer in model.layers for n in layer.weight_names]
    for name, now, kept in zip(names, model.get_weights(), before[-1]):  # moving statistics included
        np.testing.assert_array_equal(now, kept, err_msg=name)
    assert "moving_mean" in names


def test_terminate_on_nan_without_it_the_run_ends_non_finite():
    model, record, _ = _overflow_run([])  # the scenario above really diverges
    assert len(record) == 24 and not np.isfinite(record[-1][0])
    assert not all(np.isfinite(w).all() for w in model.get_weights())


def test_terminate_on_nan_raise_error():
    with pytest.raises(RuntimeError, match="Batch 3"):
        _overflow_run([TerminateOnNaN(raise_error=True)])
    model, _, _ = _overflow_run([TerminateOnNaN(raise_error=False)])
    assert all(np.isfinite(w).all() for w in model.get_weights())


# -- validation_freq > 1: monitors skip the epochs without validation ----------------------------------------
class ScriptedVal(tn.callbacks.Callback):
    """Replaces val_loss on the epochs that have it (``validation_freq``) with scripted values, in order."""

    def __init__(self, values):
        super().__init__()
        self.values = list(values)

    def on_epoch_end(self, epoch, logs=None):
        if "val_loss" in logs:
            logs["val_loss"] = self.values.pop(0)


def _fit_freq2(model, callbacks, epochs=6):
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=epochs, verbose=0, validation_data=(x, y), validation_freq=2,
                            callbacks=callbacks)
    return history, [w for w in caught if "monitors 'val_loss'" in str(w.message)]


def test_early_stopping_with_validation_freq_2():
    stop = EarlyStopping(patience=1)
    history, warned = _fit_freq2(_model(), [ScriptedVal([3, 4, 5]), stop])
    # validated epochs 1, 3, 5: no improvement at epoch 3 -> stop there; epochs 0 and 2 are skipped
    assert stop.best_epoch == 1 and stop.stopped_epoch == 3 and history.epoch == [0, 1, 2, 3]
    assert len(warned) == 1


def test_reduce_lr_on_plateau_with_validation_freq_2():
    model = _model(lr=0.1)
    rates = []
    _, warned = _fit_freq2(model, [ScriptedVal([1, 1, 1]), ReduceLROnPlateau(factor=0.5, patience=1),
                                   LambdaCallback(on_epoch_end=lambda e, logs: rates.append(model.optimizer.learning_rate))])
    # plateau judged only at the validated epochs 1, 3, 5: reduced at 3 and 5
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025]) and len(warned) == 1


def test_model_checkpoint_best_only_with_validation_freq_2(tmp_path):
    check = ModelCheckpoint(str(tmp_path / "w-{epoch:02d}.safetensors"), save_best_only=True, save_weights_only=True)
    _fit_freq2(_model(), [ScriptedVal([3, 2, 4]), check])
    assert sorted(p.name for p in tmp_path.glob("w-*")) == ["w-02.safetensors", "w-04.safetensors"]


def test_a_monitor_the_logs_cannot_have_is_an_error_early_never_after_training():
    x, y = _data()
    for cb in (EarlyStopping(monitor="val_los"), ReduceLROnPlateau(monitor="nope"),
               ModelCheckpoint("unused.safetensors", monitor="val_acc", save_best_only=True)):
        model = _model()
        with pytest.raises(ValueError, match="available: accuracy, learning_rate, loss, val_accuracy"):
            model.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_data=(x, y), callbacks=[cb])
        assert model.optimizer.iterations == 4  # stopped at the end of the first epoch (4 steps), not the third
    # a val_* monitor without validation data, or validating beyond the last epoch: warnings (as Keras),
    # and the training is kept
    for kw in ({}, {"validation_data": (x, y), "validation_freq": 5}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h = _model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping(monitor="val_loss")], **kw)
        assert len(h.history["loss"]) == 2
        assert any("it had no effect" in str(w.message) for w in caught), kw


# -- Keras 3 arguments ---------------------------------------------------------------------------------------
def test_lambda_callback_keras3_batch_hooks_and_aliases():
    x, y = _data()
    calls = []
    cb = LambdaCallback(on_train_batch_begin=lambda b, logs=None: calls.append(("begin", b)),
                        on_train_batch_end=lambda b, logs: calls.append(("end", b, logs["loss"])))
    _model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    assert [c[:2] for c in calls] == [(k, b) for _ in range(2) for b in range(4) for k in ("begin", "end")]
    old = []
    _model().fit(x, y, epochs=1, batch_size=32, verbose=0,
                 callbacks=[LambdaCallback(on_batch_begin=lambda b, logs=None: old.append(b),
                                           on_batch_end=lambda b, logs: old.append(-b - 1))])
    assert old == [0, -1, 1, -2]
    with pytest.raises(TypeError, match="not both"):
        LambdaCallback(on_batch_end=print, on_train_batch_end=print)
    with pytest.raises(TypeError, match="unknown hooks on_predict_end"):
        LambdaCallback(on_predict_end=print)


def test_terminate_on_nan_signature_matches_keras():
    assert TerminateOnNaN().raise_error is False and TerminateOnNaN(raise_error=True).raise_error is True


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    x, y = _data()
    model = _model()
    seen = {}
    spy = LambdaCallback(on_epoch_begin=lambda e, logs=None: seen.__setitem__("epoch", e),
                         on_train_batch_end=lambda b, logs: seen.__setitem__((seen["epoch"], b), model.get_weights()))
    check = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.safetensors"), save_weights_only=True, save_freq=3)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[spy, check])  # 4 batches an epoch
    # every 3 batches, counted across epochs: global batches 3 and 6
    assert sorted(p.name for p in tmp_path.glob("e*")) == ["e1-b3.safetensors", "e2-b2.safetensors"]
    probe = _model()
    probe.load_weights(tmp_path / "e2-b2.safetensors")
    for a, b in zip(probe.get_weights(), seen[(1, 1)]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(str(tmp_path / "x"), save_freq="batch")
    with pytest.raises(ValueError, match="batch logs"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "x"), save_best_only=True,
                                                                       save_freq=2)])


def test_model_checkpoint_save_freq_keeps_the_compiled_path(tmp_path):
    from tweaknet.callbacks import CallbackList
    model = _model()
    for save_freq in ("epoch", 5):  # no per-batch hook either way; an integer asks for on_progress every N steps
        callbacks = CallbackList([ModelCheckpoint(str(tmp_path / "m"), save_freq=save_freq)], model, {})
        assert not callbacks.batch_callbacks
        assert callbacks.progress_steps == (None if save_freq == "epoch" else 5)


def test_model_checkpoint_in_batches_on_the_compiled_path_saves_the_reference_weights(tmp_path, monkeypatch):
    pytest.importorskip("numba")
    from tweaknet import fast
    monkeypatch.setattr(fast, "COMPILE_MIN_SAMPLES", 0)  # a short fit, compiled all the same
    x, y = _data()
    saved = {}
    for path in ("reference", "compiled"):
        model = _model()
        check = ModelCheckpoint(str(tmp_path / path / "e{epoch}-b{batch}.safetensors"), save_weights_only=True,
                                save_freq=3)
        (tmp_path / path).mkdir()
        model.build()
        if path == "reference":
            with fast.reference_only():
                model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[check])
        else:
            assert fast.explain(model).compiled
            model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[check])
        saved[path] = sorted(p.name for p in (tmp_path / path).iterdir())
    assert saved["compiled"] == saved["reference"] == ["e1-b3.safetensors", "e2-b2.safetensors"]
    for name in saved["compiled"]:
        a, b = _model(), _model()
        a.load_weights(tmp_path / "reference" / name)
        b.load_weights(tmp_path / "compiled" / name)
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)  # mid-epoch weights, published by the kernels


def test_model_checkpoint_initial_value_threshold(tmp_path):
    x, y = _data()
    check = ModelCheckpoint(str(tmp_path / "w-{epoch}.safetensors"), save_best_only=True, save_weights_only=True,
                            initial_value_threshold=1.5)
    _model().fit(x, y, epochs=4, verbose=0, callbacks=[Scripted([3, 2, 1, 1.2]), check])
    assert sorted(p.name for p in tmp_path.glob("w-*")) == ["w-3.safetensors"]  # the first value below 1.5


def test_tensorboard_update_freq_batches_and_histograms(tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = _data()
    model = _model()
    losses = []
    spy = LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))
    board = tn.callbacks.TensorBoard(tmp_path, update_freq=3, histogram_freq=2)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[spy, board])  # 12 batches in all
    train = _read_events(tmp_path / "train")
    assert [s for s, _ in train["batch_loss"]] == [3, 6, 9, 12]
    np.testing.assert_allclose([v for _, v in train["batch_loss"]], [losses[i] for i in (2, 5, 8, 11)], rtol=1e-6)
    assert "batch_seen" not in train
    kernel = train[f"{model.layers[0].name}/kernel/histogram"]
    assert [s for s, _ in kernel] == [0, 2]  # epochs 0 and 2
    assert kernel[-1][1].num == model.layers[0].get_weights()[0].size
    assert kernel[-1][1].min == pytest.approx(float(model.layers[0].get_weights()[0].min()))


def test_tensorboard_batch_scalars_keep_the_compiled_path(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("numba")
    from tweaknet import fast
    monkeypatch.setattr(fast, "COMPILE_MIN_SAMPLES", 0)  # a short fit, compiled all the same
    x, y = _data()
    runs = {}
    real = fast.epoch_runner
    for path in ("reference", "compiled"):
        tn.utils.set_random_seed(1)
        model = _model()
        runners = []
        monkeypatch.setattr(fast, "epoch_runner", lambda *a: runners.append(real(*a)) or runners[-1])
        board = tn.callbacks.TensorBoard(tmp_path / path, update_freq=3)
        if path == "reference":
            with fast.reference_only():
                model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[board])
        else:
            model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[board])
            assert runners[0] is not None  # no per-batch hook: the compiled path trained
        runs[path] = _read_events(tmp_path / path / "train")["batch_loss"]
    assert [s for s, _ in runs["compiled"]] == [s for s, _ in runs["reference"]] == [3, 6, 9, 12]
    np.testing.assert_allclose([v for _, v in runs["compiled"]], [v for _, v in runs["reference"]], rtol=1e-5)


def test_tensorboard_update_freq_epoch_writes_no_batch_scalars(tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = _data()
    model = _model()
    board = tn.callbacks.TensorBoard(tmp_path, write_steps_per_second=True)
    from tweaknet.callbacks import CallbackList
    assert not CallbackList([board], model, {}).batch_callbacks  # keeps the compiled path
    model.fit(x, y, epochs=2, verbose=0, callbacks=[board])
    train = _read_events(tmp_path / "train")
    assert not any(tag.startswith("batch_") or tag.endswith("/histogram") for tag in train)
    assert [s for s, _ in train["epoch_steps_per_second"]] == [0, 1]
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])


def test_tensorboard_keras_arguments(tmp_path):
    pytest.importorskip("tensorboardX")
    with pytest.warns(UserWarning, match="write_images"):
        tn.callbacks.TensorBoard(tmp_path, write_images=True)
    with pytest.warns(UserWarning, match="profile_batch"):
        tn.callbacks.TensorBoard(tmp_path, profile_batch=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        board = tn.callbacks.TensorBoard(tmp_path, write_graph=True, update_freq="batch", embeddings_freq=0)
    assert board.update_freq == 1
    with pytest.raises(ValueError, match="update_freq"):
        tn.callbacks.TensorBoard(tmp_path, update_freq=0)


# -- CSVLogger: columns that appear later --------------------------------------------------------------------
def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_append_widens_the_header_for_new_columns(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    history = model.fit(x, y, epochs=4, initial_epoch=2, verbose=0, validation_data=(x, y),
                        callbacks=[CSVLogger(path, append=True)])
    rows = _rows(path)
    header = rows[0]
    assert header == ["epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert sum(r[0] == "epoch" for r in rows) == 1 and [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    col = header.index("val_loss")
    assert [r[col] for r in rows[1:3]] == ["", ""]  # the rows from before validation
    np.testing.assert_allclose([float(r[col]) for r in rows[3:]], history.history["val_loss"])
    assert not list(tmp_path.glob(".csvlogger-*"))  # no temporary file left behind


def test_csv_logger_append_same_keys_keeps_the_file(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    before = path.read_text()
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, callbacks=[CSVLogger(path, append=True)])
    after = path.read_text()
    assert after.startswith(before) and after.count("epoch,") == 1 and len(after.splitlines()) == 4


def test_csv_logger_validation_freq_2(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    history = _model().fit(x, y, epochs=3, verbose=0, validation_data=(x, y), validation_freq=2,
                           callbacks=[CSVLogger(path)])
    rows = _rows(path)
    col = rows[0].index("val_loss")
    assert [r[col] for r in rows[1:]] == ["", repr(history.history["val_loss"][0]), "NA"]


# -- EarlyStopping says when it restores ---------------------------------------------------------------------
def test_early_stopping_records_the_restore_without_verbose(capsys, caplog):
    x, y = _data()
    stop = EarlyStopping(patience=10, restore_best_weights=True)
    with caplog.at_level(logging.INFO, logger="tweaknet"):
        _model().fit(x, y, epochs=4, verbose=0, callbacks=[Scripted([3, 1, 2, 2]), stop])
    assert stop.restored_epoch == 1 and capsys.readouterr().out == ""
    assert any("Restoring the weights of epoch 2" in r.getMessage() for r in caplog.records)
    plain = EarlyStopping(patience=10)
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[Scripted([3, 1]), plain])
    assert plain.restored_epoch is None


# -- ReduceLROnPlateau cooldown ------------------------------------------------------------------------------
@pytest.mark.parametrize("cooldown, expected", [
    (0, [0.1, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]),  # a reduction every epoch after the first plateau
    (2, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]),        # the cooldown epoch after each one is skipped
])
def test_reduce_lr_on_plateau_cooldown(cooldown, expected):
    x, y = _data()
    model = _model(lr=0.1)
    rates = []
    model.fit(x, y, epochs=7, verbose=0,
              callbacks=[LambdaCallback(on_epoch_begin=lambda e, logs=None: rates.append(model.optimizer.learning_rate)),
                         Scripted([1] * 7), ReduceLROnPlateau(factor=0.5, patience=1, cooldown=cooldown)])
    assert rates == pytest.approx(expected)
