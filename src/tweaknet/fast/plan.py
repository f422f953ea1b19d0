"""Which models the compiled path serves, and the translation of a model into kernel arguments.

Served: a Sequential stack of ``Dense`` layers, optionally after a leading ``Flatten`` (the book's
``Flatten(input_shape=(28, 28))``: the compiled path reads the same rows as one flat vector) and a
``Normalization`` input layer, (any activation among linear, sigmoid, tanh, plain
relu, leaky_relu, elu, selu, softplus, softmax on the last layer), loss MSE or a fused
sigmoid + binary / softmax + categorical cross-entropy, any tweaknet optimizer with any clipping
mode, weight decay and schedule, metrics none or one (binary or categorical) accuracy, and no
per-batch callbacks.  Everything else (BatchNormalization, Maxout, sparse labels, ...) runs on
the reference path, with identical results; ``explain(model)`` says why.
"""
from __future__ import annotations

import numpy as np

from .. import activations as A
from .. import losses as Lo
from .. import optimizers as O
from ..layers import Dense, Flatten, Normalization
from .. import metrics as M

_ACT = {A.Linear: 0, A.Sigmoid: 1, A.Tanh: 2, A.ReLU: 3, A.LeakyReLU: 4, A.ELU: 5, A.SELU: 6, A.Softplus: 7,
        A.Softmax: 8}


def _activation_code(act, last):
    code = _ACT.get(type(act))
    if code is None:
        return None, 0.0, f"activation {act!r} has no compiled kernel"
    if code == 3 and not act.is_plain:
        return None, 0.0, "relu with max_value/threshold/negative_slope has no compiled kernel"
    if code == 8 and (not last or act.axis != -1):
        return None, 0.0, "softmax is compiled only as the output activation"
    alpha = getattr(act, "negative_slope", getattr(act, "alpha", 0.0)) if code in (4, 5) else 0.0
    return code, float(alpha), None


def _optimizer_code(opt):
    t = type(opt)
    if t is O.SGD:
        code = 0 if not opt.momentum else (2 if opt.nesterov else 1)
        return code, [opt.momentum, 0.0, 0.0, 0.0, 0.0], ["m"] if opt.momentum else []
    if t in (O.Adam, O.AdamW):
        return (4 if opt.amsgrad else 3), [opt.beta_1, opt.beta_2, opt.epsilon, 0.0, 0.0], \
            ["m", "v", "v_hat"] if opt.amsgrad else ["m", "v"]
    if t is O.RMSprop:
        names = ["velocity", "momentum" if opt.momentum else None, "average_gradient" if opt.centered else None]
        return 5, [0.0, opt.rho, opt.epsilon, opt.momentum, float(opt.centered)], names
    if t is O.Adagrad:
        return 6, [0.0, 0.0, opt.epsilon, 0.0, 0.0], ["accumulator"]
    if t is O.Nadam:
        return 7, [opt.beta_1, opt.beta_2, opt.epsilon, 0.0, 0.0], ["m", "v"]
    return None, None, None


def _leading(model):
    """The layers that come before the Dense stack: an optional Flatten, then an optional Normalization."""
    layers, head = model.layers, []
    if layers and type(layers[0]) is Flatten:
        head.append(layers[0])
    if len(layers) > len(head) and type(layers[len(head)]) is Normalization:
        head.append(layers[len(head)])
    return head


def _dense_layers(model):
    """The layers after the leading Flatten and Normalization (None if the stack has another shape)."""
    head = _leading(model)
    layers = model.layers[len(head):]
    if head and type(head[-1]) is Normalization and (head[-1].invert or not layers):
        return None
    return layers


def explain(model, batch_hooks=False) -> str | None:
    """None if the compiled path serves this model, else the reason it does not."""
    from . import available
    if not available():
        return "numba and scipy are not installed (pip install 'tweaknet[fast]')"
    if batch_hooks:
        return "a callback uses per-batch hooks"
    dense = _dense_layers(model)
    if dense is None or not all(type(layer) is Dense and layer.trainable for layer in dense):
        kinds = sorted({type(layer).__name__ for layer in model.layers if type(layer) not in (Dense, Flatten)})
        return f"only stacks of trainable Dense layers are compiled (this model has {', '.join(kinds) or 'frozen layers'})"
    if any(layer.regularizers for layer in dense):
        return "weight regularizers are not compiled"
    for i, layer in enumerate(dense):
        _, _, why = _activation_code(layer.activation, i == len(dense) - 1)
        if why:
            return why
    loss, last_act = model.loss, model.layers[-1].activation
    if type(loss) is Lo.MeanSquaredError:
        pass
    elif type(loss) in (Lo.BinaryCrossentropy, Lo.CategoricalCrossentropy) and model.fused_output:
        pass
    else:
        return f"loss {loss.name} with output activation {last_act.name} has no compiled kernel"
    if _optimizer_code(model.optimizer)[0] is None:
        return f"optimizer {type(model.optimizer).__name__} has no compiled kernel"
    if len(model.compiled_metrics) > 1 or any(
            type(m) not in (M.CategoricalAccuracy, M.BinaryAccuracy) or getattr(m, "threshold", 0.5) != 0.5
            for m in model.compiled_metrics):
        return "only one categorical or binary accuracy metric (threshold 0.5) is compiled"
    if model.flat.params.dtype not in (np.float32, np.float64):
        return "only float32 and float64 are compiled"
    return None


class EpochPlan:
    """Kernel arguments for one model: views into its buffers and work arrays, built once per fit."""

    def __init__(self, model, batch_size):
        self.model, self.batch_size = model, batch_size
        layers, opt = _dense_layers(model), model.optimizer
        dtype = model.flat.params.dtype
        n_in = layers[0].params["kernel"].shape[0]
        head = _leading(model)
        norm = head[-1] if head and type(head[-1]) is Normalization else None
        self.flatten = bool(head) and type(head[0]) is Flatten
        self.in_mean = np.zeros(n_in, dtype) + (norm.buffers["mean"] if norm else 0)
        self.in_denom = np.ones(n_in, dtype) * (norm.denominator() if norm else 1)
        n_last = len(layers) - 1
        codes = [_activation_code(layer.activation, i == n_last) for i, layer in enumerate(layers)]
        self.acts = np.array([code for code, _, _ in codes], dtype=np.int64)
        self.alphas = np.array([alpha for _, alpha, _ in codes], dtype=np.float64)
        self.has_bias = np.array([layer.use_bias for layer in layers], dtype=np.bool_)

        def bias_row(layer, arrays, name="bias"):
            return arrays[name].reshape(1, -1) if layer.use_bias else np.zeros((1, layer.units), dtype)

        self.Ws = tuple(layer.params["kernel"] for layer in layers)
        self.Bs = tuple(bias_row(layer, layer.params) for layer in layers)
        self.Gw = tuple(layer.grads["kernel"] for layer in layers)
        self.Gb = tuple(bias_row(layer, layer.grads) for layer in layers)
        self.opt_code, hp, slot_names = _optimizer_code(opt)
        self.hp = np.array(hp, dtype=np.float64)
        slot_w, slot_b = [], []
        for name in (slot_names + [None] * 3)[:3]:
            ws, bs = [], []
            for layer, (a, b), shape in self._segments(model, layers):
                if name is None or name not in opt._state:
                    view = np.zeros(shape if len(shape) == 2 else (1, shape[0]), dtype)
                else:
                    view = opt._state[name][a:b].reshape(shape if len(shape) == 2 else (1, shape[0]))
                (ws if len(shape) == 2 else bs).append(view)
            # layers without bias get a zero placeholder row
            bs_full, it = [], iter(bs)
            for layer in layers:
                bs_full.append(next(it) if layer.use_bias else np.zeros((1, layer.units), dtype))
            slot_w.append(tuple(ws))
            slot_b.append(tuple(bs_full))
        # Kernels, their gradients and slots are trained transposed, (units, inputs): the model's arrays
        # are copied in at the start of an epoch and back at its end (``_kernels``).
        self._kernels = [(a, np.ascontiguousarray(a.T)) for group in (self.Ws, self.Gw, *slot_w) for a in group]
        transposed = iter([t for _, t in self._kernels])
        self.WTs, self.GTs, self.S0w, self.S1w, self.S2w = (
            tuple(next(transposed) for _ in group) for group in (self.Ws, self.Gw, *slot_w))
        self.S0b, self.S1b, self.S2b = slot_b
        if opt.clipnorm:
            self.clip = (1, opt.clipnorm)
        elif opt.global_clipnorm:
            self.clip = (2, opt.global_clipnorm)
        elif opt.clipvalue:
            self.clip = (3, opt.clipvalue)
        else:
            self.clip = (0, 0.0)
        self.Z, self.A, self.Dz = (tuple(np.zeros((batch_size, layer.units), dtype) for layer in layers)
                                   for _ in range(3))
        self.xbuf = np.zeros((batch_size, layers[0].params["kernel"].shape[0]), dtype)
        self.c = np.zeros(14, dtype)
        self.loss_code = {Lo.MeanSquaredError: 0, Lo.BinaryCrossentropy: 1}.get(type(model.loss), 2)
        metric = model.compiled_metrics[0] if model.compiled_metrics else None
        self.metric_code = 0 if metric is None else (1 if type(metric) is M.CategoricalAccuracy else 2)

    @staticmethod
    def _segments(model, layers):
        """(layer, (start, stop), shape) of each trainable array, in the store's order."""
        it = iter(model.flat.segments)
        for layer in layers:
            for name in layer.params:
                yield layer, next(it), layer.params[name].shape

    def _boundaries(self, n, every, progress_steps):
        """Sample offsets where the epoch's chunks end: every ``every`` steps and, with ``progress_steps``,
        wherever the optimizer's step count reaches a multiple of it."""
        if every is None:
            return [n]
        bs, steps = self.batch_size, -(-n // self.batch_size)
        ends = set(range(every, steps, every))
        if progress_steps:
            first = (-self.model.optimizer.iterations) % progress_steps or progress_steps
            ends.update(range(first, steps + 1, progress_steps))
        return sorted(min(e * bs, n) for e in ends if 0 < e <= steps) + ([n] if steps not in ends else [])

    def run(self, x, y, order, callbacks):
        """Train one epoch on the samples in ``order`` in compiled code; return the epoch logs.

        With progress callbacks, the epoch runs in chunks that end where ``callbacks.on_progress`` is due (the
        rule of ``callbacks.progress_every`` and ``callbacks.progress_steps``, the reference path's) and calls
        it between them: the same steps in the same order, so the same numbers.
        """
        from ..config import epsilon
        from .kernels import train_epoch
        opt = self.model.optimizer
        n = len(x)
        if self.flatten:
            x = x.reshape(n, -1)    # a view for contiguous inputs: the rows the Flatten layer would give
        order = np.ascontiguousarray(order, dtype=np.int64)
        every, progress_steps = callbacks.progress_every(self.batch_size), callbacks.progress_steps
        ends = self._boundaries(n, every, progress_steps)
        state = np.array([getattr(opt, "u_product", 1.0)], dtype=np.float64)
        for array, transposed in self._kernels:
            transposed[...] = array.T
        loss_sum = correct = 0.0
        for start, stop in zip([0, *ends[:-1]], ends):
            part = order[start:stop]
            steps = -(-len(part) // self.batch_size)
            sched = opt.schedule
            lrs = (np.array([sched(opt.iterations + k) for k in range(steps)], dtype=np.float64)
                   if sched is not None else np.array([opt.learning_rate], dtype=np.float64))
            part_loss, part_correct, done = train_epoch(
                x, y, part, self.batch_size, self.WTs, self.Bs, self.GTs, self.Gb,
                self.S0w, self.S1w, self.S2w, self.S0b, self.S1b, self.S2b, self.acts, self.alphas, self.has_bias,
                self.loss_code, epsilon(), self.metric_code, self.opt_code, self.hp, state, lrs, opt.iterations,
                float(opt.weight_decay or 0.0), self.clip[0], float(self.clip[1]), self.Z, self.A, self.Dz,
                self.xbuf, self.in_mean, self.in_denom, self.c)
            opt.iterations += int(done)
            loss_sum += part_loss
            correct += part_correct
            self._publish(state)  # callbacks between chunks see the weights and slots trained so far
            if every is not None and (stop < n or (progress_steps and opt.iterations % progress_steps == 0)):
                callbacks.on_progress(stop, self._logs(loss_sum, correct, stop))
                for array, transposed in self._kernels:  # a callback may have set weights
                    transposed[...] = array.T
                if hasattr(opt, "u_product"):
                    state[0] = opt.u_product
        return self._logs(loss_sum, correct, n)

    def _publish(self, state):
        """Copy the transposed working arrays back into the model's weights and optimizer slots."""
        for array, transposed in self._kernels:
            array[...] = transposed.T
        if hasattr(self.model.optimizer, "u_product"):
            self.model.optimizer.u_product = float(state[0])

    def _logs(self, loss_sum, correct, seen):
        logs = {"loss": loss_sum / seen}
        if self.model.compiled_metrics:
            logs[self.model.compiled_metrics[0].name] = correct / seen
        return logs
