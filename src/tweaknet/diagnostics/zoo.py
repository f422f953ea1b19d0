"""The zoo: broken and healthy networks with what a diagnosis must say about each, and the data they train on.

The tests (``tests/diagnostics``) run it in a reduced form (``Network.samples`` training samples, one
epoch); ``bench/diagnose_zoo.py`` runs it in full (``Network.full_samples``) and prints the table of the
docs.  Each network trains on MNIST (``data="mnist"``: standardized by a leading ``Normalization`` layer
holding the training statistics, as the book does; ``"raw"``: the pixels as they are) or on a synthetic
regression task (``"regression"``), and is validated on held-out samples (the MNIST test set).

A broken network lists the codes that must be among its findings of severity ``expect_severity``
(``"error"`` or ``"warning"``); a healthy one (``expect = ()``) must get no error and no warning.  For a
broken one, the top-ranked fix of ``try_fixes`` must raise the validation accuracy by at least
``REPAIR_MARGIN`` (a regression's validation loss must fall by ``REPAIR_LOSS_MARGIN``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import initializers, layers, optimizers, utils
from ..models import Sequential

#: The clear margin a broken network's top-ranked fix must beat: 5 percentage points of validation accuracy
#: (2.5x the 2 points that count as "helped"), or for a regression 25% of the validation loss.
REPAIR_MARGIN, REPAIR_LOSS_MARGIN = 0.05, 0.25
MNIST_MEAN, MNIST_STD = 33.318421449829934, 78.56748998339798  # of the 60,000 training images


@dataclass(frozen=True)
class Network:
    name: str
    layers: Callable              # () -> list of layers (the first with its input shape)
    optimizer: Callable           # () -> an optimizer instance
    loss: str
    batch_size: int
    expect: tuple = ()            # codes that must be among the findings of severity expect_severity
    expect_severity: str | None = None
    data: str = "mnist"           # "mnist" (standardized in the model), "raw" (pixels as they are), "regression"
    samples: int = 2000           # training samples in the tests
    full_samples: int = 60000     # training samples in bench/diagnose_zoo.py
    epochs: int = 1

    @property
    def broken(self) -> bool:
        return bool(self.expect)

    def build(self, seed=1) -> Sequential:
        """The compiled model, its weights drawn from ``seed``."""
        utils.set_random_seed(seed)
        stack = [layers.Input(shape=(REGRESSION_FEATURES,) if self.data == "regression" else (784,))]
        if self.data == "mnist":
            stack.append(layers.Normalization(axis=None, mean=MNIST_MEAN, variance=MNIST_STD ** 2))
        model = Sequential(stack + self.layers())
        model.compile(optimizer=self.optimizer(), loss=self.loss, metrics=[] if self.data == "regression"
                      else ["accuracy"])
        return model

    def dataset(self, full=False):
        """``(x_train, y_train), (x_val, y_val)`` for this network (reduced unless ``full``)."""
        n = self.full_samples if full else self.samples
        (x, y), (xv, yv) = regression_data() if self.data == "regression" else mnist_data()
        return (x[:n], y[:n]), (xv[:max(1000, min(len(xv), n // 2))], yv[:max(1000, min(len(yv), n // 2))])


@functools.lru_cache(maxsize=1)
def mnist_data():
    """MNIST flattened (uint8 pixels) with one-hot labels: ``(x, y), (x_test, y_test)``."""
    from ..datasets import mnist
    (x, y), (xt, yt) = mnist.load_data()
    return (x.reshape(len(x), -1), utils.to_categorical(y, 10)), (xt.reshape(len(xt), -1), utils.to_categorical(yt, 10))


REGRESSION_FEATURES = 20


@functools.lru_cache(maxsize=1)
def regression_data():
    """A smooth nonlinear regression task: 20 standard-normal features, one target (signal variance ~1,
    noise variance 0.01); 20,000 training and 4,000 validation samples."""
    rng = np.random.default_rng(2026)
    w1, w2 = rng.normal(0, 1 / np.sqrt(REGRESSION_FEATURES), (2, REGRESSION_FEATURES))

    def make(n):
        x = rng.normal(size=(n, REGRESSION_FEATURES)).astype(np.float32)
        y = np.sin(x @ w1) + 0.5 * (x @ w2) ** 2 - 0.5 + 0.1 * rng.normal(size=n)
        return x, y.astype(np.float32).reshape(-1, 1)

    return make(20000), make(4000)


D = layers.Dense


def _uniform():
    return initializers.RandomUniform(-0.1, 0.1)


def _book(hidden, output, init=_uniform):
    return lambda: [D(25, activation=hidden, kernel_initializer=init()), D(10, activation=output,
                                                                            kernel_initializer=init())]


def _relu_softmax(units=25):
    return lambda: [D(units, activation="relu", kernel_initializer="he_normal"), D(10, activation="softmax")]


NETWORKS = [
    # -- broken ----------------------------------------------------------------------------------------
    Network("book configuration 2: SGD at learning rate 10", _book("tanh", "sigmoid"),
            lambda: optimizers.SGD(10.0), "mse", 1,
            ("learning_rate_too_high", "saturated_units", "saturated_output"), "error"),
    Network("raw pixels into tanh, batch 1", lambda: [D(32, activation="tanh"), D(10, activation="softmax")],
            lambda: optimizers.SGD(0.01), "categorical_crossentropy", 1,
            ("unscaled_inputs", "saturated_units"), "error", data="raw", samples=4000),
    Network("ten sigmoid layers under MSE",
            lambda: [D(32, activation="sigmoid") for _ in range(9)] + [D(10, activation="sigmoid")],
            lambda: optimizers.SGD(0.1), "mse", 32, ("vanishing_gradient",), "error"),
    Network("five sigmoid layers, cross-entropy, plain SGD",
            lambda: [D(32, activation="sigmoid") for _ in range(5)] + [D(10, activation="softmax")],
            lambda: optimizers.SGD(0.1), "categorical_crossentropy", 32, ("vanishing_gradient",), "error",
            samples=4000),
    Network("ReLU with biases at -20",
            lambda: [D(64, activation="relu", bias_initializer=initializers.Constant(-20.0)),
                     D(10, activation="softmax")], optimizers.Adam, "categorical_crossentropy", 32,
            ("dead_relu",), "error"),
    Network("six ReLU layers with weights ten times too large",
            lambda: [D(64, activation="relu", kernel_initializer=initializers.RandomNormal(stddev=0.5))]
            + [D(64, activation="relu", kernel_initializer=initializers.RandomNormal(stddev=1.8)) for _ in range(5)]
            + [D(10, activation="softmax")], lambda: optimizers.SGD(0.01), "categorical_crossentropy", 32,
            ("exploding_gradient",), "error"),
    Network("sigmoid output saturated under MSE",
            lambda: [D(25, activation="relu", kernel_initializer="he_normal"),
                     D(10, activation="sigmoid", bias_initializer=initializers.Constant(8.0))],
            lambda: optimizers.SGD(0.01), "mse", 32, ("saturated_output",), "error"),
    Network("SGD at learning rate 1e-5", _relu_softmax(), lambda: optimizers.SGD(1e-5), "categorical_crossentropy",
            32, ("learning_rate_too_low",), "error"),
    Network("Adam at learning rate 1e-7", _relu_softmax(), lambda: optimizers.Adam(1e-7),
            "categorical_crossentropy", 32, ("learning_rate_too_low",), "error"),
    Network("Adagrad at learning rate 1e-5, batch 128", _relu_softmax(64), lambda: optimizers.Adagrad(1e-5),
            "categorical_crossentropy", 128, ("learning_rate_too_low",), "error", samples=8000),
    Network("SGD at learning rate 1000 (diverges)", _relu_softmax(), lambda: optimizers.SGD(1000.0),
            "categorical_crossentropy", 32, ("divergence", "learning_rate_too_high"), "error"),
    Network("RMSprop at learning rate 1, batch 8", _relu_softmax(), lambda: optimizers.RMSprop(1.0),
            "categorical_crossentropy", 8, ("learning_rate_too_high",), "error"),
    Network("regression with SGD at learning rate 1e-5",
            lambda: [D(32, activation="relu", kernel_initializer="he_normal"), D(1)],
            lambda: optimizers.SGD(1e-5), "mse", 16, ("learning_rate_too_low",), "error", data="regression",
            full_samples=20000),
    # learning, but slowly: a measured problem is the brake (severity warning)
    Network("sigmoid hidden layer with N(0, 1) weights, MSE, SGD 0.5",
            lambda: [D(32, activation="sigmoid", kernel_initializer=initializers.RandomNormal(stddev=1.0)),
                     D(10, activation="sigmoid")], lambda: optimizers.SGD(0.5), "mse", 32,
            ("saturated_units",), "warning", samples=45000),
    Network("ReLU with biases at -5, Adam, 4000 samples",
            lambda: [D(64, activation="relu", bias_initializer=initializers.Constant(-5.0)),
                     D(10, activation="softmax")], optimizers.Adam, "categorical_crossentropy", 32,
            ("dead_relu",), "warning", samples=4000, full_samples=4000),
    # -- healthy ---------------------------------------------------------------------------------------
    Network("book configuration 1: tanh/sigmoid, MSE, SGD 0.01, batch 1", _book("tanh", "sigmoid"),
            lambda: optimizers.SGD(0.01), "mse", 1, samples=30000),
    Network("book configuration 3: Glorot, Adam, batch 1", _book("tanh", "sigmoid", lambda: "glorot_uniform"),
            optimizers.Adam, "mse", 1, samples=6000),
    Network("book configuration 4: ReLU/He, softmax, cross-entropy, Adam, batch 1", _relu_softmax(),
            optimizers.Adam, "categorical_crossentropy", 1, samples=6000),
    Network("book configuration 5: as 4 with batch 64", _relu_softmax(), optimizers.Adam,
            "categorical_crossentropy", 64, samples=12000),
    Network("six ReLU layers with batch normalization, Adam, batch 32",
            lambda: [x for _ in range(6) for x in (D(64, kernel_initializer="he_normal"),
                                                   layers.BatchNormalization(), layers.Activation("relu"))]
            + [D(10, activation="softmax")], optimizers.Adam, "categorical_crossentropy", 32, samples=4000),
    Network("leaky ReLU, SGD with momentum, batch 32",
            lambda: [D(64, activation="leaky_relu", kernel_initializer="he_uniform"), D(10, activation="softmax")],
            lambda: optimizers.SGD(0.01, momentum=0.9), "categorical_crossentropy", 32, samples=4000),
    Network("tanh, Glorot, cross-entropy, plain SGD, batch 16",
            lambda: [D(64, activation="tanh"), D(10, activation="softmax")], lambda: optimizers.SGD(0.05),
            "categorical_crossentropy", 16, samples=4000),
    Network("two sigmoid layers, cross-entropy, Adam",
            lambda: [D(64, activation="sigmoid"), D(32, activation="sigmoid"), D(10, activation="softmax")],
            optimizers.Adam, "categorical_crossentropy", 32, samples=4000),
    Network("tanh with Nadam", lambda: [D(64, activation="tanh"), D(10, activation="softmax")], optimizers.Nadam,
            "categorical_crossentropy", 32, samples=4000),
    Network("two ELU layers, He, Adam, batch 64",
            lambda: [D(64, activation="elu", kernel_initializer="he_normal"),
                     D(32, activation="elu", kernel_initializer="he_normal"), D(10, activation="softmax")],
            optimizers.Adam, "categorical_crossentropy", 64, samples=8000),
    Network("ReLU with RMSprop", _relu_softmax(64), optimizers.RMSprop, "categorical_crossentropy", 32,
            samples=4000),
    Network("softplus with Adagrad, batch 8",
            lambda: [D(64, activation="softplus", kernel_initializer="he_normal"), D(10, activation="softmax")],
            lambda: optimizers.Adagrad(0.05), "categorical_crossentropy", 8, samples=4000),
    Network("four SELU layers, LeCun, AdamW, batch 128",
            lambda: [D(64, activation="selu", kernel_initializer="lecun_normal") for _ in range(4)]
            + [D(10, activation="softmax")], lambda: optimizers.AdamW(0.002), "categorical_crossentropy", 128,
            samples=16000),
    Network("maxout, SGD with Nesterov momentum",
            lambda: [D(64), layers.Maxout(32), D(10, activation="softmax")],
            lambda: optimizers.SGD(0.02, momentum=0.9, nesterov=True), "categorical_crossentropy", 32,
            samples=4000),
    Network("three ReLU layers, Adam, batch 256",
            lambda: [D(128, activation="relu", kernel_initializer="he_normal"),
                     D(64, activation="relu", kernel_initializer="he_normal"),
                     D(32, activation="relu", kernel_initializer="he_normal"), D(10, activation="softmax")],
            lambda: optimizers.Adam(0.003), "categorical_crossentropy", 256, samples=20000),
    Network("regression, ReLU, Adam",
            lambda: [D(32, activation="relu", kernel_initializer="he_normal"), D(1)], optimizers.Adam, "mse", 16,
            data="regression", samples=20000, full_samples=20000),
]
