"""The full diagnosis zoo (``tweaknet.diagnostics.zoo``) and what ``diagnose`` costs.

    python bench/diagnose_zoo.py                  # every network on its full data, with try_fixes: the table
    python bench/diagnose_zoo.py --seeds 1 2 3    # the same over several seeds
    python bench/diagnose_zoo.py --only "configuration 2" --show    # one network, its whole report
    python bench/diagnose_zoo.py --cost           # seconds: fit, diagnose, diagnose --try-fixes (configurations 2, 5)

The table: for each network its expected codes and severity, the findings (code:severity), the learning
verdict (progress: 0 at chance, 1 perfect), and the fixes tried, best first, with their measured
validation gain; a broken network passes when every expected code is found at the expected severity and
its top-ranked fix gains at least ``zoo.REPAIR_MARGIN`` (5 points of validation accuracy; a regression:
25% of the validation loss), a healthy one when it gets no error and no warning.

``--cost`` times, interleaved over ``--repeats`` runs (median), on the book's configuration 2 (batch 1)
and 5 (batch 64), one epoch of the 60,000 MNIST samples: a plain ``fit``; ``diagnose`` (the target: less
than 10% above the fit); and ``diagnose(..., try_fixes=True)`` against its budget, ``(1 + candidates) x
diagnose / cores``.  Warm-up runs first, so compile time is excluded.
"""
from __future__ import annotations

import argparse
import statistics
import time


def _codes(report, severity=None):
    return sorted(f.code for f in report.findings if severity is None or f.severity == severity)


def run_zoo(args) -> int:
    from tweaknet.diagnostics import diagnose, zoo
    nets = [n for n in zoo.NETWORKS if not args.only or args.only in n.name]
    rows, failures = [], []
    for seed in args.seeds:
        for net in nets:
            (x, y), val = net.dataset(full=not args.reduced)
            t0 = time.perf_counter()
            report = diagnose(net.build(seed), x, y, epochs=net.epochs, batch_size=net.batch_size,
                              validation_data=val, try_fixes=net.broken, jobs=args.jobs)
            seconds = time.perf_counter() - t0
            if args.show:
                print(f"== {net.name} (seed {seed})\n{report}\n")
            found = ", ".join(f"{f.code}:{f.severity}" for f in report.findings) or "none"
            fixes = "; ".join(f"{i}. {f.name} ({f.change}) {100 * f.gain:+.1f}"
                              + (" pp" if "val_accuracy" in f.before else "% loss") for i, f in
                              enumerate(report.fixes[:3], 1))
            if net.broken:
                best = report.fixes[0] if report.fixes else None
                margin = zoo.REPAIR_LOSS_MARGIN if net.data == "regression" else zoo.REPAIR_MARGIN
                ok = set(net.expect) <= set(_codes(report, net.expect_severity)) and best is not None \
                    and best.gain >= margin
                expected = f"{', '.join(net.expect)}: {net.expect_severity}"
            else:
                ok = not report.problems
                expected = "no error or warning"
            if not ok:
                failures.append(f"{net.name} (seed {seed})")
            p = report.learning.progress
            rows.append((net.name, seed, net.batch_size, len(x), expected, found,
                         f"{report.learning.status} ({'-' if p is None else f'{p:.2f}'})", fixes or "-",
                         "pass" if ok else "FAIL", f"{seconds:.1f}"))
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print()
    print("| network | seed | batch | samples | expected | found | learning (progress) | fixes tried, best first "
          "(validation gain) | verdict | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    broken = [r for r in rows if r[4] != "no error or warning"]
    healthy = [r for r in rows if r[4] == "no error or warning"]
    print(f"\nbroken: {sum(r[8] == 'pass' for r in broken)}/{len(broken)} detected and repaired by the top fix; "
          f"healthy: {sum(r[8] == 'pass' for r in healthy)}/{len(healthy)} without error or warning")
    if failures:
        print("failed: " + "; ".join(failures))
    return 1 if failures else 0


def run_cost(args) -> int:
    import tweaknet as tn
    from tweaknet.diagnostics import diagnose, zoo
    from tweaknet.diagnostics.tryout import cores
    for prefix in ("book configuration 2", "book configuration 5"):
        net = next(n for n in zoo.NETWORKS if n.name.startswith(prefix))
        (x, y), val = net.dataset(full=True)
        settings = {
            "fit": lambda m: m.fit(x, y, batch_size=net.batch_size, verbose=0),
            "diagnose": lambda m: diagnose(m, x, y, batch_size=net.batch_size),
            "diagnose --try-fixes": lambda m: diagnose(m, x, y, batch_size=net.batch_size, validation_data=val,
                                                       try_fixes=True, jobs=args.jobs),
        }
        times, candidates = {k: [] for k in settings}, 0
        for name, fn in settings.items():  # warm-up: compile every path once (and start the forkserver)
            fn(net.build())
        for _ in range(args.repeats):
            for name, fn in settings.items():  # interleaved: drift in machine load hits all settings alike
                model = net.build()
                t0 = time.perf_counter()
                result = fn(model)
                times[name].append(time.perf_counter() - t0)
                if name == "diagnose --try-fixes":
                    candidates = len(result.fixes)
        med = {k: statistics.median(v) for k, v in times.items()}
        jobs = args.jobs or cores()
        budget = (1 + candidates) * med["diagnose"] / jobs
        print(f"{net.name}: 60,000 samples, batch {net.batch_size}, median of {args.repeats}, {jobs} worker(s)")
        for name, ts in times.items():
            extra = f"  {100 * (med[name] / med['fit'] - 1):+.1f}% vs fit" if name == "diagnose" else ""
            if name == "diagnose --try-fixes":
                extra = (f"  {candidates} candidates; budget (1 + {candidates}) x {med['diagnose']:.3f} / {jobs} = "
                         f"{budget:.2f} s: {med[name] / budget:.2f} x budget")
            print(f"  {name:<22} {med[name]:7.3f} s{extra}   runs {[round(t, 3) for t in ts]}")
        tn.utils.set_random_seed(0)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--only", help="only the networks whose name contains this")
    ap.add_argument("--reduced", action="store_true", help="the tests' reduced data instead of the full data")
    ap.add_argument("--show", action="store_true", help="print every report")
    ap.add_argument("--jobs", type=int, help="worker processes for the candidates (default: one per core)")
    ap.add_argument("--cost", action="store_true", help="time fit, diagnose and diagnose --try-fixes instead")
    ap.add_argument("--repeats", type=int, default=5, help="runs per setting for --cost")
    args = ap.parse_args(argv)
    return run_cost(args) if args.cost else run_zoo(args)


if __name__ == "__main__":
    raise SystemExit(main())
