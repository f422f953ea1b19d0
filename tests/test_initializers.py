"""Initializers: statistics of large seeded draws against the formulas, fans, seeding and name resolution.

Statistical bounds are several standard errors wide for the draw sizes used (>= 100,000 values),
so a right formula passes with overwhelming probability at any seed and a wrong one (a missing
factor 2, fan_in instead of fan_avg, a missing truncation correction) fails by a wide margin.
The seeds are fixed anyway, so the tests are deterministic.
"""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import tweaknet
from tweaknet import initializers as I

TRUNC = 0.87962566103423978  # std of a unit normal truncated to (-2, 2)


def test_truncation_constant_is_the_truncated_normal_std():
    # Var of N(0,1) truncated to (-a, a): 1 - 2 a phi(a) / (2 Phi(a) - 1).
    a = 2.0
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * (1 + math.erf(a / math.sqrt(2)))
    assert math.sqrt(1 - 2 * a * phi / (2 * big_phi - 1)) == pytest.approx(TRUNC, rel=1e-12)
    module = importlib.import_module("tweaknet.initializers.variance_scaling")  # the name is also Keras's alias
    assert module.TRUNCATION_STDDEV == pytest.approx(TRUNC, rel=1e-15)


def check_mean_std(w, mean, std, n_se=6):
    n = w.size
    assert abs(w.mean() - mean) < n_se * std / math.sqrt(n) + 1e-12, (w.mean(), mean)
    # Standard error of the sample std is about std / sqrt(2n) for these light-tailed distributions.
    assert abs(w.std() - std) < n_se * std / math.sqrt(2 * n), (w.std(), std)


# -- plain random initializers ----------------------------------------------------------------------
@pytest.mark.parametrize("minval,maxval", [(-0.05, 0.05), (-0.1, 0.1), (0.0, 2.0), (-3.0, -1.0)])
def test_random_uniform(minval, maxval):
    w = I.RandomUniform(minval=minval, maxval=maxval, seed=1)((400, 500))
    assert w.shape == (400, 500) and w.dtype == np.float32
    assert w.min() >= minval and w.max() <= maxval
    width = maxval - minval
    assert w.min() < minval + 1e-3 * width and w.max() > maxval - 1e-3 * width  # fills the interval
    check_mean_std(w.astype(np.float64), (minval + maxval) / 2, width / math.sqrt(12))


def test_random_uniform_keras_defaults():
    init = I.RandomUniform()
    assert (init.minval, init.maxval) == (-0.05, 0.05)
    assert (I.RandomNormal().mean, I.RandomNormal().stddev) == (0.0, 0.05)


@pytest.mark.parametrize("mean,stddev", [(0.0, 0.05), (1.0, 2.0)])
def test_random_normal(mean, stddev):
    w = I.RandomNormal(mean=mean, stddev=stddev, seed=2)((200_000,)).astype(np.float64)
    check_mean_std(w, mean, stddev)
    # Untruncated: about 4.55% of the draws lie beyond two standard deviations.
    beyond = np.mean(np.abs(w - mean) > 2 * stddev)
    assert 0.040 < beyond < 0.051


@pytest.mark.parametrize("mean,stddev", [(0.0, 0.05), (-1.0, 3.0)])
def test_truncated_normal(mean, stddev, float64):
    w = I.TruncatedNormal(mean=mean, stddev=stddev, seed=3)((200_000,))
    assert w.dtype == np.float64
    assert np.all(np.abs(w - mean) <= 2 * stddev)
    assert np.abs(w - mean).max() > 1.95 * stddev
    check_mean_std(w, mean, TRUNC * stddev)


# -- VarianceScaling and its presets --------------------------------------------------------------
SHAPE = (400, 600)  # fan_in 400, fan_out 600
FAN_IN, FAN_OUT = SHAPE
PRESETS = {
    # name: (class, distribution, target std of the draws)
    "GlorotUniform": (I.GlorotUniform, "uniform", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "GlorotNormal": (I.GlorotNormal, "normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "HeUniform": (I.HeUniform, "uniform", math.sqrt(2 / FAN_IN)),
    "HeNormal": (I.HeNormal, "normal", math.sqrt(2 / FAN_IN)),
    "LecunUniform": (I.LecunUniform, "uniform", math.sqrt(1 / FAN_IN)),
    "LecunNormal": (I.LecunNormal, "normal", math.sqrt(1 / FAN_IN)),
}


@pytest.mark.parametrize("name", PRESETS)
def test_variance_scaling_presets(name, float64):
    cls, dist, std = PRESETS[name]
    w = cls(seed=4)(SHAPE)
    assert w.shape == SHAPE
    check_mean_std(w, 0.0, std)
    if dist == "uniform":
        limit = math.sqrt(3) * std  # GlorotUniform: sqrt(6 / (in + out)); HeUniform: sqrt(6 / in); ...
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.999 * limit
    else:  # truncated at two (pre-correction) standard deviations
        bound = 2 * std / TRUNC
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.98 * bound


def test_glorot_uniform_limit_formula():
    w = I.GlorotUniform(seed=0)((30, 70))
    limit = math.sqrt(6 / (30 + 70))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit


@pytest.mark.parametrize("mode,n", [("fan_in", FAN_IN), ("fan_out", FAN_OUT), ("fan_avg", (FAN_IN + FAN_OUT) / 2)])
@pytest.mark.parametrize("distribution", ["uniform", "truncated_normal", "untruncated_normal", "normal"])
def test_variance_scaling_modes_and_distributions(mode, n, distribution):
    scale = 3.0
    init = I.VarianceScaling(scale=scale, mode=mode, distribution=distribution, seed=5)
    assert init.variance(SHAPE) == pytest.approx(scale / n)
    w = init(SHAPE).astype(np.float64)
    check_mean_std(w, 0.0, math.sqrt(scale / n))
    if distribution == "untruncated_normal":
        assert np.abs(w).max() > 3 * math.sqrt(scale / n)


def test_variance_scaling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        I.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        I.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale"):
        I.VarianceScaling(scale=0.0)


# -- fans -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,fans", [((7,), (7, 7)), ((3, 4), (3, 4)), ((784, 25), (784, 25)),
                                        ((3, 3, 16, 32), (144, 288)), ((5, 2, 8), (10, 40)), ((), (1, 1))])
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans


@pytest.mark.parametrize("shape", [(7,), (3, 4), (3, 3, 16, 32), (5, 2, 8)])
def test_compute_fans_matches_keras(shape):
    pytest.importorskip("keras")
    from keras.src.initializers.random_initializers import compute_fans as keras_fans
    assert tuple(map(float, I.compute_fans(shape))) == tuple(map(float, keras_fans(shape)))


def test_variance_uses_fans_of_4d_kernels():
    shape = (3, 3, 16, 32)
    w = I.HeUniform(seed=6)(shape)
    assert np.abs(w).max() <= math.sqrt(6 / (3 * 3 * 16))
    assert np.abs(w).max() > 0.99 * math.sqrt(6 / (3 * 3 * 16))


def test_1d_shape_uses_its_length_for_both_fans():
    init = I.GlorotUniform()
    assert init.variance((50,)) == pytest.approx(1 / 50)


# -- seeding --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [I.RandomUniform, I.RandomNormal, I.TruncatedNormal, I.GlorotUniform,
                                 I.GlorotNormal, I.HeNormal, I.HeUniform, I.LecunNormal, I.LecunUniform])
def test_seeded_initializer_is_repeatable(cls):
    a, b = cls(seed=11)((20, 30)), cls(seed=11)((20, 30))
    init = cls(seed=11)
    c, d = init((20, 30)), init((20, 30))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)  # Keras 3: a seeded initializer returns the same values each call
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, cls(seed=12)((20, 30)))


def test_unseeded_initializers_follow_the_global_seed():
    tweaknet.utils.set_random_seed(7)
    a1, a2 = I.GlorotUniform()((10, 10)), I.GlorotUniform()((10, 10))
    tweaknet.utils.set_random_seed(7)
    b1, b2 = I.GlorotUniform()((10, 10)), I.GlorotUniform()((10, 10))
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)


def test_dtype_follows_floatx(float64):
    assert I.HeNormal(seed=0)((3, 3)).dtype == np.float64
    assert I.HeNormal(seed=0)((3, 3), dtype="float32").dtype == np.float32


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        I.GlorotUniform(seed=bad)


# -- constants ----------------------------------------------------------------------------------------
def test_constant_initializers():
    np.testing.assert_array_equal(I.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.Ones()((4,)), np.ones(4))
    np.testing.assert_array_equal(I.Constant(0.25)((2, 2)), np.full((2, 2), 0.25))


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,cls", [("glorot_uniform", I.GlorotUniform), ("GlorotUniform", I.GlorotUniform),
                                      ("glorot_normal", I.GlorotNormal), ("he_normal", I.HeNormal),
                                      ("he_uniform", I.HeUniform), ("lecun_normal", I.LecunNormal),
                                      ("lecun_uniform", I.LecunUniform), ("uniform", I.RandomUniform),
                                      ("random_uniform", I.RandomUniform), ("normal", I.RandomNormal),
                                      ("random_normal", I.RandomNormal), ("truncated_normal", I.TruncatedNormal),
                                      ("zeros", I.Zeros), ("ones", I.Ones), ("constant", I.Constant),
                                      ("variance_scaling", I.VarianceScaling)])
def test_names_resolve(name, cls):
    assert type(I.get(name)) is cls


def test_config_dict_and_instance_resolve():
    init = I.get({"class_name": "RandomUniform", "config": {"minval": -0.1, "maxval": 0.1}})
    assert isinstance(init, I.RandomUniform) and (init.minval, init.maxval) == (-0.1, 0.1)
    he = I.HeNormal(seed=1)
    assert I.get(he) is he
    assert type(I.get(I.LecunNormal)) is I.LecunNormal


def test_keras_lowercase_aliases():
    assert isinstance(I.glorot_uniform(), I.GlorotUniform)
    assert isinstance(I.he_normal(seed=3), I.HeNormal)
    assert isinstance(I.random_uniform(minval=-0.1, maxval=0.1), I.RandomUniform)


@pytest.mark.parametrize("typo,suggestion", [("glorot_unifrom", "glorot_uniform"), ("he_normla", "he_normal"),
                                             ("zeroes", "zeros")])
def test_unknown_name_suggests(typo, suggestion):
    with pytest.raises(ValueError) as info:
        I.get(typo)
    msg = str(info.value)
    assert repr(typo) in msg and f"Did you mean {suggestion!r}" in msg


def test_unknown_name_fails_when_the_layer_is_created():
    with pytest.raises(ValueError, match="glorot_uniform"):
        tweaknet.layers.Dense(3, kernel_initializer="glorot_unifrom")
