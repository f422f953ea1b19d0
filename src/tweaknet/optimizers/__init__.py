"""Optimizers with Keras 3 names, defaults and update rules; clipping and schedules for all of them."""
from . import schedules
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer, get
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "get", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Nadam", "schedules"]
