"""Losses with Keras 3 names: MSE, binary, categorical and sparse categorical cross-entropy."""
from .base import Loss, get
from .cross_entropy import (BinaryCrossentropy, CategoricalCrossentropy, ClassCrossentropy,
                            SparseCategoricalCrossentropy, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy)
from .mean_squared_error import MeanSquaredError, mean_squared_error, mse

__all__ = ["Loss", "get", "MeanSquaredError", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "mean_squared_error", "mse", "binary_crossentropy",
           "categorical_crossentropy", "sparse_categorical_crossentropy"]
