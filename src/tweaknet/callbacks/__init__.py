"""Callbacks with Keras's names and hooks."""
from .base import Callback, CallbackList
from .checkpoint import ModelCheckpoint
from .diagnostics import Diagnostics
from .history import History
from .progress import ProgressLogger
from .tensorboard import TensorBoard
from .training_control import (CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler,
                               ReduceLROnPlateau, TerminateOnNaN)

__all__ = ["Callback", "CallbackList", "Diagnostics", "History", "ProgressLogger", "EarlyStopping", "TerminateOnNaN",
           "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger", "LambdaCallback", "ModelCheckpoint", "TensorBoard"]
