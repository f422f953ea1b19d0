"""Seconds per MNIST epoch from the book's network to width 2048: tweaknet against PyTorch, JAX and the GEMM limit.

Issue 12.  Contenders, each trial (one contender, one cell) in its own process, all from the same initial
weights (``configs.initial_weights``) on the same standardized MNIST (``data.py``), float32:

- tweaknet  ``model.fit(x, y, batch_size, epochs=1, shuffle=True, verbose=0)`` after
            ``compile(..., metrics=['accuracy'])`` (``bench_speed.TweaknetTrainer``); the trial reports
            ``tweaknet.fast.explain(model)``;
- torch     PyTorch eager (``peers.TorchTrainer``: ``nn.Linear`` layers, one shuffled gather per epoch,
            ``torch.optim.Adam`` / ``SGD`` with Keras's hyperparameters), ``torch.set_flush_denormal(True)``
            as tweaknet and XLA flush subnormals;
- jax       ``jax.jit`` over ``jax.lax.scan`` of the training step, the data shuffled inside the jitted epoch,
            optax (``peers.JaxTrainer``; ``pip install 'tweaknet[bench]'``);
- gemm      the machine's limit: the cell's own matrix products for one epoch -- per layer the forward
            product and the two backward ones (weights' gradient, and the input's gradient except at the
            first layer, where no step needs it), at the cell's shapes, float32, through NumPy's BLAS with
            the same threads into preallocated outputs; nothing else (no bias, activation, loss or update);
            its warm-up runs one more epoch over the timed samples.

Cells: two hidden layers of width W (``--widths``: 25 128 256 512 1024 2048), ReLU (he_normal) and softmax
(glorot_uniform) with categorical cross-entropy and Adam (lr 1e-3); tanh and sigmoid (glorot_uniform, the
Keras default) with MSE and SGD (lr 0.01) at widths 25 and 1024; each at the batch sizes ``--batches``
(1 8 32 128 256 512).  Then the book's configurations 1, 4 and 5 (``--confs``; ``configs.py``: 784-25-10).

Protocol (``bench_speed.py``'s).  Every contender gets the same threads, ``--threads`` (default: every core
this process may use): OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS and NUMBA_NUM_THREADS,
``torch.set_num_threads``, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=... intra_op_parallelism_threads=N``; with
fewer threads than cores every trial is also pinned to that many cores (CPU affinity), so no runtime can take
more.  OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the trials' environment, so that OpenBLAS
picks its own kernels as on a user's machine.  A trial imports its framework, loads the data, reads its
resident memory (the baseline), builds the model and makes a warm-up call (tweaknet: a fit on
max(64, 2 x batch) samples with an empty NUMBA_CACHE_DIR, so it includes compiling; JAX: compiling and
running an epoch over as many samples; the compile time is reported separately).  A probe epoch over
max(256, 2 x batch) samples then estimates the full epoch; a contender whose epoch would take more than
``--budget`` (60) seconds is timed on a slice of about 10 seconds' worth of samples, at most ``--samples``
(10000), a multiple of the batch size, and extrapolated (``*`` in the tables; JAX compiles its epoch for
the slice's length ahead of time).  Then ``--repeats`` (5) timed epochs, each with a new shuffle, training
on from where the previous one stopped; seconds per epoch = median wall time x 60000 / samples.  The
contenders' timed epochs are interleaved: every trial of a cell is started and warmed up in turn, then each
times one epoch per round, one contender at a time, the order rotating from round to round, so that a machine
whose speed drifts slows every contender alike (``--sequential``: each trial from start to end before the next);
each epoch starts ``--pause`` seconds after the previous one, once that one's BLAS and OpenMP threads have stopped
spinning on the cores.
Per cell the output also gives tweaknet's ratio to the best peer round by round (median and range).  Memory:
the trial's peak resident set (VmHWM, reset through /proc/self/clear_refs after the warm-up) during the
timed epochs, minus the baseline; the peak during the warm-up is in the JSON (tweaknet compiles in a child
process, ``tweaknet.fast.compiler``, which the trial lets go after the warm-up: its memory is in neither).
``--busy N``: N processes spin, each pinned to one of the last N cores, during every cell's timed epochs: a
machine where other work takes cores (a browser, a build, another run), for every contender alike.

    python bench/bench_scale.py                                        # the whole grid (long: an hour or more)
    python bench/bench_scale.py --widths 1024,2048 --batches 256,512   # some cells
    python bench/bench_scale.py --quick --widths 25,256 --batches 1,64 --repeats 1   # a smoke run
    python bench/bench_scale.py --widths 512,1024 --batches 8,256 --busy 1           # one core taken by other work
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_EPOCH = 60000
WIDTHS = (25, 128, 256, 512, 1024, 2048)
TANH_WIDTHS = (25, 1024)
BATCHES = (1, 8, 32, 128, 256, 512)
CONTENDERS = ("gemm", "tweaknet", "torch", "jax")
PEERS = ("torch", "jax")
NAMES = {"gemm": "GEMM limit", "tweaknet": "tweaknet", "torch": "PyTorch eager", "jax": "JAX (jit + scan)"}
SHORT = {"gemm": "GEMM", "tweaknet": "tweaknet", "torch": "PyTorch", "jax": "JAX"}
SLICE_SECONDS = 10.0       # a sliced contender's timed epoch lasts about this long
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ----------------------------------------------------------------------------------- cells
class Cell:
    """One network and batch size: ``family`` 'relu' | 'tanh' (two hidden layers of ``width``, at ``batch``)
    or 'conf' (the book's configuration number ``conf``: 784-25-10 at its own batch size)."""

    def __init__(self, family, batch=None, width=None, conf=None):
        from configs import CONFIGS, N_HIDDEN, Config
        self.family, self.width = family, width
        if family == "conf":
            self.conf, self.hidden = CONFIGS[conf], (N_HIDDEN,)
        elif family == "relu":
            self.conf = Config(0, "relu", "softmax", "cce", "adam", 1e-3, batch, "he_normal", "glorot_uniform")
            self.hidden = (width, width)
        elif family == "tanh":
            self.conf = Config(0, "tanh", "sigmoid", "mse", "sgd", 0.01, batch, "glorot_uniform", "glorot_uniform")
            self.hidden = (width, width)
        else:
            raise ValueError(f"unknown family {family!r}")
        self.batch = self.conf.batch

    @property
    def key(self) -> str:
        return f"conf{self.conf.number}" if self.family == "conf" else f"{self.family}-{self.width}-{self.batch}"

    @staticmethod
    def parse(key) -> "Cell":
        if key.startswith("conf"):
            return Cell("conf", conf=int(key[4:]))
        family, width, batch = key.split("-")
        return Cell(family, batch=int(batch), width=int(width))

    @property
    def label(self) -> str:
        if self.family == "conf":
            c = self.conf
            return f"conf {c.number}: 784-25-10 {c.hidden}/{c.output}, {c.loss.upper()}, {c.optimizer.upper()} {c.lr:g}"
        if self.family == "relu":
            return f"784-{self.width}-{self.width}-10 relu/softmax, CCE, ADAM 0.001"
        return f"784-{self.width}-{self.width}-10 tanh/sigmoid, MSE, SGD 0.01"

    @property
    def sizes(self):
        from configs import N_IN, N_OUT
        return (N_IN, *self.hidden, N_OUT)

    def flops_per_sample(self) -> int:
        """Floating-point operations of one sample's matrix products in a training step: 2 x in x out per
        product; three products per layer, two at the first (no gradient for the input)."""
        s = self.sizes
        return sum(2 * a * b * (2 if i == 0 else 3) for i, (a, b) in enumerate(zip(s[:-1], s[1:])))


def grid(widths, batches, confs) -> list[Cell]:
    cells = [Cell("relu", batch=b, width=w) for w in widths for b in batches]
    cells += [Cell("tanh", batch=b, width=w) for w in widths if w in TANH_WIDTHS for b in batches]
    return cells + [Cell("conf", conf=c) for c in confs]


# ----------------------------------------------------------------------------------- the GEMM limit
class GemmLimit:
    """The matrix products of a training step of ``sizes`` at ``batch``, into preallocated float32 arrays;
    ``epoch(n)`` runs them for ``n`` samples (the first layer reads the real data, row blocks in order)."""

    def __init__(self, sizes, batch, x):
        import numpy as np
        rng = np.random.default_rng(0)
        self.x, self.B, self.np = x, batch, np
        pairs = list(zip(sizes[:-1], sizes[1:]))
        f32 = np.float32
        self.W = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(f32) for a, b in pairs]
        self.Z = [np.empty((batch, b), f32) for _, b in pairs]
        self.dZ = [rng.standard_normal((batch, b)).astype(f32) for _, b in pairs]
        self.dW = [np.empty((a, b), f32) for a, b in pairs]
        self.dX = [np.empty((batch, a), f32) for a, _ in pairs]

    def epoch(self, n):
        mm, x, B = self.np.matmul, self.x, self.B
        W, Z, dZ, dW, dX = self.W, self.Z, self.dZ, self.dW, self.dX
        layers = range(len(W))
        for start in range(0, n, B):
            b = min(B, n - start)
            inputs = [x[start:start + b]] + [z[:b] for z in Z[:-1]]
            for i in layers:
                mm(inputs[i], W[i], out=Z[i][:b])
            for i in reversed(layers):
                mm(inputs[i].T, dZ[i][:b], out=dW[i])
                if i:
                    mm(dZ[i][:b], W[i].T, out=dX[i][:b])
        return {}


# ----------------------------------------------------------------------------------- trial (child process)
def trial(args) -> int:
    """Child process: one contender on one cell; print one line of JSON."""
    import numpy as np

    from bench_speed import proc_status, reset_peak_rss, run_trials
    who, cell = args.trial, Cell.parse(args.cell)
    conf, B = cell.conf, cell.batch
    info = {}
    if who == "tweaknet":
        import scipy.linalg  # noqa: F401 - the compiled path's BLAS bindings, imported before the baseline

        import numba  # noqa: F401
        import tweaknet
        from tweaknet import fast
    elif who == "torch":
        import torch

        from threads import torch_threads
        info["threads"] = torch_threads(args.threads)
        torch.set_flush_denormal(True)
    elif who == "jax":
        import jax
        import optax  # noqa: F401
        info["jax"] = f"jax {jax.__version__}, {jax.devices()[0].platform}"
    else:
        from threads import blas_threads
        info["threads"] = blas_threads(None)   # what OPENBLAS_NUM_THREADS started it with

    import data
    from configs import initial_weights
    x_all, y_all, _, _ = data.load()
    cap = min(FULL_EPOCH, len(x_all))
    x, y = np.ascontiguousarray(x_all[:cap]), np.ascontiguousarray(y_all[:cap])
    del x_all, y_all
    lab = data.labels(y)
    rss_base = proc_status("VmRSS")
    reset_peak_rss()
    weights = initial_weights(conf, args.seed, cell.hidden)
    warm_n, probe_n = max(64, 2 * B), max(256, 2 * B)
    rng = np.random.default_rng(args.seed + 1)
    compile_s = None

    t0 = time.perf_counter()
    if who == "tweaknet":          # build the model or trainer
        from bench_speed import TweaknetTrainer
        from bench_techniques import describe_path
        tweaknet.utils.set_random_seed(args.seed)
        tr = TweaknetTrainer(conf, weights)
        info["compiled"], info["reason"] = describe_path(tr.model)
        if info["compiled"]:
            from tweaknet.fast import products
            info["products"] = products.describe()  # tweaknet's matrix product, or BLAS and why
        epoch = lambda n: tr.epoch(x[:n], y[:n])  # noqa: E731 - fit shuffles itself
    elif who == "torch":
        from peers import TorchTrainer
        tr = TorchTrainer(conf, weights, x, y, lab)
        epoch = lambda n: tr.epoch(rng.permutation(n))  # noqa: E731
    elif who == "jax":
        from peers import JaxTrainer
        tr = JaxTrainer(conf, weights, x, y, seed=args.seed)
        epoch = tr.epoch
    else:
        tr = GemmLimit(cell.sizes, B, x)
        epoch = tr.epoch
    rss_model = proc_status("VmRSS")
    if who == "tweaknet":          # the warm-up call; compiling is timed apart where it can be
        seconds = getattr(fast, "compile_seconds", None)
        c0 = seconds() if seconds else None
        epoch(warm_n)
        compile_s = seconds() - c0 if seconds else None
        close_child = getattr(sys.modules.get("tweaknet.fast.compiler"), "close_child", None)
        if close_child:            # the compiling child (its own process) leaves now: nothing of the compile is
            close_child()          # held anywhere while the epochs are timed
    else:
        if who == "jax":
            compile_s = tr.compile(warm_n)
        epoch(warm_n)
    warmup_s = time.perf_counter() - t0

    # the probe: would a full epoch take more than the budget?
    n = cap
    probe = None
    if args.budget > 0:
        if who == "jax":
            compile_s += tr.compile(probe_n)
        t0 = time.perf_counter()
        epoch(probe_n)
        probe = (time.perf_counter() - t0) * FULL_EPOCH / probe_n
        if probe > args.budget:
            n = int(SLICE_SECONDS / probe * FULL_EPOCH)
    if probe is None or probe > args.budget:
        n = min(n, args.samples, cap)
    n = max(B, n // B * B, min(64, cap))
    if who == "jax":
        compile_s += tr.compile(n)
    if who == "gemm":              # the products are cheap: warm them up over the timed samples themselves
        epoch(n)
    peak_warmup = proc_status("VmHWM")
    rss_warm = proc_status("VmRSS")
    reset = reset_peak_rss()
    losses = []

    def timed(_order):
        logs = epoch(n)
        losses.append(logs.get("loss"))
        return logs

    if args.sequential:
        walls, cpus, logs = run_trials(timed, range(args.repeats))
    else:                          # interleaved: each timed epoch when the parent says so (``Trial``)
        print("READY", flush=True)
        walls, cpus, logs = [], [], {}
        for _ in range(args.repeats):
            if not sys.stdin.readline():   # the parent went away
                break
            wall, cpu, logs = run_trials(timed, [None])
            walls += wall
            cpus += cpu
            print(f"EPOCH {wall[0]:.6f}", flush=True)
    peak = proc_status("VmHWM")
    print(json.dumps(dict(info, who=who, cell=cell.key, batch=B, samples=n, walls=walls, cpus=cpus,
                          interleaved=not args.sequential,
                          warmup_s=warmup_s, warm_samples=warm_n, compile_s=compile_s, probe_s=probe, logs=logs,
                          losses=losses, rss_base_kb=rss_base, rss_model_kb=rss_model, rss_after_warmup_kb=rss_warm,
                          peak_warmup_kb=peak_warmup, peak_timed_kb=peak if reset else None,
                          peak_reset=reset)))
    return 0


# ----------------------------------------------------------------------------------- parent
def child_env(threads: int, cold_cache: str) -> dict:
    env = dict(os.environ)
    for k in (*UNSET, "TWEAKNET_REFERENCE_ONLY", "TWEAKNET_THREADS", "JAX_ENABLE_X64"):
        env.pop(k, None)
    n = str(threads)
    env.update(OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n, NUMBA_NUM_THREADS=n,
               XLA_FLAGS=f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                         f"intra_op_parallelism_threads={n}",
               JAX_PLATFORMS="cpu", NUMBA_CACHE_DIR=cold_cache,
               # epochs may be timed on slices: compile them as a full epoch would be
               TWEAKNET_COMPILE_MIN_SAMPLES="0")
    return env


class Trial:
    """One contender's trial of one cell in a process of its own (``trial``), with an empty Numba cache.  Interleaved
    (the default), the child builds and warms up, says ``READY`` and then times one epoch each time the parent writes
    a line (``epoch``); ``result`` collects its JSON.  Sequential (``--sequential``), it runs every epoch at once."""

    def __init__(self, who, cell, args, cores):
        self.who, self.dead = who, False
        self.cache = tempfile.mkdtemp(prefix="bench-numba-cache-")
        self.err = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--trial", who, "--cell", cell.key,
               "--threads", str(args.threads), "--samples", str(args.samples), "--budget", str(args.budget),
               "--repeats", str(args.repeats), "--seed", str(args.seed)] + (["--sequential"] if args.sequential else [])
        pin = (lambda: os.sched_setaffinity(0, cores[:args.threads])) if args.threads < len(cores) else None
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     cwd=HERE, env=child_env(args.threads, self.cache), preexec_fn=pin)
        self.out = []

    def wait_for(self, word) -> bool:
        """Read the child's output up to a line starting with ``word``; False if it ended first."""
        for line in self.proc.stdout:
            self.out.append(line)
            if line.startswith(word):
                return True
        self.dead = True
        return False

    def epoch(self) -> bool:
        """Have the child time one epoch, and wait for it."""
        if self.dead:
            return False
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except OSError:
            self.dead = True
            return False
        return self.wait_for("EPOCH")

    def result(self) -> dict | None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.out.extend(self.proc.stdout)
        code = self.proc.wait()
        shutil.rmtree(self.cache, ignore_errors=True)
        lines = [ln for ln in "".join(self.out).strip().splitlines() if ln.startswith("{")]
        if code != 0 or not lines:
            self.err.seek(0)
            print(f"  {self.who:8s} FAILED (exit {code}):\n{self.err.read()[-3000:]}", flush=True)
            return None
        return json.loads(lines[-1])


def run_cell(cell, contenders, args, cores) -> dict:
    """Every contender's trial of ``cell``.  Interleaved, the trials are started and warmed up one after the other,
    then time their epochs in rounds, one contender at a time, in an order that rotates from round to round: each
    round's epochs run within seconds of each other, so that a machine whose speed drifts (a shared host: epochs of
    the same code 20% apart minutes apart) slows every contender alike.  Sequential, each trial runs to its end
    before the next starts."""
    if args.sequential:
        trials = {}
        for who in contenders:
            with busy(args.busy, cores):
                trials[who] = Trial(who, cell, args, cores).result()
        return {w: r for w, r in trials.items() if r is not None}
    trials = {}
    for who in contenders:
        t = Trial(who, cell, args, cores)
        if t.wait_for("READY"):
            trials[who] = t
        else:
            t.result()             # prints why
    order = list(trials)
    with busy(args.busy, cores):
        for k in range(args.repeats):
            for who in order[k % len(order):] + order[:k % len(order)] if order else []:
                time.sleep(args.pause)  # the last epoch's BLAS and OpenMP threads stop spinning on the cores first
                trials[who].epoch()
    results = {who: t.result() for who, t in trials.items()}
    return {w: r for w, r in results.items() if r is not None}


@contextlib.contextmanager
def busy(count, cores):
    """``count`` processes that each keep one core busy (the last ``count`` of ``cores``), while the block runs: a
    machine where other work takes cores from training (``--busy``)."""
    spinners = []
    try:
        for core in cores[::-1][:count]:
            p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            if hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(p.pid, {core})
            spinners.append(p)
        yield
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def per_epoch(r) -> float:
    return statistics.median(r["walls"]) * FULL_EPOCH / r["samples"]


def mib(kb) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def memory_kb(r):
    """Peak resident memory of the timed epochs above the baseline (after imports and data), in KiB."""
    return None if r.get("peak_timed_kb") is None else r["peak_timed_kb"] - r["rss_base_kb"]


def star(r) -> str:
    return "*" if r["samples"] < FULL_EPOCH else ""


def summary(rs: dict) -> dict:
    """Ratios of one cell: tweaknet against the best peer (>1: tweaknet faster) and against the GEMM limit."""
    out = {}
    tw = rs.get("tweaknet")
    peers = {w: per_epoch(rs[w]) for w in PEERS if w in rs}
    if tw is not None and peers:
        best = min(peers, key=peers.get)
        out["best_peer"], out["vs_best_peer"] = best, peers[best] / per_epoch(tw)
        peer = rs[best]
        if tw.get("interleaved") and peer.get("interleaved"):  # the best peer's epoch / tweaknet's, round by round
            out["rounds"] = [(p / peer["samples"]) / (t / tw["samples"]) for p, t in zip(peer["walls"], tw["walls"])]
    if tw is not None and "gemm" in rs:
        out["of_limit"] = per_epoch(rs["gemm"]) / per_epoch(tw)
    return out


def rounds(sm) -> str:
    """The per-round ratios of a cell (``summary``): their median and range."""
    r = sm.get("rounds") or []
    if len(r) < 2:
        return "one round" if r else "not interleaved"
    return f"median {statistics.median(r):.2f}x, {min(r):.2f}-{max(r):.2f}"


def describe(who, r, cell) -> str:
    s = per_epoch(r)
    gflops = cell.flops_per_sample() * FULL_EPOCH / s / 1e9
    losses = [v for v in r["losses"] if v is not None]
    loss = f"; loss {' -> '.join(f'{v:.4f}' for v in losses)}" if losses else ""
    comp = f" (compile {r['compile_s']:.2f} s)" if r.get("compile_s") is not None else ""
    path = ("" if "compiled" not in r else f"; compiled path, products: {r.get('products', 'BLAS')}" if r["compiled"]
            else f"; reference path ({r['reason']})")
    walls = ", ".join(f"{w:.3f}" for w in r["walls"])
    return (f"  {who:8s} {s:9.3f} s/epoch{star(r):1s} [{walls}] s on {r['samples']} samples, "
            f"{gflops:6.1f} GFLOP/s of products; warm-up {r['warmup_s']:.2f} s{comp}; "
            f"memory +{mib(memory_kb(r))} MiB (+{mib(r['rss_model_kb'] - r['rss_base_kb'])} built, "
            f"+{mib(r['rss_after_warmup_kb'] - r['rss_base_kb'])} warm){loss}{path}")


def markdown(cells, results, threads) -> str:
    from bench_speed import fmt_s
    contenders = [w for w in ("tweaknet", "torch", "jax", "gemm") if any(w in results.get(c.key, {}) for c in cells)]
    head = ("| network | batch | " + " | ".join(NAMES[w] for w in contenders) +
            " | tweaknet vs best peer | tweaknet / GEMM limit | " +
            " | ".join(f"MiB {SHORT[w]}" for w in contenders if w != "gemm") + " |")
    lines = [head, "|---|---:|" + "---:|" * (len(contenders) + 2 + len([w for w in contenders if w != "gemm"]))]
    for c in cells:
        rs = results.get(c.key, {})
        sm = summary(rs)
        cols = [f"{fmt_s(per_epoch(rs[w]))}{star(rs[w])}" if w in rs else "-" for w in contenders]
        ratio = f"{sm['vs_best_peer']:.2f}x ({sm['best_peer']}; rounds {rounds(sm)})" if "vs_best_peer" in sm else "-"
        frac = f"{sm['of_limit']:.2f}" if "of_limit" in sm else "-"
        mem = [mib(memory_kb(rs[w])) if w in rs else "-" for w in contenders if w != "gemm"]
        lines.append(f"| {c.label} | {c.batch} | " + " | ".join(cols) + f" | {ratio} | {frac} | " +
                     " | ".join(mem) + " |")
    lines += ["", f"Seconds per 60,000-sample epoch, median of the timed epochs, {threads} thread(s) for every "
              "contender; * = timed on a slice and extrapolated; tweaknet vs best peer = the faster peer's time / "
              "tweaknet's (>1: tweaknet is faster), and the same ratio round by round (interleaved epochs: its median and "
              "range); tweaknet / GEMM limit = the limit's time / tweaknet's; memory = "
              "peak resident set during the timed epochs minus the resident set after imports and data loading "
              "(MiB).",
              "", "| network | batch | tweaknet warm-up (compile) s | PyTorch warm-up s | JAX compile s | tweaknet path |",
              "|---|---:|---:|---:|---:|---|"]
    for c in cells:
        rs = results.get(c.key, {})

        def first(w):
            r = rs.get(w)
            if r is None:
                return "-"
            if w == "jax":
                return f"{r['compile_s']:.2f}"
            comp = f" ({r['compile_s']:.2f})" if r.get("compile_s") is not None else ""
            return f"{r['warmup_s']:.2f}{comp}"
        tw = rs.get("tweaknet", {})
        path = ("-" if "compiled" not in tw else f"compiled, products: {tw.get('products', 'BLAS')}" if tw["compiled"]
                else f"reference ({tw['reason']})")
        lines.append(f"| {c.label} | {c.batch} | {first('tweaknet')} | {first('torch')} | {first('jax')} | {path} |")
    return "\n".join(lines)


def int_list(text) -> list[int]:
    return [int(v) for v in text.replace(",", " ").split()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = list(range(os.cpu_count() or 1))
    ap.add_argument("--widths", type=int_list, default=list(WIDTHS), help="hidden widths (25,128,256,512,1024,2048)")
    ap.add_argument("--batches", type=int_list, default=list(BATCHES), help="batch sizes (1,8,32,128,256,512)")
    ap.add_argument("--confs", type=int_list, default=[1, 4, 5], help="the book's configurations (1,4,5; '' for none)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help=f"subset of {','.join(CONTENDERS)}")
    ap.add_argument("--threads", type=int, default=len(cores), help=f"threads for every contender ({len(cores)})")
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per trial (5); the median counts")
    ap.add_argument("--samples", type=int, default=10000, help="the largest slice a long epoch is timed on (10000)")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds per epoch above which an epoch is timed on a slice (60; 0: always a slice)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: every epoch on a slice of 2048 samples, "
                                                         "at most 2 repeats")
    ap.add_argument("--sequential", action="store_true", help="run each trial to its end before the next starts "
                    "(default: the contenders' timed epochs interleaved, round by round)")
    ap.add_argument("--pause", type=float, default=0.5,
                    help="seconds between interleaved epochs (0.5): after an epoch, OpenBLAS's and OpenMP's threads "
                         "spin on the cores for up to a few tenths of a second, which would slow the next contender's")
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="N processes keep N cores busy during every cell's timed epochs: a loaded machine (0)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write all measurements here")
    ap.add_argument("--markdown", help="write the Markdown tables here")
    ap.add_argument("--trial", choices=CONTENDERS, help=argparse.SUPPRESS)
    ap.add_argument("--cell", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.budget, args.repeats = min(args.samples, 2048), 0.0, min(args.repeats, 2)
    if args.trial is not None:
        return trial(args)
    from bench_speed import finish, loadavg, machine_info, pick
    contenders = pick(ap, args.contenders, CONTENDERS)
    if not 1 <= args.threads <= len(cores):
        ap.error(f"--threads must be between 1 and {len(cores)} (the cores this process may use)")
    if not 0 <= args.busy <= len(cores):
        ap.error(f"--busy must be between 0 and {len(cores)} (the cores this process may use)")
    bad = [c for c in args.confs if c not in (1, 2, 3, 4, 5)]
    if bad:
        ap.error(f"unknown configuration(s) {bad}; choose from 1-5")

    from threads import blas_info
    cells = grid(args.widths, args.batches, args.confs)
    command = " ".join(["python", os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
    info = machine_info()
    try:
        import jax
        info["jax"] = jax.__version__
    except ImportError:
        info["jax"] = None
    print(f"machine: {info['nproc']} cores, {info['cpu']}; python {info['python']}, numpy {info['numpy']}, "
          f"numba {info['numba']}, torch {info['torch']}, jax {info['jax']}, tweaknet {info['tweaknet']} "
          f"(commit {info['commit']})")
    print(f"BLAS: {blas_info()}")
    print(f"threads: {args.threads} for every contender (OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS, torch.set_num_threads, "
          f"XLA_FLAGS{'; pinned to cores ' + str(cores[:args.threads]) if args.threads < len(cores) else ''})")
    was = ", ".join(f"{k}={os.environ[k]}" for k in UNSET if os.environ.get(k))
    print(f"unset for every trial: {', '.join(UNSET)} (OpenBLAS picks its own kernels; "
          f"{'here they were ' + was if was else 'neither was set here'})")
    if args.busy:
        print(f"busy: {args.busy} process(es) spinning, each pinned to one of cores {cores[::-1][:args.busy]}, during "
              f"every cell's timed epochs (a loaded machine; warm-ups and compiles run before them, but with "
              f"--sequential during each whole trial)")
    if "jax" in contenders and info["jax"] is None:
        print("jax is not installed (pip install 'tweaknet[bench]'): no JAX column")
        contenders.remove("jax")
    sliced = (f"every epoch timed on a slice of {args.samples} samples" if args.budget <= 0 else
              f"epochs over {args.budget:g} s timed on a slice (at most {args.samples} samples)")
    how = ("one trial after the other" if args.sequential else
           "their timed epochs interleaved, one round of every contender's epoch after another")
    print(f"{len(cells)} cells x {len(contenders)} contenders, each trial in its own process, {how}; {args.repeats} "
          f"timed epoch(s); {sliced}", flush=True)
    t_start, load_start = time.perf_counter(), loadavg()
    results = {}
    for cell in cells:
        print(f"\n== {cell.label}, batch {cell.batch} ({cell.key}; load {loadavg()})", flush=True)
        rs = results.setdefault(cell.key, {})
        rs.update(run_cell(cell, contenders, args, cores))
        for who, r in rs.items():
            print(describe(who, r, cell), flush=True)
        sm = summary(rs)
        if sm:
            parts = []
            if "vs_best_peer" in sm:
                parts.append(f"tweaknet vs best peer ({sm['best_peer']}): {sm['vs_best_peer']:.2f}x "
                             f"(round by round: {rounds(sm)})")
            if "of_limit" in sm:
                parts.append(f"tweaknet / GEMM limit: {sm['of_limit']:.2f}")
            print("  -> " + "; ".join(parts), flush=True)
    finish(markdown(cells, results, args.threads), args, load_start, t_start, {
        "machine": info, "command": command, "threads": args.threads, "busy": args.busy,
        "cells": {c.key: {"label": c.label, "batch": c.batch, "flops_per_sample": c.flops_per_sample(),
                          "results": results.get(c.key, {}), **summary(results.get(c.key, {}))} for c in cells}})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
