"""Seconds per MNIST epoch of the 784-25-10 network with each of the chapter's techniques, against the plain network.

Issue 11's numbers: every technique within 1.5x of its plain counterpart at the same batch size, measured side
by side in one run, and the book's configurations 1, 4 (batch 1) and 5 (batch 64) no slower than before.

Rows (all through tweaknet's public API: ``model.fit(x, y, batch_size, epochs=1, shuffle=True, verbose=0)``
after ``compile(optimizer=Adam(), loss='categorical_crossentropy', metrics=['accuracy'])``; standardized
MNIST from ``tweaknet.datasets.mnist.load_data()`` through ``bench/data.py``):

- plain        ``Dense(25, relu, he_normal) -> Dense(10, softmax)``, at batch 1, 8 and 64;
- dropout      plain with ``Dropout(0.2)`` after the hidden layer (batch 1);
- noise        plain with ``GaussianNoise(0.1)`` after the hidden layer (batch 1);
- l2           plain with ``kernel_regularizer=L2(1e-4)`` on both layers (batch 1);
- l1_elu       ``Dense(25, elu)`` with ``kernel_regularizer=L1(1e-5)`` on both layers (batch 1), against the
               same ELU network without the penalty (``elu_plain``): the row measures the penalty;
- leaky        ``Dense(25) -> LeakyReLU() -> Dense(10, softmax)`` (batch 1);
- bn_before    ``Dense(25) -> BatchNormalization() -> Activation(relu) -> Dense(10, softmax)`` (batch 8 and 64);
- bn_after     ``Dense(25, relu) -> BatchNormalization() -> Dense(10, softmax)`` (batch 8 and 64);
- maxout       ``Dense(50) -> Maxout(25) -> Dense(10, softmax)`` against
  ``Dense(50, relu) -> Dense(25, relu) -> Dense(10, softmax)`` (batch 1);
- conf 1, 4, 5 the book's configurations (``configs.py``, the shared initial weights), as ``bench_speed.py``
  measures tweaknet.

Protocol (``bench_speed.py``'s): every trial runs in its own process with ``OPENBLAS_NUM_THREADS=1``: load
the data, seed, build the model, one warm-up ``fit`` on 64 samples (10 batches when batched), reported
separately (with an empty ``NUMBA_CACHE_DIR``, the default, it includes compilation), then ``--repeats``
(5) timed epochs over ``--samples`` samples (``--batched-samples`` at batch 64), each with a new shuffle,
training on from where the previous one stopped.  Seconds per epoch = median wall time x 60000 / samples.
The path column is ``fast.explain(model)`` in the trial.

``--baseline REV`` runs every trial a second time with the ``src/`` of commit REV (``git archive``, on
``PYTHONPATH``; nothing in the checkout changes) and adds its seconds and the ratio: the "within 3% of the
commit before this change" check of the book's configurations.

    python bench/bench_techniques.py                         # 10000 samples (batch 1, 8), 5 repeats
    python bench/bench_techniques.py --quick                 # a smoke run (2000 samples, 3 repeats)
    python bench/bench_techniques.py --only dropout,maxout   # some rows (plus their plain counterparts)
    python bench/bench_techniques.py --baseline HEAD~3 --only conf1,conf4,conf5

OpenBLAS environment variables such as OPENBLAS_CORETYPE slow a current NumPy on some machines;
run the benchmark with them unset (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_EPOCH = 60000
TARGET_TECHNIQUE = 1.5      # technique / plain at the same batch size
TARGET_BOOK = 1.03          # this tree / baseline commit

# trial key -> (batch size, description)
TRIALS = {
    "plain_b1": (1, "Dense(25, relu) - Dense(10, softmax)"),
    "dropout": (1, "+ Dropout(0.2)"),
    "noise": (1, "+ GaussianNoise(0.1)"),
    "l2": (1, "+ L2(1e-4) on the kernels"),
    "l1_elu": (1, "ELU hidden, L1(1e-5) on the kernels"),
    "elu_plain": (1, "Dense(25, elu) - Dense(10, softmax)"),
    "leaky": (1, "Dense(25) - LeakyReLU() - Dense(10)"),
    "plain_b8": (8, "Dense(25, relu) - Dense(10, softmax)"),
    "bn_before_b8": (8, "Dense(25) - BatchNormalization - relu - Dense(10)"),
    "bn_after_b8": (8, "Dense(25, relu) - BatchNormalization - Dense(10)"),
    "plain_b64": (64, "Dense(25, relu) - Dense(10, softmax)"),
    "bn_before_b64": (64, "Dense(25) - BatchNormalization - relu - Dense(10)"),
    "bn_after_b64": (64, "Dense(25, relu) - BatchNormalization - Dense(10)"),
    "maxout": (1, "Dense(50) - Maxout(25) - Dense(10)"),
    "maxout_plain": (1, "Dense(50, relu) - Dense(25, relu) - Dense(10)"),
    "conf1": (1, "book conf 1"),
    "conf4": (1, "book conf 4"),
    "conf5": (64, "book conf 5"),
}
# row name -> (label, technique trial, plain trial)
ROWS = {
    "dropout": ("dropout 0.2", "dropout", "plain_b1"),
    "noise": ("Gaussian noise 0.1", "noise", "plain_b1"),
    "l2": ("L2 penalty", "l2", "plain_b1"),
    "l1_elu": ("L1 penalty (on the ELU network)", "l1_elu", "elu_plain"),
    "leaky": ("LeakyReLU layer", "leaky", "plain_b1"),
    "bn_before_b8": ("batch norm before the activation", "bn_before_b8", "plain_b8"),
    "bn_after_b8": ("batch norm after the activation", "bn_after_b8", "plain_b8"),
    "bn_before_b64": ("batch norm before the activation", "bn_before_b64", "plain_b64"),
    "bn_after_b64": ("batch norm after the activation", "bn_after_b64", "plain_b64"),
    "maxout": ("Maxout: Dense(50) + Maxout(25) vs Dense(50, relu) + Dense(25, relu)", "maxout", "maxout_plain"),
}
BOOK = {"conf1": 1, "conf4": 4, "conf5": 5}


# ----------------------------------------------------------------------------------- models (child process)
def build_model(key):
    """The compiled (``model.compile``) tweaknet model of trial ``key``, built for 784 inputs."""
    import tweaknet
    from tweaknet import layers as L
    from tweaknet import optimizers, regularizers

    def dense(units, activation=None, he=False, **kw):
        init = "he_normal" if he or activation in ("relu", "elu") else "glorot_uniform"
        return L.Dense(units, activation=activation, kernel_initializer=init, **kw)

    def out(**kw):
        return L.Dense(10, activation="softmax", **kw)

    name = key.rsplit("_b", 1)[0] if key.startswith(("plain_b", "bn_")) else key
    stacks = {
        "plain": lambda: [dense(25, "relu"), out()],
        "dropout": lambda: [dense(25, "relu"), L.Dropout(0.2), out()],
        "noise": lambda: [dense(25, "relu"), L.GaussianNoise(0.1), out()],
        "l2": lambda: [dense(25, "relu", kernel_regularizer=regularizers.L2(1e-4)),
                       out(kernel_regularizer=regularizers.L2(1e-4))],
        "l1_elu": lambda: [dense(25, "elu", kernel_regularizer=regularizers.L1(1e-5)),
                           out(kernel_regularizer=regularizers.L1(1e-5))],
        "elu_plain": lambda: [dense(25, "elu"), out()],
        "leaky": lambda: [dense(25, he=True), L.LeakyReLU(), out()],
        "bn_before": lambda: [dense(25, he=True), L.BatchNormalization(), L.Activation("relu"), out()],
        "bn_after": lambda: [dense(25, "relu"), L.BatchNormalization(), out()],
        "maxout": lambda: [dense(50, he=True), L.Maxout(25), out()],
        "maxout_plain": lambda: [dense(50, "relu"), dense(25, "relu"), out()],
    }
    model = tweaknet.Sequential([L.Input(shape=(784,)), *stacks[name]()])
    model.compile(optimizer=optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def describe_path(model) -> tuple[bool, str]:
    """``(compiled, reason)`` from ``fast.explain``: an object (issue 11), or None / a reason string before it."""
    from tweaknet import fast
    info = fast.explain(model)
    if hasattr(info, "compiled"):
        return bool(info.compiled), str(info.reason or "")
    return info is None, "" if info is None else str(info)


def trial(args) -> int:
    """Child process: one trial; print one line of JSON."""
    import numpy as np

    import data
    batch, _ = TRIALS[args.trial]
    x_all, y_all, _, _ = data.load()
    n = min(args.batched_samples if batch >= 64 else args.samples, len(x_all))
    x, y = x_all[:n], y_all[:n]
    del x_all, y_all
    import tweaknet
    tweaknet.utils.set_random_seed(args.seed)
    if args.trial in BOOK:
        from bench_speed import TweaknetTrainer
        from configs import CONFIGS, initial_weights
        conf = CONFIGS[BOOK[args.trial]]
        model = TweaknetTrainer(conf, initial_weights(conf, args.seed)).model
    else:
        model = build_model(args.trial)
    compiled, reason = describe_path(model)
    warm_n = 64 if batch == 1 else 10 * batch
    t0 = time.perf_counter()
    model.fit(x[:warm_n], y[:warm_n], batch_size=batch, epochs=1, shuffle=True, verbose=0)
    first = time.perf_counter() - t0
    walls, cpus, logs = [], [], {}
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        h = model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        logs = {k: float(v[-1]) for k, v in h.history.items() if k != "learning_rate"}
    ok = all(np.isfinite(v) for v in logs.values())
    print(json.dumps({"trial": args.trial, "batch": batch, "samples": n, "walls": walls, "cpus": cpus,
                      "first": first, "warm_samples": warm_n, "compiled": compiled, "reason": reason,
                      "logs": logs, "finite": bool(ok), "tweaknet": str(Path(tweaknet.__file__).parent)}))
    return 0


# ----------------------------------------------------------------------------------- parent
class Result:
    def __init__(self, raw, tree):
        self.raw, self.tree = raw, tree
        self.key, self.batch, self.samples = raw["trial"], raw["batch"], raw["samples"]

    @property
    def per_epoch(self):
        return statistics.median(self.raw["walls"]) * FULL_EPOCH / self.samples

    @property
    def cpu_per_epoch(self):
        return statistics.median(self.raw["cpus"]) * FULL_EPOCH / self.samples

    @property
    def path(self):
        return "compiled" if self.raw["compiled"] else f"reference ({self.raw['reason']})"

    @property
    def short_path(self):
        return "compiled" if self.raw["compiled"] else "reference"

    @property
    def star(self):
        return "*" if self.samples < FULL_EPOCH else ""


def fmt_s(x) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def run_child(key, args, pythonpath=None) -> Result | None:
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TWEAKNET_REFERENCE_ONLY"):
        env.pop(k, None)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # epochs are timed on slices: compile them whatever their size, as a full epoch would be
    env["TWEAKNET_COMPILE_MIN_SAMPLES"] = "0"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cold = None
    if not args.warm_numba_cache:
        cold = tempfile.TemporaryDirectory(prefix="bench-numba-cache-")
        env["NUMBA_CACHE_DIR"] = cold.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--trial", key, "--samples", str(args.samples),
           "--batched-samples", str(args.batched_samples), "--repeats", str(args.repeats), "--seed", str(args.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, env=env)
    if cold is not None:
        cold.cleanup()
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    tree = "baseline" if pythonpath else "this tree"
    if proc.returncode != 0 or not lines:
        print(f"  {key:14s} [{tree}] FAILED (exit {proc.returncode}):\n{proc.stderr[-3000:]}", flush=True)
        return None
    r = Result(json.loads(lines[-1]), tree)
    walls = ", ".join(f"{w:.3f}" for w in r.raw["walls"])
    logs = ", ".join(f"{k} {v:.4f}" for k, v in r.raw["logs"].items())
    print(f"  {key:14s} [{tree}] {r.per_epoch:8.3f} s/epoch{r.star} (median of [{walls}] s on {r.samples} samples, "
          f"batch {r.batch}); warm-up {r.raw['first']:.2f} s; {r.path}; after: {logs}", flush=True)
    return r


def baseline_tree(rev) -> tuple[str, tempfile.TemporaryDirectory]:
    """``src/`` of commit ``rev`` in a temporary folder (``git archive``; the checkout is not touched)."""
    tmp = tempfile.TemporaryDirectory(prefix="bench-baseline-")
    repo = HERE.parent
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", rev], capture_output=True, text=True,
                         check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(repo), "archive", sha, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tmp.name], input=archive, check=True)
    return sha, tmp


def markdown(results, base, rows, books, baseline_sha) -> str:
    lines = ["| technique | batch | technique (s/epoch) | plain (s/epoch) | ratio | target | met | ratio of CPU times | "
             "path (technique) | path (plain) |", "|---|---:|---:|---:|---:|---:|:---:|---:|---|---|"]
    for row in rows:
        label, tk, pk = ROWS[row]
        t, p = results.get(tk), results.get(pk)
        if t is None or p is None:
            lines.append(f"| {label} | {TRIALS[tk][0]} | - | - | - | <= {TARGET_TECHNIQUE}x | - | - | - | - |")
            continue
        ratio = t.per_epoch / p.per_epoch
        lines.append(f"| {label} | {t.batch} | {fmt_s(t.per_epoch)}{t.star} | {fmt_s(p.per_epoch)}{p.star} | "
                     f"{ratio:.2f}x | <= {TARGET_TECHNIQUE}x | {'yes' if ratio <= TARGET_TECHNIQUE else 'no'} | "
                     f"{t.cpu_per_epoch / p.cpu_per_epoch:.2f}x | {t.path} | {p.path} |")
    lines += ["", "Seconds per 60,000-sample epoch (median of the timed epochs); * = extrapolated from a subset "
              "(see the command); ratio = technique / plain at the same batch size (wall times); the ratio of CPU "
              "times moves less on a busy machine."]
    if books:
        head = "| configuration | batch | s/epoch | path |"
        sep = "|---|---:|---:|---|"
        if baseline_sha:
            head += f" baseline {baseline_sha} (s/epoch) | ratio | target | met |"
            sep += "---:|---:|---:|:---:|"
        lines += ["", head, sep]
        for key in books:
            r = results.get(key)
            if r is None:
                continue
            line = f"| conf {BOOK[key]} | {r.batch} | {fmt_s(r.per_epoch)}{r.star} | {r.path} |"
            if baseline_sha:
                b = base.get(key)
                if b is None:
                    line += " - | - | - | - |"
                else:
                    ratio = r.per_epoch / b.per_epoch
                    line += (f" {fmt_s(b.per_epoch)}{b.star} | {ratio:.3f}x | <= {TARGET_BOOK}x | "
                             f"{'yes' if ratio <= TARGET_BOOK else 'no'} |")
            lines.append(line)
    if base and rows:
        lines += ["", f"| trial | this tree (s/epoch) | baseline {baseline_sha} (s/epoch) | speed-up |",
                  "|---|---:|---:|---:|"]
        for key, r in results.items():
            b = base.get(key)
            if b is not None and key not in BOOK:
                lines.append(f"| {key} (batch {r.batch}) | {fmt_s(r.per_epoch)} ({r.short_path}) | "
                             f"{fmt_s(b.per_epoch)} ({b.short_path}) | {b.per_epoch / r.per_epoch:.2f}x |")
    lines += ["", "| first call in a fresh process (warm-up) | batch | warm-up samples | seconds |",
              "|---|---:|---:|---:|"]
    for tree in (results, base):
        for key, r in tree.items():
            lines.append(f"| {key} [{r.tree}] ({r.short_path}) | {r.batch} | {r.raw['warm_samples']} | "
                         f"{r.raw['first']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=10000, help="samples per timed epoch at batch 1 and 8 (10000)")
    ap.add_argument("--batched-samples", type=int, default=FULL_EPOCH,
                    help="samples per timed epoch at batch 64 (60000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per trial (5); the median is used")
    ap.add_argument("--only", default=",".join([*ROWS, *BOOK]),
                    help=f"comma-separated rows: {', '.join([*ROWS, *BOOK])}")
    ap.add_argument("--quick", action="store_true", help="2000 / 12800 samples, 3 repeats")
    ap.add_argument("--baseline", metavar="REV", help="also run every trial with src/ of this commit")
    ap.add_argument("--warm-numba-cache", action="store_true",
                    help="use Numba's usual cache (default: an empty NUMBA_CACHE_DIR per trial)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write all measurements here")
    ap.add_argument("--markdown", help="write the Markdown tables here")
    ap.add_argument("--trial", choices=list(TRIALS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.batched_samples = min(args.samples, 2000), min(args.batched_samples, 12800)
        args.repeats = min(args.repeats, 3)
    if args.trial is not None:
        return trial(args)
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    bad = [w for w in only if w not in ROWS and w not in BOOK]
    if bad:
        ap.error(f"unknown row(s) {bad}; choose from {', '.join([*ROWS, *BOOK])}")
    rows = [r for r in ROWS if r in only]
    books = [b for b in BOOK if b in only]
    keys = list(dict.fromkeys([k for r in rows for k in ROWS[r][1:]] + books))

    from bench_speed import loadavg, machine_info
    from threads import blas_info
    command = " ".join(["python", os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:]))
    info = machine_info()
    print(f"machine: {info['nproc']} cores, {info['cpu']}; python {info['python']}, numpy {info['numpy']}, "
          f"numba {info['numba']}, tweaknet {info['tweaknet']} (commit {info['commit']})")
    print(f"BLAS: {blas_info()}; environment: {info['env'] or 'no OPENBLAS_*/OMP_* variables set'}")
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(k):
            print(f"warning: {k}={os.environ[k]} is set; it slows a current NumPy. Run with `env -u {k} ...`.")
    print(f"each trial in its own process, OPENBLAS_NUM_THREADS=1; {args.samples} samples per timed epoch at "
          f"batch 1 and 8, {args.batched_samples} at batch 64; {args.repeats} repeats; "
          f"{'warm' if args.warm_numba_cache else 'empty'} Numba cache", flush=True)
    t_start, load_start = time.perf_counter(), loadavg()
    results, base, baseline_sha, tmp = {}, {}, None, None
    if args.baseline:
        baseline_sha, tmp = baseline_tree(args.baseline)
        print(f"baseline: src/ of {baseline_sha} in {tmp.name}")
    try:
        for key in keys:
            r = run_child(key, args)
            if r is not None:
                results[key] = r
            if tmp is not None:
                b = run_child(key, args, pythonpath=str(Path(tmp.name) / "src"))
                if b is not None:
                    base[key] = b
    finally:
        if tmp is not None:
            tmp.cleanup()
    md = markdown(results, base, rows, books, baseline_sha)
    print(f"\n== Markdown (load average at the start: {load_start}, at the end: {loadavg()}; "
          f"total {time.perf_counter() - t_start:.0f} s)\n")
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(md + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": info, "command": command, "baseline": baseline_sha,
            "results": {k: dict(r.raw, per_epoch_s=r.per_epoch) for k, r in results.items()},
            "baseline_results": {k: dict(r.raw, per_epoch_s=r.per_epoch) for k, r in base.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
