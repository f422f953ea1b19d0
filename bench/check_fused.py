"""Check the fused Numba loop against the plain NumPy loop: same start, same order, one epoch.

The final weights must agree to float32 round-off: the two sum in different orders (and Numba's
fastmath lets LLVM reorder further), so they agree to ~1e-6 of the weights' size, where a wrong
gradient or update rule shows as 1e-2 or more.  The loss and accuracy reported must agree too.

Configurations 2 (SGD with lr 10) and 3 (MSE + sigmoid + Adam) are chaotic: nudging one weight by
one float32 ulp in the NumPy loop itself gives weights that differ by ~1e-1 after 1500 steps.
They are checked on fewer samples (--chaotic-samples), and for every configuration the script
prints that 1-ulp yardstick next to the fused-vs-NumPy difference.

    python bench/check_fused.py                      # confs 1, 4, 5 on 2000 samples; 2 and 3 on fewer
    python bench/check_fused.py --samples 60000 --confs 1 4 5
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

import data
from configs import CONFIGS, initial_weights
from fused_loop import FusedTrainer
from numpy_loop import NumpyTrainer

# Max |difference| allowed, relative to the largest |weight| of each array.
TOLERANCE = 2e-4
CHAOTIC = {2: 10, 3: 500}   # conf -> default number of samples


def max_rel_diff(ws_a, ws_b) -> float:
    return max(float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), 1e-12) for a, b in zip(ws_a, ws_b))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2000, help="samples for confs 1, 4, 5 (default 2000)")
    ap.add_argument("--chaotic-samples", type=int, default=None,
                    help=f"samples for confs 2 and 3 (default {CHAOTIC[2]} and {CHAOTIC[3]})")
    ap.add_argument("--confs", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-odd", action="store_true", help="skip the odd batch sizes (remainder paths)")
    args = ap.parse_args(argv)
    x_all, y_all, _, _ = data.load()
    worst = 0.0
    for c in args.confs:
        conf = CONFIGS[c]
        n = (args.chaotic_samples or CHAOTIC[c]) if c in CHAOTIC else args.samples
        x, y = x_all[:n], y_all[:n]
        lab = data.labels(y)
        order = np.random.default_rng(args.seed).permutation(n)
        w0 = initial_weights(conf, args.seed)
        fused, ref = FusedTrainer(conf, w0), NumpyTrainer(conf, w0)
        t0 = time.perf_counter()
        lf = fused.epoch(x, y, lab, order)
        t1 = time.perf_counter()
        ln = ref.epoch(x, y, lab, order)
        t2 = time.perf_counter()
        # yardstick: the NumPy loop against itself, started from W2 nudged by one ulp
        nudged = [np.nextafter(w, np.float32(np.inf)) if i == 2 else w for i, w in enumerate(w0)]
        ref2 = NumpyTrainer(conf, nudged)
        ref2.epoch(x, y, lab, order)
        yard = max_rel_diff(ref2.get_weights(), ref.get_weights())
        print(f"conf {c} ({n} samples, {ref.iterations} steps):")
        for name, a, b in zip(("W1", "b1", "W2", "b2"), fused.get_weights(), ref.get_weights()):
            print(f"  {name}: max |fused - numpy| = {float(np.max(np.abs(a - b))):.3e}   (max |w| {np.max(np.abs(b)):.3f})")
        rel = max_rel_diff(fused.get_weights(), ref.get_weights())
        moved = max_rel_diff(ref.get_weights()[0::2], w0[0::2])   # the kernels (the biases start at 0)
        print(f"  max relative difference fused vs numpy {rel:.2e}; numpy vs numpy from a 1-ulp nudge {yard:.2e}; "
              f"training moved the weights by {moved:.2e}")
        print(f"  loss {lf['loss']:.6f} vs {ln['loss']:.6f}, accuracy {lf['accuracy']:.4f} vs {ln['accuracy']:.4f}; "
              f"fused {t1 - t0:.3f} s (incl. compile or cache load), numpy {t2 - t1:.3f} s")
        assert rel < TOLERANCE, f"conf {c}: fused loop differs from the NumPy loop by {rel:.2e}"
        assert abs(lf["loss"] - ln["loss"]) < 1e-4 * max(1.0, abs(ln["loss"])), f"conf {c}: loss differs"
        assert abs(lf["accuracy"] - ln["accuracy"]) <= 2 / n, f"conf {c}: accuracy differs"
        assert fused.iterations == ref.iterations
        worst = max(worst, rel)
    if not args.skip_odd:
        # odd batch sizes and sample counts: the remainder paths of the register-blocked batched kernel
        for base, batch, n in ((1, 32, 1003), (3, 7, 300), (4, 2, 501), (5, 13, 999)):
            conf = dataclasses.replace(CONFIGS[base], batch=batch)
            w0 = initial_weights(conf, args.seed)
            order = np.random.default_rng(args.seed + 1).permutation(n)
            x, y = x_all[:n], y_all[:n]
            lab = data.labels(y)
            fused, ref = FusedTrainer(conf, w0), NumpyTrainer(conf, w0)
            lf, ln = fused.epoch(x, y, lab, order), ref.epoch(x, y, lab, order)
            rel = max_rel_diff(fused.get_weights(), ref.get_weights())
            print(f"conf {base} with batch {batch} on {n} samples: max relative difference {rel:.2e}")
            assert rel < TOLERANCE, f"conf {base} batch {batch}: fused loop differs by {rel:.2e}"
            assert abs(lf["loss"] - ln["loss"]) < 1e-4 * max(1.0, abs(ln["loss"]))
            worst = max(worst, rel)
    print(f"OK: the fused loop matches the NumPy loop; largest relative weight difference {worst:.2e} "
          f"(tolerance {TOLERANCE:.0e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
