"""Standardizer: statistics against NumPy, training statistics on test data, and the refusals."""
import json

import numpy as np
import pytest

from tweaknet.datasets import Standardizer


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def test_scalar_statistics_match_numpy_on_chunked_uint8(rng):
    x = rng.integers(0, 256, size=(3000, 28, 28), dtype=np.uint8)  # > 1M values: several chunks
    s = Standardizer().fit(x)
    ref = x.astype(np.float64)
    assert isinstance(s.mean_, float) and isinstance(s.std_, float)
    assert s.mean_ == pytest.approx(ref.mean(), rel=1e-12)
    assert s.std_ == pytest.approx(ref.std(), rel=1e-12)


@pytest.mark.parametrize("shape", [(200, 5), (100, 3, 4)])
def test_per_feature_statistics_match_numpy(rng, shape):
    x = rng.normal(loc=np.arange(np.prod(shape[1:])).reshape(shape[1:]), scale=2.0, size=shape)
    s = Standardizer(per_feature=True).fit(x)
    assert s.mean_.shape == shape[1:] and s.std_.shape == shape[1:]
    np.testing.assert_allclose(s.mean_, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.std_, x.std(axis=0), rtol=1e-12)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)


def test_epsilon_enters_under_the_root(rng):
    x = rng.normal(size=(500, 4))
    s = Standardizer(epsilon=0.5).fit(x)
    assert s.std_ == pytest.approx(np.sqrt(x.var() + 0.5), rel=1e-12)


def test_transform_uses_training_statistics(rng):
    x_train = rng.normal(30.0, 80.0, size=(1000, 6)).astype(np.float32)
    x_test = rng.normal(50.0, 20.0, size=(300, 6)).astype(np.float32)
    s = Standardizer().fit(x_train)
    z = s.transform(x_test)
    expected = (x_test.astype(np.float64) - x_train.astype(np.float64).mean()) / x_train.astype(np.float64).std()
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-5)
    assert z.mean() > 0.1  # not re-centred on the test data's own mean
    assert s.mean_ == pytest.approx(float(x_train.astype(np.float64).mean()))  # fit state unchanged


@pytest.mark.parametrize("dtype, out", [(np.uint8, np.float32), (np.int64, np.float32), (np.float16, np.float32),
                                        (np.float32, np.float32), (np.float64, np.float64)])
def test_output_dtype(rng, dtype, out):
    x = rng.integers(0, 100, size=(20, 3)).astype(dtype)
    z = Standardizer().fit_transform(x)
    assert z.dtype == out
    assert abs(float(z.mean())) < 1e-3 and abs(float(z.std()) - 1) < 1e-3


def test_transform_does_not_modify_input(rng):
    x = rng.normal(size=(10, 3))
    before = x.copy()
    Standardizer().fit_transform(x)
    np.testing.assert_array_equal(x, before)


def test_zero_std_refused():
    with pytest.raises(ValueError, match="std 0.*epsilon > 0"):
        Standardizer().fit(np.full((10, 3), 7.0))
    z = Standardizer(epsilon=1.0).fit_transform(np.full((10, 3), 7.0))
    np.testing.assert_array_equal(z, 0)


def test_constant_features_refused_per_feature(rng):
    x = rng.normal(size=(50, 5))
    x[:, 1] = 0.0
    x[:, 3] = 2.5
    with pytest.raises(ValueError, match=r"2 of 5 features are constant.*index \(1,\).*per_feature=False"):
        Standardizer(per_feature=True).fit(x)
    Standardizer(per_feature=False).fit(x)  # one scalar std is fine


@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
def test_non_finite_refused(rng, bad, kind):
    x = rng.normal(size=(20, 4))
    x[7, 2] = bad
    with pytest.raises(ValueError, match=rf"contains {kind} \(first at index \(7, 2\)\)"):
        Standardizer().fit(x)


def test_empty_and_non_numeric_refused():
    with pytest.raises(ValueError, match="empty"):
        Standardizer().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="scalar"):
        Standardizer().fit(np.float64(3.0))
    with pytest.raises(TypeError, match="real numbers"):
        Standardizer().fit(np.array([["a", "b"]]))


def test_transform_before_fit():
    with pytest.raises(RuntimeError, match=r"not fitted yet.*fit\(x_train\)"):
        Standardizer().transform(np.ones((3, 2)))


@pytest.mark.parametrize("per_feature", [False, True])
def test_transform_with_other_feature_shape(rng, per_feature):
    s = Standardizer(per_feature=per_feature).fit(rng.normal(size=(30, 4, 4)))
    with pytest.raises(ValueError, match=r"shape \(16,\).*fitted on samples of shape \(4, 4\)"):
        s.transform(rng.normal(size=(5, 16)))


@pytest.mark.parametrize("per_feature", [False, True])
def test_config_roundtrip_through_json(rng, per_feature):
    x = rng.normal(3.0, 2.0, size=(40, 2, 3))
    s = Standardizer(per_feature=per_feature, epsilon=1e-3).fit(x)
    clone = Standardizer.from_config(json.loads(json.dumps(s.get_config())))
    assert (clone.per_feature, clone.epsilon) == (per_feature, 1e-3)
    np.testing.assert_array_equal(clone.transform(x), s.transform(x))
    unfitted = Standardizer.from_config(Standardizer(per_feature=True).get_config())
    assert unfitted.per_feature and unfitted.mean_ is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="epsilon"):
        Standardizer(epsilon=-1.0)
    with pytest.raises(TypeError, match="per_feature"):
        Standardizer(per_feature="yes")
