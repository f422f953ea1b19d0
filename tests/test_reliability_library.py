"""Issue 15, the library half: every bad input of ``../shared/reliability/probes.md`` that reaches the
library (not the command line or the lab), as a table.

``ERRORS``: each row builds its situation in a fresh folder and returns ``(action, check)``; the action
must raise the row's exception type with a message matching the row's pattern, and ``check`` then
asserts that nothing stored was lost or changed (a file's bytes, a model's weights, no temporary file
left).  ``BEHAVIOURS``: the cases whose fix is a right number or a kept intent rather than an error.
The count of both tables is quoted in docs/reliability.md.
"""
from __future__ import annotations

import io
import json
import os
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import tweaknet as tn
from tweaknet import callbacks as C
from tweaknet import layers as L
from tweaknet.models import load_model
from tweaknet.utils import to_categorical

X = np.random.default_rng(0).random((16, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[np.arange(16) % 3]


def _model(optimizer="adam", loss="categorical_crossentropy", units=3, **compile_kw):
    m = tn.Sequential([L.Dense(5, input_shape=(4,), activation="relu"), L.BatchNormalization(),
                       L.Dense(units, activation="softmax" if units > 1 else "sigmoid")])
    m.compile(optimizer, loss, **compile_kw)
    return m


def _trained(tmp, name="m.tweaknet"):
    m = _model(metrics=["accuracy"])
    m.fit(X, Y, epochs=1, verbose=0)
    m.save(tmp / name)
    return m, tmp / name


def _entries(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(path, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for n, data in entries.items():
            z.writestr(n, data)
    return path


def _edited(tmp, **edits):
    """A copy of a saved model with entries replaced: ``config_json=lambda bytes: bytes``."""
    _, path = _trained(tmp)
    entries = _entries(path)
    for key, fn in edits.items():
        name = key.replace("_json", ".json").replace("_safetensors", ".safetensors")
        entries[name] = fn(entries[name])
    return _write(tmp / "edited.tweaknet", entries)


def _json_edit(fn):
    def edit(data):
        value = json.loads(data)
        fn(value)
        return json.dumps(value).encode()
    return edit


def _arrays_edit(fn):
    from safetensors.numpy import load, save

    def edit(data):
        arrays = {k: v.copy() for k, v in load(data).items()}
        fn(arrays)
        return save(arrays)
    return edit


def _unchanged_file(path):
    before = path.read_bytes()
    mode = os.stat(path).st_mode

    def check():
        assert path.read_bytes() == before and os.stat(path).st_mode == mode
        assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")], "temporary file left behind"
    return check


def _unchanged_weights(model):
    before = [w.copy() for w in model.get_weights()]

    def check():
        after = model.get_weights()
        assert len(after) == len(before) and all(np.array_equal(a, b) for a, b in zip(after, before))
    return check


def _no_files(folder):
    def check():
        assert not folder.exists() or not list(folder.iterdir())
    return check


def _load_refused(path):
    return (lambda: load_model(path)), _unchanged_file(path)


def _fit_refused(model, *args, **kwargs):
    return (lambda: model.fit(*args, **kwargs)), _unchanged_weights(model)


# -- the table of errors: (id, builder(tmp) -> (action, check), exception type, message pattern) -------------
def _shared_layer(tmp):
    d = L.Dense(4, input_shape=(4,))
    m = tn.Sequential([d])
    return (lambda: m.add(d)), (lambda: len(m.layers) == 1 or pytest.fail("the refused layer was added"))


def _bce_targets(tmp):
    m = _model(loss="binary_crossentropy", units=1)
    return _fit_refused(m, X, np.where(np.arange(16) % 2, 3.0, 0.0), verbose=0)


def _checkpoint_missing_key(tmp):
    m = _model()
    action = lambda: m.fit(X, Y, epochs=1, verbose=0,  # noqa: E731
                           callbacks=[C.ModelCheckpoint(str(tmp / "out" / "m-{val_loss:.2f}.tweaknet"))])
    return action, _no_files(tmp / "out")


def _read_only_file(tmp):
    path = tmp / "keep.tweaknet"
    path.write_bytes(b"the user's own file")
    os.chmod(path, 0o444)
    return (lambda: _model().save(path)), _unchanged_file(path)


def _missing_folder(tmp):
    return (lambda: _model().save(tmp / "no" / "such" / "m.tweaknet")), _no_files(tmp / "no")


def _save_onto_folder(tmp):
    (tmp / "folder").mkdir()
    return (lambda: _model().save(tmp / "folder")), _no_files(tmp / "folder")


def _save_weights_read_only(tmp):
    path = tmp / "w.safetensors"
    path.write_bytes(b"old weights")
    os.chmod(path, 0o400)
    return (lambda: _model().save_weights(path)), _unchanged_file(path)


def _load_weights_unbuilt(tmp):
    path = tmp / "w.safetensors"
    _model().save_weights(path)
    m = tn.Sequential([L.Dense(5), L.Dense(3)])
    return (lambda: m.load_weights(path)), _unchanged_file(path)


def _load_weights_mismatch(tmp):
    path = tmp / "w.safetensors"
    tn.Sequential([L.Dense(3, input_shape=(4,)), L.Dense(2), L.Dense(7)]).save_weights(path)
    m = _model()
    check_file, check_model = _unchanged_file(path), _unchanged_weights(m)
    return (lambda: m.load_weights(path)), (lambda: (check_file(), check_model()))


def _load_weights_nan(tmp):
    path = tmp / "w.safetensors"
    from safetensors.numpy import load, save
    _model().save_weights(path)
    arrays = {k: v.copy() for k, v in load(path.read_bytes()).items()}
    arrays[next(k for k in arrays if k.startswith("0000:"))][0, 0] = np.nan
    path.write_bytes(save(arrays))
    m = _model()
    check_model = _unchanged_weights(m)
    return (lambda: m.load_weights(path)), check_model


def _padded_config(tmp):  # probes: config.json padded to 1 GB (1 MB compressed): read whole, 2.1 GB peak
    return _load_refused(_edited(tmp, config_json=lambda d: d[:-1] + b" " * (65 * 2**20) + b"}"))


def _padded_state(tmp):  # probes: state.json expanding to 2 GB under a memory cap: raw MemoryError
    return _load_refused(_edited(tmp, state_json=lambda d: d[:-1] + b" " * (65 * 2**20) + b"}"))


def _huge_dense(tmp):  # probes: a ~600-byte config declaring Dense(100000) on 100,000 inputs: 74.5 GiB
    def grow(c):
        c["model"]["input_shape"] = [100000]
        c["model"]["layers"][0]["config"]["input_shape"] = [100000]
        c["model"]["layers"][0]["config"]["units"] = 100000
    path = _edited(tmp, config_json=_json_edit(grow))
    check = _unchanged_file(path)

    def action():
        tracemalloc.start()
        try:
            load_model(path)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB allocated before refusing"
    return action, check


def _nested_config(tmp):
    return _load_refused(_edited(tmp, config_json=lambda d: b"[" * 100_000 + b"]" * 100_000))


def _negative_step(tmp):
    return _load_refused(_edited(tmp, state_json=_json_edit(lambda s: s["optimizer"].update(iterations=-5))))


def _float_step(tmp):
    return _load_refused(_edited(tmp, state_json=_json_edit(lambda s: s["optimizer"].update(iterations=2.5))))


def _negative_second_moment(tmp):
    return _load_refused(_edited(tmp, optimizer_safetensors=_arrays_edit(lambda a: a["v"].__setitem__(3, -1.0))))


def _wrong_slot_shape(tmp):
    return _load_refused(_edited(tmp, optimizer_safetensors=_arrays_edit(
        lambda a: a.update(m=np.zeros(7, "float32")))))


def _missing_slot(tmp):
    return _load_refused(_edited(tmp, optimizer_safetensors=_arrays_edit(lambda a: a.pop("v"))))


def _nan_in_slot(tmp):
    return _load_refused(_edited(tmp, optimizer_safetensors=_arrays_edit(lambda a: a["m"].__setitem__(0, np.inf))))


def _nan_weight_in_file(tmp):
    return _load_refused(_edited(tmp, model_safetensors=_arrays_edit(lambda a: a["0002"].__setitem__(1, np.nan))))


def _negative_variance_in_file(tmp):  # 0005: the BatchNormalization's moving_variance
    return _load_refused(_edited(tmp, model_safetensors=_arrays_edit(lambda a: a["0005"].__setitem__(0, -2.0))))


def _weights_shape_lie(tmp):
    return _load_refused(_edited(tmp, model_safetensors=_arrays_edit(
        lambda a: a.update({"0000": np.zeros((5, 4), "float32")}))))


def _metric_dict_in_file(tmp):
    return _load_refused(_edited(tmp, config_json=_json_edit(lambda c: c["compile"].update(metrics=[{"a": 1}]))))


def _truncated_weights_entry(tmp):
    return _load_refused(_edited(tmp, model_safetensors=lambda d: d[:-9]))


def _set_weights_nan(tmp):
    m = _model()
    w = m.get_weights()
    w[-1] = np.full_like(w[-1], np.nan)
    return (lambda: m.set_weights(w)), _unchanged_weights(m)


def _not_a_path(tmp):
    return (lambda: load_model(12345)), (lambda: None)


ERRORS = [
    ("layer-used-twice", _shared_layer, ValueError, r"already layer 0 .*single parameter buffer"),
    ("bce-target-3", _bce_targets, ValueError, r"binary_crossentropy needs targets in \[0, 1\].*from 0 to 3"),
    ("validation_freq-0", lambda t: _fit_refused(_model(), X, Y, validation_split=0.25, validation_freq=0, verbose=0),
     ValueError, r"validation_freq.*>= 1"),
    ("validation_freq--1", lambda t: _fit_refused(_model(), X, Y, validation_split=0.25, validation_freq=-1,
                                                  verbose=0), ValueError, r"validation_freq.*>= 1"),
    ("validation_freq-list-with-0", lambda t: _fit_refused(_model(), X, Y, validation_split=0.25,
                                                           validation_freq=[1, 0], verbose=0),
     ValueError, r"validation_freq item.*>= 1"),
    ("validation_freq-text", lambda t: _fit_refused(_model(), X, Y, validation_split=0.25, validation_freq="2",
                                                    verbose=0), TypeError, r"positive integer .* or a list"),
    ("validation_batch_size-0", lambda t: _fit_refused(_model(), X, Y, validation_split=0.25, validation_batch_size=0,
                                                       verbose=0), ValueError, r"validation_batch_size.*>= 1"),
    ("validation_batch_size-negative", lambda t: _fit_refused(_model(), X, Y, validation_split=0.25,
                                                              validation_batch_size=-4, verbose=0),
     ValueError, r"validation_batch_size.*>= 1"),
    ("verbose-loud", lambda t: _fit_refused(_model(), X, Y, verbose="loud"), ValueError, r"verbose.*'auto', 0"),
    ("callbacks-not-a-list", lambda t: _fit_refused(_model(), X, Y, verbose=0, callbacks=C.History()),
     TypeError, r"list of callbacks, got a single History.*callbacks=\[History"),
    ("callbacks-item-42", lambda t: _fit_refused(_model(), X, Y, verbose=0, callbacks=[42]),
     TypeError, r"callbacks\[0\].*tweaknet callback.*got int 42"),
    ("checkpoint-missing-key", _checkpoint_missing_key, KeyError, r"\{val_loss\}.*lack.*validation_data"),
    ("scheduler-returns-text", lambda t: _fit_refused(
        _model(), X, Y, verbose=0, callbacks=[C.LearningRateScheduler(lambda e, lr: "fast")]),
     TypeError, r"LearningRateScheduler.*'fast' \(str\)"),
    ("sparse-ce-label-0.5", lambda t: _fit_refused(_model(loss="sparse_categorical_crossentropy"), X,
                                                   np.where(np.arange(16) == 5, 0.5, 1.0), verbose=0),
     ValueError, r"integer class labels, got 0.5 at index \(5,\)"),
    ("x-ragged", lambda t: _fit_refused(_model(), [[1, 2, 3, 4], [1, 2]], Y[:2], verbose=0), ValueError,
     r"`x` is ragged"),
    ("x-dict", lambda t: _fit_refused(_model(), {"a": X}, Y, verbose=0), TypeError, r"got a dict.*not supported"),
    ("x-generator", lambda t: _fit_refused(_model(), (r for r in X), Y, verbose=0), TypeError,
     r"got a generator.*not supported"),
    ("x-complex", lambda t: _fit_refused(_model(), X + 1j, Y, verbose=0), TypeError, r"complex"),
    ("validation_data-rows", lambda t: _fit_refused(_model(), X, Y, validation_data=(X[:10], Y[:3]), verbose=0),
     ValueError, r"`validation_data\[0\]` has 10 samples but `validation_data\[1\]` has 3"),
    ("dense-1e7-on-1e5", lambda t: ((lambda: tn.Sequential([L.Dense(10**7, input_shape=(10**5,))])), lambda: None),
     MemoryError, r"'kernel' of shape \(100000, 10000000\) \(float32\) needs 3.73e\+03 GiB, more than this"),
    ("to_categorical-1e13", lambda t: ((lambda: to_categorical([1, 2], 10**13)), lambda: None), MemoryError,
     r"2 labels x 10000000000000 classes needs 7.45e\+04 GiB, more than this machine's"),
    ("set_weights-nan", _set_weights_nan, ValueError, r"weight 'bias'.*NaN or infinite"),
    ("save-over-read-only", _read_only_file, PermissionError, r"read-only file \(.*keep.tweaknet, mode 0444\)"),
    ("save_weights-over-read-only", _save_weights_read_only, PermissionError, r"read-only file \(.*w.safetensors"),
    ("save-missing-folder", _missing_folder, FileNotFoundError, r"cannot save \(.*no/such/m.tweaknet\)"),
    ("save-onto-folder", _save_onto_folder, IsADirectoryError, r"cannot save \(.*folder\): it is a folder"),
    ("load_model-12345", _not_a_path, TypeError, r"tweaknet: error: the model or weights file must be a file name \(a str or os\.PathLike"),
    ("load_weights-unbuilt", _load_weights_unbuilt, ValueError, r"w.safetensors\) into model .* not built"),
    ("load_weights-mismatch", _load_weights_mismatch, ValueError,
     r"w.safetensors: the weights do not fit .* file holds 6 array.*model 8.*weight 0 has shape \(4, 3\) in the "
     r"file"),
    ("load_weights-nan", _load_weights_nan, ValueError, r"w.safetensors: weight 0000:.*non-finite"),
    ("config-over-64-MiB", _padded_config, ValueError, r"edited.tweaknet: .*config.json is larger than 64 MiB"),
    ("state-over-64-MiB", _padded_state, ValueError, r"edited.tweaknet: .*state.json is larger than 64 MiB"),
    ("config-dense-100000", _huge_dense, ValueError,
     r"edited.tweaknet: the weights do not fit .*entry 0000 .* has shape \(4, 5\), config.json implies "
     r"\(100000, 100000\)"),
    ("config-100000-brackets", _nested_config, ValueError, r"config.json is nested too deeply"),
    ("state-iterations-negative", _negative_step, ValueError,
     r"edited.tweaknet: impossible optimizer state .*'iterations' must be a non-negative integer, got -5"),
    ("state-iterations-fraction", _float_step, ValueError, r"'iterations' must be a non-negative integer, got 2.5"),
    ("slot-v-negative", _negative_second_moment, ValueError, r"impossible optimizer state.*slot 'v'.*negative"),
    ("slot-wrong-shape", _wrong_slot_shape, ValueError, r"optimizer.safetensors slot 'm' has shape \(7,\)"),
    ("slot-missing", _missing_slot, ValueError, r"holds slots \['m'\], Adam keeps \['m', 'v'\]"),
    ("slot-inf", _nan_in_slot, ValueError, r"slot 'm' holds non-finite"),
    ("weights-nan-in-file", _nan_weight_in_file, ValueError, r"entry 0002 \(batch_normalization\w*/gamma\) holds 1 non-finite"),
    ("bn-variance-negative-in-file", _negative_variance_in_file, ValueError,
     r"entry 0005 \(batch_normalization\w*/moving_variance\) holds negative variances"),
    ("weights-shape-lie", _weights_shape_lie, ValueError, r"entry 0000 .* has shape \(5, 4\), config.json implies "
                                                          r"\(4, 5\)"),
    ("weights-entry-truncated", _truncated_weights_entry, ValueError, r"model.safetensors is truncated: the header declares \d+ bytes of data, the file holds \d+"),
    ("metrics-dict-in-file", _metric_dict_in_file, ValueError, r"compile settings .* 'metrics' must be a list of "
                                                               r"metric names"),
]


@pytest.mark.parametrize("build,exc,pattern", [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS])
def test_a_bad_input_gets_a_clear_error_and_nothing_stored_changes(tmp_path, build, exc, pattern):
    action, intact = build(tmp_path)
    with pytest.raises(exc) as info:
        action()
    assert type(info.value) is exc or exc is MemoryError, f"{type(info.value).__name__}: {info.value}"
    message = info.value.args[0] if isinstance(info.value, KeyError) else str(info.value)
    assert __import__("re").search(pattern, message), message
    intact()


# -- the behaviours: a right number, or the user's intent kept ------------------------------------------------
def _nan_model(n, classes):
    units = 1 if classes == 2 else classes
    m = tn.Sequential([L.Dense(units, input_shape=(4,), activation="sigmoid" if units == 1 else "softmax")])
    m.compile("sgd", "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.layers[0].kernel[...] = np.nan  # a diverged model: its outputs are NaN
    x = np.random.default_rng(1).random((n, 4)).astype("float32")
    y = (np.arange(n) % 10 == 0).astype("float32")  # 90% zeros: Keras scores NaN outputs 0.9 here
    return m, x, y if units == 1 else y.astype(int)


@pytest.mark.parametrize("classes", [2, 3])
def test_accuracy_counts_nan_predictions_as_wrong_and_the_loss_is_nan_on_both_paths(classes):
    m, x, y = _nan_model(200, classes)  # 200 samples: the reference path
    logs = m.evaluate(x, y, return_dict=True)
    assert logs["accuracy"] == 0.0 and np.isnan(logs["loss"])
    m, x, y = _nan_model(25_000, classes)  # over the compiled path's threshold (fast-math: bits tested)
    logs = m.evaluate(x, y, return_dict=True)
    assert logs["accuracy"] == 0.0 and np.isnan(logs["loss"])  # the loss's clip under fast-math made it 14.5
    healthy = tn.Sequential([L.Dense(1 if classes == 2 else 3, input_shape=(4,))])
    healthy.compile("sgd", "mse" if classes == 2 else "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert healthy.evaluate(x, y, return_dict=True)["accuracy"] > 0  # finite outputs still score


def test_a_model_builds_in_time_linear_in_its_layers(tmp_path):
    # probes: 12,000 Activation layers in a 3.4 KB file took 9.8 s (each add rebuilt the model)
    _, path = _trained(tmp_path)
    entries = _entries(path)
    config = json.loads(entries["config.json"])
    config["model"]["layers"][1:1] = [{"class_name": "Activation", "config": {"activation": "linear"}}] * 12_000
    entries["config.json"] = json.dumps(config).encode()
    big = _write(tmp_path / "many.tweaknet", entries)
    started = time.perf_counter()
    model = load_model(big)
    assert len(model.layers) == 12_003
    assert time.perf_counter() - started < 6.0  # 0.6 s here; quadratic was 9.8 s


def test_save_writes_through_a_symlink_to_its_target(tmp_path):
    m, target = _trained(tmp_path, "real.tweaknet")
    link = tmp_path / "link.tweaknet"
    link.symlink_to(target.name)
    before = target.read_bytes()
    m.fit(X, Y, epochs=1, verbose=0)
    m.save(link)
    assert link.is_symlink() and os.readlink(link) == "real.tweaknet"
    assert target.read_bytes() != before
    assert np.allclose(load_model(link).get_weights()[0], m.get_weights()[0])


def test_validation_freq_as_a_list_of_epochs_as_keras_3():
    m = _model()
    logs = m.fit(X, Y, epochs=4, validation_split=0.25, validation_freq=[1, 3], verbose=0).history
    assert [v == v for v in logs["val_loss"]] == [True, True]  # recorded at epochs 1 and 3 only
    assert len(logs["loss"]) == 4


def test_csv_logger_defuses_cells_that_start_like_formulas(tmp_path):
    from tweaknet.metrics import BinaryAccuracy
    m = tn.Sequential([L.Dense(1, input_shape=(4,), activation="sigmoid")])
    m.compile("sgd", "binary_crossentropy", metrics=[BinaryAccuracy(name='=HYPERLINK("http://x","y")')])
    m.fit(X, (X[:, 0] > 0.5).astype("float32"), epochs=1, verbose=0,
          callbacks=[C.CSVLogger(tmp_path / "log.csv")])
    import csv
    header = next(csv.reader(open(tmp_path / "log.csv", newline="")))
    assert "'=HYPERLINK(\"http://x\",\"y\")" in header
    assert not any(c.startswith(("=", "+", "@")) for c in header)


def test_normalization_adapt_on_28x28_images_matches_keras():
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(2).random((20, 28, 28)).astype("float32")
    ours = L.Normalization()
    ours.adapt(x)
    theirs = keras.layers.Normalization()
    theirs.adapt(x)
    assert ours.mean.shape == (28,)  # one statistic per last-axis feature, as Keras's axis=-1
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-4, atol=1e-4)


def test_an_initializer_returning_float64_is_cast_to_the_layer_type():
    layer = L.Dense(3, input_shape=(4,), kernel_initializer=lambda shape, dtype=None: np.ones(shape))
    m = tn.Sequential([layer, L.Dense(2)])
    assert m.get_weights()[0].dtype == np.float32 and m.count_params() == 23


def test_a_fifo_as_the_mnist_path_is_named_as_such(tmp_path):
    from tweaknet.datasets import mnist
    from tweaknet.datasets.idx import DataError
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file or folder"):
        mnist.load_data(path=fifo)


BEHAVIOURS = [test_accuracy_counts_nan_predictions_as_wrong_and_the_loss_is_nan_on_both_paths, test_a_model_builds_in_time_linear_in_its_layers,
              test_save_writes_through_a_symlink_to_its_target, test_validation_freq_as_a_list_of_epochs_as_keras_3,
              test_csv_logger_defuses_cells_that_start_like_formulas,
              test_normalization_adapt_on_28x28_images_matches_keras,
              test_an_initializer_returning_float64_is_cast_to_the_layer_type,
              test_a_fifo_as_the_mnist_path_is_named_as_such]


def test_the_tables_count_what_docs_reliability_states():
    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "reliability.md")).read()
    assert f"{len(ERRORS)} error cases" in text and f"{len(BEHAVIOURS)} behaviour cases" in text
