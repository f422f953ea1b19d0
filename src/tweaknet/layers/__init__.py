"""Layers with Keras 3 names and arguments."""
from .activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from .base import Layer
from .batch_normalization import BatchNormalization
from .dense import Dense
from .input import Input, InputLayer
from .maxout import Maxout
from .normalization import Normalization
from .regularization import Dropout, GaussianNoise
from .reshaping import Flatten

__all__ = ["Layer", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Flatten",
           "BatchNormalization", "Maxout", "Normalization", "Dropout", "GaussianNoise", "Input", "InputLayer"]
