"""Two builds of the same compiled step, alternated epoch by epoch in one process: the only before/after comparison
a machine whose speed drifts between minutes allows (docs/benchmarks.md, seventh run on).

    python bench/ab_flags.py --width 1024 --batch 32 --set ROW_PASS_SPLIT_BATCH=16
    python bench/ab_flags.py --width 512 --batch 32 --act tanh --opt sgd --set-a compose.ROW_BLOCK=1

Build A takes the code as it is (with ``--set-a`` settings), build B with ``--set`` settings: module attributes of
``tweaknet.fast`` (``NAME=VALUE``) or of one of its modules (``compose.NAME=VALUE``), set while the step is composed
and compiled and restored after.  Both models are 784-W-W-10 (ReLU, softmax, cross-entropy or tanh, sigmoid, MSE),
built from the same seed; each round times one epoch of each, in alternating order, each with its own thread
settings.  Prints each build's median ms per step and the median, over rounds, of A's time / B's (> 1: B faster).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import os
import sys
import time


def settings(pairs):
    out = []
    for pair in pairs:
        name, _, value = pair.partition("=")
        module, _, attr = name.rpartition(".")
        target = importlib.import_module("tweaknet.fast" + (f".{module}" if module else ""))
        if not hasattr(target, attr):
            raise SystemExit(f"ab_flags: {target.__name__} has no setting {attr!r}")
        out.append((target, attr, ast.literal_eval(value)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--act", default="relu", choices=["relu", "tanh"])
    ap.add_argument("--opt", default="adam", help="a Keras optimizer name (adam)")
    ap.add_argument("--samples", type=int, default=9600, help="samples per timed epoch (9600)")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--set", dest="set_b", action="append", default=[], help="NAME=VALUE for build B")
    ap.add_argument("--set-a", action="append", default=[], help="NAME=VALUE for build A")
    args = ap.parse_args(argv)
    import numpy as np
    from profile_pieces import compiled_step  # the same model and data as the cycle profile

    from tweaknet import fast

    W, B = args.width, args.batch

    def build(pairs):
        return compiled_step(W, B, args.act, args.opt, args.samples, pairs)

    def epoch(build_):
        cm, call, threads = build_
        with fast.numerics(threads), fast.blas_threads(1 if cm.composer.split else threads):
            t = time.perf_counter()
            cm.module.train(*call)
            return time.perf_counter() - t

    a, b = build(settings(args.set_a)), build(settings(args.set_b))
    for name, (cm, _, threads) in (("A", a), ("B", b)):
        print(f"{name}: {threads} thread(s), {'own threads' if cm.composer.split else 'BLAS threads'}, row pass "
              f"{cm.composer.optimizer.by_kernel_rows}, step {os.path.basename(cm.module.__file__)}")
    epoch(a), epoch(b)
    times = {"A": [], "B": []}
    for r in range(args.rounds):
        for name, build_ in (("A", a), ("B", b)) if r % 2 == 0 else (("B", b), ("A", a)):
            times[name].append(epoch(build_))
    ta, tb = np.array(times["A"]), np.array(times["B"])
    steps = a[1][2].size // B
    ratio = ta / tb
    print(f"784-{W}-{W}-10 {args.act}, {args.opt}, batch {B}: A {np.median(ta) / steps * 1e3:.3f} ms/step, "
          f"B {np.median(tb) / steps * 1e3:.3f} ms/step; A/B per round median {np.median(ratio):.3f} "
          f"({ratio.min():.3f}-{ratio.max():.3f}, {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
