"""The composer: a model's layers, loss, metrics and optimizer become compiled code built from the
techniques' own functions.

It owns the loop structure (batches, rows, elements, the order of the optimizer's work) and nothing of
the math: each piece is the technique's own function (``blocks.py`` for the layers; here the loss's
``rules()``, the metrics' ``rule``, the optimizer's ``rule`` and ``scalars``, the penalties, clipping and
weight decay).  Each block's forward and backward pass, the loss and the update become small compiled
functions ("pieces", one generated file each, shared by every model that uses the same block: a new model
mostly reuses compiled code); a generated glue module calls them for every batch (``train`` for a chunk of
an epoch, ``evaluate``, ``predict``).  With one sample per batch and no norm clipping, each Dense kernel
entry's gradient and update are computed in one pass during the backward pass (the gradient is never
stored); with batches and a step linear in the gradient (SGD without momentum, nothing to penalise or clip),
each kernel's gradient product adds the step into the kernel itself; otherwise all gradients are computed,
penalised, clipped, then applied in one pass over the flat parameter buffer.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from ..layers import Dense
from ..losses import SparseCategoricalCrossentropy
from ..losses.cross_entropy import one_hot
from ..optimizers.base import weight_decay_rule
from ..optimizers.clipping import clip_by_global_norm, clip_by_norm, clip_value_rule
from ..regularizers import penalty_grad, penalty_terms
from . import source
from .blocks import BLOCKS, Dense as DenseBlock, Identity, block_range, per_element, thread_block

#: Chunks of the parallel loops (a fixed count, whatever the number of threads: each chunk's work and every
#: sum's order are the same with 1 thread or 16, so the thread count never changes the numbers).
CHUNKS = 64
#: Partial sums of a Dense layer's input gradient at batch 1 when the step runs in parallel.
PARTIALS = 16


class Composer:
    """Builds the compiled code for ``model`` (rows of ``batch_size``) and its arguments."""

    def __init__(self, model, batch_size):
        self.model, self.batch_size = model, int(batch_size)
        #: One sample per batch: plain loops instead of BLAS, and gradient and update fused per entry.
        self.single = self.batch_size == 1
        self.dtype = model.flat.params.dtype
        #: With one sample per batch (no BLAS call: every loop is ours), models with many weights run the Dense
        #: layers' loops and the update in parallel chunks over the threads ``fast.numerics`` allows.  With
        #: batches BLAS owns the threads: Numba's thread pool beside OpenBLAS's made a step slower, not faster
        #: (width 1024, batch 32: 18.1 s per epoch against 6.9 s; the two pools spin on the same cores).
        from . import PARALLEL_PARAMS, splits_step, threads_for
        self.parallel = self.single and model.flat.params.size >= PARALLEL_PARAMS
        #: With batches, a wide model's step (``fast.splits_step``) shares its matrix products between the compiled
        #: path's threads, ``T`` blocks of columns or of the batch's rows each (``blocks.Dense``), and each thread adds
        #: the bias and applies the activation on its own blocks; the update runs over the flat buffer in fixed chunks
        #: on every thread.
        #: One pool of threads for the whole step, BLAS at one thread inside it (the runner sets it).  Smaller
        #: steps leave the products to BLAS's threads.
        self.split = not self.single and splits_step(model, batch_size)
        #: the threads the step is made for (``fast.threads_for``; only how it splits its work depends on them)
        self.threads = threads_for(model, batch_size)
        self._placed = 0  # arrays allocated by ``placed``
        self.args: dict = {}  # glue name -> value, or a callable giving the value at each run
        self.copies: list = []  # (array, transposed working copy)
        self.widths = [int(np.prod(model.input_shape[1:]))] + [int(np.prod(la.output_shape)) for la in model.layers]
        if self.split:  # a count fixed here, whatever threads run it (``pace.py``): the numbers follow it alone
            self.arg("T", self.threads)
        self.optimizer = OptimizerCode(self)
        self.blocks = [BLOCKS[type(layer)](layer, i, self) for i, layer in enumerate(model.layers)]
        self.blocks[-1].fused = model.fused_output
        trainable = [b.i for b in self.blocks if b.layer.params and b.layer.trainable]
        self.first_trainable = trainable[0] if trainable else len(self.blocks)
        for i in range(len(self.blocks) + 1):
            self.arg(f"H{i}", self.scratch(self.widths[i]))
            self.arg(f"D{i}", self.scratch(self.widths[i]))
        self.optimizer.declare()
        for block in self.blocks:
            block.declare()
            if isinstance(block.layer, Dense):
                block.roles.update(self.optimizer.roles_of(block))
        # shared between threads, a Dense layer's input gradient applies the elementwise activation derivative of a
        # Dense layer right below it (``blocks.Dense.fold``)
        for below, block in zip(self.blocks, self.blocks[1:]):
            if (self.split and isinstance(block, DenseBlock) and block.i > self.first_trainable
                    and isinstance(below, DenseBlock)
                    and not (below.fused or below.layer.activation.rowwise or self.optimizer.by_kernel_rows)):
                block.fold(below)
        self.loss_args = [self.arg(f"lv{k}", v) for k, v in enumerate(model.loss.value_args(self.dtype))]
        self.metric_args = [[self.arg(f"ma{m}_{k}", v) for k, v in enumerate(metric.rule_args(self.dtype))]
                            for m, metric in enumerate(model.compiled_metrics)]
        #: The batch's targets (``loss``): integer labels in ``YL``, else rows of targets in ``YT``.
        if isinstance(model.loss, SparseCategoricalCrossentropy):
            self.targets = self.arg("YL", np.zeros(self.batch_size, np.intp))
        else:
            self.targets = self.arg("YT", np.zeros((self.batch_size, self.widths[-1]), self.dtype))
        self.arg("gfull", np.zeros(4, self.dtype))
        self.arg("glast", np.zeros(4, self.dtype))
        #: With one sample per batch, the first layer (a Dense layer after nothing but Flatten) updates its kernel and
        #: computes its product with the next sample in one pass over the kernel (``Dense.backward_ahead``): the
        #: kernel is read from the cache once per step, not twice.  ``ahead`` holds, for the runner, whether the
        #: chunk's first sample went through that layer already (at the end of the previous chunk) and the index of
        #: the sample after the chunk (-1 for none); ``HN`` takes the next sample's input.
        self.ahead = self.lookahead_block()
        if self.ahead is not None:
            self.arg("HN", self.scratch(self.widths[0]))
            self.arg("ahead", np.array([0, -1], dtype=np.int64))
            self.blocks[self.ahead].roles["H_next"] = "HN"

    def lookahead_block(self):
        """The index of the block whose backward pass computes the next sample's product (``Composer.ahead``), or
        None: a Dense layer trained transposed at batch 1 on one thread, after nothing but Flatten layers."""
        if not self.single or self.parallel:
            return None
        for block in self.blocks:
            if not isinstance(block, Identity):
                return block.i if isinstance(block, DenseBlock) and block.transposed else None
        return None

    @contextlib.contextmanager
    def rows(self, src, index, count, chunks=CHUNKS):
        """Open ``for index in range(count)``; in a parallel model, as ``prange`` over ``chunks`` fixed chunks
        (fixed: LLVM vectorizes each chunk's loop with a remainder at its end, so chunk boundaries that moved
        with the thread count would move the rounding)."""
        if not self.parallel:
            src(f"for {index} in range({count}):")
            with src.block():
                yield
            return
        src(f"for c_{index} in prange({chunks}):")
        with src.block():
            src(f"for {index} in range({count} * c_{index} // {chunks}, {count} * (c_{index} + 1) // {chunks}):")
            with src.block():
                yield

    def transposed(self, array):
        """A working copy of 2-D ``array``, transposed; the runner copies it in before each chunk and back after."""
        t = self.placed(array.shape[::-1], array.dtype)
        t[...] = array.T
        self.copies.append((array, t))
        return t

    def placed(self, shape, dtype):
        """A zeroed array whose start within its 4 KiB page is fixed by the order of allocation: the k-th array
        starts (13 k mod 64) cache lines into a page.  Wherever the memory comes from, the same model gets the
        same layout, so its speed does not vary from process to process (at batch 1 the arrays' offsets
        relative to each other within a page moved configuration 1's epoch between 0.16 and 0.20 s: loads and
        stores 4 KiB apart collide), and different arrays of a step start on different cache lines."""
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        buf = np.zeros(nbytes + 2 * 4096, np.uint8)
        start = (-buf.ctypes.data) % 4096 + (13 * self._placed % 64) * 64
        self._placed += 1
        return buf[start:start + nbytes].view(dtype).reshape(shape)

    def arg(self, name, value) -> str:
        self.args[name] = value
        return name

    def scratch(self, n):
        return self.placed((self.batch_size, n), self.dtype)

    def width(self, i):
        return self.widths[i]

    def values(self):
        return [v() if callable(v) and not isinstance(v, np.ndarray) else v for v in self.args.values()]

    # -- pieces ------------------------------------------------------------------------------------
    def new_source(self):
        src = source.Source()
        src(f"CAST = np.{self.dtype.name}")
        src("ZERO = CAST(0.0)")
        src("")
        return src

    def call(self, glue, body, roles: dict, result=None, parallel=False):
        """Compile ``body`` (code in the role names) as a piece and call it from the glue with ``roles``;
        ``parallel``: a function of its own whose ``prange`` loops run on several threads.

        With batches, every piece is a compiled function of its own, cached on disk: a new model compiles only
        the pieces no model compiled before, and its glue's calls to the others (LLVM still inlines the small
        ones).  Measured, ten models of the registry tests' kind (one technique changed at a time) compile in 76 s
        against 95 s when each glue inlined its pieces and typed them again.  With one sample per batch the
        pieces are inlined into the glue: a call per piece and sample cost configuration 1 3% of its epoch
        (0.145 against 0.141 s)."""
        decorator = ("@njit(parallel=PARALLEL, **JIT)  # its prange loops run on the compiled path's threads" if parallel
                     else '@njit(inline="always")  # inlined into the glue: no call overhead per sample' if self.single
                     else "@njit(**JIT)  # a compiled function of its own, shared by every model that has it")
        module = self.piece_module(body, ["B", *roles], decorator, "a piece of a model's step", result)
        name = glue.use_module(module.__name__)
        call = f"{name}(B, {', '.join(roles.values())})"
        glue(f"{result} = {call}" if result else call)

    def helper(self, src, body, params):
        """Compile ``body`` as a function of its own with ``params`` (neither inlined nor parallel); return the name
        ``src`` calls it by.  A parallel piece calls it in its ``prange`` loop for code with array expressions (a
        row-wise rule's temporaries), which Numba cannot lower inside a parallel loop's body."""
        module = self.piece_module(body, params, "@njit(**JIT)  # called in a parallel loop's body",
                                   "a block of rows of a model's step")
        return src.use_module(module.__name__)

    def piece_module(self, body, params, decorator, what, result=None):
        """The generated module whose ``piece(params)``, under ``decorator``, runs ``body`` (and returns ``result``)."""
        src = self.new_source()
        src("")
        src(decorator)
        src(f"def piece({', '.join(params)}):")
        src.imports.update(body.imports)
        src.modules.update(body.modules)
        src.lines += ["    " + line if line else "" for line in body.lines]
        if result:
            src(f"    return {result}")
        return source.load(src, what)

    # -- the generated glue module -----------------------------------------------------------------
    def module(self):
        glue = self.new_source()
        names = ", ".join(self.args)
        L = len(self.blocks)
        glue("")
        glue("@njit(**JIT)")
        glue(f"def train(x, y, order, batch_size, lrs, t0, hits, {names}):")
        with glue.block():
            glue("n = order.size")
            glue("loss_sum = 0.0")
            glue("step = 0")
            glue("start = 0")
            f = self.ahead  # the first layer's forward pass runs at the end of the previous step (``ahead``)
            ahead = [] if f is None else self.blocks[:f + 1]
            if ahead:
                for block in self.blocks[:f]:
                    glue(f"H{block.i + 1} = H{block.i}")
                glue("if ahead[0] == 0 and n > 0:  # the chunk's first sample")
                with glue.block():
                    glue("B = min(batch_size, n)")
                    self.gather(glue, training=True)
                    self.forward(glue, self.blocks[f], True)
            glue("while start < n:")
            with glue.block():
                glue("B = min(batch_size, n - start)")
                if not ahead:
                    self.gather(glue, training=True)
                for block in self.blocks[len(ahead):]:
                    self.forward(glue, block, True)
                self.loss(glue, training=True)
                glue(f"loss_sum += rows_loss{''.join(' + B * ' + p for p in self.optimizer.penalty_values(glue))}")
                self.optimizer.step_scalars(glue)
                for block in reversed(self.blocks):
                    if block.backward_alias():
                        glue(f"D{block.i} = D{block.i + 1}")
                        continue
                    if block.i == f:
                        glue("if start + B < n or ahead[1] >= 0:  # a next sample: its input, then the fused pass")
                        with glue.block():
                            glue("if start + B < n:")
                            with glue.block():
                                self.gather(glue, training=True, into="HN", start="start + B")
                            glue("else:")
                            with glue.block():
                                self.gather(glue, training=True, into="HN", start="1", order="ahead")
                            self.call(glue, block.backward_ahead(), block.roles)
                        glue("else:")
                        glue.depth += 1
                    for body, parallel in block.backward_parts(block.i > self.first_trainable):
                        if body.lines:
                            self.call(glue, body, block.roles, parallel=parallel)
                    if block.i == f:
                        glue.depth -= 1
                self.optimizer.update(glue)
                glue("step += 1")
                glue("start += B")
            glue("return loss_sum, step")
        for kind in ("evaluate", "predict"):
            glue("")
            glue("")
            glue("@njit(**JIT)")
            glue(f"def {kind}(x, y, first, stop, batch_size, hits, out, {names}):")
            with glue.block():
                glue("loss_sum = 0.0")
                glue("start = first")
                glue("while start < stop:")
                with glue.block():
                    glue("B = min(batch_size, stop - start)")
                    self.gather(glue, training=False)
                    for block in self.blocks:
                        self.forward(glue, block, False)
                    if kind == "evaluate":
                        self.loss(glue, training=False)
                        glue(f"loss_sum += rows_loss{''.join(' + B * ' + p for p in self.optimizer.penalty_values(glue))}")
                    else:
                        glue(f"put(out[start:start + B], H{L}[:B])")
                    glue("start += B")
                glue("return loss_sum")
        header = " > ".join(type(la).__name__ for la in self.model.layers)
        return source.load(glue, f"{header}, {type(self.model.loss).__name__}, {type(self.model.optimizer).__name__}")

    def forward(self, glue, block, training):
        if block.forward_alias(training):
            glue(f"H{block.i + 1} = H{block.i}")
            return
        for body, parallel in block.forward_parts(training):
            if body.lines:
                self.call(glue, body, block.roles, parallel=parallel)

    def gather(self, glue, training, into="H0", start="start", order="order"):
        """The batch's input rows, cast to the float type (the data may stay uint8): rows ``order[start:start + B]``
        of ``x`` (in training) into ``into``."""
        body = source.Source()
        if self.split:  # on the step's threads, each a block of the rows (random rows of a large training set
            thread_block(body, "B", lo="s0", hi="s1")  # are DRAM misses: two threads wait for twice as many)
        body("for s in range(s0, s1):" if self.split else "for s in range(B):")
        with body.block():
            body("r = order[start + s]" if training else "r = start + s")
            body("for k in range(H_in.shape[1]):")
            with body.block():
                body("H_in[s, k] = CAST(x[r, k])")
        if self.split:
            body.depth -= 1
        if training and self.single:  # the sample after this one, into the caches while a step runs
            body("if start + 1 < order.size:")
            with body.block():
                body("r = order[start + 1]")
                body("for k in range(0, x.shape[1], max(1, 64 // x.itemsize)):")
                with body.block():
                    body("prefetch(x, r, k)")
        roles = {"x": "x", "order": order, "start": start, "H_in": into}
        if not training:
            del roles["order"]
        if self.split:
            roles["T"] = "T"
        self.call(glue, body, roles, parallel=self.split)

    def loss(self, glue, training):
        """The per-row loss values (``rows_loss``), the metrics' hits and, in training, the output gradient.  The
        batch's targets are gathered into ``YT`` (``YL`` for integer labels), then each rule runs once on the whole
        batch (rows on the last axis, as on the reference path): a rule's temporaries are allocated once per batch,
        not once per row."""
        model, L = self.model, len(self.blocks)
        value, grad, fused = model.loss.rules()
        sparse = self.targets == "YL"
        body = source.Source()
        body("C = out.shape[1]")
        if training:
            body("ga = gfull if B == batch_size else glast")
        body("for s in range(B):")
        with body.block():
            body("r = order[start + s]" if training else "r = start + s")
            if sparse:
                body("YL[s] = y[r]")
            else:
                body("for j in range(YT.shape[1]):")
                with body.block():
                    body("YT[s, j] = y[r, j]")
        body(f"t = {body.use(one_hot)}(YL[:B], C)" if sparse else "t = YT[:B]")
        body(f"values = {body.use(value)}(t, out[:B]{''.join(', ' + a for a in self.loss_args)})")
        body("rows_loss = 0.0")
        body("for s in range(B):")
        with body.block():
            body("rows_loss += values[s]")
        for m, metric in enumerate(model.compiled_metrics):
            target = "YL[:B]" if type(metric).__name__ == "SparseCategoricalAccuracy" else "t"
            per_row = metric.per_row(self.widths[-1])
            scale = f" / {float(per_row)}" if per_row != 1 else ""
            margs = "".join(", " + a for a in self.metric_args[m])
            body(f"row_hits = {body.use(metric.rule)}({target}, out[:B]{margs})")
            body("for s in range(B):")
            with body.block():
                body(f"hits[{m}] += row_hits[s]{scale}")
        if training:
            last = self.blocks[-1]
            n_args = len(model.loss.fused_args(self.dtype, 1, 1) if last.fused
                         else model.loss.grad_args(self.dtype, 1, 1))
            call = ", ".join(f"ga[{k}]" for k in range(n_args))
            rule = fused if last.fused else grad
            if getattr(model.loss, "elementwise_grad", False):  # no row reduction: per element, no temporaries
                per_element(body, "C", f"target[s, j] = {body.use(rule)}(t[s, j], out[s, j], {call})")
            else:
                body(f"put(target[:B], {body.use(rule)}(t, out[:B], {call}))")
        roles = {"y": "y", "start": "start", "out": f"H{L}", "hits": "hits", self.targets: self.targets}
        if training:
            roles.update({"order": "order", "batch_size": "batch_size", "gfull": "gfull", "glast": "glast"})
            last = self.blocks[-1]
            roles["target"] = (f"DZ{L - 1}" if last.fused and isinstance(last.layer, Dense)
                               else f"D{L - 1}" if last.fused else f"D{L}")
        roles.update({a: a for a in self.loss_args})
        roles.update({a: a for args in self.metric_args for a in args})
        self.call(glue, body, roles, result="rows_loss")


class OptimizerCode:
    """The optimizer's part of the step: scalars, penalties, clipping, weight decay and the update rule."""

    def __init__(self, composer):
        self.c = weakref.proxy(composer)  # as a block's (``blocks.Block``)
        opt = composer.model.optimizer
        self.opt = opt
        self.clip = ("norm" if opt.clipnorm else "global" if opt.global_clipnorm else
                     "value" if opt.clipvalue else None)
        # one sample per batch: each Dense entry's gradient and update in one pass.  (From batch 32 on, the products
        # through BLAS and one update pass over the flat buffer win: an update fused into each thread's block of a
        # kernel, row by row, took 1.09-1.12 s against 0.95-0.98 s for 10,000 samples at width 1024, batch 32, and
        # the row pass below 1.88 against 1.49 s for 15,000, before it took its rows in loops per eight samples; since
        # then it serves batch 32: ``fast.ROW_PASS_SPLIT_BATCH``.)
        self.fuse = composer.single and self.clip in (None, "value")
        #: with batches, a step linear in the gradient (``updates_in_product``): each Dense layer's kernel-gradient
        #: product adds ``-step(1) H_in^T DZ`` into the kernel itself (one GEMM with alpha and beta = 1), and its bias
        #: is updated where its gradient is summed.  No gradient buffer is written and read back, and no update pass
        #: runs over the kernels (width 1024, batch 32: about a fifth of a step).
        #: With small batches on the path's own threads (``fast.ROW_PASS_SPLIT_BATCH``; wide models with a rule that
        #: reads a gradient buffer beyond, ``fast.ROW_PASS_WEIGHTS``), any rule but norm clipping: each
        #: trainable Dense kernel's input gradient, gradient and update in one pass over its rows instead
        #: (``kernel_row_pass``).  A kernel row is read once for all three and its gradient never goes to memory.
        from . import ROW_PASS_SPLIT_BATCH, ROW_PASS_WEIGHTS, kernel_weights
        size, model = composer.batch_size, composer.model
        self.by_kernel_rows = composer.split and self.clip in (None, "value") and (
            size <= ROW_PASS_SPLIT_BATCH or not updates_in_product(model)
            and kernel_weights(model) >= ROW_PASS_WEIGHTS * size * size)
        self.into_weights = not composer.single and not self.by_kernel_rows and updates_in_product(composer.model)
        #: Shared between threads otherwise (any rule but norm clipping): each Dense kernel's update where its
        #: gradient is complete, by the thread that completed its block of rows (``split_gradients``,
        #: ``gradient_by_batch_rows``, ``thin_gradients``), and its bias's where the bias's gradient is summed.
        self.in_pieces = (composer.split and not self.by_kernel_rows and not self.into_weights
                          and self.clip in (None, "value"))

    def declare(self):
        c, opt, flat = self.c, self.opt, self.c.model.flat
        c.arg("P", flat.params)
        c.arg("G", flat.grads)
        self.slots = []
        #: the slots this optimizer keeps (a slot it does not keep is passed to the rule as 0, and not stored)
        self.kept = [opt.slot(name) is not None for name in opt.rule_slots]
        for k, name in enumerate(opt.rule_slots):
            array = opt.slot(name)
            self.slots.append(c.arg(f"S{k}", array if array is not None else np.zeros(flat.params.size, c.dtype)))
        c.arg("state", opt.step_state)
        c.arg("consts", np.array(opt.constants(), dtype=np.float64))
        c.arg("segments", np.array(flat.segments, dtype=np.int64).reshape(-1, 2))
        c.arg("wdecay", float(opt.weight_decay or 0.0))
        c.arg("climit", float(opt.clipnorm or opt.global_clipnorm or opt.clipvalue or 0.0))
        self.n_scalars = len(opt.scalars(0.001, 1, opt.step_state.copy(), *opt.constants()))
        for k in range(self.n_scalars):
            c.arg(f"q{k}", c.dtype.type(0))  # placeholders: the glue sets them every step
        c.arg("wd", c.dtype.type(0))
        c.arg("cl", c.dtype.type(0))
        c.arg("lin", c.dtype.type(0))
        self.offsets = dict(zip(flat.names, flat.segments))
        dense = set()
        for layer in c.model.layers:
            if isinstance(layer, Dense) and layer.trainable:
                dense.update(self.offsets[f"{layer.name}/{p}"] for p in layer.params)
        rest = [seg for seg in flat.segments if seg not in dense]
        c.arg("rest", np.array(rest, dtype=np.int64).reshape(-1, 2))
        # the weight penalties: (layer, parameter) -> index
        self.penalties = {}
        for layer in c.model.layers:
            for pname, reg in layer.regularizers.items():
                k = len(self.penalties)
                c.arg(f"pen{k}", np.array(self.offsets[f"{layer.name}/{pname}"], dtype=np.int64))
                c.arg(f"pv{k}", np.array(reg.value_args(c.dtype)))
                c.arg(f"pg{k}", np.array(reg.grad_args(c.dtype)))
                self.penalties[(layer.name, pname)] = k

    def roles_of(self, block):
        """What a Dense block's fused update needs: the kernel's and bias's views into each slot array (so that
        its loops index with plain loop counters, which LLVM vectorizes), the scalars and the penalties."""
        layer, c = block.layer, self.c
        roles = {"wd": "wd", "cl": "cl", "lin": "lin", **{f"q{k}": f"q{k}" for k in range(self.n_scalars)}}
        for p in ("kernel", "bias"):
            seg = self.offsets.get(f"{layer.name}/{p}")
            shape = layer.params[p].shape if p in layer.params else (layer.units,)
            for k, name in enumerate(self.slots):
                flat = c.args[name]
                view = flat[seg[0]:seg[1]].reshape(shape) if seg else np.zeros(shape, c.dtype)
                if p == "kernel" and block.transposed and self.kept[k]:
                    view = c.transposed(view)
                roles[f"{name}{p[0]}"] = c.arg(f"{name}{p[0]}{block.i}", view)
            k = self.penalties.get((layer.name, p))
            if k is not None:
                roles[f"pg_{p}"] = f"pg{k}"
        return roles

    def penalty_values(self, glue):
        """Emit the penalties' values, from the live weights (a kernel trained transposed is read from its working
        copy: the flat buffer has it only after the chunk); return their names.  The loop over the weights is
        the compiled path's (one pass, no temporary: Numba's ``np.sum`` of an array expression allocates the
        expression first, about 13x slower at batch 1); each weight's share is the regularizers'
        ``penalty_terms``, whose sum is ``penalty_value``."""
        terms = glue.use(penalty_terms)
        blocks = {b.layer.name: b for b in self.c.blocks}
        out = []
        for (name, pname), k in self.penalties.items():
            block = blocks[name]
            weights = (block.roles["WT"] if pname == "kernel" and getattr(block, "transposed", False)
                       else f"P[pen{k}[0]:pen{k}[1]]")
            glue(f"pw{k} = {weights}.reshape(-1)")
            glue(f"pacc{k} = ZERO")
            glue(f"for pe in range(pw{k}.size):")
            with glue.block():
                glue(f"pacc{k} += {terms}(pw{k}[pe], pv{k}[0], pv{k}[1])")
            out.append(f"pacc{k}")
        return out

    def step_scalars(self, glue):
        consts = "".join(f", consts[{k}]" for k in range(len(self.opt.constants())))
        glue("lr = lrs[step] if lrs.size > 1 else lrs[0]")
        glue(f"sc = {glue.use(self.opt.scalars)}(lr, t0 + step + 1, state{consts})")
        for k in range(self.n_scalars):
            glue(f"q{k} = CAST(sc[{k}])")
        glue("wd = CAST(wdecay * lr)")
        glue("cl = CAST(climit)")
        if self.into_weights:  # the step for a gradient of one: the factor of every gradient this step
            zeros = ", ZERO" * len(self.slots)
            qs = "".join(f", q{k}" for k in range(self.n_scalars))
            glue(f"lin = {glue.use(self.opt.rule)}(CAST(1.0){zeros}{qs})[0]")

    def element(self, src, index, grad, penalty=None, params="P", slots=None):
        """Update entry ``params[index]`` (and the same entry of each slot array) with gradient ``grad``; the new
        value is left in ``w``."""
        slots = slots or self.slots
        src(f"g = {grad}")
        if penalty is not None:
            src(f"g = g + {src.use(penalty_grad)}({params}[{index}], {penalty}[0], {penalty}[1])")
        if self.clip == "value":
            src(f"g = {src.use(clip_value_rule)}(g, cl)")
        src(f"w = {params}[{index}]")
        if self.opt.weight_decay:
            src(f"w = {src.use(weight_decay_rule)}(w, wd)")
        slots_in = "".join(f", {s}[{index}]" if kept else ", ZERO" for s, kept in zip(slots, self.kept))
        qs = "".join(f", q{k}" for k in range(self.n_scalars))
        news = "".join(f", n{k}" for k in range(len(slots)))
        src(f"st{news} = {src.use(self.opt.rule)}(g{slots_in}{qs})")
        src("w = w - st")
        src(f"{params}[{index}] = w")
        for k, (s, kept) in enumerate(zip(slots, self.kept)):
            if kept:
                src(f"{s}[{index}] = n{k}")

    def dense_gradients(self, src, block, ahead=False):
        """A Dense layer's kernel and bias gradients (or, for one sample without norm clipping, their updates).
        ``ahead`` (one sample, the update fused): each row of the kernel, just updated, also gives its unit's
        product with the next sample's input ``H_next``, ``Z[0, j] = b[j] + sum_k WT[j, k] H_next[0, k]``, while
        it is in the cache (``Composer.ahead``)."""
        use_bias = block.layer.use_bias
        if self.c.split:
            self.split_gradients(src, block)
            return
        if self.fuse:
            with self.c.rows(src, "j", "WT.shape[0]"):
                src("dj = DZ[0, j]")
                if ahead:
                    if use_bias:
                        self.bias_element(src, block, "DZ[0, j]")
                    src("acc = b[j]")
                src("for k in range(WT.shape[1]):")
                with src.block():
                    self.element(src, "j, k", "H_in[0, k] * dj", "pg_kernel" if "pg_kernel" in block.roles else None,
                                 "WT", [f"{s}k" for s in self.slots])
                    if ahead:
                        src("acc += w * H_next[0, k]")
                if ahead:
                    src("Z[0, j] = acc")
            if not ahead:
                self.bias_update(src, block, "DZ[0, j]")
            return
        if self.c.single:
            src("for k in range(W.shape[0]):")
            with src.block():
                src("for j in range(W.shape[1]):")
                with src.block():
                    src("GW[k, j] = H_in[0, k] * DZ[0, j]")
        elif self.into_weights:
            src("gemm(True, False, W.shape[0], W.shape[1], B, H_in, 0, H_in.shape[1], DZ, 0, W.shape[1], W, 0, "
                "W.shape[1], 1.0, -lin)")
        else:
            src("np.dot(H_in[:B].T, DZ[:B], GW)")
        bias_gradient(src)
        if self.into_weights:
            self.bias_update(src, block, "Gb[j]")

    def bias_element(self, src, block, grad):
        """Update bias entry ``j`` (and its slots) from gradient ``grad``, with its penalty where it has one."""
        penalty = "pg_bias" if "pg_bias" in block.roles else None
        self.element(src, "j", grad, penalty, "b", [f"{s}b" for s in self.slots])

    def bias_update(self, src, block, grad, lo=None, hi="W.shape[1]"):
        """Update the bias entries ``lo:hi`` (every entry when ``lo`` is None) from their gradients ``grad`` (an
        expression in ``j``): after the fused kernel update at batch 1, or after a kernel updated in its product."""
        if block.layer.use_bias:
            src(f"for j in range({hi}):" if lo is None else f"for j in range({lo}, {hi}):")
            with src.block():
                self.bias_element(src, block, grad)

    def kernel_row_pass(self, src, block, need_input_grad):
        """A Dense layer's backward pass with small batches (``by_kernel_rows``), on the path's threads: each thread
        takes a block of the kernel's rows ``k0:k1`` (inputs) and, row by row, the input gradient from the row as it
        was (``D_in[s, k] = DZ[s] . W[k]``), the row's gradient (``sum_s H_in[s, k] DZ[s]``) and its update; then
        its block of the bias's columns, gradient and update.  A batch of the step's own size takes the rows in
        loops of their own (``fused_rows``), two rows at a time when it has more than ``ROW_GROUP`` samples; a
        smaller one (an epoch's last) a loop per sample.  Loops from 0 over row views: LLVM vectorizes them."""
        src("m = W.shape[0]")
        src("n = W.shape[1]")
        thread_block(src, "m", lo="k0", hi="k1")
        size = self.c.batch_size
        per = ROW_BLOCK if size > ROW_GROUP else 1
        src(f"GV = np.empty(({per}, n), CAST)")  # the gradient rows of the rows a loop takes
        src(f"if B == {size}:")
        with src.block():
            bounds, looped = row_groups(size)
            for s in range(size):
                if not looped or s < bounds[1] or s >= bounds[-2]:  # the samples of the groups written out
                    src(f"d{s} = DZ[{s}]")
            for r in range(per):
                src(f"gv{r} = GV[{r}]")
            src(f"for k in range(k0, k1 - {per - 1}, {per}):")
            with src.block():
                self.fused_rows(src, block, need_input_grad, size, per)
            if per > 1:  # the thread's last rows, one at a time
                src(f"for k in range(k1 - (k1 - k0) % {per}, k1):")
                with src.block():
                    self.fused_rows(src, block, need_input_grad, size, 1)
        src("else:")
        with src.block():
            src("gv = GV[0]")
            src("for k in range(k0, k1):")
            with src.block():
                src("wv = W[k]")
                if need_input_grad:
                    src("for s in range(B):")
                    with src.block():
                        src("dv = DZ[s]")
                        src("acc = ZERO")
                        src("for j in range(n):")
                        with src.block():
                            src("acc += dv[j] * wv[j]")
                        src("D_in[s, k] = acc")
                sum_of_rows(src, "gv", "DZ[{s}]", weight="H_in[{s}, k]")
                self.kernel_row_update(src, block)
        self.bias_block(src, block, update=True)
        src.depth -= 1

    def fused_rows(self, src, block, need_input_grad, size, per):
        """Kernel rows ``k:k+per`` of the row pass for a batch of ``size`` samples (row views ``d0, d1, ...`` of
        ``DZ`` for the samples of the groups written out, ``row_groups``; gradient rows ``gv0, gv1, ...``): the
        samples in groups of at most ``ROW_GROUP``, each group one loop over the rows' entries (``row_group``); from
        ``ROW_LOOP_GROUPS`` groups on, the groups between the first and the last in a loop over groups of
        ``ROW_GROUP``, so that the code (and its compile time) stays the same size at any batch size.  Eight sums
        and a gradient per loaded entry keep the multiply-adds busy: one thread, 1024 x 1024 kernel, batch 8, 0.44
        against 1.07 ms for a loop per sample and per pass.  Whole epochs at batch 32 (Adam, width 1024), groups of
        16 took 1.43x as long as groups of 8 (their sums no longer fit the registers), groups of 4 or 11 1.09x.  Two
        rows at a time read ``DZ`` (which no longer fits the first-level cache) half as often: one thread, GFLOP/s
        one row / two / four at batch 32, 784 x 512 without input gradient 52 / 87 / 90, 512 x 512 with it 89 / 92
        / 49, 1024 x 512 77 / 86 / 47; batch 16, 1024 x 1024 63 / 83 / 48; at batch 8 one row is as fast (94 / 89,
        79 / 71)."""
        bounds, looped = row_groups(size)
        for r in range(per):
            src(f"wv{r} = W[k + {r}]")
            self.kernel_row_views(src, r)
        last = len(bounds) - 2

        def written(g):  # group g's samples, each with its row view made before the rows' loop
            return [(str(s), f"d{s}") for s in range(bounds[g], bounds[g + 1])]
        self.row_group(src, block, need_input_grad, per, written(0), first=True, last=last == 0)
        if looped:  # the groups between the first and the last: one loop
            src(f"for s0 in range({bounds[1]}, {bounds[-2]}, {ROW_GROUP}):")
            with src.block():
                for i in range(ROW_GROUP):
                    src(f"e{i} = DZ[s0 + {i}]")
                self.row_group(src, block, need_input_grad, per, [(f"s0 + {i}", f"e{i}") for i in range(ROW_GROUP)],
                               first=False, last=False)
        else:
            for g in range(1, last):
                self.row_group(src, block, need_input_grad, per, written(g), first=False, last=False)
        if last > 0:
            self.row_group(src, block, need_input_grad, per, written(last), first=False, last=True)

    def row_group(self, src, block, need_input_grad, per, rows, first, last):
        """One group of the row pass (``fused_rows``): ``rows``, (the sample's index, its row view of ``DZ``) for
        each sample, in one loop over the rows' entries that reads each entry of ``DZ`` once for every row and each
        kernel entry once for the group's input gradients (a sum per sample and row, ``a{i}_{r}``) and its share of
        the entry's gradient (``gv{r}``: written by the ``first`` group, added to by the next ones, and in the
        ``last`` one taken straight into the entry's update)."""
        for i, (s, _) in enumerate(rows):
            for r in range(per):
                src(f"h{i}_{r} = H_in[{s}, k + {r}]")
                if need_input_grad:
                    src(f"a{i}_{r} = ZERO")
        src("for j in range(n):")
        with src.block():
            for r in range(per):
                src(f"w{r}j = wv{r}[j]")
            for i, (_, view) in enumerate(rows):
                src(f"x{i} = {view}[j]")
                if need_input_grad:
                    for r in range(per):
                        src(f"a{i}_{r} += x{i} * w{r}j")
            for r in range(per):
                part = " + ".join(f"h{i}_{r} * x{i}" for i in range(len(rows)))
                total = part if first else f"gv{r}[j] + {part}"
                if last:
                    self.kernel_row_element(src, block, total, r)
                else:
                    src(f"gv{r}[j] = {total}")
        if need_input_grad:
            for i, (s, _) in enumerate(rows):
                for r in range(per):
                    src(f"D_in[{s}, k + {r}] = a{i}_{r}")

    def split_gradients(self, src, block):
        """Each thread's block of the kernel's rows: its gradient (one-thread BLAS over every column), and its block of
        the bias's columns, whose gradient is summed in loops from 0 over the block's slices (LLVM vectorizes them).
        Blocks of rows write contiguous memory: measured alone, 2 threads, GFLOP/s rows against columns, 285 against
        249 (batch 128, 1024 x 1024), 309 against 244 (batch 128, 784 x 512), 329 against 322 (batch 512, 2048 x 2048)."""
        src("m = W.shape[0]")
        src("n = W.shape[1]")
        if block.gradient_by_rows:
            self.gradient_by_batch_rows(src, block)
            return
        src("for p in prange(T):")
        src.depth += 1
        self.kernel_gradient_rows(src, block, "p", "T", update=self.in_pieces)
        src.depth -= 1

    def kernel_gradient_rows(self, src, block, index, parts, update):
        """In a thread's loop body: block ``index`` of ``parts`` of the kernel's rows, its gradient
        ``H_in[:, k0:k1]^T DZ`` (one-thread BLAS; with ``into_weights`` added into the kernel itself), with ``update``
        each row's update from it (``rows_update``), and the same block of the bias's columns (``bias_block``)."""
        block_range(src, "m", index, "k0", "k1", parts)
        src("if k1 > k0:")
        with src.block():
            target, beta, alpha = ("W", "1.0", "-lin") if self.into_weights else ("GW", "0.0", "1.0")
            src(f"gemm(True, False, k1 - k0, n, B, H_in, k0, H_in.shape[1], DZ, 0, n, {target}, k0 * n, n, {beta}, "
                f"{alpha})")
        if update:
            self.rows_update(src, block)
        self.bias_block(src, block, update=self.into_weights or self.in_pieces, parts=parts, index=index)

    def rows_update(self, src, block):
        """Update the kernel's rows ``k0:k1`` from their gradients in ``GW`` (``kernel_row_update``)."""
        src("for k in range(k0, k1):")
        with src.block():
            src("gv = GW[k]")
            self.kernel_row_update(src, block)

    def side_by_side(self, src, update, block):
        """A Dense layer's input gradient and its kernel's gradient side by side, on two halves of the threads: both
        products have the same multiply-adds and neither needs the other.  Threads ``0:TA`` (``TA = T // 2``) take
        blocks of the input gradient's columns, ``D_in = DZ W^T``, and apply the derivative of the layer below
        (``fold_block``); threads ``TA:T`` take blocks of the kernel's rows, ``GW = H_in^T DZ``, and of the bias's
        columns, its gradient and update.  One thread does both, one after the other.  The kernel changes only in
        ``update``, a second loop on every thread (each a block of the kernel's rows): the input gradient reads it
        (so not under plain SGD, whose update is in the product: ``blocks.Dense.side_by_side``).  Each product runs
        on fewer threads than a product shared by all, each thread's block is larger, and no thread packs a shared
        operand that another packs too: measured alone, 2 threads, both products, GFLOP/s side by side against one
        after the other, 160-185 against 146-176 (batch 256-512, widths 1024-2048), 185-189 against 133-134 (batch
        256, width 512).  Whole epochs with Adam, alternated in one process, before / after: 1.03-1.07x at width
        2048 (batches 128-512) and width 1024 at batch 512, 0.97-1.03x at width 1024 batch 256, level at width 512
        batch 256 and width 512-1024 batch 32."""
        src("m = W.shape[0]")
        src("n = W.shape[1]")
        src("TA = T // 2")
        src("for p in prange(T):")
        with src.block():
            src("if p < TA or TA == 0:")
            with src.block():
                block.input_gradient_columns(src, "p", "max(TA, 1)")
            src("if p >= TA:")
            with src.block():
                self.kernel_gradient_rows(src, block, "p - TA", "T - TA", update=False)
        if not self.in_pieces:  # norm clipping: the update pass over the flat buffer
            return
        update("m = W.shape[0]")
        update("n = W.shape[1]")
        thread_block(update, "m", lo="k0", hi="k1")
        self.rows_update(update, block)
        update.depth -= 1

    def kernel_row_update(self, src, block):
        """In a loop over the kernel's rows ``k``: update row ``k`` (and its slots) from its gradient, the row ``gv``
        (``in_pieces``, ``kernel_row_pass``)."""
        src("wv = W[k]")
        self.kernel_row_views(src)
        src("for j in range(n):")
        with src.block():
            self.kernel_row_element(src, block, "gv[j]")

    def kernel_row_views(self, src, r=""):
        """Row ``k + r`` of each of the kernel's slots (``{slot}v{r}``), for ``kernel_row_element``."""
        for s, kept in zip(self.slots, self.kept):
            if kept:
                src(f"{s}v{r} = {s}k[k{f' + {r}' if r != '' else ''}]")

    def kernel_row_element(self, src, block, grad, r=""):
        """Update entry ``j`` of kernel row ``wv{r}`` (and of its slots' rows) from its gradient ``grad``."""
        penalty = "pg_kernel" if "pg_kernel" in block.roles else None
        self.element(src, "j", grad, penalty, f"wv{r}", [f"{s}v{r}" for s in self.slots])

    def thin_gradients(self, src, block):
        """After a thin layer's pass over the batch's rows (``blocks.Dense.thin_backward``): the sums of the partial
        sums ``KP`` into the kernel's gradient (each thread a block of the kernel's rows); with the update in the
        product (``into_weights``) straight into the kernel, or into its update (``in_pieces``)."""
        thread_block(src, "m", lo="k0", hi="k1")
        if self.in_pieces:  # each row's sums in a row of the thread's own, then the row's update
            src("gv = np.empty(n, CAST)")
        src("for k in range(k0, k1):")
        with src.block():
            src("for j in range(n):")
            with src.block():
                src("g = KP[0, j, k]")
                src("for q in range(1, parts):")
                with src.block():
                    src("g += KP[q, j, k]")
                src("gv[j] = g" if self.in_pieces else "W[k, j] = W[k, j] - lin * g" if self.into_weights
                    else "GW[k, j] = g")
            if self.in_pieces:
                self.kernel_row_update(src, block)
        src.depth -= 1

    def gradient_by_batch_rows(self, src, block):
        """The kernel's gradient by blocks of the batch's rows, for a layer whose forward product and input gradient are
        split by rows (``blocks.Dense.gradient_by_rows``): each of ``parts`` blocks (the partial buffer ``GP`` holds all
        but the first; a count fixed when the step is composed, whatever threads then run it) gives the sum over its
        rows, from the rows its thread wrote, into ``GW`` or ``GP``; then each thread adds the partial sums of its
        block of the kernel's rows, in the same order whichever thread does it: into ``GW``, or, with the update in
        the pieces (``in_pieces``), into a row of its own that updates the kernel's row at once."""
        src("parts = GP.shape[0] + 1")
        thread_block(src, "B", lo="r0", hi="r1", parts="parts")
        src("out = GW.reshape(-1) if p == 0 else GP[p - 1].reshape(-1)")
        src("if r1 > r0:")
        with src.block():
            src("gemm(True, False, m, n, r1 - r0, H_in, r0 * H_in.shape[1], H_in.shape[1], DZ, r0 * n, n, out, 0, "
                "n, 0.0, 1.0)")
        src("else:")
        with src.block():
            src("out[:] = ZERO")
        self.bias_block(src, block, update=self.in_pieces, parts="parts")
        src.depth -= 1
        thread_block(src, "m", lo="k0", hi="k1")
        if self.in_pieces:  # each row's sum in a row of the thread's own, then the row's update
            src("gs = np.empty(n, CAST)")
        src("for k in range(k0, k1):")
        with src.block():
            if self.in_pieces:
                src("gv = gs")
                src("rv = GW[k]")
                src("for j in range(n):")
                with src.block():
                    src("gv[j] = rv[j]")
            else:
                src("gv = GW[k]")
            src("for q in range(parts - 1):")
            with src.block():
                src("pv = GP[q, k]")
                src("for j in range(n):")
                with src.block():
                    src("gv[j] += pv[j]")
            if self.in_pieces:
                self.kernel_row_update(src, block)
        src.depth -= 1

    def bias_block(self, src, block, update=False, parts="T", index="p"):
        """In a thread's loop body (block ``index`` of ``parts``): its block of the bias's columns, their gradient and,
        with ``update``, their update."""
        block_range(src, "n", index, "c0", "c1", parts)
        src("if c1 > c0:")
        with src.block():
            bias_gradient(src, "c0", "c1")
            if update:
                self.bias_update(src, block, "Gb[j]", "c0", "c1")

    def update(self, glue):
        """After the backward pass: penalties, clipping and the update of every entry not updated yet."""
        body = source.Source()
        roles = {"P": "P", "G": "G", "wd": "wd", "cl": "cl", "segments": "segments", "rest": "rest",
                 **{s: s for s in self.slots}, **{f"q{k}": f"q{k}" for k in range(self.n_scalars)}}
        if self.fuse or self.into_weights or self.by_kernel_rows or self.in_pieces:  # Dense layers: in their pieces
            body("for z in range(rest.shape[0]):")
            with body.block():
                body("for e in range(rest[z, 0], rest[z, 1]):")
                with body.block():
                    self.element(body, "e", "G[e]")
        else:
            for k in range(len(self.penalties)):
                roles.update({f"pen{k}": f"pen{k}", f"pg{k}": f"pg{k}"})
                body(f"for e in range(pen{k}[0], pen{k}[1]):")
                with body.block():
                    body(f"G[e] += {body.use(penalty_grad)}(P[e], pg{k}[0], pg{k}[1])")
            if self.clip == "norm":
                body(f"{body.use(clip_by_norm)}(G, segments, cl)")
            elif self.clip == "global":
                body(f"{body.use(clip_by_global_norm)}(G, cl)")
            if self.c.parallel or self.c.split:  # the update in fixed chunks, on every thread
                if body.lines:
                    self.c.call(glue, body, roles)
                body = source.Source()
                kept = [s for s, k in zip(self.slots, self.kept) if k]
                body(f"for c in prange({CHUNKS}):")
                with body.block():
                    body(f"e0 = split_at(P.size, c, {CHUNKS})")
                    body(f"e1 = split_at(P.size, c + 1, {CHUNKS})")
                    body("Pv = P[e0:e1]")
                    body("Gv = G[e0:e1]")
                    for s in kept:
                        body(f"{s}v = {s}[e0:e1]")
                    body("for e in range(e1 - e0):")  # from 0 (a loop from e0 is not vectorized)
                    with body.block():
                        self.element(body, "e", "Gv[e]", params="Pv", slots=[f"{s}v" for s in self.slots])
                self.c.call(glue, body, roles, parallel=True)
                return
            with self.c.rows(body, "e", "P.size"):
                self.element(body, "e", "G[e]")
        self.c.call(glue, body, roles)


def updates_in_product(model) -> bool:
    """True when a step with batches can update each Dense kernel in its gradient's product: the step is linear in
    the gradient (SGD without momentum: ``rule(g) == g * rule(1)``, ``Optimizer.linear_in_gradient``) and nothing
    comes between the gradient and the rule (no clipping, weight decay or penalty)."""
    opt = model.optimizer
    return opt is not None and (opt.linear_in_gradient() and not (opt.clipnorm or opt.global_clipnorm or opt.clipvalue)
            and not opt.weight_decay and not any(layer.regularizers for layer in model.layers))


def bias_gradient(src, lo="0", hi="W.shape[1]"):
    """``Gb[lo:hi]`` = the sum of ``DZ[:B, lo:hi]``'s rows (``sum_of_rows``)."""
    src(f"gbv = Gb[{lo}:{hi}]")
    sum_of_rows(src, "gbv", f"DZ[{{s}}, {lo}:{hi}]")


#: Samples per loop of the row pass (``OptimizerCode.fused_rows``).
ROW_GROUP = 8
#: Kernel rows per loop of the row pass with more than ``ROW_GROUP`` samples (``OptimizerCode.fused_rows``).
ROW_BLOCK = 2


#: Groups of samples from which the row pass runs the groups between its first and its last in a loop
#: (``row_groups``), rather than each written out: the code no longer grows with the batch (first compile of
#: 784-2048-2048-10 at batch 128: 35 s against 107-133 s); speed level, alternated new / old 0.95-1.02 at width 2048
#: (batches 32 and 128), 0.92-0.99 at width 1024 (32 and 64).
ROW_LOOP_GROUPS = 4


def row_groups(size):
    """The row pass's groups of samples for a batch of ``size`` (``OptimizerCode.fused_rows``): ``(bounds,
    looped)``, group ``g`` taking samples ``bounds[g]:bounds[g + 1]``.  Below ``ROW_LOOP_GROUPS`` groups they share
    the samples evenly; from there on, the first takes what is left over and the others ``ROW_GROUP`` each, and
    ``looped``: the groups between the first and the last run in a loop."""
    groups = -(-size // ROW_GROUP)
    if groups < ROW_LOOP_GROUPS:
        return [size * g // groups for g in range(groups + 1)], False
    first = size - ROW_GROUP * (groups - 1)
    return [0] + [first + ROW_GROUP * g for g in range(groups)], True


def sum_of_rows(src, out, row, weight=None):
    """``out[:] = sum_s weight(s) * row(s)`` over the batch's rows ``s``, row by row in order (each entry's sum runs
    over the rows as a column loop would; the loops run over slices from 0, which LLVM vectorizes).  ``row`` and
    ``weight`` are expressions with ``{s}`` for the row; no ``weight``: a plain sum (a bias's gradient)."""
    scale = "" if weight is None else "h * "
    for first in (True, False):
        s = "0" if first else "s"
        if not first:
            src("for s in range(1, B):")
            src.depth += 1
        if weight is not None:
            src(f"h = {weight.format(s=s)}")
        src(f"dv = {row.format(s=s)}")
        src(f"for j in range({out}.size):")
        with src.block():
            src(f"{out}[j] {'=' if first else '+='} {scale}dv[j]")
    src.depth -= 1


def servable(model):
    """The reason the composer cannot serve ``model``, or None."""
    for layer in model.layers:
        if type(layer) not in BLOCKS:
            return f"layer {layer.name} ({type(layer).__name__}) has no compiled block"
        act = getattr(layer, "output_activation", None)
        if act is not None and act.rowwise and getattr(act, "axis", -1) != -1:
            return f"layer {layer.name}: softmax over an axis other than the last"
        for reg in layer.regularizers.values():
            if not hasattr(reg, "grad_args"):
                return f"layer {layer.name}: regularizer {reg!r} has no rules"
            if not layer.trainable:
                return f"layer {layer.name} is frozen (trainable=False) and has a weight regularizer"
    if len(model.input_shape) != 2 and type(model.layers[0]).__name__ != "Flatten":
        return "inputs with more than one axis need a leading Flatten layer"
    for layer in model.layers:
        if len(layer.output_shape) != 1:
            return f"layer {layer.name} outputs more than one axis per sample"
    return None
