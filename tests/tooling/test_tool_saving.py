"""Saving: round trips for every layer, loss, optimizer and schedule, bit-exact resume, damaged files."""
import inspect
import json
import os
import re
import stat
import zipfile

import numpy as np
import pytest

pytest.importorskip("safetensors")

import tweaknet as tn  # noqa: E402
from tweaknet.models import load_model  # noqa: E402

L = tn.layers


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    return x, tn.utils.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0), 3)


def _every_layer():
    norm = L.Normalization(axis=-1, input_shape=(8,))
    norm.adapt(_data()[0])
    return tn.Sequential([norm, L.Dense(12, activation=tn.activations.LeakyReLU(0.1)), L.BatchNormalization(momentum=0.9),
                          L.Activation("tanh"), L.Dense(12), L.LeakyReLU(0.2), L.ELU(0.5), L.ReLU(max_value=6.0),
                          L.Dense(12, kernel_initializer=tn.initializers.RandomUniform(-0.1, 0.1),
                                  kernel_regularizer=tn.regularizers.l2(0.001)), L.Dropout(0.2), L.GaussianNoise(0.1),
                          L.Dropout(0.3, seed=3), L.GaussianNoise(0.3, seed=3), L.Flatten(),
                          L.Maxout(6),
                          L.Dense(3), L.Softmax()])


OPTIMIZERS = [lambda: tn.optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
              lambda: tn.optimizers.Adam(0.01, amsgrad=True), lambda: tn.optimizers.AdamW(0.01),
              lambda: tn.optimizers.RMSprop(0.01, momentum=0.5, centered=True), lambda: tn.optimizers.Adagrad(0.1),
              lambda: tn.optimizers.Nadam(0.01, global_clipnorm=1.0),
              lambda: tn.optimizers.SGD(tn.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5)),
              lambda: tn.optimizers.Adam(tn.optimizers.schedules.CosineDecay(0.005, 8, alpha=0.1, warmup_target=0.02,
                                                                             warmup_steps=3)),
              lambda: tn.optimizers.RMSprop(tn.optimizers.schedules.InverseTimeDecay(0.02, 2, 0.5, staircase=True)),
              lambda: tn.optimizers.Adagrad(tn.optimizers.schedules.PiecewiseConstantDecay([4, 8], [0.2, 0.1, 0.02])),
              lambda: tn.optimizers.Nadam(tn.optimizers.schedules.ExponentialDecay(0.02, 3, 0.7, staircase=True))]


def test_the_lists_cover_every_optimizer_and_schedule():
    made = [make() for make in OPTIMIZERS]
    optimizer_classes = {getattr(tn.optimizers, n) for n in tn.optimizers.__all__
                         if inspect.isclass(getattr(tn.optimizers, n))} - {tn.optimizers.Optimizer}
    assert optimizer_classes <= {type(o) for o in made}
    S = tn.optimizers.schedules
    schedule_classes = {c for c in vars(S).values() if inspect.isclass(c) and issubclass(c, S.LearningRateSchedule)
                        and not c.__name__.startswith("_") and c is not S.LearningRateSchedule}
    assert schedule_classes <= {type(o.schedule) for o in made if o.schedule is not None}


@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=lambda make: repr(make()))
def test_resume_from_a_saved_model_equals_uninterrupted_training(tmp_path, make_opt):
    x, y = _data()
    tn.utils.set_random_seed(1)
    straight = _every_layer()
    straight.compile(optimizer=make_opt(), loss="categorical_crossentropy", metrics=["accuracy"])
    straight.fit(x, y, epochs=2, batch_size=8, verbose=0)

    tn.utils.set_random_seed(1)
    first = _every_layer()
    first.compile(optimizer=make_opt(), loss="categorical_crossentropy", metrics=["accuracy"])
    first.fit(x, y, epochs=1, batch_size=8, verbose=0)
    first.save(tmp_path / "m.tweaknet")
    tn.utils.set_random_seed(999)  # whatever happens in between
    resumed = load_model(tmp_path / "m.tweaknet")
    assert [type(a) for a in resumed.layers] == [type(a) for a in first.layers]
    assert type(resumed.optimizer) is type(first.optimizer)
    assert resumed.optimizer.get_config() == first.optimizer.get_config()
    assert type(resumed.optimizer.schedule) is type(first.optimizer.schedule)
    assert resumed.optimizer.iterations == first.optimizer.iterations == 6
    for a, b in zip(resumed.get_weights(), first.get_weights()):
        np.testing.assert_array_equal(a, b)
    resumed.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(resumed.predict(x), straight.predict(x))


def test_save_and_load_weights(tmp_path):
    x, _ = _data()
    tn.utils.set_random_seed(2)
    a = _every_layer()
    a.build()
    a.save_weights(tmp_path / "w.safetensors")
    tn.utils.set_random_seed(3)
    b = _every_layer()
    b.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    a = tn.Sequential([L.Dense(4, input_shape=(8,))])
    a.build()
    a.save_weights(tmp_path / "w.safetensors")
    b = tn.Sequential([L.Dense(5, input_shape=(8,))])
    with pytest.raises(ValueError, match="shape"):
        b.load_weights(tmp_path / "w.safetensors")


def _saved(tmp_path):
    model = tn.Sequential([L.Dense(4, activation="relu", input_shape=(8,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(*_data(), epochs=1, verbose=0)
    path = tmp_path / "m.tweaknet"
    model.save(path)
    return path


def test_truncated_and_garbage_files(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    (tmp_path / "cut.tweaknet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged"):
        load_model(tmp_path / "cut.tweaknet")
    (tmp_path / "junk.tweaknet").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="damaged"):
        load_model(tmp_path / "junk.tweaknet")


def test_newer_format_version(tmp_path):
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    config = json.loads(parts["config.json"])
    config["format_version"] = 99
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "new.tweaknet", "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    with pytest.raises(ValueError, match="newer"):
        load_model(tmp_path / "new.tweaknet")


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = path.read_bytes()
    model = load_model(path)
    import tweaknet.saving.atomic as saving

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(saving.os, "fsync", boom)  # the crash comes after the new bytes were written
    with pytest.raises(RuntimeError):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


# -- round trips: every layer, every loss -------------------------------------------------------------

def _head():
    return [L.Dense(3, activation="softmax")]


def _normalization():
    norm = L.Normalization(input_shape=(8,))
    norm.adapt(_data()[0])
    return norm


# (id, layer class name, layers before the head); the first entry fixes the input shape (8,) unless noted.
LAYER_CASES = [
    ("Dense", "Dense", lambda: [L.Dense(6, activation="tanh", input_shape=(8,), use_bias=True)]),
    ("Activation", "Activation", lambda: [L.Dense(6, input_shape=(8,)), L.Activation("sigmoid")]),
    ("ReLU", "ReLU", lambda: [L.Dense(6, input_shape=(8,)), L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.1)]),
    ("LeakyReLU", "LeakyReLU", lambda: [L.Dense(6, input_shape=(8,)), L.LeakyReLU(0.2)]),
    ("ELU", "ELU", lambda: [L.Dense(6, input_shape=(8,)), L.ELU(0.7)]),
    ("Softmax", "Softmax", lambda: [L.Dense(6, input_shape=(8,)), L.Softmax()]),
    ("Flatten", "Flatten", lambda: [L.Flatten(input_shape=(2, 4)), L.Dense(6, activation="relu")]),
    ("BatchNormalization", "BatchNormalization",
     lambda: [L.Dense(6, input_shape=(8,)), L.BatchNormalization(momentum=0.8, epsilon=0.01)]),
    ("Maxout", "Maxout", lambda: [L.Dense(6, input_shape=(8,)), L.Maxout(3)]),
    ("Normalization", "Normalization", lambda: [_normalization(), L.Dense(6, activation="relu")]),
    ("Dropout", "Dropout", lambda: [L.Dense(6, input_shape=(8,)), L.Dropout(0.4)]),
    ("Dropout-seeded", "Dropout", lambda: [L.Dense(6, input_shape=(8,)), L.Dropout(0.4, seed=7)]),
    ("GaussianNoise", "GaussianNoise", lambda: [L.Dense(6, input_shape=(8,)), L.GaussianNoise(0.5)]),
    ("GaussianNoise-seeded", "GaussianNoise", lambda: [L.Dense(6, input_shape=(8,)), L.GaussianNoise(0.5, seed=7)]),
    ("Input", "Input", lambda: [L.Input(shape=(8,)), L.Dense(6, activation="relu")]),
    ("InputLayer", "InputLayer", lambda: [L.InputLayer(shape=(8,)), L.Dense(6, activation="relu")]),
]


def test_the_layer_cases_cover_every_layer():
    assert {name for _, name, _ in LAYER_CASES} == set(L.__all__) - {"Layer"}


def _round_trip(path, make_model, x, y, loss, make_opt=lambda: tn.optimizers.Adam(0.01)):
    """Train an epoch, save, train on; the loaded model must predict as the saved one did, hold its
    weights, and continue to the very same weights, bit for bit."""
    tn.utils.set_random_seed(5)
    model = make_model()
    model.compile(optimizer=make_opt(), loss=loss)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    saved_predictions, saved_weights = model.predict(x), model.get_weights()
    model.save(path)
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0)  # the uninterrupted run goes on
    loaded = load_model(path)
    assert [type(a) for a in loaded.layers] == [type(a) for a in model.layers]
    assert [a.get_config() for a in loaded.layers] == [a.get_config() for a in model.layers]
    assert type(loaded.loss) is type(model.loss) and loaded.loss.from_logits == model.loss.from_logits
    np.testing.assert_array_equal(loaded.predict(x), saved_predictions)
    assert len(loaded.get_weights()) == len(saved_weights)
    for a, b in zip(loaded.get_weights(), saved_weights):
        np.testing.assert_array_equal(a, b)
    loaded.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0)
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), saved_weights))  # it did train on
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    return loaded


@pytest.mark.parametrize("make_layers", [c[2] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_round_trip_of_every_layer(tmp_path, make_layers):
    x, y = _data()
    if isinstance(make_layers()[0], L.Flatten):
        x = x.reshape(len(x), 2, 4)
    _round_trip(tmp_path / "m.tweaknet", lambda: tn.Sequential([*make_layers(), *_head()]), x, y,
                "categorical_crossentropy")


def _targets(kind, x):
    cls = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    return {"regression": np.stack([x[:, 0] * 2 - x[:, 1], x[:, 2]], axis=1).astype(np.float32),
            "binary": (x[:, :1] > 0).astype(np.float32), "sparse": cls,
            "categorical": tn.utils.to_categorical(cls, 3)}[kind]


LOSS_CASES = [  # (id, output layer, loss, targets)
    ("mse", lambda: L.Dense(2), "mse", "regression"),
    ("MeanSquaredError", lambda: L.Dense(2), lambda: tn.losses.MeanSquaredError(), "regression"),
    ("binary", lambda: L.Dense(1, activation="sigmoid"), "binary_crossentropy", "binary"),
    ("binary-from_logits", lambda: L.Dense(1), lambda: tn.losses.BinaryCrossentropy(from_logits=True), "binary"),
    ("sparse", lambda: L.Dense(3, activation="softmax"), "sparse_categorical_crossentropy", "sparse"),
    ("sparse-from_logits", lambda: L.Dense(3),
     lambda: tn.losses.SparseCategoricalCrossentropy(from_logits=True), "sparse"),
    ("categorical", lambda: L.Dense(3, activation="softmax"), "categorical_crossentropy", "categorical"),
    ("categorical-from_logits", lambda: L.Dense(3),
     lambda: tn.losses.CategoricalCrossentropy(from_logits=True), "categorical"),
]


@pytest.mark.parametrize("make_out, loss, kind", [c[1:] for c in LOSS_CASES], ids=[c[0] for c in LOSS_CASES])
def test_round_trip_of_every_loss(tmp_path, make_out, loss, kind):
    x, _ = _data()
    y = _targets(kind, x)
    loss = loss() if callable(loss) else loss
    loaded = _round_trip(tmp_path / "m.tweaknet", lambda: tn.Sequential(
        [L.Dense(6, activation="tanh", input_shape=(8,)), L.Dropout(0.2), make_out()]), x, y, loss)
    want = tn.losses.get(loss)
    assert type(loaded.loss) is type(want) and loaded.loss.from_logits == want.from_logits


def test_the_loss_cases_cover_every_loss_with_and_without_logits():
    got = {(type(tn.losses.get(c[2]() if callable(c[2]) else c[2])).__name__,
            (c[2]() if callable(c[2]) else tn.losses.get(c[2])).from_logits) for c in LOSS_CASES}
    classes = {n for n in tn.losses.__all__ if inspect.isclass(getattr(tn.losses, n))} - {"Loss"}
    assert {name for name, _ in got} == classes
    assert {name for name, logits in got if logits} >= classes - {"MeanSquaredError"}


def test_a_seeded_noise_layer_gets_its_generator_back(tmp_path):
    model = tn.Sequential([L.Dense(4, input_shape=(8,)), L.Dropout(0.5, seed=11), L.GaussianNoise(1.0, seed=11)])
    model.build()
    x = np.ones((5, 4), np.float32)
    model.layers[1](x, training=True)
    model.layers[2](x, training=True)  # both generators have moved on from their seed
    model.save(tmp_path / "m.tweaknet")
    loaded = load_model(tmp_path / "m.tweaknet")
    for i, fresh in ((1, L.Dropout(0.5, seed=11)), (2, L.GaussianNoise(1.0, seed=11))):
        drawn = loaded.layers[i](x, training=True)
        np.testing.assert_array_equal(drawn, model.layers[i](x, training=True))
        assert not np.array_equal(drawn, fresh(x, training=True))  # not merely re-seeded


# -- damaged and foreign files: clear errors, in the right order ----------------------------------------

def _parts(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(path, parts):
    with zipfile.ZipFile(path, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b if isinstance(b, bytes) else json.dumps(b))
    return path


def _edited(tmp_path, config=None, state=None, drop=(), add=None):
    """A copy of a good file with config.json / state.json passed through the given functions."""
    parts = _parts(_saved(tmp_path))
    if config is not None:
        parts["config.json"] = config(json.loads(parts["config.json"]))
    if state is not None:
        parts["state.json"] = state(json.loads(parts["state.json"]))
    for n in drop:
        del parts[n]
    parts.update(add or {})
    return _write(tmp_path / "edited.tweaknet", parts)


def _load_error(path, *fragments, exc=ValueError):
    with pytest.raises(exc) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _with(d, **changes):
    d = dict(d)
    for k, v in changes.items():
        if v is _DELETE:
            del d[k]
        else:
            d[k] = v
    return d


_DELETE = object()


@pytest.mark.parametrize("where", ["central directory", "both headers"])
def test_a_renamed_optimizer_entry_is_damage_not_a_fresh_optimizer(tmp_path, where):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    name = b"optimizer.safetensors"
    spots = [m.start() for m in re.finditer(re.escape(name), bytes(data))]
    assert len(spots) == 2  # local header and central directory
    for at in spots[-1:] if where == "central directory" else spots:
        data[at + len(name) - 1] = ord("z")  # one byte: optimizer.safetensorz
    bad = tmp_path / "bad.tweaknet"
    bad.write_bytes(bytes(data))
    with zipfile.ZipFile(bad) as z:
        assert "optimizer.safetensorz" in z.namelist() and "optimizer.safetensors" not in z.namelist()
    _load_error(bad, "damaged", "optimizer.safetensors")


def test_a_missing_optimizer_entry_or_record_is_damage(tmp_path):
    _load_error(_edited(tmp_path, drop=["optimizer.safetensors"]), "damaged", "optimizer.safetensors")
    _load_error(_edited(tmp_path, state=lambda s: _with(s, optimizer_saved=_DELETE)),
                "does not record whether the optimizer state was saved")
    _load_error(_edited(tmp_path, state=lambda s: _with(s, optimizer_saved=False)), "optimizer.safetensors")
    _load_error(_edited(tmp_path, add={"extra.bin": b"x"}), "unexpected entries extra.bin")


def test_models_saved_before_training_or_compiling_load(tmp_path):
    model = tn.Sequential([L.Dense(3, input_shape=(8,))])
    model.save(tmp_path / "plain.tweaknet")
    assert json.loads(_parts(tmp_path / "plain.tweaknet")["state.json"])["optimizer_saved"] is False
    assert load_model(tmp_path / "plain.tweaknet").optimizer is None
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "compiled.tweaknet")
    assert json.loads(_parts(tmp_path / "compiled.tweaknet")["state.json"])["optimizer_saved"] is True
    loaded = load_model(tmp_path / "compiled.tweaknet")
    assert loaded.optimizer.iterations == 0
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_format_1_file_still_loads(tmp_path):
    def v1_state(s):
        return _with(s, optimizer_saved=_DELETE, layer_rng=_DELETE)
    path = _edited(tmp_path, config=lambda c: _with(c, format_version=1), state=v1_state)
    with_optimizer = load_model(path)
    assert with_optimizer.optimizer.iterations == 2  # one epoch of 48 samples in batches of 32
    path = _edited(tmp_path, config=lambda c: _with(c, format_version=1), state=lambda s: _with(
        v1_state(s), optimizer=_DELETE), drop=["optimizer.safetensors"])
    assert load_model(path).optimizer.iterations == 0


def test_the_format_version_is_checked_first(tmp_path):
    import tweaknet.saving as saving
    newer = saving.FORMAT_VERSION + 1
    path = _write(tmp_path / "new.tweaknet", {"config.json": {"format_version": newer, "graph": {"nodes": []}},
                                              "tensors.bin": b"\0" * 16})
    _load_error(path, f"newer format version {newer}, this tweaknet reads up to {saving.FORMAT_VERSION}; "
                      f"upgrade tweaknet")
    _load_error(_edited(tmp_path, config=lambda c: _with(c, format_version=_DELETE)), "no format_version")
    _load_error(_edited(tmp_path, config=lambda c: _with(c, format_version="1")), "invalid format_version '1'")
    _load_error(_write(tmp_path / "other.tweaknet", {"model.json": {}}), "no config.json")


def test_a_bad_config_gives_a_clear_error_naming_the_file(tmp_path):
    _load_error(_edited(tmp_path, config=lambda c: _with(c, model=_DELETE)), "no 'model'")
    _load_error(_edited(tmp_path, config=lambda c: _with(c, model=_with(c["model"], layers=None))),
                "'model.layers' must be a list")
    _load_error(_edited(tmp_path, config=lambda c: _with(c, model=_with(c["model"], layers=[None]))), "layer 0")

    def bogus(c):
        c["model"]["layers"][1]["config"]["bogus"] = 1
        return c
    _load_error(_edited(tmp_path, config=bogus), "layer 1 (Dense)", "unexpected argument 'bogus'")

    def unknown(c):
        c["model"]["layers"][0]["class_name"] = "Conv2D"
        return c
    _load_error(_edited(tmp_path, config=unknown), "layer 0", "Unknown layer 'Conv2D'")

    def wider(c):
        c["model"]["layers"][1]["config"]["units"] = 5
        return c
    _load_error(_edited(tmp_path, config=wider), "do not fit the architecture")

    def bad_optimizer(c):
        c["compile"]["optimizer"]["config"]["betta_1"] = 0.9
        return c
    _load_error(_edited(tmp_path, config=bad_optimizer), "compile settings", "betta_1")
    _load_error(_write(tmp_path / "list.tweaknet", {"config.json": [1, 2]}), "not a JSON object")
    _load_error(_edited(tmp_path, drop=["state.json"]), "missing state.json")
    _load_error(_edited(tmp_path, state=lambda s: _with(s, rng=_DELETE)), "random state")


def test_a_missing_file_raises_file_not_found_naming_it(tmp_path):
    path = tmp_path / "nowhere" / "m.tweaknet"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))) as info:
        load_model(path)
    assert info.value.filename == str(path)
    model = tn.Sequential([L.Dense(3, input_shape=(8,))])
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "w.safetensors"))):
        model.load_weights(tmp_path / "w.safetensors")


# -- the written files: mode and durability --------------------------------------------------------------

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and folder fsync")


@posix_only
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002], ids=oct)
def test_saved_files_get_the_mode_of_a_plain_write(tmp_path, umask):
    model = tn.Sequential([L.Dense(3, input_shape=(8,))])
    model.build()
    old = os.umask(umask)
    try:
        model.save(tmp_path / "m.tweaknet")
        model.save_weights(tmp_path / "w.safetensors")
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    want = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert want == 0o666 & ~umask
    for name in ("m.tweaknet", "w.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == want, oct((tmp_path / name).stat().st_mode)


@posix_only
def test_overwriting_keeps_the_files_mode_and_flushes_the_folder(tmp_path, monkeypatch):
    import tweaknet.saving.atomic as saving
    model = tn.Sequential([L.Dense(3, input_shape=(8,))])
    model.build()
    path = tmp_path / "m.tweaknet"
    model.save(path)
    os.chmod(path, 0o640)
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)
    monkeypatch.setattr(saving.os, "fsync", fsync)
    model.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert synced == [False, True]  # the file, then its folder
