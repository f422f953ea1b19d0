"""Built-in experiments, written as the same TOML files users write (``tweaknet preset NAME`` prints them).

A preset's text has no ``name``: :func:`get` names it after the preset, and a file saved from it is named
after the file (``tweaknet preset table5-1 > my.toml``: experiment ``my``)."""
from __future__ import annotations

from .spec import Experiment, SpecError, loads

TABLE5_1 = '''\
# Ekman, "Learning Deep Learning", chapter 5, Table 5-1 and Figure 5-12:
# "Experiment: Tweaking Network and Learning Parameters".
# A 784-25-10 network on MNIST; every configuration uses standardized inputs (one scalar mean
# and standard deviation taken from the training set), one-hot labels, zero biases and the
# accuracy metric, and reports the test error after every epoch.
# No `name`: a file is named after itself (my.toml: "my"), so an edited copy never writes over the
# results of the experiment it was copied from.  Add `name = "..."` to choose another.
description = "Ekman LDL Table 5-1: five configurations of a 784-25-10 MNIST network"

[data]
dataset = "mnist"
standardize = "scalar"      # one mean and std over all training pixels
labels = "one_hot"

[model]
loss = "mean_squared_error"

[[model.layers]]            # hidden layer: 25 units
units = 25
activation = "tanh"
kernel_initializer = { class_name = "RandomUniform", config = { minval = -0.1, maxval = 0.1 } }
bias_initializer = "zeros"

[[model.layers]]            # output layer: one unit per digit
units = 10
activation = "sigmoid"
kernel_initializer = { class_name = "RandomUniform", config = { minval = -0.1, maxval = 0.1 } }
bias_initializer = "zeros"

[optimizer]
name = "sgd"
learning_rate = 0.01

[train]
batch_size = 1
epochs = 20
seeds = [1]

[[configurations]]
name = "conf1"
description = "tanh/sigmoid, U(-0.1, 0.1), MSE, SGD lr=0.01, batch 1"

[[configurations]]
name = "conf2"
description = "as conf1 with SGD lr=10.0"
"optimizer.learning_rate" = 10.0

[[configurations]]
name = "conf3"
description = "tanh/sigmoid, Glorot uniform, MSE, Adam, batch 1"
"model.layers.0.kernel_initializer" = "glorot_uniform"
"model.layers.1.kernel_initializer" = "glorot_uniform"
"optimizer" = { name = "adam" }

[[configurations]]
name = "conf4"
description = "ReLU (He normal)/softmax (Glorot uniform), cross-entropy, Adam, batch 1"
"model.layers.0.activation" = "relu"
"model.layers.0.kernel_initializer" = "he_normal"
"model.layers.1.activation" = "softmax"
"model.layers.1.kernel_initializer" = "glorot_uniform"
"model.loss" = "categorical_crossentropy"
"optimizer" = { name = "adam" }

[[configurations]]
name = "conf5"
description = "as conf4 with mini-batch size 64"
"model.layers.0.activation" = "relu"
"model.layers.0.kernel_initializer" = "he_normal"
"model.layers.1.activation" = "softmax"
"model.layers.1.kernel_initializer" = "glorot_uniform"
"model.loss" = "categorical_crossentropy"
"optimizer" = { name = "adam" }
"train.batch_size" = 64
'''

PRESETS: dict[str, tuple[str, str]] = {
    "table5-1": ("Ekman LDL ch. 5, Table 5-1 / Figure 5-12: five ways to train a 784-25-10 MNIST network", TABLE5_1),
}


def names() -> list[str]:
    return sorted(PRESETS)


def text(name: str) -> str:
    """The TOML source of preset ``name``."""
    if name not in PRESETS:
        raise SpecError("", f"unknown preset {name!r}; available: {', '.join(names())}")
    return PRESETS[name][1]


def get(name: str) -> Experiment:
    """Preset ``name`` parsed as an :class:`Experiment`."""
    return loads(text(name), name)
