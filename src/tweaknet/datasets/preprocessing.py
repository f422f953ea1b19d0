"""Input standardization with statistics taken from the training data only."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Standardizer"]

_CHUNK = 1 << 20  # values per chunk: statistics of 60000 MNIST images without a float64 copy of them


class Standardizer:
    """Standardize inputs with the training set's statistics: ``z = (x - mean) / std``.

    ``std = sqrt(var + epsilon)`` with the population variance ``var = mean((x - mean)**2)``.
    By default one scalar ``mean`` and ``std`` are taken over *all* values of the training data,
    as in Ekman's *Learning Deep Learning*, ch. 5: MNIST pixels are 0..255 with a mean of about 33,
    so unscaled inputs drive weighted sums far from zero, into the flat, saturated parts of tanh and
    the logistic sigmoid where gradients vanish; centred inputs of unit spread keep neurons in their
    responsive range. With ``per_feature=True`` each feature (position in ``x.shape[1:]``) gets its own
    mean and std over axis 0. The same training statistics must then be applied to the test data
    (``fit`` on ``x_train``, ``transform`` both), or the test set would leak into preprocessing.

    A feature that is constant in the training data (std 0) is refused rather than silently mapped to
    zero or infinity; MNIST's always-black corner pixels make ``per_feature=True`` refuse MNIST unless
    ``epsilon > 0``.
    """

    def __init__(self, per_feature: bool = False, epsilon: float = 0.0):
        if not isinstance(per_feature, (bool, np.bool_)):
            raise TypeError(f"`per_feature` must be True or False, got {per_feature!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not np.isfinite(epsilon) \
                or epsilon < 0:
            raise ValueError(f"`epsilon` must be a finite number >= 0, got {epsilon!r}.")
        self.per_feature = bool(per_feature)
        self.epsilon = float(epsilon)
        self.mean_ = None  # float (scalar mode) or array of shape feature_shape_
        self.std_ = None
        self.feature_shape_ = None  # x.shape[1:] of the training data

    def __repr__(self):
        state = "fitted" if self.mean_ is not None else "not fitted"
        return f"Standardizer(per_feature={self.per_feature}, epsilon={self.epsilon}) [{state}]"

    @staticmethod
    def _check(x, what: str) -> np.ndarray:
        """Return ``x`` as a real array with a non-empty sample axis, or raise naming the problem."""
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise TypeError(f"{what}: expected an array of real numbers, got dtype {x.dtype}.")
        if x.ndim == 0:
            raise ValueError(f"{what}: expected an array with a sample axis (axis 0), got a scalar.")
        if x.size == 0:
            raise ValueError(f"{what}: the array is empty (shape {x.shape}); pass at least one sample.")
        return x

    def fit(self, x) -> "Standardizer":
        """Compute ``mean_`` and ``std_`` from the training data ``x`` (samples along axis 0)."""
        x = self._check(x, "Standardizer.fit")
        rows = max(1, _CHUNK // max(1, x[0].size))
        if np.issubdtype(x.dtype, np.floating):
            for i in range(0, x.shape[0], rows):
                bad = ~np.isfinite(x[i:i + rows])
                if bad.any():
                    at = tuple(int(j) for j in np.argwhere(bad)[0])
                    at = (at[0] + i,) + at[1:]
                    kind = "NaN" if np.isnan(x[at]) else "inf"
                    raise ValueError(f"Standardizer.fit: the data contains {kind} (first at index {at}); "
                                     f"clean or impute it before computing statistics.")
        axis = 0 if self.per_feature else None
        n = x.shape[0] if self.per_feature else x.size
        # Two-pass mean and variance in float64, a chunk of samples at a time.
        total = sum(x[i:i + rows].sum(axis=axis, dtype=np.float64) for i in range(0, x.shape[0], rows))
        mean = total / n
        sq = sum(np.square(x[i:i + rows] - mean).sum(axis=axis) for i in range(0, x.shape[0], rows))
        std = np.sqrt(sq / n + self.epsilon)
        if self.per_feature:
            constant = std == 0
            if constant.any():
                first = tuple(int(j) for j in np.argwhere(constant)[0])
                raise ValueError(
                    f"Standardizer.fit: {int(constant.sum())} of {constant.size} features are constant in the "
                    f"training data (std 0; the first at feature index {first}), so (x - mean) / std would "
                    f"divide by zero. Drop those features, use per_feature=False (one scalar mean and std), "
                    f"or pass epsilon > 0.")
            self.mean_, self.std_ = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        else:
            if std == 0:
                raise ValueError(f"Standardizer.fit: all {x.size} values equal {float(mean)!r} (std 0), so "
                                 f"(x - mean) / std would divide by zero; pass epsilon > 0 to allow it.")
            self.mean_, self.std_ = float(mean), float(std)
        self.feature_shape_ = tuple(x.shape[1:])
        return self

    def transform(self, x) -> np.ndarray:
        """Return ``(x - mean_) / std_`` as float32 (float64 if ``x`` is float64), with the fitted statistics."""
        if self.mean_ is None:
            raise RuntimeError("Standardizer.transform: this Standardizer is not fitted yet; call "
                               "fit(x_train) first (or fit_transform) so the training statistics are known.")
        x = self._check(x, "Standardizer.transform")
        if tuple(x.shape[1:]) != self.feature_shape_:
            raise ValueError(f"Standardizer.transform: samples have shape {tuple(x.shape[1:])}, but the "
                             f"Standardizer was fitted on samples of shape {self.feature_shape_} "
                             f"(x.shape[1:]); reshape the data to match.")
        dtype = np.float64 if x.dtype == np.float64 else np.float32
        mean, std = np.asarray(self.mean_, dtype), np.asarray(self.std_, dtype)
        out = x.astype(dtype)  # always a copy: the input is never modified
        out -= mean
        out /= std
        return out

    def fit_transform(self, x) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def get_config(self) -> dict:
        """A JSON-able dict of the settings and, once fitted, the statistics (nested lists for per-feature)."""
        config = {"per_feature": self.per_feature, "epsilon": self.epsilon}
        if self.mean_ is not None:
            tolist = (lambda v: v.tolist()) if self.per_feature else float
            config.update(mean=tolist(self.mean_), std=tolist(self.std_), feature_shape=list(self.feature_shape_))
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Standardizer":
        """Rebuild a Standardizer (fitted if the config holds statistics) from ``get_config()``."""
        obj = cls(per_feature=config.get("per_feature", False), epsilon=config.get("epsilon", 0.0))
        if config.get("mean") is not None:
            shape = tuple(config["feature_shape"])
            if obj.per_feature:
                obj.mean_ = np.asarray(config["mean"], np.float64).reshape(shape)
                obj.std_ = np.asarray(config["std"], np.float64).reshape(shape)
            else:
                obj.mean_, obj.std_ = float(config["mean"]), float(config["std"])
            obj.feature_shape_ = shape
        return obj
