"""Ekman's Table 5-1 experiment in PyTorch eager: five configurations, test error per epoch.

Configurations (``configs.py``): 1 tanh/U(+-0.1) - sigmoid/U(+-0.1), MSE, SGD lr 0.01, batch 1;
2 the same with lr 10.0; 3 tanh/glorot_uniform - sigmoid/glorot_uniform, MSE, Adam (Keras
defaults: lr 1e-3, eps 1e-7), batch 1; 4 relu/he_normal - softmax/glorot_uniform, categorical
cross-entropy, Adam, batch 1; 5 the same as 4 with batch 64.  Zero biases, inputs standardized
with the training set's scalar mean and standard deviation, training data shuffled every epoch.
Initial weights are drawn as Keras draws them (he_normal truncated at two standard deviations) by
``configs.initial_weights`` and copied into the ``nn.Linear`` layers.

PyTorch's Adam adds eps to the bias-corrected root, Keras's to the raw one; with eps 1e-7 the two
differ only where sqrt(v) is comparable to 1e-7.  Softmax + categorical cross-entropy is
``nn.CrossEntropyLoss`` on the logits (the same function, computed stably).

    python bench/table5_1_torch.py                               # 20 epochs, one process (~18 min on 2 cores)
    python bench/table5_1_torch.py --jobs 5 runs/t51.csv         # one process per configuration
    python bench/table5_1_torch.py --epochs 2 --train-samples 5000 --confs 1 4 5 --csv /tmp/t.csv  # smoke run
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ["conf", "epoch", "train_loss", "train_accuracy", "test_loss", "test_error", "seconds", "description"]


def run_configuration(conf_number: int, epochs: int, train_samples: int, seed: int, threads: int) -> list[dict]:
    """Train one configuration; print and return one row per epoch."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    import torch

    import data
    from configs import CONFIGS, initial_weights
    from peers import TorchTrainer

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    conf = CONFIGS[conf_number]
    x, y, x_test, y_test = data.load()
    x, y = x[:train_samples], y[:train_samples]
    labels, test_labels = data.labels(y), data.labels(y_test)
    trainer = TorchTrainer(conf, initial_weights(conf, seed), x, y, labels)
    xt = torch.from_numpy(x_test)
    yt = torch.from_numpy(y_test) if conf.loss == "mse" else torch.from_numpy(test_labels)
    lt = torch.from_numpy(test_labels)
    rng = np.random.default_rng(seed)
    rows = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        logs = trainer.epoch(rng.permutation(len(x)))
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            out = trainer.model(xt)
            test_loss = float(trainer.loss_fn(out, yt))
            test_error = float((out.argmax(dim=1) != lt).double().mean())
        row = {"conf": conf_number, "epoch": epoch, "train_loss": logs["loss"], "train_accuracy": logs["accuracy"],
               "test_loss": test_loss, "test_error": test_error, "seconds": seconds, "description": conf.label}
        rows.append(row)
        print(f"conf {conf_number} epoch {epoch:2d}/{epochs}: loss {logs['loss']:.4f} - acc {logs['accuracy']:.4f} - "
              f"test_loss {test_loss:.4f} - test_error {test_error:.4f} ({seconds:.1f} s)", flush=True)
    return rows


def _worker(job):
    return run_configuration(*job)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv_path", nargs="?", help="CSV to write (default runs/table5_1_torch.csv)")
    ap.add_argument("--csv", help="the same, as an option")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--train-samples", type=int, default=60000)
    ap.add_argument("--confs", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--jobs", type=int, default=1, help="processes (one per configuration at most)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from configs import CONFIGS
    for c in args.confs:
        print(f"{CONFIGS[c].label}")
    print(f"{args.epochs} epochs on {args.train_samples} training samples, test on 10000; "
          f"{args.jobs} process(es), {args.threads} torch thread(s) each", flush=True)
    jobs = [(c, args.epochs, args.train_samples, args.seed, args.threads) for c in args.confs]
    t0 = time.perf_counter()
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(min(args.jobs, len(jobs))) as pool:
            results = pool.map(_worker, jobs, chunksize=1)
    else:
        results = [_worker(job) for job in jobs]
    rows = [row for rs in results for row in rs]
    path = Path(args.csv or args.csv_path or "runs/table5_1_torch.csv")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    print(f"\nTable 5-1 in PyTorch {__import__('torch').__version__}: test error after each of {args.epochs} epochs "
          f"({time.perf_counter() - t0:.0f} s in all; CSV: {os.path.abspath(path)})\n")
    print("| configuration | final test error | best test error (epoch) | final train loss | s / epoch |")
    print("|---|---:|---:|---:|---:|")
    for rs in results:
        last = rs[-1]
        best = min(rs, key=lambda r: r["test_error"])
        print(f"| {last['description']} | {last['test_error']:.4f} | {best['test_error']:.4f} ({best['epoch']}) | "
              f"{last['train_loss']:.4f} | {sum(r['seconds'] for r in rs) / len(rs):.2f} |")
    confs = [rs[0]["conf"] for rs in results]
    print("\ntest error per epoch:")
    print("epoch " + " ".join(f"  conf {c}" for c in confs))
    for e in range(args.epochs):
        print(f"{e + 1:5d} " + " ".join(f"  {rs[e]['test_error']:.4f}" for rs in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
