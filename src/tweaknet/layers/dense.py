"""Dense (fully connected) layer: the book's 784-25-10 network is two of them."""
from __future__ import annotations

import numpy as np

from .. import activations
from ..activations import get as get_activation
from ..registry import register
from ..validation import check_int
from .base import Layer


@register("layer", "dense")
class Dense(Layer):
    """``y = activation(x @ kernel + bias)`` with ``kernel`` of shape (inputs, units).

    Backward, with ``dz`` the gradient at the pre-activation ``z``::

        dkernel = x^T dz,   dbias = sum_batch dz,   dx = dz kernel^T

    Defaults as Keras: ``activation=None`` (linear), ``use_bias=True``,
    ``kernel_initializer='glorot_uniform'``, ``bias_initializer='zeros'``.  PyTorch's ``nn.Linear``
    stores the transposed kernel (out, in) and initializes with U(+-1/sqrt(fan_in)).
    Inputs with more than two axes are transformed along the last axis, as in Keras.
    ``kernel_regularizer`` / ``bias_regularizer`` (``tweaknet.regularizers``) add their penalty to the
    loss and its gradient to the weight's gradient.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        from .. import regularizers
        #: weight name -> regularizer; its penalty joins the loss, its gradient the weight's gradient
        self.regularizers = {name: regularizers.get(r) for name, r in
                             (("kernel", kernel_regularizer), ("bias", bias_regularizer)) if r is not None}
        self.units = check_int("units", units, low=1)
        self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        # Fail now, not at build time, on an unknown initializer name.
        from ..initializers import get as get_initializer
        get_initializer(kernel_initializer), get_initializer(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"Dense layer {self.name!r} needs inputs with a feature axis, got shape {input_shape}.")
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    @property
    def output_activation(self):
        return self.activation

    @property
    def preactivation(self):
        return self.__dict__.get("_z")

    def forward(self, x, training=False):
        self._x = x
        z = x @ self.params["kernel"]
        if self.use_bias:
            z += self.params["bias"]
        self._z = z
        self._y = y = self.activation(z)
        return y

    def backward(self, dy):
        return self.backward_from_preactivation(self.activation.backward(self._z, self._y, dy))

    def backward_from_preactivation(self, dz):
        x = self._x
        if x.ndim > 2:
            x, dz = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])
        np.dot(x.T, dz, out=self.grads["kernel"])
        if self.use_bias:
            np.sum(dz, axis=0, out=self.grads["bias"])
        if not self.needs_input_grad:
            return None
        return (dz @ self.params["kernel"].T).reshape(self._x.shape)

    def get_config(self):
        def ser(init):
            return init if isinstance(init, str) else {"class_name": type(init).__name__, "config": init.get_config()}
        return super().get_config() | {
            "units": self.units, "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": ser(self.kernel_initializer), "bias_initializer": ser(self.bias_initializer),
            **{f"{name}_regularizer": {"class_name": type(r).__name__, "config": r.get_config()}
               for name, r in self.regularizers.items()}}
