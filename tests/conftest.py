"""Shared test setup.

Keras (the oracle) runs on its torch backend: the backend must be chosen before keras is
first imported anywhere in the test session, hence at the top of this conftest.
"""
from __future__ import annotations

import os
import signal
import sys

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Ctrl-C as in a terminal, however the suite was started: a shell starts a background job with SIGINT ignored, every
# process it starts inherits the ignored signal, and Python then never raises KeyboardInterrupt, neither here nor in
# the tweaknet processes the tests start and interrupt.  Each test process (xdist's workers too) imports this file.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import tweaknet  # noqa: E402
from tweaknet import config as tn_config  # noqa: E402
from tweaknet import seeding  # noqa: E402

try:  # one intra-op thread per xdist worker: faster on 2 cores and reproducible
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - oracle not installed
    torch = None


def pytest_configure(config):
    # Keras's torch backend converts tensors with np.array(x, copy=False) internally, which NumPy 2
    # answers with a DeprecationWarning per call: noise from the oracle, not from tweaknet.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _keras_or_none():
    try:
        import keras
    except ImportError:
        return None
    return keras


@pytest.fixture(autouse=True)
def _restore_global_settings():
    """Every test starts and ends with the library defaults (floatx float32, epsilon 1e-7)."""
    floatx, eps = tn_config.floatx(), tn_config.epsilon()
    yield
    tn_config.set_floatx(floatx)
    tn_config.set_epsilon(eps)
    keras = _keras_or_none() if "keras" in sys.modules else None
    if keras is not None:
        _set_keras_floatx(keras, "float32")


def _set_keras_floatx(keras, value):
    # Keras caches its global dtype policy the first time a layer is created, and set_floatx does
    # not reset it: set both, or keras layers stay float32 in a "float64" test.
    keras.config.set_floatx(value)
    keras.config.set_dtype_policy(value)


@pytest.fixture
def float64():
    """float64 in tweaknet and (when installed) keras for the duration of one test."""
    tn_config.set_floatx("float64")
    keras = _keras_or_none()
    if keras is not None:
        _set_keras_floatx(keras, "float64")
    yield
    tn_config.set_floatx("float32")
    if keras is not None:
        _set_keras_floatx(keras, "float32")


@pytest.fixture
def rng():
    """A fixed-seed NumPy generator for test data."""
    return np.random.default_rng(1234)


@pytest.fixture
def seeded():
    """Seed tweaknet's global generator (and keras's, when installed) to a fixed value."""
    seeding.set_random_seed(42)
    if "keras" in sys.modules:
        _keras_or_none().utils.set_random_seed(42)
    return 42


@pytest.fixture(autouse=True)
def _fresh_layer_names():
    """Automatic layer names restart at 'dense', 'dense_1', ... in every test."""
    tweaknet.utils.clear_session()
    yield
