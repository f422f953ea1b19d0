"""Seconds per MNIST epoch of the 784-25-10 network: tweaknet against PyTorch, Keras, a NumPy loop and the floor.

Contenders, all on the same standardized MNIST and from the same initial weights:

- tweaknet   ``model.fit(x, y, batch_size, epochs=1, shuffle=True, verbose=0)`` (public API only);
- tweaknet_ref  the same with TWEAKNET_REFERENCE_ONLY=1: tweaknet's readable NumPy reference path
             (the same as ``tweaknet`` where the library has no compiled path);
- fused      the hand-fused Numba loop (``fused_loop.py``): the floor;
- numpy      the plain hand-written NumPy loop (``numpy_loop.py``);
- torch      PyTorch eager (``peers.py``);
- keras      Keras 3 with the torch backend, when importable; batch-1 epochs are extrapolated
             from ``--keras-samples`` (3000) samples because it is very slow.

Configurations (``configs.py``): 1 = tanh/sigmoid, MSE, SGD lr 0.01, batch 1; 4 = relu/softmax,
categorical cross-entropy, Adam, batch 1; 5 = 4 with batch 64.  Every contender reports the
running loss and accuracy, as ``fit(metrics=['accuracy'])`` does (``--no-metrics`` turns that off).

Protocol.  Every trial (one contender, one configuration, one thread setting) runs in its own
process: load the data, build a fresh model from the shared initial weights, one warm-up call on
64 samples (640 for batch 64), reported separately -- with an empty NUMBA_CACHE_DIR (the default)
it includes Numba compilation, of the fused loop and of tweaknet's compiled path if it has one --
then ``--repeats`` timed epochs over ``--samples`` samples (batch 1) or ``--batched-samples``
(batch 64), each with a new shuffle, training on from where the previous one stopped.
Seconds per epoch = median wall time x 60000 / samples.  The NumPy-based contenders run with
OPENBLAS_NUM_THREADS=1 and with OpenBLAS's default, PyTorch and Keras with
``torch.set_num_threads(1)`` and with PyTorch's default; the faster counts (both are printed; a
default-thread trial more than 2x slower than the 1-thread one stops after one epoch).  The
Numba loop is single-threaded.  Each trial also reports its peak RSS from /proc/self/status
(VmHWM, reset after the warm-up so that the peak of the timed epochs is seen separately).

    python bench/bench_speed.py                               # full epochs, 3 repeats (slow: PyTorch)
    python bench/bench_speed.py --samples 10000 --repeats 3   # batch-1 configs on 10000 samples
    python bench/bench_speed.py --quick                       # a smoke run (about 2 minutes)

OpenBLAS environment variables such as OPENBLAS_CORETYPE slow a current NumPy on some machines;
run the benchmark with them unset (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_EPOCH = 60000

# Targets: (conf, versus) -> (kind, bound).  speedup: other / tweaknet >= bound; within: tweaknet / other <= bound.
TARGETS = {
    (1, "torch"): ("speedup", 20.0), (1, "fused"): ("within", 1.5),
    (4, "torch"): ("speedup", 12.0), (4, "fused"): ("within", 1.5),
    (5, "torch"): ("speedup", 1.5), (5, "numpy"): ("within", 1.2),
}
ALL = ("tweaknet", "tweaknet_ref", "fused", "numpy", "torch", "keras")
NAMES = {"tweaknet": "tweaknet", "tweaknet_ref": "tweaknet reference path", "fused": "fused floor (Numba)",
         "numpy": "NumPy loop", "torch": "PyTorch eager", "keras": "Keras 3 (torch)"}


# ----------------------------------------------------------------------------------- tweaknet
class TweaknetTrainer:
    """The configuration through tweaknet's public, Keras-compatible API; one Dense layer per kernel in
    ``weights`` (``configs.initial_weights``: 784-25-10, or other hidden widths)."""

    def __init__(self, conf, weights, metrics=True):
        import tweaknet
        from tweaknet import initializers, layers, optimizers
        self.conf = conf

        def init(kind):
            return initializers.RandomUniform(minval=-0.1, maxval=0.1) if kind == "uniform0.1" else kind

        kernels = weights[0::2]
        self.model = tweaknet.Sequential([layers.Input(shape=(kernels[0].shape[0],))] + [
            layers.Dense(k.shape[1], activation=conf.output if last else conf.hidden,
                         kernel_initializer=init(conf.output_init if last else conf.hidden_init),
                         bias_initializer="zeros")
            for k, last in zip(kernels, [False] * (len(kernels) - 1) + [True])])
        opt = (optimizers.SGD(learning_rate=conf.lr) if conf.optimizer == "sgd"
               else optimizers.Adam(learning_rate=conf.lr))
        loss = "mean_squared_error" if conf.loss == "mse" else "categorical_crossentropy"
        self.model.compile(loss=loss, optimizer=opt, metrics=["accuracy"] if metrics else None)
        self.model.build((None, 784))
        self.model.set_weights(weights)   # the same start as every other contender

    def epoch(self, x, y):
        h = self.model.fit(x, y, batch_size=self.conf.batch, epochs=1, shuffle=True, verbose=0)
        return {k: float(v[-1]) for k, v in h.history.items()}


# ----------------------------------------------------------------------------------- helpers
def machine_info() -> dict:
    import numba
    import numpy as np
    info = {"nproc": os.cpu_count(), "cpu": platform.processor() or "?", "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    try:
        import tweaknet
        info["tweaknet"] = tweaknet.__version__
    except ImportError:
        info["tweaknet"] = None
    try:
        rev = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        info["commit"] = rev + (" (src/ modified)" if dirty else "")
    except Exception:  # noqa: BLE001
        info["commit"] = None
    info["env"] = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                                  "OMP_NUM_THREADS", "NUMBA_CACHE_DIR", "KERAS_BACKEND")
                   if os.environ.get(k) is not None}
    return info


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def fmt_s(x) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


class Result:
    def __init__(self, who, conf, setting, samples, walls, cpus, first, logs, note=""):
        self.who, self.conf, self.setting, self.samples = who, conf, setting, samples
        self.walls, self.cpus, self.first, self.logs, self.note = walls, cpus, first, logs, note

    @property
    def per_epoch(self):
        return statistics.median(self.walls) * FULL_EPOCH / self.samples

    @property
    def cpu_per_epoch(self):
        return statistics.median(self.cpus) * FULL_EPOCH / self.samples

    @property
    def single_thread(self):
        return self.who == "fused" or self.setting.endswith(" 1")

    def describe(self):
        walls = ", ".join(f"{w:.3f}" for w in self.walls)
        cpus = ", ".join(f"{c:.3f}" for c in self.cpus)
        logs = ", ".join(f"{k} {v:.4f}" for k, v in self.logs.items())
        first = f"; warm-up call {self.first:.3f} s" if self.first is not None else ""
        return (f"  {self.who:8s} [{self.setting}] {self.per_epoch:8.3f} s/epoch (median of [{walls}] s wall, "
                f"cpu [{cpus}] s, on {self.samples} samples){first}; after: {logs} {self.note}")

    def as_dict(self):
        return {"who": self.who, "conf": self.conf, "setting": self.setting, "samples": self.samples,
                "walls": self.walls, "cpus": self.cpus, "per_epoch_s": self.per_epoch, "warmup_s": self.first,
                "logs": self.logs, "note": self.note}


def pick(ap, text, allowed, what="contender") -> list[str]:
    """The comma-separated names in ``text``, each one of ``allowed`` (an argparse error otherwise)."""
    names = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in names if w not in allowed]
    if bad:
        ap.error(f"unknown {what}(s) {bad}; choose from {','.join(allowed)}")
    return names


def finish(md, args, load_start, t_start, payload) -> None:
    """Print the Markdown tables with the run's load and time; write them (``--markdown``) and ``payload``
    (``--json``)."""
    print(f"\n== Markdown (load average at the start: {load_start}, at the end: {loadavg()}; "
          f"total {time.perf_counter() - t_start:.0f} s)\n")
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(md + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1))


def run_trials(epoch_fn, orders, early_stop_after=None):
    """Time ``epoch_fn(order)`` for each order; stop early when a run exceeds ``early_stop_after`` seconds."""
    walls, cpus, logs = [], [], {}
    for order in orders:
        t0, c0 = time.perf_counter(), time.process_time()
        logs = epoch_fn(order) or {}
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if early_stop_after is not None and walls[-1] > early_stop_after:
            break
    return walls, cpus, logs


# ----------------------------------------------------------------------------------- trials
def proc_status(key):
    try:
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def trial(args) -> int:
    """Child process: one contender, one configuration, one thread setting; print one line of JSON."""
    import numpy as np

    import data
    from configs import CONFIGS, initial_weights

    who, conf = args.trial, CONFIGS[args.conf]
    threads = None if args.threads == "default" else int(args.threads)
    if who in ("torch", "keras"):
        from threads import torch_threads
        threads_used = torch_threads(threads)
    else:
        from threads import blas_threads
        threads_used = blas_threads(None)   # the count OpenBLAS started with (OPENBLAS_NUM_THREADS)
    x_all, y_all, _, _ = data.load()
    n = args.samples if conf.batch == 1 else args.batched_samples
    if who == "keras" and conf.batch == 1:
        n = min(n, args.keras_samples)
    n = min(n, len(x_all))
    x, y = x_all[:n], y_all[:n]
    lab = data.labels(y)
    del x_all, y_all
    rss_data = proc_status("VmRSS")
    w0 = initial_weights(conf, args.seed)
    repeats = args.keras_repeats if who == "keras" else args.repeats
    orders = [np.random.default_rng(args.seed + 1 + r).permutation(n) for r in range(repeats)]
    warm_n = 64 if conf.batch == 1 else 640
    track = not args.no_metrics
    note = ""
    t0 = time.perf_counter()
    if who in ("tweaknet", "tweaknet_ref"):
        import tweaknet
        tweaknet.utils.set_random_seed(args.seed)
        tr = TweaknetTrainer(conf, w0, metrics=track)
        tr.epoch(x[:warm_n], y[:warm_n])
        fn = lambda o: tr.epoch(x, y)  # noqa: E731 - fit shuffles itself
    elif who == "fused":
        from fused_loop import FusedTrainer, epoch_batch1, epoch_batched
        tr = FusedTrainer(conf, w0)
        tr.epoch(x, y, lab, np.arange(warm_n))
        st = (epoch_batch1 if conf.batch == 1 else epoch_batched).stats
        note = "numba cache load" if sum(st.cache_hits.values()) else "compiled"
        fn = lambda o: tr.epoch(x, y, lab, o)  # noqa: E731
    elif who == "numpy":
        from numpy_loop import NumpyTrainer
        tr = NumpyTrainer(conf, w0)
        tr.epoch(x, y, lab, np.arange(warm_n), track=track)
        fn = lambda o: tr.epoch(x, y, lab, o, track=track)  # noqa: E731
    elif who == "torch":
        from peers import TorchTrainer
        tr = TorchTrainer(conf, w0, x, y, lab, optimizer_impl=args.torch_optimizer)
        tr.epoch(np.arange(warm_n), track=track)
        fn = lambda o: tr.epoch(o, track=track)  # noqa: E731
    else:
        from peers import KerasTrainer, keras_available
        ok, why = keras_available()
        if not ok:
            print(json.dumps({"skipped": why}))
            return 0
        tr = KerasTrainer(conf, w0)
        tr.epoch(x[:warm_n], y[:warm_n])
        fn = lambda o: tr.epoch(x, y)  # noqa: E731
    first = time.perf_counter() - t0
    rss_warm, peak_warm = proc_status("VmRSS"), proc_status("VmHWM")
    reset = reset_peak_rss()
    walls, cpus, logs = run_trials(fn, orders, args.cutoff)
    out = {"who": who, "conf": conf.number, "threads": threads_used, "samples": n, "walls": walls, "cpus": cpus,
           "first": first, "warm_samples": warm_n, "logs": logs, "note": note, "rss_data_kb": rss_data,
           "rss_after_warmup_kb": rss_warm, "peak_warmup_kb": peak_warm,
           "peak_timed_kb": proc_status("VmHWM") if reset else None,
           "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,   # = VmHWM, reset too
           "numba_loaded": "numba" in sys.modules, "stopped_early": len(walls) < len(orders)}
    print(json.dumps(out))
    return 0


def run_child(who, conf_number, threads, args, cutoff=None) -> dict | None:
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)
    if threads == "1":
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.setdefault("KERAS_BACKEND", "torch")
    env.pop("TWEAKNET_REFERENCE_ONLY", None)
    env["TWEAKNET_COMPILE_MIN_SAMPLES"] = "0"  # epochs are timed on slices: compile them as a full epoch would be
    if who == "tweaknet_ref":
        env["TWEAKNET_REFERENCE_ONLY"] = "1"
    cold = None
    if not args.warm_numba_cache:
        import tempfile
        cold = tempfile.TemporaryDirectory(prefix="bench-numba-cache-")
        env["NUMBA_CACHE_DIR"] = cold.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--trial", who, "--conf", str(conf_number),
           "--threads", threads, "--samples", str(args.samples), "--batched-samples", str(args.batched_samples),
           "--keras-samples", str(args.keras_samples), "--keras-repeats", str(args.keras_repeats),
           "--repeats", str(args.repeats), "--seed", str(args.seed), "--torch-optimizer", args.torch_optimizer]
    if cutoff is not None:
        cmd += ["--cutoff", f"{cutoff:.6f}"]
    if args.no_metrics:
        cmd.append("--no-metrics")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, env=env)
    if cold is not None:
        cold.cleanup()
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"  {who:8s} [threads {threads}] FAILED (exit {proc.returncode}):\n{proc.stderr[-3000:]}", flush=True)
        return None
    out = json.loads(lines[-1])
    if "skipped" in out:
        print(f"  {who:8s} skipped: {out['skipped']}", flush=True)
        return None
    return out


def bench_conf(conf, args, only, results):
    n = args.samples if conf.batch == 1 else args.batched_samples
    print(f"\n== {conf.label}: {min(n, FULL_EPOCH)} samples per timed epoch, {args.repeats} repeats "
          f"(load {loadavg()})", flush=True)
    for who in ("fused", "tweaknet", "tweaknet_ref", "numpy", "torch", "keras"):
        if who not in only:
            continue
        settings = ["default"] if who == "fused" else ["1", "default"]
        best = None
        for threads in settings:
            cutoff = None if best is None else 2.0 * statistics.median(best.walls)
            out = run_child(who, conf.number, threads, args, cutoff)
            if out is None:
                continue
            kind = "numba" if who == "fused" else ("torch threads" if who in ("torch", "keras") else "blas threads")
            setting = "numba, 1 thread" if who == "fused" else f"{kind} {out['threads']}"
            note = out["note"]
            if out["stopped_early"]:
                note += " stopped early: slower than 1 thread"
            if who == "keras" and out["samples"] < FULL_EPOCH:
                note += f" extrapolated from {out['samples']} samples"
            r = Result(who, conf.number, setting, out["samples"], out["walls"], out["cpus"], out["first"],
                       out["logs"], note.strip())
            r.raw = out
            print(r.describe(), flush=True)
            results.append(r)
            if best is None or r.per_epoch < best.per_epoch:
                best = r


# ----------------------------------------------------------------------------------- report
def single_thread_results(conf_number, rows):
    """{contender: its one-thread result} (the fused loop is single-threaded)."""
    return {r.who: r for r in rows if r.conf == conf_number and r.single_thread}


def ratio_lines(conf_number, rows):
    """({contender: fastest result}, [(text, ratio, target, met, other, cpu_ratio)]) for this configuration.

    ``ratio`` compares wall times at each contender's faster thread setting; ``cpu_ratio`` compares
    the CPU time of the one-thread trials, which a busy machine disturbs less.
    """
    by = {}
    for r in rows:
        if r.conf == conf_number and (r.who not in by or r.per_epoch < by[r.who].per_epoch):
            by[r.who] = r
    one = single_thread_results(conf_number, rows)
    out = []
    tw = by.get("tweaknet")
    if tw is None:
        return by, out
    for (c, other), (kind, bound) in TARGETS.items():
        if c != conf_number or other not in by:
            continue
        o = by[other]
        cpu = None
        if "tweaknet" in one and other in one:
            a, b = one["tweaknet"].cpu_per_epoch, one[other].cpu_per_epoch
            cpu = b / a if kind == "speedup" else a / b
        if kind == "speedup":
            ratio = o.per_epoch / tw.per_epoch
            out.append((f"tweaknet vs {other}: {ratio:.2f}x faster", ratio, f">= {bound:g}x", ratio >= bound, other,
                        cpu))
        else:
            ratio = tw.per_epoch / o.per_epoch
            out.append((f"tweaknet / {other}: {ratio:.2f}x the time", ratio, f"<= {bound:g}x", ratio <= bound, other,
                        cpu))
    return by, out


def markdown(rows, confs) -> str:
    from configs import CONFIGS
    lines = ["| configuration | tweaknet | tweaknet reference path | fused floor (Numba) | NumPy loop | "
             "PyTorch eager | Keras 3 (torch) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c in confs:
        by, _ = ratio_lines(c, rows)

        def cell(who):
            r = by.get(who)
            if r is None:
                return "-"
            thr = "" if who == "fused" else f" ({r.setting.split(' ')[-1]} thr)"  # threads of the faster setting
            star = "*" if r.samples < FULL_EPOCH else ""
            return f"{fmt_s(r.per_epoch)}{star}{thr}"
        lines.append(f"| {CONFIGS[c].short} | {cell('tweaknet')} | {cell('tweaknet_ref')} | {cell('fused')} | "
                     f"{cell('numpy')} | "
                     f"{cell('torch')} | {cell('keras')} |")
    lines += ["", "Seconds per 60,000-sample epoch (median of the timed epochs); * = extrapolated from a subset "
              "(see the command); (n thr) = BLAS threads (tweaknet, NumPy loop) or PyTorch threads of the "
              "faster setting.", "",
              "| configuration | ratio | measured (wall, faster setting) | target | met | "
              "the same from CPU time, 1 thread each |", "|---|---|---:|---:|:---:|---:|"]
    for c in confs:
        _, rl = ratio_lines(c, rows)
        for text, ratio, target, met, other, cpu in rl:
            name = {"torch": "PyTorch", "fused": "fused floor", "numpy": "NumPy loop"}[other]
            what = "speed-up over " + name if target.startswith(">=") else "time / " + name
            cpu_s = "-" if cpu is None else f"{cpu:.2f}x"
            lines.append(f"| conf {c} | tweaknet {what} | {ratio:.2f}x | {target} | {'yes' if met else 'no'} | "
                         f"{cpu_s} |")
    lines += ["", "CPU seconds per epoch of the one-thread trials (OPENBLAS_NUM_THREADS=1 or "
              "torch.set_num_threads(1)); on a busy machine these move less than wall times:", "",
              "| configuration | " + " | ".join(NAMES[w] for w in ALL) + " |",
              "|---|" + "---:|" * len(ALL)]
    for c in confs:
        one = single_thread_results(c, rows)
        lines.append(f"| {CONFIGS[c].short} | " + " | ".join(
            fmt_s(one[w].cpu_per_epoch) + ("*" if one[w].samples < FULL_EPOCH else "") if w in one else "-"
            for w in ALL) + " |")
    firsts = []
    for c in confs:
        by, _ = ratio_lines(c, rows)
        firsts += [by[w] for w in ("tweaknet", "tweaknet_ref", "fused") if w in by]
    if firsts:
        lines += ["", "| first call in a fresh process (warm-up, faster setting) | configuration | warm-up samples | seconds | "
                  "steady-state seconds for as many samples |", "|---|---|---:|---:|---:|"]
        for r in firsts:
            k = r.raw["warm_samples"]
            steady = statistics.median(r.walls) * k / r.samples
            lines.append(f"| {r.who} [{r.setting}]{' (' + r.note + ')' if r.note else ''} | conf {r.conf} | {k} | "
                         f"{r.first:.3f} | {steady:.4f} |")
    mem = []
    for c in confs:
        by, _ = ratio_lines(c, rows)
        mem += [by[w] for w in ALL if w in by and by[w].raw.get("peak_timed_kb")]
    if mem:
        lines += ["", "| peak RSS (own process per trial, faster setting) | configuration | data loaded | "
                  "after warm-up | peak during the timed epochs | peak while loading the data and warming up |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in mem:
            m = r.raw
            mib = lambda kb: "-" if kb is None else f"{kb / 1024:.0f} MiB"  # noqa: E731
            lines.append(f"| {r.who} | conf {r.conf} ({r.samples} samples) | {mib(m['rss_data_kb'])} | "
                         f"{mib(m['rss_after_warmup_kb'])} | {mib(m['peak_timed_kb'])} | {mib(m['peak_warmup_kb'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--confs", type=int, nargs="+", default=[1, 4, 5], help="configurations (1 4 5)")
    ap.add_argument("--samples", type=int, default=FULL_EPOCH, help="samples per timed epoch, batch-1 confs")
    ap.add_argument("--batched-samples", type=int, default=FULL_EPOCH, help="samples per timed epoch, conf 5")
    ap.add_argument("--keras-samples", type=int, default=3000, help="samples per Keras batch-1 epoch (3000)")
    ap.add_argument("--keras-repeats", type=int, default=1, help="timed Keras epochs (1)")
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per contender (3); the median is used")
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--quick", action="store_true", help="2000 / 12800 samples, 2 repeats, 500 Keras samples")
    ap.add_argument("--no-metrics", action="store_true", help="no accuracy tracking (loss only) for all")
    ap.add_argument("--torch-optimizer", default="default", choices=["default", "foreach", "fused"],
                    help="PyTorch optimizer implementation (default: its own choice)")
    ap.add_argument("--warm-numba-cache", action="store_true",
                    help="use Numba's usual cache (default: an empty NUMBA_CACHE_DIR for every trial, so the "
                         "warm-up call includes compilation)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write all measurements here")
    ap.add_argument("--markdown", help="write the Markdown tables here")
    # one trial in a child process (internal)
    ap.add_argument("--trial", choices=ALL, help=argparse.SUPPRESS)
    ap.add_argument("--conf", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--threads", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--cutoff", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.batched_samples = min(args.samples, 2000), min(args.batched_samples, 12800)
        args.repeats, args.keras_samples = min(args.repeats, 2), min(args.keras_samples, 500)
    if args.trial is not None:
        return trial(args)
    only = pick(ap, args.only, ALL)

    from configs import CONFIGS
    from threads import blas_info

    command = " ".join(["python", os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
    info = machine_info()
    print(f"machine: {info['nproc']} cores, {info['cpu']}; python {info['python']}, numpy {info['numpy']}, "
          f"numba {info['numba']}, torch {info['torch']}, tweaknet {info['tweaknet']} (commit {info['commit']})")
    print(f"BLAS: {blas_info()}; environment: {info['env'] or 'no OPENBLAS_*/OMP_* variables set'}")
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(k):
            print(f"warning: {k}={os.environ[k]} is set; it slows a current NumPy. Run with `env -u {k} ...`.")
    print("each trial runs in its own process; every contender starts from the same initial weights")
    t_start = time.perf_counter()
    load_start = loadavg()
    rows = []
    for c in args.confs:
        bench_conf(CONFIGS[c], args, only, rows)
    print("\n== ratios (each contender at its faster thread setting)")
    for c in args.confs:
        _, rl = ratio_lines(c, rows)
        for text, ratio, target, met, _, cpu in rl:
            cpu_s = "" if cpu is None else f"   (1-thread CPU time: {cpu:.2f}x)"
            print(f"  conf {c}: {text:44s} target {target:8s} {'MET' if met else 'NOT MET':8s}{cpu_s}")
    finish(markdown(rows, args.confs), args, load_start, t_start,
           {"machine": info, "command": command, "results": [dict(r.as_dict(), raw=r.raw) for r in rows]})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
