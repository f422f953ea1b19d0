"""The optimizer template: validate, clip, decay weights, the update rule, count the step.

One optimizer serves the whole model.  It works on flat buffers: all trainable parameters in
one contiguous array and all gradients in another with the same layout (each layer's arrays are
views into them), so one vectorized update serves every parameter.  Optimizer state (slots such
as Adam's ``m`` and ``v``) has the same layout, one entry per parameter, never per layer name.

Order of one step, as in Keras 3's ``apply``::

    lr = learning_rate(iterations)           # schedule evaluated before the increment
    g = clip(g)                              # clipnorm (per variable) | global_clipnorm | clipvalue
    if weight_decay: w -= w * weight_decay * lr
    update_step(g, w, lr)                    # the rule of each subclass
    iterations += 1

One definition, two executions: each optimizer writes its update rule once, as an elementwise function
in the subset of NumPy that Numba compiles, ``rule(g, *slots, *args) -> (step, *slots)`` with
``w -= step``, and its per-step scalar arguments as ``scalars(lr, t, state, *constants()) -> args``
(plain arithmetic on floats; ``state`` holds running scalars such as Nadam's momentum product).  The
reference path (``update_step``) calls the rule on the flat buffers; the compiled path calls the same
function per element inside its loops, with the arguments cast to the parameters' float type once per
step.  The rule takes every slot it can use (``rule_slots``); one this instance does not keep is passed
as 0 and its new value dropped.
"""
from __future__ import annotations

import difflib
import inspect
import warnings

import numpy as np

from ..ops import ZERO
from ..registry import get as _get
from ..validation import check_number
from . import clipping
from .schedules import InverseTimeDecay, LearningRateSchedule


def weight_decay_rule(w, rate):
    """Decoupled weight decay before the update: ``w - w * (weight_decay * lr)``."""
    return w - w * rate

_BASE_ARGS = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "name")


class Optimizer:
    """Base class.  Subclasses declare ``slots`` (name -> initial value) and implement ``update_step``.

    Arguments common to every optimizer (Keras 3): ``learning_rate`` (a float or a schedule),
    ``weight_decay`` (None), ``clipnorm``, ``clipvalue``, ``global_clipnorm`` (at most one of the three),
    ``name``.  The Keras 2 spellings used in the books still work with a DeprecationWarning:
    ``lr=`` for ``learning_rate``, ``decay=d`` for ``lr / (1 + d * iterations)`` and ``epsilon=None``
    for the default epsilon.
    """

    slots: dict[str, float] = {}
    #: The slots ``rule`` takes, in order.
    rule_slots: tuple = ()
    #: Running scalars kept between steps, passed to ``scalars`` as a float64 array (Nadam: its product).
    scalar_state: tuple = ()

    @staticmethod
    def rule(g, *slots_and_args):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def scalars(lr, t, state, *constants):  # pragma: no cover - abstract
        raise NotImplementedError

    def constants(self) -> tuple:
        """The hyperparameters ``scalars`` needs, as floats (flags as 0.0 or 1.0)."""
        return ()

    def linear_in_gradient(self) -> bool:
        """True when this instance's step is the gradient times a factor that depends on neither the gradient nor
        any slot: ``rule(g, ...)[0] == g * rule(1, ...)[0]`` (SGD without momentum).  The compiled path then lets a
        Dense kernel's gradient product update the kernel directly, with that factor (``fast.compose``)."""
        return False

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        learning_rate = self._legacy_arguments(learning_rate, kwargs)
        set_clips = [k for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                     ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(set_clips) > 1:
            raise ValueError(f"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; got "
                             f"{', '.join(set_clips)}.")
        self.clipnorm = check_number("clipnorm", clipnorm, low=0, low_open=True, allow_none=True)
        self.clipvalue = check_number("clipvalue", clipvalue, low=0, low_open=True, allow_none=True)
        self.global_clipnorm = check_number("global_clipnorm", global_clipnorm, low=0, low_open=True,
                                            allow_none=True)
        self.weight_decay = check_number("weight_decay", weight_decay, low=0, allow_none=True)
        self.learning_rate = learning_rate
        self.name = name or self._registry_name
        self.iterations = 0
        self._segments = None
        self._state: dict[str, np.ndarray] = {}
        self.step_state = np.array(self.scalar_state, dtype=np.float64)

    def _legacy_arguments(self, learning_rate, kwargs):
        if "lr" in kwargs:
            warnings.warn("`lr` is deprecated; use `learning_rate`.", DeprecationWarning, stacklevel=4)
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", None)
        if kwargs:
            valid = list(dict.fromkeys([*_BASE_ARGS, *self._own_args()]))
            bad = next(iter(kwargs))
            close = difflib.get_close_matches(bad, valid, n=2)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise TypeError(f"{type(self).__name__} got an unexpected argument {bad!r}.{hint}")
        if decay:
            warnings.warn("`decay` is deprecated; use learning_rate=optimizers.schedules.InverseTimeDecay("
                          "lr, decay_steps=1, decay_rate=decay).", DeprecationWarning, stacklevel=4)
            check_number("decay", decay, low=0)
            if isinstance(learning_rate, LearningRateSchedule):
                raise ValueError("`decay` cannot be combined with a learning-rate schedule.")
            learning_rate = InverseTimeDecay(check_number("learning_rate", learning_rate, low=0), 1, decay)
        return learning_rate

    @staticmethod
    def _epsilon(epsilon):
        """``epsilon``, where the Keras 2 spelling ``epsilon=None`` (of the books) means the default 1e-7."""
        if epsilon is None:
            warnings.warn("`epsilon=None` is deprecated; leave epsilon out for the default 1e-7.",
                          DeprecationWarning, stacklevel=3)
            return 1e-7
        return check_number("epsilon", epsilon, low=0)

    def _own_args(self):
        return [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "kwargs")]

    # -- learning rate ----------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The rate of the next step (a schedule is evaluated at ``iterations``).  Assign a float or a schedule."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if isinstance(lr, LearningRateSchedule) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
        elif callable(value):
            raise TypeError("A learning-rate schedule must subclass tweaknet.optimizers.schedules."
                            "LearningRateSchedule.")
        else:
            self._learning_rate = check_number("learning_rate", value, low=0)

    @property
    def schedule(self):
        """The schedule, or None when the learning rate is a constant."""
        return self._learning_rate if isinstance(self._learning_rate, LearningRateSchedule) else None

    # -- state --------------------------------------------------------------------------------
    def build(self, segments, size: int, dtype) -> None:
        """Create the slots for a flat parameter buffer of ``size`` entries split into ``segments``."""
        self._segments = list(segments)
        self._state = {name: np.full(size, init, dtype=dtype) for name, init in self.slot_initial_values().items()}

    def slot_initial_values(self) -> dict[str, float]:
        """Slots this optimizer keeps, with their initial value (override when they depend on arguments)."""
        return dict(self.slots)

    @property
    def built(self) -> bool:
        return self._segments is not None

    @property
    def segments(self) -> list:
        """``(start, stop)`` of each variable in the flat buffers (None before ``build``)."""
        return self._segments

    def slot(self, name):
        """The flat array of slot ``name``, or None when this instance keeps no such slot."""
        return self._state.get(name)

    def get_state(self) -> dict:
        """Slots and step counter (and running scalars), for checkpoints and exact resume."""
        return {"iterations": self.iterations, **{k: v.copy() for k, v in self._state.items()}}

    #: Slots that hold running means or sums of squared gradients: a negative entry is impossible.
    nonnegative_slots: tuple = ()

    def set_state(self, state: dict) -> None:
        """Restore what ``get_state`` returned (the optimizer must be built for the same layout).

        A state no training can produce is refused with a ValueError naming the field, before anything
        is changed: a step count that is not a non-negative integer (it enters the bias corrections as
        an exponent), a slot of the wrong shape, non-finite slot values, or a negative entry in a slot
        of squared gradients (``nonnegative_slots``)."""
        iterations = state.get("iterations")
        try:
            count = np.asarray(iterations)
        except OverflowError:
            count = np.asarray(None)
        if count.ndim != 0 or not np.issubdtype(count.dtype, np.integer) or count < 0:
            raise ValueError(f"the step count 'iterations' must be a non-negative integer, got {iterations!r}")
        for k, v in self._state.items():
            if k not in state:
                raise ValueError(f"slot {k!r} is missing")
            value = np.asarray(state[k])
            if value.shape != v.shape:
                raise ValueError(f"Optimizer slot {k!r} has shape {value.shape}, expected {v.shape}.")
            if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
                raise ValueError(f"slot {k!r} holds non-finite or non-float values")
            if k in self.nonnegative_slots and np.any(value < 0):
                raise ValueError(f"slot {k!r} (of squared gradients) holds negative values")
        for k, v in self._state.items():
            v[...] = state[k]
        self.iterations = int(iterations)

    # -- one step ----------------------------------------------------------------------------
    def clip(self, g: np.ndarray) -> None:
        """Apply this optimizer's clipping to the flat gradient buffer, in place."""
        if self.clipnorm:
            clipping.clip_by_norm(g, self._segments, self.clipnorm)
        elif self.global_clipnorm:
            clipping.clip_by_global_norm(g, self.global_clipnorm)
        elif self.clipvalue:
            clipping.clip_by_value(g, self.clipvalue)

    def apply(self, g: np.ndarray, w: np.ndarray) -> None:
        """One step on flat buffers: gradient ``g`` (clipped in place) and parameters ``w`` (updated in place)."""
        lr = self.learning_rate
        self.clip(g)
        if self.weight_decay:
            w[...] = weight_decay_rule(w, w.dtype.type(self.weight_decay * lr))
        self.update_step(g, w, lr)
        self.iterations += 1

    def step_args(self, lr: float, dtype) -> tuple:
        """The rule's arguments for the next step (``t = iterations + 1``), in ``dtype``; advances ``step_state``."""
        return tuple(dtype.type(a) for a in self.scalars(lr, self.iterations + 1, self.step_state, *self.constants()))

    def update_step(self, g: np.ndarray, w: np.ndarray, lr: float) -> None:
        """``w -= step`` with the rule on the whole flat buffers; the kept slots are updated in place."""
        slots = [self._state.get(name, ZERO) for name in self.rule_slots]
        step, *new = self.rule(g, *slots, *self.step_args(lr, w.dtype))
        for name, value in zip(self.rule_slots, new):
            if name in self._state:
                self._state[name][...] = value
        w -= step

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras's API on separate arrays: ``[(grad, variable), ...]``; variables are updated in place.

        The first call fixes the list of variables (and builds the slots); later calls must pass the
        same variables in the same order.
        """
        pairs = list(grads_and_vars)
        variables = [np.asarray(v) for _, v in pairs]
        sizes = [v.size for v in variables]
        if not self.built:
            bounds = np.cumsum([0] + sizes)
            self.build(list(zip(bounds[:-1], bounds[1:])), int(bounds[-1]), variables[0].dtype)
        elif [stop - start for start, stop in self._segments] != sizes:
            raise ValueError("apply_gradients got variables of other sizes than at its first call.")
        g = np.concatenate([np.asarray(gr, dtype=variables[0].dtype).ravel() for gr, _ in pairs])
        w = np.concatenate([v.ravel() for v in variables])
        self.apply(g, w)
        for (start, stop), v in zip(self._segments, variables):
            v[...] = w[start:stop].reshape(v.shape)

    def get_config(self) -> dict:
        lr = self._learning_rate
        cfg = {"name": self.name, "learning_rate": lr.get_config() | {"class_name": type(lr).__name__}
               if isinstance(lr, LearningRateSchedule) else lr,
               "weight_decay": self.weight_decay, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
               "global_clipnorm": self.global_clipnorm}
        return cfg

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self._learning_rate!r})"


def get(identifier) -> Optimizer:
    """Resolve an optimizer from a name ('sgd', 'adam', 'rmsprop', 'adagrad', ...), a config dict or an instance."""
    return _get("optimizer", identifier, base=Optimizer)
