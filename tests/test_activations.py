"""Activation values against PyTorch and Keras, numerical safety at extreme inputs, dtype preservation."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from tweaknet import activations, registry

ACTIVATION_NAMES = sorted({registry.lookup("activation", n)._registry_name for n in registry.names("activation")})
EXTREME = np.array([-1e4, -1e3, -100.0, -88.8, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 30.0, 88.8, 100.0, 1e3, 1e4])


def grid(dtype):
    x = np.concatenate([np.linspace(-12, 12, 97), EXTREME]).astype(dtype)
    return np.stack([x, x[::-1]], axis=0)  # 2-D so that softmax has rows


# -- against PyTorch --------------------------------------------------------------------------------
def torch_reference(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    return {
        "linear": lambda t: t,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.2),  # Keras's function default (torch's is 0.01)
        "softplus": F.softplus,  # linear above 20: off by < exp(-20) there, not in the grid
        "elu": F.elu,
        "selu": F.selu,
        "softmax": lambda t: torch.softmax(t, dim=-1),
    }.get(name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_values_match_torch(name, dtype):
    torch = pytest.importorskip("torch")
    ref = torch_reference(name)
    if ref is None:
        pytest.skip(f"no PyTorch reference for {name!r}")
    x = grid(dtype)
    ours = activations.get(name)(x)
    theirs = ref(torch.from_numpy(x.copy())).numpy()
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float32" else dict(rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(ours, theirs, **tol)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_values_match_keras(name, float64):
    keras = pytest.importorskip("keras")
    x = grid("float64")
    theirs = np.asarray(keras.ops.convert_to_numpy(keras.activations.get(name)(keras.ops.convert_to_tensor(x))))
    np.testing.assert_allclose(activations.get(name)(x), theirs, rtol=1e-12, atol=1e-300)


# (Not compared: a negative threshold together with max_value, where Keras's clip(x, 0, max_value)
# also zeroes threshold < x < 0 while without max_value it passes x through; tweaknet does the latter
# in both cases, as its docstring states.)
@pytest.mark.parametrize("kwargs", [dict(), dict(negative_slope=0.1), dict(max_value=6.0), dict(max_value=2.5),
                                    dict(threshold=0.5), dict(threshold=-1.0), dict(negative_slope=0.3, threshold=-1.0),
                                    dict(negative_slope=0.3, max_value=2.0, threshold=0.5)])
def test_relu_arguments_match_keras(kwargs, float64):
    keras = pytest.importorskip("keras")
    x = grid("float64")
    theirs = keras.ops.convert_to_numpy(keras.activations.relu(keras.ops.convert_to_tensor(x), **kwargs))
    np.testing.assert_allclose(activations.relu(x, **kwargs), theirs, rtol=1e-14)


@pytest.mark.parametrize("fn,kwargs", [("leaky_relu", dict(negative_slope=0.05)), ("elu", dict(alpha=0.4)),
                                       ("softmax", dict(axis=0))])
def test_function_arguments_match_keras(fn, kwargs, float64):
    keras = pytest.importorskip("keras")
    x = grid("float64")
    theirs = keras.ops.convert_to_numpy(getattr(keras.activations, fn)(keras.ops.convert_to_tensor(x), **kwargs))
    np.testing.assert_allclose(getattr(activations, fn)(x, **kwargs), theirs, rtol=1e-13, atol=1e-300)


def test_known_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(activations.sigmoid(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_array_equal(activations.relu(x), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(activations.leaky_relu(x), [-0.4, 0.0, 3.0])
    np.testing.assert_allclose(activations.elu(x), [np.expm1(-2.0), 0.0, 3.0])
    np.testing.assert_allclose(activations.softplus(x), np.log1p(np.exp(x)))
    s = activations.selu(x)
    np.testing.assert_allclose(s, [1.0507009873554805 * 1.6732632423543772 * np.expm1(-2.0), 0.0,
                                   1.0507009873554805 * 3.0])
    sm = activations.softmax(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(sm, np.exp([[1.0, 2.0, 3.0]]) / np.exp([1.0, 2.0, 3.0]).sum())
    assert activations.linear(x) is x


def test_relu_derivative_at_zero_is_zero():
    # As in Keras/TensorFlow and PyTorch.
    for name in ("relu", "leaky_relu"):
        act = activations.get(name)
        d = act.derivative(np.array([0.0]))
        assert d[0] == (0.0 if name == "relu" else 0.2)


def test_max_derivatives():
    assert activations.get("sigmoid").max_derivative == 0.25
    x = np.linspace(-10, 10, 2001)
    assert activations.get("sigmoid").derivative(x).max() == pytest.approx(0.25)
    assert activations.get("tanh").derivative(x).max() == pytest.approx(1.0)


# -- numerical safety -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_no_overflow_nan_or_warning_at_extreme_inputs(name, dtype):
    act = activations.get(name)
    x = grid(dtype)
    # Underflow to 0 (e.g. exp(-1e4)) is the correct rounding and NumPy ignores it by default.
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        warnings.simplefilter("error")
        y = act(x)
        dx = act.backward(x, y, np.ones_like(x))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert y.dtype == np.dtype(dtype) and dx.dtype == np.dtype(dtype)
    assert y.shape == x.shape


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_saturation_values(dtype):
    x = np.array([-1e4, 1e4], dtype=dtype)
    np.testing.assert_array_equal(activations.sigmoid(x), [0.0, 1.0])
    np.testing.assert_array_equal(activations.tanh(x), [-1.0, 1.0])
    np.testing.assert_array_equal(activations.softplus(x), [0.0, 1e4])
    np.testing.assert_array_equal(activations.elu(x), [-1.0, 1e4])
    np.testing.assert_array_equal(activations.softmax(np.array([[1e4, -1e4, 0.0]], dtype=dtype)), [[1.0, 0.0, 0.0]])
    # Small sigmoid values are kept to relative precision (not rounded to 0 via 1 - tiny).
    assert activations.sigmoid(np.array([-30.0], dtype=dtype))[0] == pytest.approx(np.exp(-30.0), rel=1e-6)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_dtype_preserved(name):
    for dtype in (np.float32, np.float64):
        x = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
        assert activations.get(name)(x).dtype == dtype


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("typo,suggestion", [("rleu", "relu"), ("sigmod", "sigmoid"), ("softmx", "softmax"),
                                             ("leaky_rel", "leaky_relu")])
def test_unknown_activation_suggests(typo, suggestion):
    with pytest.raises(ValueError) as info:
        activations.get(typo)
    assert repr(suggestion) in str(info.value) and repr(typo) in str(info.value)


def test_activation_resolution():
    assert isinstance(activations.get(None), activations.Linear)
    assert activations.get("tanh") == activations.get(activations.tanh)
    assert isinstance(activations.get("Sigmoid"), type(activations.get("sigmoid")))
    assert activations.get(activations.relu).name == "relu"
    with pytest.raises(TypeError, match="derivative"):
        activations.get(lambda x: x ** 2)


@pytest.mark.parametrize("old,new", [("Relu", "ReLU"), ("LeakyRelu", "LeakyReLU"), ("Elu", "ELU"), ("Selu", "SELU")])
def test_renamed_classes_keep_their_old_names_with_a_warning(old, new):
    with pytest.warns(DeprecationWarning, match=new):
        cls = getattr(activations, old)
    assert cls is getattr(activations, new)
    # config dicts written before the rename (saved models, lab specs) still resolve, to the new class
    assert type(activations.get({"class_name": old, "config": {}})) is cls
    assert activations.serialize(cls()) == cls().name


def test_serialize_gives_a_config_for_non_default_arguments():
    config = activations.serialize(activations.LeakyReLU(0.1))
    assert config == {"class_name": "LeakyReLU", "config": {"negative_slope": 0.1}}
    assert activations.get(config).negative_slope == 0.1
