"""Callbacks with Keras's names and hooks."""
from .base import Callback, CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .monitor import Monitor
from .progress import ProgressLogger
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "History", "ProgressLogger", "EarlyStopping", "TerminateOnNaN",
           "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger", "LambdaCallback", "ModelCheckpoint", "Monitor",
           "TensorBoard"]
