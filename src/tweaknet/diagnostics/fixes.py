"""The candidate fixes of each finding: concrete changes to a copy of the model, each one technique of the chapter.

``TABLE`` maps a finding's code to at most four candidates, in the order the chapter would try them.
A candidate is a function ``(blueprint, context, code) -> change | None`` that edits a copy of the model's
:class:`~tweaknet.diagnostics.blueprint.Blueprint` and returns what it changed (``"learning_rate 10 -> 1"``),
or None where it does not apply to this model (the inputs are already standardized, the loss is already
a cross-entropy, ...).  A layer whose initializers a candidate changes (or that it adds) draws fresh
weights; every other layer keeps its initial weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import activations, initializers, registry
from .blueprint import Blueprint, LayerPlan
from .layout import describe, leading_inputs, positions

#: Batch normalization is offered only from this batch size on: its batch statistics over fewer samples
#: are noise, and over one sample the normalized value is always 0.
BN_MIN_BATCH = 16
#: The gradient norm bound of ``clip_gradients`` (``global_clipnorm``).
CLIP_NORM = 1.0
ADAM_FAMILY = ("Adam", "AdamW", "Nadam")


@dataclass
class Context:
    """What the candidates need to know beyond the model: the statistics of the inputs the first layer with
    weights receives (``input_mean``, ``input_std``, ``standardized``), whether the targets are one-hot
    rows, the batch size, and the model's layers by name (``layout.describe``) for the change texts."""
    input_mean: float
    input_std: float
    standardized: bool
    one_hot: bool
    batch_size: int
    layers: dict = field(default_factory=dict)

    def where(self, plans) -> str:
        """Where the layers of ``plans`` are in the model, in words (``"hidden layers 1-3 of 4"``)."""
        return positions([self.layers[p.config["name"]] for p in plans if p.config["name"] in self.layers])


@dataclass(frozen=True)
class Candidate:
    name: str
    description: str
    apply: Callable


CANDIDATES: dict[str, Candidate] = {}


def candidate(name, description):
    def deco(fn):
        CANDIDATES[name] = Candidate(name, description, fn)
        return fn
    return deco


TABLE = {
    "divergence": ("lower_learning_rate_10x", "lower_learning_rate_100x", "default_learning_rate", "clip_gradients"),
    "learning_rate_too_high": ("lower_learning_rate_10x", "lower_learning_rate_100x", "default_learning_rate",
                               "clip_gradients"),
    "exploding_gradient": ("matched_initialization", "clip_gradients", "batch_normalization",
                           "lower_learning_rate_10x"),
    "vanishing_gradient": ("relu_he", "matched_initialization", "batch_normalization", "cross_entropy"),
    "saturated_units": ("standardize_inputs", "matched_initialization", "batch_normalization", "relu_he"),
    "saturated_output": ("cross_entropy", "matched_initialization", "lower_learning_rate_10x"),
    "dead_relu": ("matched_initialization", "leaky_relu", "lower_learning_rate_10x"),
    "unscaled_inputs": ("standardize_inputs", "batch_normalization"),
    "learning_rate_too_low": ("raise_learning_rate_10x", "raise_learning_rate_100x", "default_learning_rate", "adam"),
}


def proposals(findings, blueprint: Blueprint, context: Context) -> list:
    """``[(candidate name, finding code, change, edited blueprint)]``: each finding's candidates that apply,
    each distinct change once.  A candidate two findings share answers the one whose table lists it
    earlier (``lower_learning_rate_10x`` answers ``learning_rate_too_high`` before ``saturated_output``)."""
    out, seen = [], set()
    for rank in range(max((len(TABLE.get(f.code, ())) for f in findings), default=0)):
        for finding in findings:
            names = TABLE.get(finding.code, ())
            if rank >= len(names):
                continue
            edited = blueprint.copy()
            change = CANDIDATES[names[rank]].apply(edited, context, finding.code)
            if change is not None and change not in seen:
                seen.add(change)
                out.append((names[rank], finding.code, change, edited))
    return out


# -- the learning rate -------------------------------------------------------------------------------
def _rate(bp: Blueprint):
    """(the config dict holding the learning rate, its key): the optimizer's, or its schedule's initial rate;
    (None, None) for a schedule without one (piecewise constant), which the rate candidates leave alone."""
    cfg = bp.optimizer["config"]
    if not isinstance(cfg["learning_rate"], dict):
        return cfg, "learning_rate"
    schedule = cfg["learning_rate"]["config"]
    return (schedule, "initial_learning_rate") if "initial_learning_rate" in schedule else (None, None)


def _set_rate(bp, new) -> str:
    cfg, key = _rate(bp)
    old, cfg[key] = cfg[key], float(new)
    return f"{key} {old:g} -> {float(new):g}"


def _scaled(factor):
    def apply(bp, context, code):
        cfg, key = _rate(bp)
        return None if cfg is None else _set_rate(bp, cfg[key] * factor)
    return apply


candidate("lower_learning_rate_10x", "divide the learning rate by 10")(_scaled(0.1))
candidate("lower_learning_rate_100x", "divide the learning rate by 100")(_scaled(0.01))
candidate("raise_learning_rate_10x", "multiply the learning rate by 10")(_scaled(10.0))
candidate("raise_learning_rate_100x", "multiply the learning rate by 100")(_scaled(100.0))


@candidate("default_learning_rate", "the optimizer's default (Keras) learning rate, where it lies in the direction "
                                    "the finding asks for")
def default_learning_rate(bp, context, code):
    cfg, key = _rate(bp)
    if cfg is None:
        return None
    default = registry.lookup("optimizer", bp.optimizer["class_name"])().learning_rate
    lower = code in ("divergence", "learning_rate_too_high")
    if (default < cfg[key]) != lower or default == cfg[key]:
        return None
    return _set_rate(bp, default)


@candidate("clip_gradients", f"bound the gradient's global norm (global_clipnorm={CLIP_NORM})")
def clip_gradients(bp, context, code):
    cfg = bp.optimizer["config"]
    if any(cfg.get(k) for k in ("clipnorm", "clipvalue", "global_clipnorm")):
        return None
    cfg["global_clipnorm"] = CLIP_NORM
    return f"global_clipnorm None -> {CLIP_NORM:g}"


@candidate("adam", "Adam at its default learning rate 0.001 instead of the optimizer")
def adam(bp, context, code):
    if bp.optimizer["class_name"] in ADAM_FAMILY:
        return None
    old = bp.optimizer
    lr = old["config"]["learning_rate"]
    lr = f"{lr:g}" if not isinstance(lr, dict) else lr["class_name"]
    bp.optimizer, bp.optimizer_state = {"class_name": "Adam", "config": {"learning_rate": 0.001}}, None
    return f"optimizer {old['class_name']}(learning_rate={lr}) -> Adam(learning_rate=0.001)"


# -- activations and initialization -------------------------------------------------------------------
def _activation(plan: LayerPlan):
    """The activation object a layer plan applies (None for layers without one)."""
    if plan.class_name in ("Dense", "Activation"):
        return activations.get(plan.config.get("activation") or "linear")
    name = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu", "Softmax": "softmax"}.get(plan.class_name)
    return None if name is None else activations.get(name)


def _dense_units(bp):
    """``[(index of a Dense plan, index of the plan applying its activation)]``: a linear Dense followed
    (through BatchNormalization) by an activation layer is one unit with that activation."""
    units = []
    for i, plan in enumerate(bp.layers):
        if plan.class_name != "Dense":
            continue
        j = i
        if _activation(plan).name == "linear":
            for k in range(i + 1, len(bp.layers)):
                nxt = bp.layers[k]
                if nxt.class_name == "Dense":
                    break
                if _activation(nxt) is not None:
                    j = k
                    break
        units.append((i, j))
    return units


def _hidden_units(bp):
    return _dense_units(bp)[:-1]  # the last Dense unit is the output


RELU_FAMILY = ("relu", "leaky_relu", "elu", "softplus")


def _matched(act_name):
    """The initializer matched to an activation: He for the ReLU family, LeCun for SELU, Glorot otherwise."""
    return "he_normal" if act_name in RELU_FAMILY else "lecun_normal" if act_name == "selu" else "glorot_uniform"


def _init_label(identifier) -> str:
    return identifier if isinstance(identifier, str) else identifier.get("class_name", "?")


def _reinitialize(plan, kernel, bias="zeros") -> list:
    """Give a Dense plan the ``kernel`` initializer and zero biases (and fresh weights) where it has others;
    returns the changes (``["RandomUniform -> glorot_uniform"]``)."""
    parts = []
    want = initializers.get(kernel)
    have = initializers.get(plan.config.get("kernel_initializer", "glorot_uniform"))
    if not (isinstance(have, initializers.VarianceScaling) and (have.scale, have.mode) == (want.scale, want.mode)):
        parts.append(f"{_init_label(plan.config.get('kernel_initializer'))} -> {kernel}")
        plan.config["kernel_initializer"] = kernel
    if plan.config.get("use_bias", True) and \
            not isinstance(initializers.get(plan.config.get("bias_initializer", "zeros")), initializers.Zeros):
        parts.append(f"bias {_init_label(plan.config.get('bias_initializer'))} -> {bias}")
        plan.config["bias_initializer"] = bias
    if parts:
        plan.weights = None
    return parts


@candidate("matched_initialization", "He initialization for ReLU-family layers, LeCun for SELU, Glorot for "
                                     "the others, and zero biases (fresh weights in the layers it changes)")
def matched_initialization(bp, context, code):
    changed = {}
    for i, j in _dense_units(bp):
        for part in _reinitialize(bp.layers[i], _matched(_activation(bp.layers[j]).name)):
            changed.setdefault(part, []).append(bp.layers[i])
    return "; ".join(f"{change} in {context.where(plans)}" for change, plans in changed.items()) or None


def _switch(bp, plans, new_act):
    for plan in plans:
        if plan.class_name in ("Dense", "Activation"):
            plan.config["activation"] = new_act
        else:  # a ReLU / ELU / LeakyReLU layer becomes an Activation layer of the same name
            plan.class_name, plan.config = "Activation", {"name": plan.config["name"], "activation": new_act}


@candidate("relu_he", "ReLU instead of sigmoid/tanh in the hidden layers, with He initialization")
def relu_he(bp, context, code):
    hits = [(i, j) for i, j in _hidden_units(bp) if _activation(bp.layers[j]).max_derivative is not None]
    if not hits:
        return None
    old = sorted({_activation(bp.layers[j]).name for _, j in hits})
    where = context.where([bp.layers[i] for i, _ in hits])
    _switch(bp, [bp.layers[j] for _, j in hits], "relu")
    for i, _ in hits:
        _reinitialize(bp.layers[i], "he_normal")
    return f"activation {'/'.join(old)} -> relu with he_normal kernels in {where}"


@candidate("leaky_relu", "leaky ReLU (negative slope 0.2, derivative never 0) instead of ReLU in the hidden layers")
def leaky_relu(bp, context, code):
    hits = [bp.layers[j] for _, j in _hidden_units(bp) if _activation(bp.layers[j]).name == "relu"]
    if not hits:
        return None
    where = context.where(hits)
    _switch(bp, hits, "leaky_relu")
    return f"activation relu -> leaky_relu in {where}"


@candidate("batch_normalization", f"BatchNormalization before the activation of every hidden layer (batch size "
                                  f">= {BN_MIN_BATCH})")
def batch_normalization(bp, context, code):
    if context.batch_size < BN_MIN_BATCH or any(p.class_name == "BatchNormalization" for p in bp.layers):
        return None
    hidden = _hidden_units(bp)
    if not hidden:
        return None
    layers = list(bp.layers)
    for i, j in reversed(hidden):
        dense = layers[i]
        bn = LayerPlan("BatchNormalization", {"name": f"{dense.config['name']}_batch_normalization"})
        if i == j:  # Dense(activation=f) -> Dense(linear), BatchNormalization, Activation(f); the kernel is kept
            act = dense.config.get("activation")
            dense.config["activation"] = "linear"
            layers[i + 1:i + 1] = [bn, LayerPlan("Activation", {"name": f"{dense.config['name']}_activation",
                                                                "activation": act})]
        else:
            layers.insert(j, bn)
    where = context.where([bp.layers[i] for i, _ in hidden])
    bp.layers, bp.optimizer_state = layers, None
    return f"BatchNormalization before the activation in {where}"


# -- data and loss --------------------------------------------------------------------------------------
@candidate("standardize_inputs", "a Normalization layer with the training inputs' mean and standard deviation "
                                 "(one scalar each) before the first layer with weights")
def standardize_inputs(bp, context, code):
    if context.standardized:
        return None
    first = next(i for i, p in enumerate(bp.layers) if p.class_name not in ("Flatten", "Normalization"))
    bp.layers.insert(first, LayerPlan("Normalization", {"name": "standardize_inputs", "axis": None,
                                                        "mean": context.input_mean,
                                                        "variance": context.input_std ** 2}))
    return f"inputs standardized: (x - {context.input_mean:.4g}) / {context.input_std:.4g}"


@candidate("cross_entropy", "cross-entropy instead of MSE for a sigmoid or softmax output (softmax with "
                            "categorical cross-entropy for one-hot targets, else binary cross-entropy)")
def cross_entropy(bp, context, code):
    units = _dense_units(bp)
    if not units or registry.lookup("loss", bp.loss["class_name"]) is not registry.lookup("loss", "mse"):
        return None
    out = bp.layers[units[-1][1]]
    act = _activation(out)
    if act is None or act.name not in ("sigmoid", "softmax"):
        return None
    if context.one_hot and bp.layers[units[-1][0]].config["units"] > 1:
        bp.loss = {"class_name": "categorical_crossentropy", "config": {}}
        if act.name != "softmax":
            _switch(bp, [out], "softmax")
            return "loss mean_squared_error -> categorical_crossentropy, output sigmoid -> softmax"
        return "loss mean_squared_error -> categorical_crossentropy"
    if act.name != "sigmoid":
        return None
    bp.loss = {"class_name": "binary_crossentropy", "config": {}}
    return "loss mean_squared_error -> binary_crossentropy"


def context_of(model, x, y, batch_size, sample=5000) -> Context:
    """The :class:`Context` of a model and its training data (statistics from at most ``sample`` samples)."""
    seen = np.asarray(leading_inputs(model, x[:sample]), dtype=np.float64)
    mean, std = float(seen.mean()), float(seen.std())
    yy = np.asarray(y[:sample])
    one_hot = yy.ndim == 2 and yy.shape[1] > 1 and bool(np.all((yy == 0) | (yy == 1))) and \
        bool(np.all(yy.sum(axis=1) == 1))
    return Context(mean, std, abs(mean) < 0.5 and 0.5 < std < 2.0, one_hot, int(batch_size), describe(model))
