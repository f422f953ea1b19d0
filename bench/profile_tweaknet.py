"""Profile tweaknet's ``fit`` with cProfile: where does a batch-1 epoch spend its time?

    python bench/profile_tweaknet.py                 # conf 1, batch 1, 5000 samples, top 25 by own time
    python bench/profile_tweaknet.py --conf 4 --samples 3000 --sort cumulative

One warm-up fit (64 samples) runs first, outside the profile, so compilation is not counted.
``--reference`` sets TWEAKNET_REFERENCE_ONLY=1 (before tweaknet is imported), so the readable
NumPy reference path runs instead of the compiled one.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conf", type=int, default=1)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime", choices=["tottime", "cumulative", "ncalls"])
    ap.add_argument("--no-metrics", action="store_true")
    ap.add_argument("--reference", action="store_true", help="profile the NumPy reference path")
    args = ap.parse_args(argv)
    if args.reference:
        os.environ["TWEAKNET_REFERENCE_ONLY"] = "1"
    import data
    from bench_speed import TweaknetTrainer
    from configs import CONFIGS, initial_weights
    conf = CONFIGS[args.conf]
    x, y, _, _ = data.load()
    x, y = x[:args.samples], y[:args.samples]
    tr = TweaknetTrainer(conf, initial_weights(conf), metrics=not args.no_metrics)
    tr.epoch(x[:64], y[:64])
    t0 = time.perf_counter()
    tr.epoch(x, y)
    plain = time.perf_counter() - t0
    prof = cProfile.Profile()
    prof.enable()
    tr.epoch(x, y)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats(args.sort).print_stats(args.top)
    steps = -(-args.samples // conf.batch)
    path = "reference path" if args.reference else "default path"
    print(f"{conf.label} ({path}): one epoch on {args.samples} samples ({steps} steps) takes {plain:.3f} s without the "
          f"profiler = {plain / steps * 1e6:.1f} us per step = {plain * 60000 / args.samples:.2f} s per 60000-sample "
          f"epoch")
    print(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
