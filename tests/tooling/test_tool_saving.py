"""Saving: round trips for every layer and optimizer, bit-exact resume, and damaged files."""
import json
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
    return tn.Sequential([norm, L.Dense(12, activation=tn.activations.LeakyRelu(0.1)), L.BatchNormalization(momentum=0.9),
                          L.Activation("tanh"), L.Dense(12), L.LeakyReLU(0.2), L.ELU(0.5), L.ReLU(max_value=6.0),
                          L.Dense(12, kernel_initializer=tn.initializers.RandomUniform(-0.1, 0.1),
                                  kernel_regularizer=tn.regularizers.l2(0.001)), L.Dropout(0.2), L.GaussianNoise(0.1),
                          L.Maxout(6),
                          L.Dense(3), L.Softmax()])


OPTIMIZERS = [lambda: tn.optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
              lambda: tn.optimizers.Adam(0.01, amsgrad=True), lambda: tn.optimizers.AdamW(0.01),
              lambda: tn.optimizers.RMSprop(0.01, momentum=0.5, centered=True), lambda: tn.optimizers.Adagrad(0.1),
              lambda: tn.optimizers.Nadam(0.01, global_clipnorm=1.0),
              lambda: tn.optimizers.SGD(tn.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5))]


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
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
    import tweaknet.saving as saving

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(saving.os, "fsync", boom)  # the crash comes after the new bytes were written
    with pytest.raises(RuntimeError):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []
