"""TensorBoard event files written by ``tweaknet.callbacks.TensorBoard`` read back by TensorBoard itself.

The other TensorBoard tests (test_tool_callbacks.py) parse the files with tensorboardX's own protobuf,
i.e. with the writer's code.  Here the reader is the real ``tensorboard`` package: the classic
``EventAccumulator`` and the ``plugin_event_accumulator`` that the TensorBoard server's data
provider uses (it converts the legacy ``simple_value`` scalars into the scalars plugin's tensors).
Scalars are stored as float32, so they must equal the History values rounded to float32, exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

import tweaknet as tn

pytest.importorskip("tensorboardX")  # the writer (the tensorboard extra)
pytest.importorskip("tensorboard")  # the reader
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402
from tensorboard.backend.event_processing import plugin_event_accumulator as pea  # noqa: E402

EPOCHS = 4


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = tn.utils.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0), 3)
    return x, y


def _model():
    tn.utils.set_random_seed(0)
    model = tn.Sequential([tn.layers.Dense(8, activation="tanh", input_shape=(6,),
                                           kernel_regularizer=tn.regularizers.l2(0.01)),
                           tn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=tn.optimizers.SGD(0.05), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _accumulate(folder):
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def _scalars(acc):
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()[ea.SCALARS]}


def _f32(values):
    return [float(np.float32(v)) for v in values]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("tb")
    x, y = _data()
    model = _model()
    kernels = []  # the first layer's kernel at the end of each epoch
    spy = tn.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: kernels.append(model.layers[0].get_weights()[0]))
    history = model.fit(x, y, epochs=EPOCHS, batch_size=16, verbose=0, validation_split=0.25,
                        callbacks=[spy, tn.callbacks.TensorBoard(log_dir, histogram_freq=2)])
    return log_dir, model, history.history, kernels


def test_event_accumulator_reads_epoch_scalars_equal_to_history(run):
    log_dir, _, history, _ = run
    assert sorted(p.name for p in log_dir.iterdir()) == ["train", "validation"]  # Keras's layout
    train, val = _accumulate(log_dir / "train"), _accumulate(log_dir / "validation")
    assert train.file_version == val.file_version == 2.0  # the "brain.Event:2" header event
    t, v = _scalars(train), _scalars(val)
    assert set(t) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(v) == {"epoch_loss", "epoch_accuracy"}
    assert set(history) == {"loss", "accuracy", "learning_rate", "val_loss", "val_accuracy"}
    for tags, prefix in ((t, ""), (v, "val_")):
        for tag, events in tags.items():
            name = prefix + tag[len("epoch_"):]
            assert [s for s, _ in events] == list(range(EPOCHS)), tag
            assert [val for _, val in events] == _f32(history[name]), tag  # exact after float32 rounding
    # the loss written is the reported one, L2 penalty included, and it moves from epoch to epoch
    assert len(set(history["loss"])) == EPOCHS


def test_event_accumulator_reads_weight_histograms(run):
    log_dir, model, _, kernels = run
    train = _accumulate(log_dir / "train")
    layer = model.layers[0]
    assert {f"{layer.name}/kernel/histogram", f"{layer.name}/bias/histogram"} <= set(train.Tags()[ea.HISTOGRAMS])
    kernel = train.Histograms(f"{layer.name}/kernel/histogram")
    assert [e.step for e in kernel] == [0, 2]  # histogram_freq=2
    for event in kernel:
        h, w = event.histogram_value, kernels[event.step].astype(np.float64)
        assert h.num == sum(h.bucket) == w.size
        assert (h.min, h.max) == (float(w.min()), float(w.max()))
        assert h.sum == pytest.approx(float(w.sum()), rel=1e-9, abs=1e-12)
        assert h.sum_squares == pytest.approx(float((w ** 2).sum()), rel=1e-9)


def test_tensorboard_server_data_path_reads_the_scalars(run):
    """The scalars plugin's path: legacy simple_value summaries migrated to rank-0 tensors."""
    log_dir, _, history, _ = run
    acc = pea.EventAccumulator(str(log_dir / "train"), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    by_plugin = acc.PluginTagToContent("scalars")
    assert set(by_plugin) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    events = acc.Tensors("epoch_loss")
    assert [e.step for e in events] == list(range(EPOCHS))
    from tensorboard.util import tensor_util
    values = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]
    assert values == _f32(history["loss"])


def test_batch_scalars_read_back(tmp_path):
    x, y = _data()
    model = _model()
    losses = []
    spy = tn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(logs["loss"]))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[spy, tn.callbacks.TensorBoard(tmp_path, update_freq="batch")])
    scalars = _scalars(_accumulate(tmp_path / "train"))
    assert [s for s, _ in scalars["batch_loss"]] == list(range(1, 9))  # 4 batches x 2 epochs, global step from 1
    assert [v for _, v in scalars["batch_loss"]] == _f32(losses)
