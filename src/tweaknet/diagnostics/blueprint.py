"""A model as data: layer configs with their initial weights, and the compile settings.

A candidate fix (``fixes.py``) edits a copy of the blueprint of the model as it was before the diagnosis
run; ``build()`` turns it back into a compiled model.  Every layer keeps the weights recorded with it;
a layer whose weights are ``None`` (one the fix added, or one whose initializers it changed) draws fresh
weights from its initializers and the global generator.  Blueprints are plain data (dicts, lists, NumPy
arrays), so they travel to worker processes by pickle.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from .. import initializers, registry
from ..models import Sequential


@dataclass
class LayerPlan:
    class_name: str
    config: dict
    weights: list | None = None   # None: drawn fresh from the layer's initializers


@dataclass
class Blueprint:
    input_shape: tuple
    layers: list
    optimizer: dict               # {"class_name": ..., "config": {...}}; a schedule as a nested class_name/config
    loss: dict                    # {"class_name": ..., "config": {...}}
    optimizer_state: dict | None = None   # carried over while the optimizer and the parameter layout are unchanged
    name: str | None = None

    @classmethod
    def of(cls, model) -> "Blueprint":
        """The blueprint of a built, compiled model, with copies of its current weights."""
        layers = []
        for layer in model.layers:
            config = {k: v for k, v in _config(layer).items() if k != "input_shape"}
            layers.append(LayerPlan(type(layer).__name__, config, layer.get_weights()))
        opt = model.optimizer
        opt_config = opt.get_config()
        if opt.schedule is not None:
            opt_config["learning_rate"] = {"class_name": type(opt.schedule).__name__,
                                           "config": opt.schedule.get_config()}
        state = opt.get_state() if opt.built and opt.iterations else None
        return cls(tuple(model.input_shape[1:]), layers, {"class_name": type(opt).__name__, "config": opt_config},
                   {"class_name": type(model.loss).__name__, "config": {"from_logits": model.loss.from_logits}},
                   state, model.name)

    def copy(self) -> "Blueprint":
        """A copy whose configs can be edited; weight arrays are shared (they are only read)."""
        layers = [LayerPlan(p.class_name, copy.deepcopy(p.config), p.weights) for p in self.layers]
        return Blueprint(self.input_shape, layers, copy.deepcopy(self.optimizer), copy.deepcopy(self.loss),
                         self.optimizer_state, self.name)

    def make_optimizer(self):
        config = dict(self.optimizer["config"])
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = registry.lookup("schedule", lr["class_name"])(**lr["config"])
        return registry.lookup("optimizer", self.optimizer["class_name"])(**config)

    def build(self) -> Sequential:
        """The compiled model: recorded weights where a layer has them, fresh ones elsewhere."""
        layers = [registry.lookup("layer", p.class_name)(**p.config) for p in self.layers]
        model = Sequential(layers, name=self.name)
        model.build((None, *self.input_shape))
        for layer, plan in zip(model.layers, self.layers):
            if plan.weights is not None:
                layer.set_weights(plan.weights)
        model.compile(optimizer=self.make_optimizer(),
                      loss=registry.lookup("loss", self.loss["class_name"])(**self.loss["config"]))
        if self.optimizer_state is not None:
            model.optimizer.set_state(self.optimizer_state)
        return model


def _config(layer) -> dict:
    """``layer.get_config()``.  Dense's fails on an initializer given as a config dict (the lab's TOML files
    give them so): then the config of a shallow copy whose initializers are resolved objects."""
    try:
        return layer.get_config()
    except AttributeError:
        clone = copy.copy(layer)
        for attr in ("kernel_initializer", "bias_initializer"):
            if isinstance(getattr(clone, attr, None), dict):
                setattr(clone, attr, initializers.get(getattr(clone, attr)))
        return clone.get_config()
