"""Callbacks that steer training: each one's behaviour, and the Keras complaints not repeated."""
import io
import re

import numpy as np
import pytest

import tweaknet as tn
from tweaknet.callbacks import (CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler, ProgressLogger,
                                ReduceLROnPlateau, TerminateOnNaN)


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
    with pytest.raises(ValueError, match="val_loss.*validation"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])


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
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
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
