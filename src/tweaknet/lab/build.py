"""From a normalized trial spec to data and a compiled ``Sequential`` model.

Data is loaded and preprocessed once per process per data spec (a worker running several trials
of one experiment reads MNIST once).  Preprocessing, in order: the first ``train_samples`` /
``test_samples`` samples (no randomness), flatten each sample, hold out the last
``validation_split`` of the training samples for validation (as Keras's ``fit(validation_split=)``
does), compute the statistics of the remaining training samples used for standardization (one scalar mean and std, per feature, or none; a
``Normalization`` layer at the model's input applies them), labels one-hot
(or integers).  Datasets: ``mnist`` (``tweaknet.datasets.mnist.load_data``), ``synthetic`` (a
small deterministic MNIST-shaped stand-in for smoke tests), or ``'package.module:function'``
returning ``((x_train, y_train), (x_test, y_test))`` like ``mnist.load_data``.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import json
from dataclasses import dataclass

import numpy as np

from .. import layers, losses, registry
from ..models import Sequential
from .spec import SpecError


@dataclass
class Data:
    """Flattened samples in their original type (uint8 pixels stay uint8: fit casts each batch), labels,
    and the training statistics that the model's leading ``Normalization`` layer applies (None: none)."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: np.ndarray | None = None
    variance: np.ndarray | None = None
    per_feature: bool = False
    #: sha256 (16 hex digits) of the arrays above: part of each trial's identity in the store, so that
    #: results trained on other data (``TWEAKNET_DATA``, another file) are never mixed or reused.
    fingerprint: str = ""
    #: the validation split (``data.validation_split``), None without one
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])


@functools.lru_cache(maxsize=1)
def _synthetic():
    """An MNIST-shaped stand-in for smoke tests: 6000 training and 1000 test uint8 images of 10 classes,
    each a shared background plus a faint class pattern under heavy noise (a small net reaches ~80%)."""
    rng = np.random.default_rng(512)
    protos = 0.5 * rng.random((28, 28)) ** 2 + 0.25 * rng.random((10, 28, 28)) ** 2

    def make(n):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = protos[y] * 255 * rng.uniform(0.5, 1.0, (n, 1, 1)) + rng.normal(0, 100, (n, 28, 28))
        return np.clip(x, 0, 255).astype(np.uint8), y

    return make(6000), make(1000)


def _raw(dataset: str):
    if dataset == "mnist":
        from ..datasets import mnist
        return mnist.load_data()
    if dataset == "synthetic":
        return _synthetic()
    module, _, name = dataset.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SpecError("data.dataset", f"cannot load {dataset!r}: {exc}") from None
    return fn()


def _subset(x, y, n, path, split):
    if n is None:
        return x, y
    if n > len(x):
        raise SpecError(path, f"asks for {n} {split} samples, but the dataset has {len(x)}")
    return x[:n].copy(), y[:n].copy()  # a copy: a view would keep the whole dataset in memory


@functools.lru_cache(maxsize=4)
def _load(key: str) -> Data:
    d = json.loads(key)
    (x_train, y_train), (x_test, y_test) = _raw(d["dataset"])
    num_classes = int(np.max(y_train)) + 1
    x_train, y_train = _subset(x_train, y_train, d["train_samples"], "data.train_samples", "training")
    x_test, y_test = _subset(x_test, y_test, d["test_samples"], "data.test_samples", "test")
    x_train = x_train.reshape(len(x_train), -1)
    x_test = x_test.reshape(len(x_test), -1)
    x_val = y_val = None
    if d.get("validation_split"):
        cut = int(len(x_train) * (1 - d["validation_split"]))
        if cut < 1 or cut == len(x_train):
            raise SpecError("data.validation_split", f"{d['validation_split']} of {len(x_train)} training samples "
                            f"leaves {'no training' if cut < 1 else 'no validation'} sample")
        x_train, x_val, y_train, y_val = x_train[:cut], x_train[cut:], y_train[:cut], y_train[cut:]
    mean = variance = None
    per_feature = d["standardize"] == "per_feature"
    if d["standardize"] != "none":
        # Statistics of the training samples; the model applies them (Normalization layer), so the
        # data keeps its compact type: 47 MB of uint8 MNIST instead of 188 MB of float32.
        from ..datasets import Standardizer
        st = Standardizer(per_feature=per_feature, epsilon=d["standardize_epsilon"])
        try:
            st.fit(x_train)
        except ValueError as exc:
            raise SpecError("data.standardize", str(exc)) from None
        mean, variance = np.asarray(st.mean_, np.float64), np.asarray(st.std_, np.float64) ** 2
    if d["labels"] == "one_hot":
        from ..utils import to_categorical
        labels = lambda y: None if y is None else to_categorical(y, num_classes)  # noqa: E731
    else:
        labels = lambda y: None if y is None else y.astype(np.int64)  # noqa: E731
    y_train, y_test, y_val = labels(y_train), labels(y_test), labels(y_val)
    digest = hashlib.sha256()
    for a in (x_train, y_train, x_test, y_test, mean, variance, x_val, y_val):
        if a is not None:
            if isinstance(a, np.ndarray) and a.ndim:
                a.flags.writeable = False
            a = np.asarray(a)
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(memoryview(np.ascontiguousarray(a).reshape(-1)).cast("B"))
    return Data(x_train, y_train, x_test, y_test, num_classes, mean, variance, per_feature, digest.hexdigest()[:16],
                x_val, y_val)


def load_data(data_spec: dict) -> Data:
    """The preprocessed data of a normalized ``data`` section (cached per process; arrays are read-only).

    A dataset that cannot be read (a bad ``TWEAKNET_DATA``, a damaged file) is a :class:`SpecError`
    naming the ``data`` section and the reader's explanation.
    """
    try:
        return _load(json.dumps(data_spec, sort_keys=True))
    except SpecError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise SpecError("data.dataset", f"cannot load {data_spec.get('dataset')!r}: {exc}") from None


def clear_cache() -> None:
    """Forget the data loaded by :func:`load_data` in this process."""
    _load.cache_clear()


def build_optimizer(spec: dict):
    args = {k: v for k, v in spec.items() if k not in ("name", "schedule")}
    if "schedule" in spec:
        s = dict(spec["schedule"])
        args["learning_rate"] = registry.lookup("schedule", s.pop("name"))(**s)
    return registry.lookup("optimizer", spec["name"])(**args)


def build_model(trial: dict, data: Data) -> Sequential:
    """The compiled, built model of a trial (weights drawn from the global generator: seed first).

    Standardized data gets a leading ``Normalization`` layer holding the training statistics.
    """
    input_dim = data.input_dim
    stack = []
    if data.mean is not None:
        stack.append(layers.Normalization(axis=-1 if data.per_feature else None, mean=data.mean,
                                          variance=data.variance, input_shape=(input_dim,)))
    for i, spec in enumerate(trial["model"]["layers"]):
        kw = {"kernel_initializer": spec["kernel_initializer"], "bias_initializer": spec["bias_initializer"],
              "use_bias": spec["use_bias"]}
        if i == 0 and not stack:
            kw["input_shape"] = (input_dim,)
        bn = spec["batch_norm"]
        bn_layer = (lambda: layers.BatchNormalization(momentum=spec["batch_norm_momentum"],
                                                      epsilon=spec["batch_norm_epsilon"]))
        if bn == "before":
            stack += [layers.Dense(spec["units"], **kw), bn_layer(), layers.Activation(spec["activation"])]
        else:
            stack.append(layers.Dense(spec["units"], activation=spec["activation"], **kw))
            if bn == "after":
                stack.append(bn_layer())
    model = Sequential(stack, name=trial.get("configuration") or None)
    model.build((None, input_dim))
    model.compile(optimizer=build_optimizer(trial["optimizer"]), loss=losses.get(trial["model"]["loss"]),
                  metrics=["accuracy"])
    return model


def check_trial(trial: dict) -> None:
    """Raise :class:`SpecError` if the trial cannot train: data, shapes, labels versus loss.

    Runs in the parent before any worker starts; it draws initial weights, so it saves and
    restores the global random state.
    """
    from .. import seeding
    data = load_data(trial["data"])
    out = trial["model"]["layers"][-1]["units"]
    last = f"model.layers.{len(trial['model']['layers']) - 1}.units"
    context = f"configuration {trial['configuration']!r}"
    if out != data.num_classes:
        raise SpecError(last, f"the output layer has {out} units but the data has {data.num_classes} classes",
                        context)
    state = seeding.get_state()
    try:
        model = build_model(trial, data)
        model.evaluate(data.x_test[:2], data.y_test[:2], verbose=0)
        # A few steps of training, as the trial trains: this also compiles the compiled path's kernels for
        # this model once, here, into numba's on-disk cache, instead of in every worker at the same time.
        batch = trial["train"]["batch_size"]
        n = min(len(data.x_train), 2 * batch + 1)
        model.fit(data.x_train[:n], data.y_train[:n], batch_size=batch, epochs=1, shuffle=False, verbose=0)
    except (TypeError, ValueError) as exc:
        raise SpecError("model", str(exc), context) from None
    finally:
        seeding.set_state(state)
