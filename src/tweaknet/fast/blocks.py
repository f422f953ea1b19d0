"""The loop structure of each layer on the compiled path: code that calls the layer's own rules.

A block writes the forward pass of its layer for the batch rows ``[:B]`` (input ``H_in``, output
``H_out``) and its backward pass (gradient ``D_out`` at its output, ``D_in`` at its input), in terms of
*roles* (``W``, ``b``, ``H_in``, ...).  The composer turns each into a small compiled function (a piece)
that every model with the same block shares, and calls it with the model's arrays.  The math is never
here: every value comes from the technique's module-level function (``src.use(fn)`` imports and inlines
it), called per element for elementwise rules and per row for row-wise ones.  Dense layers use BLAS for
batches and plain loops for one sample (where the product is too small for BLAS to pay off).
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import layers as L
from ..layers.batch_normalization import (batch_norm_grad, batch_norm_param_grads, batch_norm_value,
                                          batch_statistics, moving_average)
from ..layers.maxout import maxout_grad, maxout_value
from ..layers.normalization import normalization_grad, normalization_value
from ..layers.regularization import dropout_keep, dropout_value
from .source import Source


def per_element(src, width, *lines, rows="range(B)"):
    """Emit the loop over a batch's elements, ``for s in rows: for j in range(width):`` around ``lines``."""
    src(f"for s in {rows}:")
    with src.block():
        src(f"for j in range({width}):")
        with src.block():
            for line in lines:
                src(line)


def activation_forward(src, act, z, a, args):
    """``a[:B] = act(z[:B])``: per element, or per row for a row-wise activation."""
    value, extra = src.use(act.value), "".join(f", {x}" for x in args)
    src("for s in range(B):")
    with src.block():
        if act.rowwise:
            src(f"put({a}[s], {value}({z}[s]{extra}))")
        else:
            src(f"for j in range({z}.shape[1]):")
            with src.block():
                src(f"{a}[s, j] = {value}({z}[s, j]{extra})")


def activation_backward(src, act, z, a, d_out, d_in, args):
    """``d_in[:B] = act'(z) d_out`` (the activation's grad rule)."""
    grad, extra = src.use(act.grad), "".join(f", {x}" for x in args)
    src("for s in range(B):")
    with src.block():
        if act.rowwise:
            src(f"put({d_in}[s], {grad}({z}[s], {a}[s], {d_out}[s]{extra}))")
        else:
            src(f"for j in range({z}.shape[1]):")
            with src.block():
                src(f"{d_in}[s, j] = {grad}({z}[s, j], {a}[s, j], {d_out}[s, j]{extra})")


#: Units below which a Dense layer's shared products are split by rows (``Dense.by_rows``).
NARROW = 128
#: Units up to which a Dense layer split by rows computes its products in loops of its own (``Dense.thin``).
THIN = 16


def assign(src, target, value, indices):
    """One line per index: ``w0 = WK[0]``, ``w1 = WK[1]``, ... (``target`` and ``value`` with ``{}`` for it)."""
    for i in indices:
        src(f"{target.format(i)} = {value.format(i)}")


def thread_block(src, count, index="p", lo="c0", hi="c1", parts="T"):
    """Open ``for p in prange(parts)`` and the block ``[lo, hi)`` of ``count`` that block ``p`` takes (``split_at``);
    ``parts``: the threads (``T``), or a count fixed in the code."""
    src(f"for {index} in prange({parts}):")
    src.depth += 1
    block_range(src, count, index, lo, hi, parts)


def block_range(src, count, index, lo, hi, parts):
    """``[lo, hi)``: the block ``index`` (an expression) of ``parts`` blocks of ``count`` (``split_at``)."""
    src(f"{lo} = split_at({count}, {index}, {parts})")
    src(f"{hi} = split_at({count}, {index} + 1, {parts})")


class Block:
    """One layer's code.  ``role(name, value)`` declares an argument; the composer provides the rest."""

    #: The layer's output gradient is the fused loss gradient at its activation's input (set by the composer).
    fused = False
    #: The backward pass has ``prange`` loops (run as a parallel function when the composer is parallel).
    parallel_backward = False

    def parallel_forward(self, training) -> bool:
        """True when the forward pass has ``prange`` loops (when the composer is parallel)."""
        return False

    def forward_parts(self, training):
        """The forward pass as pieces: ``[(source, parallel)]``.  A parallel piece holds only ``prange`` loops
        over fixed chunks: anything else (an activation's row sums) stays in a plain piece, where Numba
        cannot split it by the thread count."""
        src = Source()
        self.forward(src, training)
        return [(src, False)]

    def backward_parts(self, need_input_grad):
        src = Source()
        self.backward(src, need_input_grad)
        return [(src, False)]

    def __init__(self, layer, i, composer):
        # a weak reference: the composer holds its blocks, and a cycle between them would keep a finished fit's
        # working arrays (the transposed kernels and slots at batch 1: 69 MB at width 2048) alive until Python's
        # cycle collector happens to run, so that the next fit's arrays came on top of them
        self.layer, self.i, self.c = layer, i, weakref.proxy(composer)
        self.roles = {"H_in": f"H{i}", "H_out": f"H{i + 1}", "D_in": f"D{i}", "D_out": f"D{i + 1}"}

    def role(self, name, value):
        self.roles[name] = self.c.arg(f"{name}{self.i}", value)

    def declare(self):
        """Declare the arguments (views, buffers, scalars) of this layer."""

    def forward_alias(self, training) -> bool:
        """True when the forward pass passes its input through unchanged (then no code runs)."""
        return False

    def backward_alias(self) -> bool:
        return False

    def forward(self, src, training):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, src, need_input_grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def activation_roles(self, act):
        names = []
        for k, v in enumerate(act.rule_args(self.c.dtype)):
            self.role(f"a{k}_", v)
            names.append(f"a{k}_")
        return names


class Identity(Block):
    """Flatten (the rows are already flat)."""

    def forward_alias(self, training):
        return True

    def backward_alias(self):
        return True


class Dense(Block):
    #: the Dense layer below whose activation derivative this layer applies in its input gradient (``fold``), and
    #: whether this layer's derivative is applied by the layer above
    below = None
    folded = False

    def declare(self):
        layer, c = self.layer, self.c
        n = layer.units
        self.role("W", layer.params["kernel"])
        self.role("GW", layer.grads["kernel"])
        self.role("b", layer.params["bias"] if layer.use_bias else np.zeros(n, c.dtype))
        self.role("Gb", layer.grads["bias"] if layer.use_bias else np.zeros(n, c.dtype))
        self.role("Z", c.scratch(n))
        self.role("DZ", c.scratch(n))
        self.act_args = self.activation_roles(layer.activation)
        # one sample per batch with the fused update: the kernel is trained transposed, (units, inputs), so
        # that every long loop runs over contiguous inputs (copied in and out around each chunk by the runner)
        self.transposed = c.single and c.optimizer.fuse and layer.trainable
        if self.transposed:
            self.role("WT", c.transposed(layer.params["kernel"]))
        # in parallel: the input gradient as fixed partial sums over the units (the same on any thread count)
        self.parallel_backward = self.transposed and c.parallel
        if self.parallel_backward:
            from .compose import PARTIALS
            self.role("DP", np.zeros((PARTIALS, c.width(self.i)), c.dtype))
        if c.split:
            self.roles["T"] = "T"
        #: Shared between threads, a layer this narrow (an output layer) is split by rows, not by columns: its
        #: columns make too few blocks to share; a wide layer is when each thread has many rows
        #: (``fast.splits_by_rows``), and then its input gradient and its kernel's gradient are too
        #: (``OptimizerCode.gradient_by_batch_rows``):
        #: each thread works on the rows it wrote.  Measured with Adam, batch 512, ms per step, the kernel's gradient by
        #: the batch's rows against by the kernel's rows: width 128 1.46 / 1.51, 256 2.86 / 3.11, 512 6.93 / 7.11; the
        #: output layer's level (1.45 / 1.46 at width 128, 2.87 / 2.86 at 256), so it keeps the kernel's rows.
        from . import splits_by_rows
        self.by_rows = c.split and (layer.units < NARROW or splits_by_rows(layer.units, c.batch_size, c.threads))
        self.input_grad_by_rows = self.by_rows and layer.units >= NARROW
        self.gradient_by_rows = (self.input_grad_by_rows and layer.trainable and not c.optimizer.into_weights
                                 and not c.optimizer.by_kernel_rows)
        if self.gradient_by_rows:  # the partial sums of all blocks of rows but the first (none on one thread)
            self.role("GP", np.zeros((max(0, c.threads - 1), *layer.params["kernel"].shape), c.dtype))
        #: A layer this thin (an output layer) computes its backward pass in loops of its own (``thin_backward``):
        #: BLAS runs products with so few columns at a fraction of its speed (width 512, batch 512: 0.39 against
        #: 0.16 ms a step for the output layer's backward pass, the derivative below included; ``fold``).
        self.thin = (self.by_rows and layer.units <= THIN
                     and not (layer.trainable and c.optimizer.by_kernel_rows))  # not where the row pass serves it
        if self.thin:
            m = layer.params["kernel"].shape[0]
            self.role("WK", c.placed((n, m), c.dtype))
            self.role("KP", c.placed((c.threads, n, m), c.dtype))

    def parallel_forward(self, training):
        return self.transposed and training or self.c.split

    def forward_parts(self, training):
        if self.c.split:
            return self.split_forward()
        if not (self.c.parallel and self.parallel_forward(training)):
            return super().forward_parts(training)
        product, activation = Source(), Source()
        self.product(product)
        activation_forward(activation, self.layer.activation, "Z", "H_out", self.act_args)
        return [(product, True), (activation, False)]

    def backward_parts(self, need_input_grad):
        if self.c.split:
            return self.split_backward(need_input_grad)
        if not (self.c.parallel and self.parallel_backward):
            return super().backward_parts(need_input_grad)
        activation, rest = Source(), Source()
        if not self.fused:
            activation_backward(activation, self.layer.activation, "Z", "H_out", "D_out", "DZ", self.act_args)
        self.gradients(rest, need_input_grad)
        return [(activation, False), (rest, True)]

    # -- with batches, shared between threads: each thread's blocks of columns (``Composer.split``) ---------------
    def open_block(self, src):
        """Open this thread's block of the layer's output: rows ``r0:r1`` and columns ``c0:c1`` (a block of columns
        over every row, or of rows over every column for a narrow layer); close with ``src.depth -= 1``."""
        if self.by_rows:
            thread_block(src, "B", lo="r0", hi="r1")
            src("c0 = 0")
            src("c1 = n")
        else:
            thread_block(src, "n")
            src("r0 = 0")
            src("r1 = B")

    def split_forward(self):
        """``Z = H_in W + b`` and ``H_out = act(Z)``: each thread computes its block of ``Z``'s columns (of rows, for a
        layer split by rows: ``by_rows``) with one-thread BLAS, adds the bias and applies an elementwise activation
        while the block is in its cache.  A row-wise activation (softmax) runs on the thread's own rows where the
        layer is split by rows (through a compiled helper: ``Composer.helper``), else after, over whole rows."""
        act = self.layer.activation
        src = Source()
        value, extra = src.use(act.value), "".join(f", {x}" for x in self.act_args)
        src("n = W.shape[1]")
        src("k = W.shape[0]")
        self.open_block(src)
        if self.thin:  # this thread's block of the kernel's rows, transposed for the backward pass
            src("for kk in range(split_at(k, p, T), split_at(k, p + 1, T)):")
            with src.block():
                src("wv = W[kk]")
                src("for j in range(n):")
                with src.block():
                    src("WK[j, kk] = wv[j]")
        src("if r1 > r0 and c1 > c0:")
        with src.block():
            src("gemm(False, False, r1 - r0, c1 - c0, k, H_in, r0 * H_in.shape[1], H_in.shape[1], W, c0, n, Z, "
                "r0 * n + c0, n, 0.0, 1.0)")
            src("bv = b[c0:c1]")
            src("for s in range(r0, r1):")
            with src.block():
                src("zv = Z[s, c0:c1]")
                if not act.rowwise:
                    src("hv = H_out[s, c0:c1]")
                src("for j in range(c1 - c0):")  # loops from 0 over slices: LLVM vectorizes them
                with src.block():
                    src("z = zv[j] + bv[j]")
                    src("zv[j] = z")
                    if not act.rowwise:
                        src(f"hv[j] = {value}(z{extra})")
            if act.rowwise and self.by_rows:  # whole rows: the thread applies a row-wise activation to its own
                rows = Source()
                rows("for s in range(r0, r1):")
                with rows.block():
                    rows(f"put(H_out[s], {rows.use(act.value)}(Z[s]{extra}))")
                helper = self.c.helper(src, rows, ["r0", "r1", "Z", "H_out", *self.act_args])
                src(f"{helper}(r0, r1, Z, H_out{extra})")
        src.depth -= 1
        parts = [(src, True)]
        if act.rowwise and not self.by_rows:
            rest = Source()
            activation_forward(rest, act, "Z", "H_out", self.act_args)
            parts.append((rest, False))
        return parts

    def side_by_side(self, need_input_grad):
        """True when, shared between threads, this layer's input gradient and its kernel's gradient run side by side
        on two halves of the threads (``OptimizerCode.side_by_side``): a trainable layer with an input gradient by
        blocks of columns, which neither the row pass (``by_kernel_rows``) nor its own loops (``thin``) compute, under
        a rule that reads the kernel's gradient from its buffer anyway.  Plain SGD keeps its update in the gradient's
        product (``into_weights``): side by side it needs a pass of its own over the kernel, which cost more than
        the products gained (tanh/SGD, width 1024, batch 32: 0.95x; batch 256: level)."""
        opt = self.c.optimizer
        return (self.c.split and need_input_grad and self.layer.trainable and not self.input_grad_by_rows
                and not self.thin and not opt.by_kernel_rows and not opt.into_weights)

    def split_backward(self, need_input_grad):
        """The gradient at ``z`` (by this thread's blocks), then the input gradient (each thread a block of the input's
        columns, or of the batch's rows: ``input_grad_by_rows``), then the kernel's and bias's gradients
        (``OptimizerCode.split_gradients``), each thread updating the blocks it completed
        (``OptimizerCode.in_pieces``; under norm clipping the update follows over the flat buffer:
        ``OptimizerCode.update``)."""
        act, parts = self.layer.activation, []
        if not (self.fused or self.folded):
            src = Source()
            if act.rowwise:
                activation_backward(src, act, "Z", "H_out", "D_out", "DZ", self.act_args)
            else:
                grad, extra = src.use(act.grad), "".join(f", {x}" for x in self.act_args)
                src("n = W.shape[1]")
                self.open_block(src)
                src("for s in range(r0, r1):")
                with src.block():
                    for name, array in (("zv", "Z"), ("av", "H_out"), ("dv", "D_out"), ("gv", "DZ")):
                        src(f"{name} = {array}[s, c0:c1]")
                    src("for j in range(c1 - c0):")
                    with src.block():
                        src(f"gv[j] = {grad}(zv[j], av[j], dv[j]{extra})")
                src.depth -= 1
            parts.append((src, not act.rowwise))
        if self.layer.trainable and self.c.optimizer.by_kernel_rows:
            src = Source()
            self.c.optimizer.kernel_row_pass(src, self, need_input_grad)
            parts.append((src, True))
            return parts
        if self.thin:
            if need_input_grad or self.layer.trainable:
                src = Source()
                self.thin_backward(src, need_input_grad)
                parts.append((src, True))
            return parts
        if self.side_by_side(need_input_grad):
            src, update = Source(), Source()
            self.c.optimizer.side_by_side(src, update, self)
            parts.append((src, True))
            if update.lines:
                parts.append((update, True))
            return parts
        if need_input_grad:
            src = Source()
            src("m = W.shape[0]")
            src("n = W.shape[1]")
            if self.input_grad_by_rows:  # each thread its rows of D_in, from its rows of DZ
                thread_block(src, "B", lo="r0", hi="r1")
                src("if r1 > r0:")
                with src.block():
                    src("gemm(False, True, r1 - r0, m, n, DZ, r0 * n, n, W, 0, n, D_in, r0 * m, m, 0.0, 1.0)")
                    self.fold_block(src, "r0", "r1", "0", "m")
            else:  # each thread a block of D_in's columns
                src("for p in prange(T):")
                src.depth += 1
                self.input_gradient_columns(src, "p", "T")
            src.depth -= 1
            parts.append((src, True))
        if self.layer.trainable:
            src = Source()
            self.c.optimizer.dense_gradients(src, self)
            parts.append((src, True))
        return parts

    def input_gradient_columns(self, src, index, parts):
        """In a thread's loop body: block ``index`` of ``parts`` of the input gradient's columns,
        ``D_in[:, k0:k1] = DZ W[k0:k1]^T`` (one-thread BLAS), and the folded derivative of the layer below on it."""
        block_range(src, "m", index, "k0", "k1", parts)
        src("if k1 > k0:")
        with src.block():
            src("gemm(False, True, B, k1 - k0, n, DZ, 0, n, W, k0 * n, n, D_in, k0, m, 0.0, 1.0)")
            self.fold_block(src, "0", "B", "k0", "k1")

    def fold(self, below):
        """Apply the activation derivative of ``below`` (the Dense layer right under this one) where this layer's
        input gradient is computed, on each thread's block of it: ``DZ_below = act'(Z_below, H_in, D_in)``;
        ``below`` then skips its own pass (``folded``).  A thin layer applies it row by row as it computes each
        input gradient's row, and never writes ``D_in``; a wider one right after its product gave the thread's
        block, while the block is in the thread's cache (``fold_block``)."""
        self.below, below.folded = below, True
        self.roles["Z_below"] = below.roles["Z"]
        self.roles["DZ_below"] = below.roles["DZ"]
        self.below_args = []
        for k, name in enumerate(below.act_args):
            self.roles[f"b{k}_"] = below.roles[name]
            self.below_args.append(f"b{k}_")

    def fold_derivative(self, src, d):
        """The derivative of the folded layer below, ``gv[i]``, from its ``zv[i]``, ``av[i]`` and the input gradient
        ``d`` (an expression)."""
        grad = src.use(self.below.layer.activation.grad)
        extra = "".join(f", {x}" for x in self.below_args)
        src(f"gv[i] = {grad}(zv[i], av[i], {d}{extra})")

    def fold_block(self, src, r0, r1, k0, k1):
        """Where a layer below is folded (``fold``): its derivative on the block ``[r0:r1, k0:k1]`` of ``D_in``
        that this thread has just written."""
        if self.below is None:
            return
        src(f"for s in range({r0}, {r1}):")
        with src.block():
            src(f"zv = Z_below[s, {k0}:{k1}]")
            src(f"av = H_in[s, {k0}:{k1}]")
            src(f"dv = D_in[s, {k0}:{k1}]")
            src(f"gv = DZ_below[s, {k0}:{k1}]")
            src(f"for i in range({k1} - {k0}):")  # from 0 over slices: LLVM vectorizes it
            with src.block():
                self.fold_derivative(src, "dv[i]")

    def thin_backward(self, src, need_input_grad):
        """A thin layer's input gradient and kernel and bias gradients in one pass over each thread's rows, in loops
        of its own (``thin``): ``D_in[s] = sum_j DZ[s, j] WK[j]`` (``WK``: the kernel transposed by the forward
        pass) and, per block of rows ``p`` of a count fixed when the step is composed, the partial sums
        ``KP[p, j] = sum_s DZ[s, j] H_in[s]``, and a block of the bias's columns over every row
        (``OptimizerCode.bias_block``, as every split layer); then each thread adds the partial sums of its block of
        the kernel's rows, in block order (``OptimizerCode.thin_gradients``).  The units are unrolled (their count is
        known when the step is composed): the input gradient's loop over a row keeps every unit's term in
        registers.  (The kernel's
        gradient four rows at a time was 0.05 ms a step faster at width 512, batch 512, but took 0.5-1 s more to
        compile.)"""
        units = range(self.layer.units)
        src("m = W.shape[0]")
        src("n = W.shape[1]")
        src("parts = KP.shape[0]")
        if need_input_grad:
            assign(src, "w{}", "WK[{}]", units)
        thread_block(src, "B", lo="r0", hi="r1", parts="parts")
        if need_input_grad:
            total = " + ".join(f"d{j} * w{j}[i]" for j in units)
            src("for s in range(r0, r1):")
            with src.block():
                src("dv = DZ[s]")
                assign(src, "d{}", "dv[{}]", units)
                if self.below is None:
                    src("iv = D_in[s, :m]")
                    src("for i in range(m):")
                    with src.block():
                        src(f"iv[i] = {total}")
                else:  # the layer below's activation derivative too (``fold``)
                    src("zv = Z_below[s, :m]")
                    src("av = H_in[s, :m]")
                    src("gv = DZ_below[s, :m]")
                    src("for i in range(m):")
                    with src.block():
                        self.fold_derivative(src, total)
        if self.layer.trainable:
            src("kp = KP[p]")
            src("for j in range(n):")
            with src.block():
                src("kv = kp[j]")
                src("for i in range(m):")
                with src.block():
                    src("kv[i] = ZERO")
            src("for s in range(r0, r1):")
            with src.block():
                src("hv = H_in[s, :m]")
                src("dv = DZ[s]")
                src("for j in range(n):")
                with src.block():
                    src("kv = kp[j]")
                    src("d = dv[j]")
                    src("for i in range(m):")
                    with src.block():
                        src("kv[i] += d * hv[i]")
            opt = self.c.optimizer
            opt.bias_block(src, self, update=opt.into_weights or opt.in_pieces, parts="parts")
        src.depth -= 1
        if self.layer.trainable:
            self.c.optimizer.thin_gradients(src, self)

    def product(self, src):
        """``Z = H_in W + b`` for one sample with the kernel transposed (rows of WT: contiguous loops)."""
        with self.c.rows(src, "j", "WT.shape[0]"):
            src("acc = b[j]")
            src("for k in range(WT.shape[1]):")
            with src.block():
                src("acc += WT[j, k] * H_in[0, k]")
            src("Z[0, j] = acc")

    def forward(self, src, training):
        if self.transposed and training:
            self.product(src)
        elif self.c.single:
            src("for j in range(W.shape[1]):")
            with src.block():
                src("Z[0, j] = b[j]")
            src("for k in range(W.shape[0]):")
            with src.block():
                src("xk = H_in[0, k]")
                src("for j in range(W.shape[1]):")
                with src.block():
                    src("Z[0, j] += xk * W[k, j]")
        else:
            src("np.dot(H_in[:B], W, Z[:B])")
            act = self.layer.activation
            if not act.rowwise:  # the bias and the activation in one pass over each row
                value, extra = src.use(act.value), "".join(f", {x}" for x in self.act_args)
                per_element(src, "W.shape[1]", "z = Z[s, j] + b[j]", "Z[s, j] = z", f"H_out[s, j] = {value}(z{extra})")
                return
            per_element(src, "W.shape[1]", "Z[s, j] += b[j]")
        activation_forward(src, self.layer.activation, "Z", "H_out", self.act_args)

    def backward(self, src, need_input_grad):
        if not self.fused:  # the gradient at z: through the activation's own grad rule
            activation_backward(src, self.layer.activation, "Z", "H_out", "D_out", "DZ", self.act_args)
        self.gradients(src, need_input_grad)

    def backward_ahead(self):
        """The first layer's backward pass at batch 1 (no input gradient) fused with its forward pass for the next
        sample, ``H_next`` (``Composer.ahead``): each kernel row is updated and multiplied by the next input in one
        pass, then the next input becomes ``H_in`` and the activation gives ``H_out``."""
        src = Source()
        act = self.layer.activation
        if not self.fused:
            activation_backward(src, act, "Z", "H_out", "D_out", "DZ", self.act_args)
        self.c.optimizer.dense_gradients(src, self, ahead=True)
        src("for k in range(H_in.shape[1]):")
        with src.block():
            src("H_in[0, k] = H_next[0, k]")
        activation_forward(src, act, "Z", "H_out", self.act_args)
        return src

    def gradients(self, src, need_input_grad):
        """The input gradient (where needed) and the weights' gradients or fused updates, from ``DZ``."""
        if need_input_grad and self.parallel_backward:
            from .compose import PARTIALS
            src(f"for c in prange({PARTIALS}):")
            with src.block():
                src("for k in range(WT.shape[1]):")
                with src.block():
                    src("DP[c, k] = ZERO")
                src(f"for j in range(WT.shape[0] * c // {PARTIALS}, WT.shape[0] * (c + 1) // {PARTIALS}):")
                with src.block():
                    src("dj = DZ[0, j]")
                    src("for k in range(WT.shape[1]):")
                    with src.block():
                        src("DP[c, k] += dj * WT[j, k]")
            src("for k in range(WT.shape[1]):")
            with src.block():
                src("acc = DP[0, k]")
                src(f"for c in range(1, {PARTIALS}):")
                with src.block():
                    src("acc += DP[c, k]")
                src("D_in[0, k] = acc")
        elif need_input_grad and self.transposed:
            src("for k in range(WT.shape[1]):")
            with src.block():
                src("D_in[0, k] = ZERO")
            src("for j in range(WT.shape[0]):")
            with src.block():
                src("dj = DZ[0, j]")
                src("for k in range(WT.shape[1]):")
                with src.block():
                    src("D_in[0, k] += dj * WT[j, k]")
        elif need_input_grad and self.c.single:
            src("for k in range(W.shape[0]):")
            with src.block():
                src("acc = ZERO")
                src("for j in range(W.shape[1]):")
                with src.block():
                    src("acc += DZ[0, j] * W[k, j]")
                src("D_in[0, k] = acc")
        elif need_input_grad:
            src("np.dot(DZ[:B], W.T, D_in[:B])")
        if self.layer.trainable:  # a frozen layer's weights are not in the flat buffers: no gradient, no update
            self.c.optimizer.dense_gradients(src, self)


class Activation(Block):
    def declare(self):
        self.act_args = self.activation_roles(self.layer.activation)

    def forward(self, src, training):
        activation_forward(src, self.layer.activation, "H_in", "H_out", self.act_args)

    def backward(self, src, need_input_grad):
        if not self.fused:
            activation_backward(src, self.layer.activation, "H_in", "H_out", "D_out", "D_in", self.act_args)


class Normalization(Block):
    def declare(self):
        c, layer, n = self.c, self.layer, self.c.width(self.i)
        self.role("nmean", np.broadcast_to(layer.buffers["mean"], (n,)).astype(c.dtype))
        self.role("ndenom", np.broadcast_to(layer.denominator(), (n,)).astype(c.dtype))
        self.role("ninv", bool(layer.invert))

    def forward(self, src, training):
        value = src.use(normalization_value)
        per_element(src, "H_in.shape[1]", f"H_out[s, j] = {value}(H_in[s, j], nmean[j], ndenom[j], ninv)")

    def backward(self, src, need_input_grad):
        if need_input_grad:
            grad = src.use(normalization_grad)
            per_element(src, "D_out.shape[1]", f"D_in[s, j] = {grad}(D_out[s, j], ndenom[j], ninv)")


class BatchNormalization(Block):
    def declare(self):
        c, layer = self.c, self.layer
        gamma, beta, epsilon = layer.rule_args(c.dtype)
        n = gamma.shape[0]
        self.role("gamma", gamma)
        self.role("beta", beta)
        self.role("Ggamma", layer.grads["gamma"] if layer.scale else np.zeros(n, c.dtype))
        self.role("Gbeta", layer.grads["beta"] if layer.center else np.zeros(n, c.dtype))
        self.role("eps", epsilon)
        self.role("mm", layer.buffers["moving_mean"])
        self.role("mv", layer.buffers["moving_variance"])
        self.role("mom", c.dtype.type(layer.momentum))
        self.role("omm", c.dtype.type(1.0 - layer.momentum))
        self.role("XH", c.scratch(n))
        self.role("IS", np.zeros(n, c.dtype))

    def forward(self, src, training):
        use = src.use
        if training and self.layer.trainable:
            src(f"bmean, bvar = {use(batch_statistics)}(H_in[:B])")
            src(f"put(mm, {use(moving_average)}(mm, bmean, mom, omm))")
            src(f"put(mv, {use(moving_average)}(mv, bvar, mom, omm))")
            src(f"y, xh, inv_std = {use(batch_norm_value)}(H_in[:B], bmean, bvar, gamma, beta, eps)")
        else:
            src(f"y, xh, inv_std = {use(batch_norm_value)}(H_in[:B], mm, mv, gamma, beta, eps)")
        src("put(H_out[:B], y)")
        src("put(XH[:B], xh)")
        src("put(IS, inv_std)")

    def backward(self, src, need_input_grad):
        if self.layer.trainable:
            src(f"dg, db = {src.use(batch_norm_param_grads)}(D_out[:B], XH[:B])")
            if self.layer.scale:
                src("put(Ggamma, dg)")
            if self.layer.center:
                src("put(Gbeta, db)")
        if need_input_grad:
            src(f"put(D_in[:B], {src.use(batch_norm_grad)}(D_out[:B], XH[:B], IS, gamma, {bool(self.layer.trainable)}))")


class Dropout(Block):
    def declare(self):
        c, layer = self.c, self.layer
        self.role("rng", layer.rng)  # a callable: the generator is looked up at every run
        self.role("rate", float(layer.rate))
        self.role("kp", c.dtype.type(1.0 - layer.rate))
        self.role("K", np.zeros((c.batch_size, c.width(self.i)), np.bool_))

    def forward_alias(self, training):
        return not training or self.layer.rate == 0.0

    def backward_alias(self):
        return self.layer.rate == 0.0

    def forward(self, src, training):
        keep, value = src.use(dropout_keep), src.use(dropout_value)
        per_element(src, "H_in.shape[1]", f"K[s, j] = {keep}(rng.random(), rate)",
                    f"H_out[s, j] = {value}(H_in[s, j], K[s, j], kp)")

    def backward(self, src, need_input_grad):
        value = src.use(dropout_value)
        per_element(src, "D_out.shape[1]", f"D_in[s, j] = {value}(D_out[s, j], K[s, j], kp)")


class GaussianNoise(Block):
    def declare(self):
        self.role("rng", self.layer.rng)
        self.role("std", float(self.layer.stddev))

    def forward_alias(self, training):
        return not training or self.layer.stddev == 0.0

    def backward_alias(self):
        return True

    def forward(self, src, training):
        per_element(src, "H_in.shape[1]", "H_out[s, j] = H_in[s, j] + CAST(rng.normal(0.0, std))")


class Maxout(Block):
    def declare(self):
        self.role("units", int(self.layer.num_units))

    def forward(self, src, training):
        value = src.use(maxout_value)
        src("for s in range(B):")
        with src.block():
            src(f"put(H_out[s], {value}(H_in[s].reshape(units, -1)))")

    def backward(self, src, need_input_grad):
        if need_input_grad:
            grad = src.use(maxout_grad)
            src("for s in range(B):")
            with src.block():
                src(f"put(D_in[s], {grad}(H_in[s].reshape(units, -1), H_out[s], D_out[s]).reshape(-1))")


BLOCKS = {L.Dense: Dense, L.Flatten: Identity, L.Activation: Activation, L.ReLU: Activation,
          L.LeakyReLU: Activation, L.ELU: Activation, L.Softmax: Activation, L.Normalization: Normalization,
          L.BatchNormalization: BatchNormalization, L.Dropout: Dropout, L.GaussianNoise: GaussianNoise,
          L.Maxout: Maxout}
