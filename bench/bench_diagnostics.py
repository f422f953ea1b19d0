"""What diagnostics cost: a batch-64 MNIST epoch (Table 5-1 configuration 5) with and without them.

    python bench/bench_diagnostics.py                 # 5 repeats of each setting, interleaved
    python bench/bench_diagnostics.py --repeats 9 --batch-size 1 --samples 10000

Settings, each a fresh model from the same seed, one warm-up epoch (compilation) not timed:
``off`` (plain fit), ``default`` (``fit(..., diagnostics=True)``: records before training and at each
epoch end) and ``every_n`` (``Diagnostics(every_n_steps=N)``).  Prints the median seconds per epoch
and the overhead of each setting against ``off``; the issue's budget is 10% at the default settings.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _model(tn):
    tn.utils.set_random_seed(1)
    model = tn.Sequential([tn.layers.Normalization(axis=None, mean=33.318, variance=78.567 ** 2, input_shape=(784,)),
                           tn.layers.Dense(25, activation="relu", kernel_initializer="he_normal"),
                           tn.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--every", type=int, default=100, help="N of the every_n setting (steps)")
    args = ap.parse_args(argv)

    import tweaknet as tn
    (x, y), _ = tn.datasets.mnist.load_data()
    x = x.reshape(len(x), -1)[:args.samples]
    y = tn.utils.to_categorical(y[:args.samples], 10)
    settings = {
        "off": lambda: {},
        "default": lambda: {"diagnostics": True},
        "every_n": lambda: {"callbacks": [tn.callbacks.Diagnostics(every_n_steps=args.every)]},
    }
    times = {name: [] for name in settings}
    for name, kw in settings.items():  # warm-up: compile every path once
        _model(tn).fit(x[:640], y[:640], batch_size=args.batch_size, epochs=1, verbose=0, **kw())
    for _ in range(args.repeats):
        for name, kw in settings.items():  # interleaved, so that drift in machine load hits all settings alike
            model = _model(tn)
            t0 = time.perf_counter()
            model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0, **kw())
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["off"])
    print(f"{args.samples} samples, batch size {args.batch_size}, median of {args.repeats} epochs "
          f"(every_n: every {args.every} steps)")
    print(f"{'setting':<10} {'s/epoch':>9} {'overhead':>9}   all runs")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<10} {med:9.3f} {100 * (med / base - 1):8.1f}%   {np.round(ts, 3).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
