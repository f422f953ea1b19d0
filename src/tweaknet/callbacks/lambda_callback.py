"""LambdaCallback: a callback built from plain functions, with Keras 3's arguments (and Keras 2's aliases)."""
from __future__ import annotations

from .base import Callback


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_begin", "on_test_end", "on_progress")


class LambdaCallback(Callback):
    """A callback from functions, with Keras 3's arguments: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``; ``on_batch_begin`` and
    ``on_batch_end`` (Keras 2's names) are aliases of the last two, and the other hooks
    (``on_test_begin``, ``on_test_end``, ``on_progress``) may be given by keyword too."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, on_batch_begin=None, on_batch_end=None,
                 **kwargs):
        super().__init__()
        for alias, name, fn in (("on_batch_begin", "on_train_batch_begin", on_train_batch_begin),
                                ("on_batch_end", "on_train_batch_end", on_train_batch_end)):
            given = on_batch_begin if alias == "on_batch_begin" else on_batch_end
            if given is not None and fn is not None:
                raise TypeError(f"LambdaCallback: pass {name} or its alias {alias}, not both.")
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hooks {', '.join(unknown)}; "
                            f"tweaknet calls {', '.join(_HOOKS)}.")
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin or on_batch_begin,
                     on_train_batch_end=on_train_batch_end or on_batch_end)
        for hook, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {hook} must be a function, got {type(fn).__name__}.")
                setattr(self, hook, fn)
