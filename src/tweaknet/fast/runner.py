"""The compiled path's runner: one generated module per model, driven chunk by chunk.

``run(x, y, order, callbacks)`` has the interface of the reference path's ``ReferenceEpoch``: the same
batches in the same order, progress between chunks by the same rule, the same numbers up to float
round-off.  ``evaluate`` and ``predict`` run the compiled forward pass in inference mode.  Everything
works on the model's own arrays (its flat parameter and gradient buffers, the optimizer's slots, the
layers' buffers and generators), so callbacks between chunks see and may change the live weights.
"""
from __future__ import annotations

import time
import weakref

import numba
import numpy as np

from ..losses import SparseCategoricalCrossentropy
from . import compiler, pace
from .compose import Composer

#: model -> {(batch size, threads): Pace}
_PACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class CompiledModel:
    """The compiled functions of ``model`` for batches of ``batch_size``."""

    def __init__(self, model, batch_size):
        self.model, self.batch_size = model, int(batch_size)
        self.composer = Composer(model, batch_size)
        self.module = self.composer.module()
        self.dtype = model.flat.params.dtype

    # -- data ----------------------------------------------------------------------------------
    def _data(self, x, y):
        x = x.reshape(len(x), -1)  # the rows the leading Flatten would give (a view for contiguous data)
        if y is not None and isinstance(self.model.loss, SparseCategoricalCrossentropy):
            y = np.asarray(y).reshape(len(y)).astype(np.intp, copy=False)
        elif y is not None:
            y = y.reshape(len(y), -1)  # one row of targets per sample (a view)
        return x, (np.zeros((len(x), 1), self.dtype) if y is None else y)

    def _loss_args(self, n):
        """The loss's gradient arguments for a full batch and for the epoch's last one."""
        loss, classes = self.model.loss, self.composer.widths[-1]
        args = loss.fused_args if self.model.fused_output else loss.grad_args
        values = self.composer.args
        for name, count in (("gfull", self.batch_size), ("glast", n % self.batch_size or self.batch_size)):
            a = args(self.dtype, count, classes)
            values[name][:len(a)] = a

    def _call(self, fn, what, *args):
        full = (*args, *self.composer.values())
        compiler.prepare(fn, full, what)
        if self.composer.split:  # the step's threads share its products: each calls BLAS on one thread
            from . import blas_threads
            with blas_threads(1):
                return fn(*full)
        return fn(*full)

    # -- training --------------------------------------------------------------------------------
    def _primed(self):
        """What the first layer's pass for the next chunk's first sample relied on (``Composer.ahead``): its weights
        and its buffers.  The runner compares them before the next chunk: where a callback changed any of them
        (new weights, an ``evaluate`` in between), that chunk recomputes the pass."""
        block = self.composer.blocks[self.composer.ahead]
        args = self.composer.args
        return [*block.layer.params.values(), *(args[block.roles[r]] for r in ("Z", "H_in", "H_out"))]

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
        """Train one epoch on the samples in ``order``; return its logs.  Progress (``callbacks.on_progress``)
        follows the rule of ``callbacks.progress_every`` and ``callbacks.progress_steps``, as on the
        reference path: the epoch runs in chunks that end where progress is due.  A step on several threads
        runs in shorter chunks still, each on the thread count its :class:`pace.Pace` chooses (the numbers are
        the same on any count)."""
        opt, n = self.model.optimizer, len(order)
        x, y = self._data(x, y)
        self._loss_args(n)
        order = np.ascontiguousarray(order, dtype=np.int64)
        every, progress_steps = callbacks.progress_every(self.batch_size), callbacks.progress_steps
        ends = self._boundaries(n, every, progress_steps)
        hits = np.zeros(max(1, len(self.model.compiled_metrics)))
        loss_sum = 0.0
        primed = None  # after a chunk that ran the next sample through the first layer: what that relied on
        paced = self._pace()
        full = numba.get_num_threads()
        try:
            for start, stop in zip([0, *ends[:-1]], ends):
                value, primed = self._segment(x, y, order, start, stop, primed, hits, paced, full)
                loss_sum += value
                if every is not None and (stop < n or (progress_steps and opt.iterations % progress_steps == 0)):
                    callbacks.on_progress(stop, self._logs(loss_sum, hits, stop))
                if self.model.stop_training:
                    break
        finally:
            numba.set_num_threads(full)
        return self._logs(loss_sum, hits, n)

    def _segment(self, x, y, order, start, stop, primed, hits, paced, full):
        """Train the steps of the samples ``order[start:stop]`` (from one progress point to the next), in chunks
        of the lengths and thread counts that ``paced`` chooses (one chunk without it); return their loss sum
        and, when the last chunk ran the next sample through the first layer, what that relied on
        (``_primed``).  Between the chunks of a segment nothing outside the compiled code runs, so the working
        copies stay in place and each chunk's first sample is already through the first layer."""
        opt, n, bs = self.model.optimizer, len(order), self.batch_size
        for array, working in self.composer.copies:  # kernels trained transposed: in
            working[...] = array.T
        ahead = self.composer.args.get("ahead")
        if ahead is not None:
            ahead[0] = primed is not None and all(np.array_equal(a, b) for a, b in zip(self._primed(), primed))
        loss_sum, at = 0.0, start
        try:
            while at < stop:
                end = stop
                if paced is not None:
                    end = min(stop, at + bs * paced.steps(-(-(stop - at) // bs)))
                    numba.set_num_threads(full if paced.now > 1 else 1)
                if ahead is not None:
                    ahead[1] = order[end] if end < n else -1
                steps = -(-(end - at) // bs)
                sched = opt.schedule
                lrs = (np.array([sched(opt.iterations + k) for k in range(steps)], dtype=np.float64)
                       if sched is not None else np.array([opt.learning_rate], dtype=np.float64))
                started = time.perf_counter()
                value, done = self._call(self.module.train, "the training step for this model",
                                         x, y, order[at:end], bs, lrs, opt.iterations, hits)
                if paced is not None:
                    paced.record(int(done), time.perf_counter() - started)
                opt.iterations += int(done)
                loss_sum += value
                at = end
                if ahead is not None:
                    ahead[0] = 1  # this chunk ran the next one's first sample through the first layer
        finally:
            for array, working in self.composer.copies:  # and back: callbacks see the live weights
                array[...] = working.T
        return loss_sum, ([a.copy() for a in self._primed()] if ahead is not None and stop < n else None)

    def _pace(self):
        """The :class:`pace.Pace` of this model and batch size (kept across fits: what it measured of the machine
        holds for the next fit), or None where the step runs on one thread, or on BLAS's threads (whose count would
        change the numbers)."""
        c = self.composer
        if not ((c.split or c.parallel) and pace.paces(c.threads)) or numba.get_num_threads() < 2:
            return None
        try:
            kept = _PACES.setdefault(self.model, {})
        except TypeError:  # a model that cannot be weakly referenced: a pace for this fit
            return pace.Pace(c.threads)
        return kept.setdefault((self.batch_size, c.threads), pace.Pace(c.threads))

    def _logs(self, loss_sum, hits, seen):
        logs = {"loss": float(loss_sum) / seen}
        if not self._finite():  # the generated code runs under fast-math, where the losses' clip turns NaN
            logs["loss"] = float("nan")  # outputs into finite values: a diverged model is reported as one
        return self._metric_logs(logs, hits, seen)

    def _finite(self) -> bool:
        """Whether every weight (parameters and buffers such as moving variances) is finite (NumPy, outside
        the compiled code: fast-math cannot fold this test away)."""
        return all(np.isfinite(w).all() for layer in self.model.layers for w in layer.weights)

    def _metric_logs(self, logs, hits, seen):
        for m, metric in enumerate(self.model.compiled_metrics):
            logs[metric.name] = float(hits[m]) / seen
        return logs

    # -- inference -------------------------------------------------------------------------------
    def evaluate(self, x, y) -> dict:
        x, y = self._data(x, y)
        hits = np.zeros(max(1, len(self.model.compiled_metrics)))
        out = np.zeros((1, 1), self.dtype)
        loss_sum = self._call(self.module.evaluate, "the evaluation step for this model", x, y, 0, len(x),
                              self.batch_size, hits, out)
        return self._logs(loss_sum, hits, len(x))

    def predict(self, x) -> np.ndarray:
        x, y = self._data(x, None)
        out = np.empty((len(x), self.composer.widths[-1]), self.dtype)
        hits = np.zeros(1)
        self._call(self.module.predict, "the prediction step for this model", x, y, 0, len(x), self.batch_size,
                   hits, out)
        return out.reshape(len(x), *self.model.layers[-1].output_shape)
