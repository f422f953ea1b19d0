"""From a normalized trial spec to data and a compiled ``Sequential`` model.

Data is loaded and preprocessed once per process per data spec (a worker running several trials
of one experiment reads MNIST once).  Preprocessing, in order: the first ``train_samples`` /
``test_samples`` samples (no randomness), flatten each sample, hold out the last
``validation_split`` of the training samples for validation (as Keras's ``fit(validation_split=)``
does), compute the statistics of the remaining training samples used for standardization (one scalar mean and std, per feature, or none; a
``Normalization`` layer at the model's input applies them), labels one-hot
(or integers).  Datasets: ``mnist`` (``tweaknet.datasets.mnist.load_data``), ``synthetic`` (a
small deterministic MNIST-shaped stand-in for smoke tests), or a loader marked as code,
``{python = "package.module:function"}``, returning ``((x_train, y_train), (x_test, y_test))`` like
``mnist.load_data``: it runs only with the user's consent (:func:`load_data`).
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import os
import sys
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


#: The environment variable that allows the data loaders of experiment files to run, as ``--allow-code`` does.
ALLOW_CODE_ENV = "TWEAKNET_ALLOW_CODE"


def code_allowed(allow=None) -> bool:
    """``allow`` if given, else whether ``TWEAKNET_ALLOW_CODE`` is set to 1 (or true, yes)."""
    if allow is not None:
        return bool(allow)
    return os.environ.get(ALLOW_CODE_ENV, "").strip().lower() in ("1", "true", "yes")


def loader(data_spec: dict) -> str | None:
    """``'package.module:function'`` when the data comes from Python code (``dataset = {python = ...}``)."""
    dataset = data_spec.get("dataset")
    return dataset["python"] if isinstance(dataset, dict) else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _pairs(result, ref):
    """The loader's result as ``((x_train, y_train), (x_test, y_test))`` of arrays, or a SpecError."""
    try:
        (x_train, y_train), (x_test, y_test) = result
        arrays = [np.asarray(a) for a in (x_train, y_train, x_test, y_test)]
    except (TypeError, ValueError):
        raise SpecError("data.dataset", f"the loader {ref} returned {type(result).__name__}, not "
                        f"((x_train, y_train), (x_test, y_test)) as tweaknet.datasets.mnist.load_data does") from None
    for a, what in zip(arrays, ("x_train", "y_train", "x_test", "y_test")):
        if a.dtype == object or a.ndim == 0 or not len(a):
            raise SpecError("data.dataset", f"the loader {ref} returned {what} of shape {a.shape} and type "
                            f"{a.dtype}: it must be a non-empty array of numbers")
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def _raw(dataset):
    if dataset == "mnist":
        from ..datasets import mnist
        return mnist.load_data()
    if dataset == "synthetic":
        return _synthetic()
    ref = dataset["python"]
    if _running:
        raise SpecError("data.dataset", f"the loader {_running[0]} ran a data loader itself ({ref}): a loader must "
                                        f"return its data, not run tweaknet")
    _running.append(ref)
    try:
        return _call_loader(ref)
    finally:
        _running.pop()


#: The loader running now (a loader that runs tweaknet again would recurse without end).
_running: list = []


def _call_loader(ref):
    module, _, name = ref.partition(":")
    # The user allowed this code (see load_data): whatever it raises, SystemExit included, is reported as
    # the loader's failure; only Ctrl-C keeps its meaning.  It can still end the process (os.abort).
    try:
        fn = getattr(importlib.import_module(module), name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise SpecError("data.dataset", f"cannot load the loader {ref}: {_describe(exc)}") from None
    stdin = sys.stdin
    sys.stdin = io.StringIO()  # a loader that asks (input()) reads end-of-file instead of waiting forever
    try:
        result = fn()
        sys.settrace(None)  # a loader that started a debugger (pdb.set_trace) stops it here, inside this try
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise SpecError("data.dataset", f"the loader {ref} failed: {_describe(exc)}") from None
    finally:
        sys.stdin = stdin
    return _pairs(result, ref)


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


def load_data(data_spec: dict, allow_code=None) -> Data:
    """The preprocessed data of a normalized ``data`` section (cached per process; arrays are read-only).

    A loader written in Python (``dataset = {python = "package.module:function"}``) runs only when code is
    allowed: ``allow_code=True``, else ``TWEAKNET_ALLOW_CODE=1`` (``--allow-code`` on the command line);
    otherwise :class:`SpecError` says how to allow it.  An allowed loader is trusted code: it runs in
    this process, with its rights.  A dataset that cannot be read (a bad ``TWEAKNET_DATA``, a damaged
    file, a loader that fails) is a :class:`SpecError` naming the ``data`` section and the reason.
    """
    ref = loader(data_spec)
    if ref is not None and not code_allowed(allow_code):
        raise SpecError("data.dataset", f"the data comes from Python code ({ref}), which runs only when you allow "
                        f"it: add --allow-code (or set {ALLOW_CODE_ENV}=1) if you trust that code; it runs with "
                        f"your rights")
    try:
        return _load(json.dumps(data_spec, sort_keys=True))
    except SpecError:
        raise
    except (OSError, ValueError, TypeError, MemoryError) as exc:
        raise SpecError("data.dataset", f"cannot load {ref or data_spec.get('dataset')!r}: {exc}") from None


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


def memory_bytes() -> int:
    """This machine's physical memory (2**40 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2 ** 40


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def check_sizes(trial: dict, data: Data) -> None:
    """Raise :class:`SpecError` before anything is allocated when the trial's model cannot fit in this
    machine's memory: about 6 float32 copies of the weights (weights, gradients, two optimizer slots, the
    compiled path's working copies) and 4 of each batch's activations."""
    n_in, weights, widest, units_total = data.input_dim, 0, (0, 0), 0
    for i, layer in enumerate(trial["model"]["layers"]):
        w = (n_in + 1) * layer["units"]
        weights += w
        widest = max(widest, (w, i))
        units_total += layer["units"]
        n_in = layer["units"]
    batch = min(trial["train"]["batch_size"], len(data.x_train))
    need = 4 * (6 * weights + 4 * batch * units_total)
    have = memory_bytes()
    if need > have:
        i = widest[1]
        raise SpecError(f"model.layers.{i}.units", f"{trial['model']['layers'][i]['units']:,} units make a model "
                        f"of {weights:,} weights that needs about {_size(need)} of memory to train, more than this "
                        f"machine's {_size(have)}: use fewer units", f"configuration {trial['configuration']!r}")


def check_shapes(trial: dict, data: Data) -> None:
    """Raise :class:`SpecError` if the output layer does not fit the labels, or the model cannot fit in
    memory (:func:`check_sizes`); builds nothing."""
    out = trial["model"]["layers"][-1]["units"]
    last = f"model.layers.{len(trial['model']['layers']) - 1}.units"
    if out != data.num_classes:
        raise SpecError(last, f"the output layer has {out} units but the data has {data.num_classes} classes",
                        f"configuration {trial['configuration']!r}")
    check_sizes(trial, data)


def check_trial(trial: dict, allow_code=None) -> None:
    """Raise :class:`SpecError` if the trial cannot train: data, shapes, labels versus loss.

    Runs in the parent before any worker starts; it draws initial weights, so it saves and
    restores the global random state.
    """
    from .. import seeding
    data = load_data(trial["data"], allow_code)
    check_shapes(trial, data)
    context = f"configuration {trial['configuration']!r}"
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
