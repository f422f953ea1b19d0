"""The compiled path equals the reference path for every registered technique (issue 11), driven by the registries.

The cases are generated from ``tweaknet.registry`` (kinds "activation", "loss", "optimizer", "regularizer",
"layer", "schedule", "metric"), one case per registered object (its lowercase names deduplicated by
object), with the switches found by introspecting the constructors: a newly registered technique is
covered without editing this file.  Each case builds a small, non-chaotic model that uses the technique,
trains it ``STEPS`` optimizer steps twice from the same seed, once inside ``fast.reference_only()`` and once
normally, and compares weights (moving statistics included), optimizer slots, the epoch logs,
``evaluate`` and ``predict``: relative difference at most 1e-5 in float32 and 1e-12 in float64, relative to
the largest magnitude of each array.  The normal run must take the compiled path (``fast.explain``).

Only the few constructor arguments that cannot be guessed live in tables here (``LAYER_ARGS``,
``SCHEDULE_ARGS``, ``CLIP_VALUES``); a new layer without an entry is built with its defaults.

Accuracy logs count decisions: one sample's decision per epoch may differ (an output within round-off of
0.5 or of a tie), nothing more.  Every case also compares the global generator's state after ``fit`` and
each seeded layer's own (the same random stream on both paths), and ``predict`` of the compiled model's
weights on both paths.

To keep the compile time down, most cases share one structure: the base model ``Dense(8, tanh) ->
Dense(3, softmax)``, categorical cross-entropy, Adam, batch 4, float32, with one thing changed.
"""
from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

pytest.importorskip("numba")

import tweaknet as tn  # noqa: E402
from tweaknet import fast, registry, seeding  # noqa: E402

STEPS = 200                      # optimizer steps per case
N_IN, N_HIDDEN, N_OUT = 6, 8, 3  # the small model
N_TEST = 64                      # samples for evaluate / predict
SEED = 3
RTOL = {"float32": 1e-5, "float64": 1e-12}
DTYPES = ("float32", "float64")


@pytest.fixture(autouse=True)
def _restore_floatx():
    """Each case sets floatx for its dtype; put the setting back afterwards."""
    floatx = tn.config.floatx()
    yield
    tn.config.set_floatx(floatx)


# ----------------------------------------------------------------------------------- the registries
def registered(kind: str) -> list[tuple[str, object]]:
    """``(name, object)`` for every object registered under ``kind``: its lowercase names grouped by object,
    the longest one kept (``binary_crossentropy`` rather than ``bce``), sorted by name."""
    by_object: dict[int, tuple[object, list[str]]] = {}
    for name in registry.names(kind):
        if name != name.lower():
            continue
        obj = registry.lookup(kind, name)
        by_object.setdefault(id(obj), (obj, []))[1].append(name)
    return sorted(((max(names, key=lambda n: (len(n), n)), obj) for obj, names in by_object.values()),
                  key=lambda item: item[0])


def own_parameters(cls) -> dict[str, inspect.Parameter]:
    """The named parameters of ``cls.__init__`` (no self, no **kwargs)."""
    return {p: par for p, par in inspect.signature(cls.__init__).parameters.items()
            if p != "self" and par.kind not in (par.VAR_KEYWORD, par.VAR_POSITIONAL)}


def bool_switches(cls) -> list[str]:
    """Constructor arguments whose default is a bool: each is flipped in one case."""
    return [p for p, par in own_parameters(cls).items() if isinstance(par.default, bool)]


def activation_name(cls) -> str:
    """The registered activation name of an activation class (a loss's ``fuses_with``)."""
    return next(name for name, obj in registered("activation") if obj is cls)


# ----------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    id: str
    layers: Callable[[], list]        # fresh layers (the first without an input shape)
    compile: Callable[[], dict]       # fresh optimizer, loss and metrics for model.compile
    targets: str = "onehot"           # onehot | binary | sparse
    batch_size: int = 4
    dtype: str = "float32"
    input_shape: tuple = (N_IN,)
    raw_inputs: bool = False          # un-standardized inputs (for a Normalization layer)
    partial_batch: bool = False       # the epoch ends with a smaller batch
    extra: dict = field(default_factory=dict)


def dense_stack(hidden="tanh", output="softmax", middle=(), **dense_kw):
    """``Dense(8, hidden) -> *middle -> Dense(3, output)``: the base model when ``middle`` is empty."""
    return lambda: [tn.layers.Dense(N_HIDDEN, activation=hidden, **dense_kw), *[m() for m in middle],
                    tn.layers.Dense(N_OUT, activation=output, **dense_kw)]


def metrics_for(targets):
    return ["binary_accuracy"] if targets == "binary" else ["accuracy"]


def compile_with(optimizer=lambda: tn.optimizers.Adam(0.005), loss=lambda: "categorical_crossentropy",
                 targets="onehot"):
    return lambda: dict(optimizer=optimizer(), loss=loss(), metrics=metrics_for(targets))


BASE = dict(layers=dense_stack(), compile=compile_with())


def case(id, **kw):
    spec = dict(BASE)
    spec.update(kw)
    dtype = spec.get("dtype", "float32")
    batch = spec.get("batch_size", 4)
    return pytest.param(Case(id=f"{id}-{dtype}-b{batch}", **spec), id=f"{id}-{dtype}-b{batch}")


# -- activations: each in a hidden Dense layer, in an Activation layer and at the output (with MSE), in one model
#    (one structure per activation), in both dtypes and at batch 1
def activation_model(name):
    return lambda: [tn.layers.Dense(N_HIDDEN, activation=name), tn.layers.Dense(N_HIDDEN),
                    tn.layers.Activation(name), tn.layers.Dense(N_OUT, activation=name)]


def activation_cases():
    out = []
    for name, _ in registered("activation"):
        comp = compile_with(loss=lambda: "mse")
        for dtype in DTYPES:
            out.append(case(f"activation-{name}", layers=activation_model(name), compile=comp, dtype=dtype))
        out.append(case(f"activation-{name}", layers=activation_model(name), compile=comp, batch_size=1))
    return out


# -- losses: from_logits False (with the partner output activation, and with another one) and True
def loss_targets(name, cls):
    """Targets from the loss's ``integer_targets`` attribute and its name."""
    if getattr(cls, "integer_targets", False):
        return "sparse"
    if "binary" in name or (getattr(cls, "fuses_with", None) is not None and
                            activation_name(cls.fuses_with) == "sigmoid"):
        return "binary"
    return "onehot"


def loss_variants(name, cls):
    """``(label, from_logits, output activation)`` for one loss."""
    partner = getattr(cls, "fuses_with", None)
    partner = activation_name(partner) if partner is not None else "linear"
    other = "softmax" if partner == "sigmoid" else "sigmoid"
    variants = [(f"probabilities-{partner}", False, partner), (f"probabilities-{other}", False, other)]
    if "from_logits" in own_parameters(cls):
        variants.append(("from_logits", True, "linear"))
    return variants


def loss_cases():
    out = []
    for name, cls in registered("loss"):
        targets = loss_targets(name, cls)
        variants = loss_variants(name, cls)
        for label, logits, output in variants:
            comp = compile_with(loss=lambda c=cls, lg=logits: c(from_logits=True) if lg else c(), targets=targets)
            out.append(case(f"loss-{name}-{label}", layers=dense_stack(output=output), compile=comp,
                            targets=targets))
            if (label, logits, output) == variants[0] or logits:   # the partner output and logits
                for kw in (dict(dtype="float64"), dict(batch_size=1)):
                    out.append(case(f"loss-{name}-{label}", layers=dense_stack(output=output), compile=comp,
                                    targets=targets, **kw))
        n = STEPS // 2 * 4
        out.append(case(f"loss-{name}-full-batch", layers=dense_stack(output=variants[0][2]),
                        compile=compile_with(loss=lambda c=cls: c(), targets=targets), targets=targets,
                        batch_size=n, extra={"n": n, "epochs": STEPS}))
    return out


# -- optimizers: defaults, each bool switch flipped (with momentum 0.5 too where it exists), momentum 0.5,
#    weight_decay set; then the clipping modes of the base class with a few optimizers
def optimizer_variants(cls) -> list[tuple[str, dict]]:
    params = own_parameters(cls)
    variants = [("defaults", {})]
    for p in bool_switches(cls):
        flipped = {p: not params[p].default}
        variants.append((f"{p}={flipped[p]}", flipped))
        if "momentum" in params:
            variants.append((f"{p}={flipped[p]}-momentum", {**flipped, "momentum": 0.5}))
    if "momentum" in params:
        variants.append(("momentum", {"momentum": 0.5}))
    if "weight_decay" in params:
        variants.append(("weight_decay", {"weight_decay": 0.01}))
    if len(variants) > 2:
        everything = {k: v for _, kw in variants for k, v in kw.items()}
        variants.append(("all-switches", everything))
    return variants


def optimizer_cases():
    out = []
    for name, cls in registered("optimizer"):
        for label, kw in optimizer_variants(cls):
            comp = compile_with(optimizer=lambda c=cls, k=kw: c(**k))
            out.append(case(f"optimizer-{name}-{label}", compile=comp))
            if label in ("defaults", "all-switches"):
                out.append(case(f"optimizer-{name}-{label}", compile=comp, dtype="float64"))
                out.append(case(f"optimizer-{name}-{label}", compile=comp, batch_size=1))
    return out


#: A value for each clipping argument of the optimizer base class that clips a part of the gradients here.
CLIP_VALUES = {"clipnorm": 0.05, "global_clipnorm": 0.1, "clipvalue": 0.005}
CLIP_OPTIMIZERS = {"sgd-momentum": lambda **k: tn.optimizers.SGD(0.05, momentum=0.5, **k),
                   "adam": lambda **k: tn.optimizers.Adam(0.005, **k),
                   "rmsprop": lambda **k: tn.optimizers.RMSprop(0.005, **k)}


def clip_modes() -> list[str]:
    return [p for p in own_parameters(tn.optimizers.Optimizer) if "clip" in p]


def clip_cases():
    out = []
    for mode in clip_modes():
        value = CLIP_VALUES.get(mode, 0.05)
        for opt_name, make in CLIP_OPTIMIZERS.items():
            comp = compile_with(optimizer=lambda m=make, k={mode: value}: m(**k))
            out.append(case(f"clip-{mode}-{opt_name}", compile=comp))
            if opt_name == "adam":
                out.append(case(f"clip-{mode}-{opt_name}", compile=comp, dtype="float64"))
                out.append(case(f"clip-{mode}-{opt_name}", compile=comp, batch_size=1))
    return out


# -- schedules: required arguments from a table by parameter name; each bool switch flipped; warmup where offered
SCHEDULE_ARGS = {"initial_learning_rate": 0.01, "decay_steps": 150, "decay_rate": 0.5,
                 "boundaries": [60, 140], "values": [0.01, 0.005, 0.002]}
SCHEDULE_OPTIMIZERS = {"sgd-momentum": lambda lr: tn.optimizers.SGD(lr, momentum=0.5),
                       "adam": lambda lr: tn.optimizers.Adam(lr)}
SCHEDULE_OPTIONS = {"warmup_target": {"initial_learning_rate": 0.0, "warmup_target": 0.01, "warmup_steps": 40,
                                      "decay_steps": 200}}


def schedule_variants(cls) -> list[tuple[str, dict]]:
    params = own_parameters(cls)
    missing = [p for p, par in params.items() if par.default is inspect.Parameter.empty and p not in SCHEDULE_ARGS]
    assert not missing, f"add a value for {missing} of schedule {cls.__name__} to SCHEDULE_ARGS"
    base = {p: SCHEDULE_ARGS[p] for p, par in params.items() if par.default is inspect.Parameter.empty}
    variants = [("defaults", base)]
    for p in bool_switches(cls):
        variants.append((f"{p}={not params[p].default}", {**base, p: not params[p].default}))
    for p, extra in SCHEDULE_OPTIONS.items():
        if p in params:
            variants.append((p, {**base, **extra}))
    return variants


def schedule_cases():
    out = []
    for name, cls in registered("schedule"):
        for label, kw in schedule_variants(cls):
            for opt_name, make in SCHEDULE_OPTIMIZERS.items():
                comp = compile_with(optimizer=lambda m=make, c=cls, k=kw: m(c(**k)))
                out.append(case(f"schedule-{name}-{label}-{opt_name}", compile=comp))
                if opt_name == "adam":
                    out.append(case(f"schedule-{name}-{label}-{opt_name}", compile=comp, dtype="float64"))
                    if label == "defaults":
                        out.append(case(f"schedule-{name}-{label}-{opt_name}", compile=comp, batch_size=1))
    return out


# -- regularizers: numeric arguments that default to 0 or None set to 0.01 (so L1L2() penalizes both);
#    on the kernels, or the kernels and the biases; and on an ELU network trained with plain SGD
def regularizer_instance(cls):
    kw = {p: 0.01 for p, par in own_parameters(cls).items()
          if par.default in (0, 0.0, None) and not isinstance(par.default, bool)}
    return cls(**kw)


def regularizer_cases():
    out = []
    for name, cls in registered("regularizer"):
        for where in ("kernel", "kernel+bias"):
            def kw(c=cls, w=where):
                return {f"{x}_regularizer": regularizer_instance(c) for x in w.split("+")}

            def layers(kw=kw):
                return [tn.layers.Dense(N_HIDDEN, activation="tanh", **kw()),
                        tn.layers.Dense(N_OUT, activation="softmax", **kw())]
            out.append(case(f"regularizer-{name}-{where}", layers=layers))
            if where == "kernel+bias":
                out.append(case(f"regularizer-{name}-{where}", layers=layers, dtype="float64"))
                out.append(case(f"regularizer-{name}-{where}", layers=layers, batch_size=1))
        out.append(case(f"regularizer-{name}-elu-sgd",
                        layers=lambda c=cls: [tn.layers.Dense(N_HIDDEN, activation="elu",
                                                              kernel_regularizer=regularizer_instance(c)),
                                              tn.layers.Dense(N_OUT, activation="softmax",
                                                              kernel_regularizer=regularizer_instance(c))],
                        compile=compile_with(optimizer=lambda: tn.optimizers.SGD(0.05))))
    return out


# -- layers: each registered layer in the middle of the base model (an input layer first), with the constructor
#    arguments of LAYER_ARGS or its defaults; its bool switches flipped; the extra variants of LAYER_EXTRA
LAYER_ARGS = {
    "activation": {"activation": "tanh"},
    "dense": {"units": 5, "activation": "relu"},
    "dropout": {"rate": 0.2},
    "gaussian_noise": {"stddev": 0.1},
    "maxout": {"num_units": 4},
    "normalization": {"mean": 0.5, "variance": 2.0},
    "input_layer": {"shape": (N_IN,)},
}
LAYER_EXTRA = {
    "relu_layer": [("max_value-negative_slope-threshold", {"max_value": 1.0, "negative_slope": 0.1, "threshold": 0.2})],
    "leaky_relu_layer": [("negative_slope", {"negative_slope": 0.05})],
    "elu_layer": [("alpha", {"alpha": 0.5})],
    "batch_normalization": [("momentum-epsilon", {"momentum": 0.9, "epsilon": 1e-2})],
    "dropout": [("seeded", {"rate": 0.3, "seed": 11})],
    "gaussian_noise": [("seeded", {"stddev": 0.2, "seed": 11})],
}


def layer_placement(cls):
    """``(position, activation of the Dense layer before it)``: an input layer comes first; an activation
    layer or a Maxout follows a linear Dense layer, any other layer a tanh one."""
    if issubclass(cls, tn.layers.InputLayer):
        return "first", "tanh"
    if issubclass(cls, (tn.layers.Activation, tn.layers.Maxout)):
        return "middle", "linear"
    return "middle", "tanh"


def layer_model(cls, kw):
    where, before = layer_placement(cls)
    if where == "first":
        return lambda: [cls(**kw), *dense_stack()()]
    return dense_stack(hidden=before, middle=[lambda: cls(**kw)])


def layer_variants(name, cls):
    base = dict(LAYER_ARGS.get(name, {}))
    params = own_parameters(cls)
    variants = [("defaults", base)]
    for p in bool_switches(cls):
        variants.append((f"{p}={not params[p].default}", {**base, p: not params[p].default}))
    variants += [(label, {**base, **kw}) for label, kw in LAYER_EXTRA.get(name, [])]
    return variants


def layer_cases():
    out = []
    for name, cls in registered("layer"):
        for label, kw in layer_variants(name, cls):
            model = layer_model(cls, kw)
            out.append(case(f"layer-{name}-{label}", layers=model))
            if label == "defaults":
                out.append(case(f"layer-{name}-{label}", layers=model, dtype="float64"))
                out.append(case(f"layer-{name}-{label}", layers=model, batch_size=1))
    return out


# -- metrics: each registered metric with targets decided by its name
def metric_cases():
    out = []
    for name, _ in registered("metric"):
        targets = "sparse" if "sparse" in name else "binary" if "binary" in name else "onehot"
        loss = {"sparse": "sparse_categorical_crossentropy", "binary": "binary_crossentropy",
                "onehot": "categorical_crossentropy"}[targets]
        output = "sigmoid" if targets == "binary" else "softmax"
        out.append(case(f"metric-{name}", layers=dense_stack(output=output), targets=targets,
                        compile=lambda m=name, lo=loss: dict(optimizer=tn.optimizers.Adam(0.005), loss=lo,
                                                             metrics=[m])))
    out.append(case("metric-none", compile=lambda: dict(optimizer=tn.optimizers.Adam(0.005),
                                                         loss="categorical_crossentropy")))
    return out


# -- the chapter's techniques in the places a reader puts them.  A Dense layer right before batch normalization
# has no bias (as Keras's examples write it): the normalization removes it, so its gradient is pure round-off,
# which Adam's normalized step turns into a random walk that differs between any two summation orders.
def bn_before(batch_norm=lambda: tn.layers.BatchNormalization()):
    return lambda: [tn.layers.Dense(N_HIDDEN, use_bias=False), batch_norm(), tn.layers.Activation("relu"),
                    tn.layers.Dense(N_OUT, activation="softmax")]


def bn_after(batch_norm=lambda: tn.layers.BatchNormalization()):
    return lambda: [tn.layers.Dense(N_HIDDEN, activation="relu"), batch_norm(),
                    tn.layers.Dense(N_OUT, activation="softmax")]


def kitchen_sink():
    return [tn.layers.Dense(16, use_bias=False), tn.layers.BatchNormalization(), tn.layers.LeakyReLU(),
            tn.layers.Dropout(0.1),
            tn.layers.Dense(N_HIDDEN, activation="elu", kernel_regularizer=tn.regularizers.L2(0.01)),
            tn.layers.GaussianNoise(0.05), tn.layers.Dense(N_HIDDEN), tn.layers.Maxout(4),
            tn.layers.Dense(N_OUT, activation="softmax", bias_regularizer=tn.regularizers.L1(0.01))]


def technique_cases():
    out = []
    for dtype, batch in (("float32", 8), ("float64", 8), ("float32", 1)):
        out.append(case("batchnorm-before-activation", layers=bn_before(), dtype=dtype, batch_size=batch))
        out.append(case("batchnorm-after-activation", layers=bn_after(), dtype=dtype, batch_size=batch))
    out.append(case("batchnorm-before-activation-partial-batch", layers=bn_before(), batch_size=7, partial_batch=True))
    out.append(case("batchnorm-after-activation-no-center-no-scale",
                    layers=bn_after(lambda: tn.layers.BatchNormalization(center=False, scale=False)), batch_size=8))
    # dropout and noise: the same random stream on both paths (the global generator, or the layer's own); every
    # case also compares the generators' states after fit; the layer cases cover each layer alone
    drop = lambda: tn.layers.Dropout(0.2)  # noqa: E731
    for dtype, batch in (("float32", 4), ("float64", 4), ("float32", 1)):
        out.append(case("stream-noise-then-dropout",
                        layers=lambda: [tn.layers.GaussianNoise(0.1), tn.layers.Dense(N_HIDDEN, activation="tanh"),
                                        tn.layers.Dropout(0.2), tn.layers.Dense(N_OUT, activation="softmax")],
                        dtype=dtype, batch_size=batch))
    out.append(case("stream-dropout-seeded-and-unseeded", batch_size=4,
                    layers=lambda: [tn.layers.Dense(N_HIDDEN, activation="tanh"), tn.layers.Dropout(0.2, seed=5),
                                    tn.layers.Dense(N_HIDDEN, activation="tanh"), tn.layers.Dropout(0.2),
                                    tn.layers.Dense(N_OUT, activation="softmax")]))
    out.append(case("stream-dropout-partial-batch", layers=dense_stack(middle=[drop]), batch_size=7,
                    partial_batch=True))
    # the input side: the book's Flatten first, a Normalization adapted to raw inputs (per feature, one scalar)
    for dtype in DTYPES:
        out.append(case("flatten-first", layers=lambda: [tn.layers.Flatten(), *dense_stack()()], input_shape=(2, 3),
                        dtype=dtype))
        for axis in (-1, None):
            out.append(case(f"normalization-first-adapted-axis-{axis}", layers=lambda a=axis: [
                adapted_normalization(a), *dense_stack()()], raw_inputs=True, dtype=dtype))
    out.append(case("flatten-normalization-first", input_shape=(2, 3), raw_inputs=True, batch_size=1,
                    layers=lambda: [tn.layers.Flatten(), adapted_normalization(None), *dense_stack()()]))
    # activation layers as the output, fused with their cross-entropy (or not)
    out.append(case("output-softmax-layer-cce", layers=lambda: [tn.layers.Dense(N_HIDDEN, activation="tanh"),
                                                                tn.layers.Dense(N_OUT), tn.layers.Softmax()]))
    out.append(case("output-activation-softmax-scce", targets="sparse",
                    layers=lambda: [tn.layers.Dense(N_HIDDEN, activation="tanh"), tn.layers.Dense(N_OUT),
                                    tn.layers.Activation("softmax")],
                    compile=compile_with(loss=lambda: "sparse_categorical_crossentropy", targets="sparse")))
    out.append(case("output-activation-sigmoid-bce", targets="binary",
                    layers=lambda: [tn.layers.Dense(N_HIDDEN, activation="tanh"), tn.layers.Dense(N_OUT),
                                    tn.layers.Activation("sigmoid")],
                    compile=compile_with(loss=lambda: "binary_crossentropy", targets="binary")))
    # a frozen layer, a partial last batch, no shuffle
    out.append(case("frozen-first-layer", layers=lambda: [
        tn.layers.Dense(N_HIDDEN, activation="tanh", trainable=False), tn.layers.Dense(N_HIDDEN, activation="tanh"),
        tn.layers.Dense(N_OUT, activation="softmax")]))
    out.append(case("base-partial-batch", batch_size=7, partial_batch=True))
    out.append(case("base-no-shuffle", extra={"shuffle": False}))
    # everything at once
    for dtype, batch in (("float32", 4), ("float64", 4), ("float32", 1), ("float32", 8)):
        out.append(case("kitchen-sink", layers=kitchen_sink, dtype=dtype, batch_size=batch,
                        compile=compile_with(optimizer=lambda: tn.optimizers.Adam(0.005, clipnorm=0.5))))
    return out


def adapted_normalization(axis):
    layer = tn.layers.Normalization(axis=axis)
    x, _, _, _ = make_data("onehot", 200, tn.config.floatx(), (N_IN,), raw=True, seed=99)
    layer.adapt(x.reshape(len(x), -1) if axis is None else x)
    return layer


ALL_CASES = (activation_cases() + loss_cases() + optimizer_cases() + clip_cases() + schedule_cases()
             + regularizer_cases() + layer_cases() + metric_cases() + technique_cases())


#: CI's reduced form: every technique and switch in float32 at batch 4, and one in three of each kind's
#: float64 and batch-1 copies (every kind keeps some); TWEAKNET_FULL_MATRIX=1 runs them all (about twice
#: as many distinct models, each compiled once).
FULL_MATRIX = os.environ.get("TWEAKNET_FULL_MATRIX", "") not in ("", "0")
REDUCED_KINDS = ("activation", "loss", "optimizer", "clip", "schedule", "regularizer", "layer")


def reduced(cases):
    if FULL_MATRIX:
        return cases
    kept, seen = [], {}
    for p in cases:
        c = p.values[0]
        kind = c.id.split("-")[0]
        variant = "float64" if c.dtype == "float64" else "b1" if c.batch_size == 1 else None
        if variant is not None and kind in REDUCED_KINDS:
            seen[kind, variant] = seen.get((kind, variant), -1) + 1
            if seen[kind, variant] % 3:
                continue
        kept.append(p)
    return kept


ALL_CASES = reduced(ALL_CASES)


# ----------------------------------------------------------------------------------- data and training
def make_data(targets, n, dtype, input_shape, raw=False, seed=0):
    """``(x, y, x_test, y_test)`` from a random linear teacher: learnable, so training is smooth."""
    rng = np.random.default_rng(seed)
    d = math.prod(input_shape)
    x = rng.standard_normal((n + N_TEST, d))
    logits = x @ rng.standard_normal((d, N_OUT))
    labels = np.argmax(logits, axis=1)
    if targets == "sparse":
        y = labels.astype(np.int64)
    elif targets == "binary":
        y = (logits > 0).astype(dtype)
    else:
        y = tn.utils.to_categorical(labels, N_OUT).astype(dtype)
    if raw:
        x = x * np.linspace(0.5, 20.0, d) + np.linspace(-3.0, 40.0, d)
    x = x.reshape(n + N_TEST, *input_shape).astype(dtype)
    return x[:n], y[:n], x[n:], y[n:]


def schedule_of(c: Case) -> tuple[int, int]:
    """``(samples, epochs)`` giving about STEPS optimizer steps in 2 epochs (the case may override)."""
    if "n" in c.extra:
        return c.extra["n"], c.extra["epochs"]
    n = STEPS // 2 * c.batch_size
    if c.partial_batch:
        n -= c.batch_size // 2
    return n, 2


@dataclass
class Run:
    initial: list
    weights: list
    slots: dict
    logs: dict
    evaluation: dict
    prediction: np.ndarray
    global_rng: dict
    layer_rngs: list
    explained: object = None
    prediction_on_reference: np.ndarray | None = None
    dtypes: list = field(default_factory=list)


def train(c: Case, reference: bool) -> Run:
    tn.config.set_floatx(c.dtype)
    tn.utils.clear_session()
    n, epochs = schedule_of(c)
    x, y, xt, yt = make_data(c.targets, n, c.dtype, c.input_shape, c.raw_inputs)
    tn.utils.set_random_seed(SEED)
    model = tn.Sequential(c.layers())
    model.build((None, *c.input_shape))
    model.compile(**c.compile())
    initial = model.get_weights()
    explained = None
    shuffle = c.extra.get("shuffle", True)
    if reference:
        with fast.reference_only():
            h = model.fit(x, y, batch_size=c.batch_size, epochs=epochs, verbose=0, shuffle=shuffle)
            global_rng = seeding.get_state()
            evaluation = model.evaluate(xt, yt, verbose=0, return_dict=True)
            prediction = model.predict(xt, verbose=0)
    else:
        explained = fast.explain(model)
        h = model.fit(x, y, batch_size=c.batch_size, epochs=epochs, verbose=0, shuffle=shuffle)
        global_rng = seeding.get_state()
        evaluation = model.evaluate(xt, yt, verbose=0, return_dict=True)
        prediction = model.predict(xt, verbose=0)
    run = Run(initial=initial, weights=model.get_weights(), slots=model.optimizer.get_state(),
              logs=dict(h.history), evaluation=evaluation, prediction=prediction, global_rng=global_rng,
              layer_rngs=[layer.get_rng_state() for layer in model.layers if hasattr(layer, "get_rng_state")],
              explained=explained, dtypes=[w.dtype for w in model.get_weights()])
    if not reference:
        with fast.reference_only():   # the same weights through the reference forward pass
            run.prediction_on_reference = model.predict(xt, verbose=0)
    return run


# ----------------------------------------------------------------------------------- comparison
def assert_close(actual, expected, rtol, what):
    """``max |actual - expected| <= rtol * max(|actual|, |expected|)`` over the whole array."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    assert np.all(np.isfinite(e)), f"{what}: the reference path gave non-finite values (the case is not stable)"
    if a.size == 0:
        return
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(e))), 1e-30)
    err = float(np.max(np.abs(a - e))) / scale
    assert err <= rtol, f"{what}: relative difference {err:.3g} > {rtol:g} (largest magnitude {scale:.3g})"


def assert_log_close(key, actual, expected, rtol, samples, what):
    """Losses and learning rates as numbers; an accuracy counts decisions, and an output within round-off of
    the decision boundary (0.5, or a tie of the largest outputs) may fall either way on the two paths: one
    sample's decision per epoch is allowed, nothing more."""
    if "accuracy" in key:
        diff = np.max(np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64)))
        assert diff <= 1.0001 / samples, f"{what}: {actual} != {expected} (more than one decision differs)"
    else:
        assert_close(actual, expected, rtol, what)


def assert_compiled(explained, c: Case):
    compiled = getattr(explained, "compiled", None)
    assert isinstance(compiled, bool), (
        f"fast.explain(model) returned {explained!r}: expected an object with a bool .compiled ({c.id})")
    assert compiled, f"the compiled path does not serve {c.id}: {explained}"


def compare(ref: Run, cmp: Run, c: Case):
    rtol = RTOL[c.dtype]
    assert all(dt == np.dtype(c.dtype) for dt in ref.dtypes + cmp.dtypes), f"weights not in {c.dtype}"
    # the harness: the case must train something (a no-op case would compare nothing)
    assert any(not np.array_equal(a, b) for a, b in zip(ref.initial, ref.weights)), "training changed no weight"
    for i, (a, b) in enumerate(zip(ref.initial, cmp.initial)):
        np.testing.assert_array_equal(b, a, err_msg=f"initial weight {i}")
    assert len(cmp.weights) == len(ref.weights)
    for i, (a, b) in enumerate(zip(ref.weights, cmp.weights)):
        assert_close(b, a, rtol, f"weight {i} {a.shape}")
    assert cmp.slots["iterations"] == ref.slots["iterations"]
    assert set(cmp.slots) == set(ref.slots)
    for key in ref.slots:
        if key != "iterations":
            assert_close(cmp.slots[key], ref.slots[key], rtol, f"optimizer slot {key!r}")
    n, _ = schedule_of(c)
    assert set(cmp.logs) == set(ref.logs)
    for key in ref.logs:
        assert_log_close(key, cmp.logs[key], ref.logs[key], rtol, n, f"log {key!r}")
    assert set(cmp.evaluation) == set(ref.evaluation)
    for key in ref.evaluation:
        assert_log_close(key, cmp.evaluation[key], ref.evaluation[key], rtol, N_TEST, f"evaluate {key!r}")
    assert_close(cmp.prediction, ref.prediction, rtol, "predict")
    assert_close(cmp.prediction, cmp.prediction_on_reference, rtol, "predict on both paths, same weights")
    # the random streams: the global generator (shuffles, unseeded layers) and each seeded layer's own
    assert cmp.global_rng == ref.global_rng, "the global random stream differs after fit"
    assert cmp.layer_rngs == ref.layer_rngs, "a seeded layer's random stream differs after fit"


@pytest.mark.parametrize("c", ALL_CASES)
def test_compiled_path_equals_reference_path(c: Case):
    ref = train(c, reference=True)
    cmp = train(c, reference=False)
    assert ref.slots["iterations"] == cmp.slots["iterations"] >= STEPS * 0.95
    compare(ref, cmp, c)
    assert_compiled(cmp.explained, c)


def test_every_registered_technique_has_a_case():
    """The generators above cover every object of every registry kind they read (nothing filtered away)."""
    ids = " ".join(p.values[0].id for p in ALL_CASES)
    for kind, prefix in (("activation", "activation"), ("loss", "loss"), ("optimizer", "optimizer"),
                         ("regularizer", "regularizer"), ("layer", "layer"), ("schedule", "schedule"),
                         ("metric", "metric")):
        names = [name for name, _ in registered(kind)]
        assert names, f"no {kind} registered"
        for name in names:
            assert f"{prefix}-{name}-" in ids, f"{kind} {name!r} has no case"
    for mode in clip_modes():
        assert f"clip-{mode}-" in ids
    assert len(clip_modes()) >= 3
