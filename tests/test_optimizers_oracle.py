"""Optimizers, clipping and learning-rate schedules against Keras 3 (torch backend), in float64.

Tolerance: 1e-6 absolute on the weights after 50 steps.  Measured: <= 1e-14 without clipping
and <= 6e-8 with clipnorm/global_clipnorm.  The latter is Keras's, not ours: in its torch backend
``ops.maximum(norm, clipnorm)`` with a Python float returns float32, so Keras rounds the gradient
norm to float32 (relative 6e-8) even when everything else is float64.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tweaknet
from tweaknet import optimizers as tn_opt

keras = pytest.importorskip("keras")
pytest.importorskip("torch")

ATOL = 1e-6
SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 50

OPTIMIZERS = {
    "sgd": ("SGD", dict(learning_rate=0.05)),
    "sgd_momentum": ("SGD", dict(learning_rate=0.05, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": ("SGD", dict(learning_rate=0.05, momentum=0.5, weight_decay=0.1)),
    "adagrad": ("Adagrad", dict(learning_rate=0.05)),
    "adagrad_args": ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=1e-3)),
    "rmsprop": ("RMSprop", dict(learning_rate=0.01)),
    "rmsprop_momentum": ("RMSprop", dict(learning_rate=0.01, rho=0.8, momentum=0.7)),
    "rmsprop_centered": ("RMSprop", dict(learning_rate=0.01, centered=True)),
    "rmsprop_centered_momentum": ("RMSprop", dict(learning_rate=0.01, centered=True, momentum=0.5)),
    "adam": ("Adam", dict(learning_rate=0.01)),
    "adam_args": ("Adam", dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9, epsilon=0.1)),
    "adam_amsgrad": ("Adam", dict(learning_rate=0.01, amsgrad=True)),
    "nadam": ("Nadam", dict(learning_rate=0.01)),
    "adamw": ("AdamW", dict(learning_rate=0.01)),
    "adamw_amsgrad": ("AdamW", dict(learning_rate=0.01, weight_decay=0.1, amsgrad=True)),
}
CLIPS = {
    "none": {},
    "clipnorm": dict(clipnorm=1.0),
    "clipvalue": dict(clipvalue=0.5),
    "global_clipnorm": dict(global_clipnorm=2.0),
}


def to_numpy(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def run_both(tn_optimizer, keras_optimizer, seed=0, steps=STEPS, shapes=SHAPES):
    """Feed both optimizers the same random gradients; return the largest weight difference seen."""
    rng = np.random.default_rng(seed)
    init = [rng.normal(size=s) for s in shapes]
    ours = [w.copy() for w in init]
    theirs = [keras.Variable(w.copy(), dtype="float64") for w in init]
    worst = 0.0
    clipped_steps = 0
    for _ in range(steps):
        # Alternate small and large gradients, so that clipping sometimes triggers and sometimes not.
        scale = rng.choice([0.05, 3.0])
        grads = [rng.normal(size=s) * scale for s in shapes]
        clipped_steps += scale > 1
        tn_optimizer.apply_gradients(zip([g.copy() for g in grads], ours))
        keras_optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], theirs))
        worst = max(worst, max(float(np.abs(a - to_numpy(b)).max()) for a, b in zip(ours, theirs)))
    assert 0 < clipped_steps < steps
    moved = max(float(np.abs(a - b).max()) for a, b in zip(ours, init))
    assert moved > 1e-3, "the weights barely moved: the comparison would be vacuous"
    assert tn_optimizer.iterations == steps == int(to_numpy(keras_optimizer.iterations))
    return worst


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("key", OPTIMIZERS)
def test_apply_gradients_matches_keras(key, clip, float64):
    cls, kwargs = OPTIMIZERS[key]
    ours = getattr(tn_opt, cls)(**kwargs, **CLIPS[clip])
    theirs = getattr(keras.optimizers, cls)(**kwargs, **CLIPS[clip])
    assert run_both(ours, theirs) < ATOL


def test_clipping_changes_the_result(float64):
    """Guard for the test above: the clipped runs really differ from unclipped ones."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4,))
    g = rng.normal(size=(4,)) * 10
    results = []
    for clip in CLIPS.values():
        w = w0.copy()
        tn_opt.SGD(learning_rate=1.0, **clip).apply_gradients([(g.copy(), w)])
        results.append(w)
    for i in range(len(results)):
        for j in range(i + 1, len(results)):
            assert not np.allclose(results[i], results[j])


def test_clipnorm_is_per_variable_in_a_model(float64):
    """In a model, gradients live in one flat buffer; clipnorm must still clip kernel and bias separately."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 6)) * 5
    y = np.eye(3)[rng.integers(0, 3, size=16)]

    def build(lib):
        m = lib.Sequential([lib.Input(shape=(6,)), lib.layers.Dense(4, activation="tanh"),
                            lib.layers.Dense(3, activation="softmax")])
        return m

    ours, theirs = build(tweaknet), build(keras)
    theirs.set_weights(ours.get_weights())
    for lib, m in ((tweaknet, ours), (keras, theirs)):
        m.compile(optimizer=lib.optimizers.SGD(learning_rate=0.5, clipnorm=0.1), loss="categorical_crossentropy")
    for _ in range(5):
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, to_numpy(b), atol=ATOL)


# -- schedules ------------------------------------------------------------------------------------
SCHEDULES = {
    "exponential": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5)),
    "exponential_staircase": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5,
                                                       staircase=True)),
    "inverse_time": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.3)),
    "inverse_time_staircase": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.3,
                                                        staircase=True)),
    "piecewise": ("PiecewiseConstantDecay", dict(boundaries=[10, 20, 35], values=[0.1, 0.05, 0.01, 0.001])),
    "cosine": ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40)),
    "cosine_alpha": ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=40, alpha=0.2)),
    "cosine_warmup": ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=30, alpha=0.1,
                                          warmup_target=0.2, warmup_steps=10)),
    "cosine_warmup_from_nonzero": ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=25,
                                                       warmup_target=0.1, warmup_steps=8)),
}


@pytest.mark.parametrize("key", SCHEDULES)
def test_schedule_values_match_keras(key, float64):
    cls, kwargs = SCHEDULES[key]
    ours = getattr(tn_opt.schedules, cls)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, cls)(**kwargs)
    steps = range(0, 90)
    a = np.array([ours(s) for s in steps], dtype=float)
    b = np.array([float(to_numpy(theirs(s))) for s in steps])
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert len(np.unique(np.round(a, 12))) > 3, "the schedule should actually change over these steps"


@pytest.mark.parametrize("opt_key,schedule_key", [("adam", "exponential"), ("sgd_momentum", "cosine_warmup"),
                                                  ("rmsprop", "piecewise"), ("nadam", "inverse_time_staircase"),
                                                  ("adamw", "cosine_alpha")])
def test_optimizer_driven_by_schedule_matches_keras(opt_key, schedule_key, float64):
    cls, kwargs = OPTIMIZERS[opt_key]
    scls, skw = SCHEDULES[schedule_key]
    ours = getattr(tn_opt, cls)(**{**kwargs, "learning_rate": getattr(tn_opt.schedules, scls)(**skw)})
    theirs = getattr(keras.optimizers, cls)(**{**kwargs,
                                               "learning_rate": getattr(keras.optimizers.schedules, scls)(**skw)})
    assert run_both(ours, theirs) < ATOL
    # The current rate is the schedule at the step counter, as Keras reports it.
    assert ours.learning_rate == pytest.approx(float(to_numpy(theirs.learning_rate)), rel=1e-12)


def test_first_update_uses_schedule_at_step_zero(float64):
    sched = tn_opt.schedules.PiecewiseConstantDecay([0], [1.0, 0.0])
    w = np.zeros(2)
    opt = tn_opt.SGD(learning_rate=sched)
    opt.apply_gradients([(np.ones(2), w)])
    np.testing.assert_array_equal(w, [-1.0, -1.0])
    opt.apply_gradients([(np.ones(2), w)])
    np.testing.assert_array_equal(w, [-1.0, -1.0])


# -- legacy (Keras 2 / book) spellings ------------------------------------------------------------
@pytest.mark.parametrize("cls", ["SGD", "Adagrad", "RMSprop", "Adam", "Nadam", "AdamW"])
def test_lr_warns_and_means_learning_rate(cls, float64):
    with pytest.warns(DeprecationWarning, match="lr"):
        legacy = getattr(tn_opt, cls)(lr=0.02)
    assert legacy.learning_rate == 0.02
    modern = getattr(tn_opt, cls)(learning_rate=0.02)
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(size=5), None
    w2 = w1.copy()
    for _ in range(3):
        g = rng.normal(size=5)
        legacy.apply_gradients([(g.copy(), w1)])
        modern.apply_gradients([(g.copy(), w2)])
    np.testing.assert_array_equal(w1, w2)


@pytest.mark.parametrize("key", ["sgd_momentum", "adagrad", "rmsprop", "adam", "nadam"])
def test_decay_warns_and_equals_inverse_time_decay(key, float64):
    cls, kwargs = OPTIMIZERS[key]
    lr, d = kwargs["learning_rate"], 0.05
    with pytest.warns(DeprecationWarning, match="decay"):
        ours = getattr(tn_opt, cls)(**kwargs | {"decay": d})
    theirs = getattr(keras.optimizers, cls)(
        **kwargs | {"learning_rate": keras.optimizers.schedules.InverseTimeDecay(lr, 1, d)})
    assert run_both(ours, theirs) < ATOL
    assert ours.learning_rate == pytest.approx(lr / (1 + d * STEPS), rel=1e-12)


def test_decay_zero_is_silent_and_constant():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = tn_opt.Adam(learning_rate=0.01, epsilon=0.1, decay=0.0)
    assert opt.schedule is None and opt.learning_rate == 0.01 and opt.epsilon == 0.1


def test_decay_with_a_schedule_is_rejected():
    with pytest.raises(ValueError, match="decay"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            tn_opt.SGD(learning_rate=tn_opt.schedules.ExponentialDecay(0.1, 10, 0.9), decay=0.1)


@pytest.mark.parametrize("cls", ["Adagrad", "RMSprop", "Adam", "Nadam", "AdamW"])
def test_epsilon_none_means_the_default(cls, float64):
    with pytest.warns(DeprecationWarning, match="epsilon=None"):
        none = getattr(tn_opt, cls)(epsilon=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default = getattr(tn_opt, cls)()
    assert none.epsilon == default.epsilon == keras.optimizers.get(cls.lower()).epsilon == 1e-7
    rng = np.random.default_rng(2)
    w1 = rng.normal(size=4)
    w2 = w1.copy()
    for _ in range(3):
        g = rng.normal(size=4) * 1e-4  # small gradients: epsilon matters
        none.apply_gradients([(g.copy(), w1)])
        default.apply_gradients([(g.copy(), w2)])
    np.testing.assert_array_equal(w1, w2)


@pytest.mark.parametrize("cls", ["SGD", "Adagrad", "RMSprop", "Adam", "Nadam", "AdamW"])
def test_defaults_match_keras(cls):
    ours, theirs = getattr(tn_opt, cls)(), getattr(keras.optimizers, cls)()
    assert ours.learning_rate == pytest.approx(float(to_numpy(theirs.learning_rate)))
    for attr in ("beta_1", "beta_2", "epsilon", "rho", "momentum", "initial_accumulator_value", "weight_decay",
                 "nesterov", "centered", "amsgrad"):
        if hasattr(ours, attr) and hasattr(theirs, attr):
            assert getattr(ours, attr) == pytest.approx(getattr(theirs, attr)), attr


# -- argument errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("clips", [dict(clipnorm=1.0, clipvalue=1.0), dict(clipnorm=1.0, global_clipnorm=1.0),
                                   dict(clipvalue=1.0, global_clipnorm=1.0),
                                   dict(clipnorm=1.0, clipvalue=1.0, global_clipnorm=1.0)])
def test_clip_arguments_are_mutually_exclusive(clips):
    with pytest.raises(ValueError, match="Only one of"):
        tn_opt.Adam(**clips)


@pytest.mark.parametrize("cls", ["SGD", "Adagrad", "RMSprop", "Adam", "Nadam", "AdamW"])
def test_negative_learning_rate_is_rejected(cls):
    with pytest.raises(ValueError, match="learning_rate"):
        getattr(tn_opt, cls)(learning_rate=-0.01)
    opt = getattr(tn_opt, cls)()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0


@pytest.mark.parametrize("kwargs", [dict(clipnorm=-1.0), dict(clipvalue=0.0), dict(global_clipnorm=-2.0)])
def test_non_positive_clip_is_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        tn_opt.SGD(**kwargs)


def test_unknown_argument_suggests_close_name():
    with pytest.raises(TypeError, match="learning_rate"):
        tn_opt.Adam(learning_rat=0.1)


@pytest.mark.parametrize("typo,suggestion", [("adma", "adam"), ("rmsporp", "rmsprop"), ("adagard", "adagrad"),
                                             ("sdg", "sgd")])
def test_unknown_optimizer_name_in_compile_suggests(typo, suggestion):
    model = tweaknet.Sequential([tweaknet.layers.Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError) as info:
        model.compile(optimizer=typo, loss="mse")
    assert repr(typo) in str(info.value) and repr(suggestion) in str(info.value)


@pytest.mark.parametrize("name,cls", [("sgd", "SGD"), ("adam", "Adam"), ("rmsprop", "RMSprop"),
                                      ("adagrad", "Adagrad"), ("nadam", "Nadam"), ("adamw", "AdamW"),
                                      ("Adam", "Adam"), ("RMSprop", "RMSprop")])
def test_optimizer_names_resolve(name, cls):
    assert type(tn_opt.get(name)) is getattr(tn_opt, cls)
