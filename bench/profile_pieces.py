"""Where a compiled step spends its time, piece by piece: CPU cycles around each call of the generated step.

    python bench/profile_pieces.py --width 512 --batch 512            # two hidden ReLU layers, Adam, cross-entropy
    python bench/profile_pieces.py --width 1024 --batch 256 --act tanh --opt sgd --samples 15360

The compiled path's step for a batch is a generated glue function (``train``) that calls one small compiled
function per piece: each layer's forward pass, the loss, each layer's backward parts, the update
(``fast/compose.py``).  This script builds the model's compiled code as ``fit`` would, writes a copy of the glue in
which every piece call is wrapped in reads of the CPU's cycle counter (``llvm.readcyclecounter``), runs epochs on
random data, and prints each call's milliseconds per step: what cProfile cannot show, since the glue is one
compiled call per epoch.  The pieces' own code is unchanged; the counters cost a few nanoseconds per call.  Time a
piece's share against the whole step: a piece waits at its end for the slowest thread, and what one piece leaves in
the caches changes the next one's time.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("TWEAKNET_COMPILE_MIN_SAMPLES", "0")  # before tweaknet is imported: compile any step

TSC = '''from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def rdtsc(typingctx):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen
'''


def compiled_step(width, batch, act, opt, samples, settings=()):
    """The compiled step ``fit`` builds for 784-``width``-``width``-10 (``act`` ReLU: softmax, cross-entropy; tanh:
    sigmoid, MSE; Keras optimizer ``opt``) at ``batch``, on random data of ``samples`` samples (whole batches), with
    ``settings`` ((module, attribute, value) of ``tweaknet.fast``) set while it is composed and compiled and restored
    after: (the compiled model, the arguments of its ``train`` for one epoch, the threads ``fit`` gives it)."""
    import numpy as np

    import tweaknet
    from tweaknet import fast, layers
    from tweaknet.fast.runner import CompiledModel

    n = samples // batch * batch
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    order = rng.permutation(n).astype(np.int64)
    tweaknet.utils.set_random_seed(1)
    model = tweaknet.Sequential([layers.Input((784,)), layers.Dense(width, activation=act),
                                 layers.Dense(width, activation=act),
                                 layers.Dense(10, activation="softmax" if act == "relu" else "sigmoid")])
    model.compile(optimizer=opt, loss="categorical_crossentropy" if act == "relu" else "mse")
    saved = [(target, attr, getattr(target, attr)) for target, attr, _ in settings]
    for target, attr, value in settings:
        setattr(target, attr, value)
    try:
        model.fit(x[:2 * batch], y[:2 * batch], batch_size=batch, epochs=1, verbose=0)  # builds and compiles
        cm = CompiledModel(model, batch)
        cm._loss_args(n)
        threads = fast.threads_for(model, batch)
    finally:
        for target, attr, value in saved:
            setattr(target, attr, value)
    return cm, (x, y, order, batch, np.array([0.001]), 0, np.zeros(1), *cm.composer.values()), threads


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=512, help="units of each of the two hidden layers (512)")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--act", default="relu", choices=["relu", "tanh"], help="relu: softmax, cross-entropy; tanh: "
                    "sigmoid, MSE")
    ap.add_argument("--opt", default="adam", help="a Keras optimizer name (adam)")
    ap.add_argument("--samples", type=int, default=30720, help="samples per timed epoch (30720)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import numpy as np
    from numba import njit

    from tweaknet import fast

    B = args.batch
    cm, call, threads = compiled_step(args.width, B, args.act, args.opt, args.samples)
    W, n = args.width, call[2].size
    text = open(cm.module.__file__).read()
    head, _, rest = text.partition("@njit(**JIT)\ndef train(")
    body, sep, tail = rest.partition("return loss_sum, step")
    labels = []

    def timed(match):
        indent, assign, piece, call_args = match.groups()
        labels.append(f"_piece{piece}({call_args[:60]}{'...' if len(call_args) > 60 else ''})")
        k = len(labels) - 1
        return (f"\n{indent}_t = rdtsc()\n{indent}{assign or ''}_piece{piece}({call_args})\n"
                f"{indent}ACC[{k}] += rdtsc() - _t")

    body = re.sub(r"\n(\s*)(rows_loss = )?_piece(\d+)\((.*)\)", timed, body).replace("):\n", ", ACC):\n", 1)
    folder = tempfile.mkdtemp(prefix="tweaknet-pieces-")
    with open(os.path.join(folder, "tn_tsc.py"), "w") as f:
        f.write(TSC)
    sys.path.insert(0, folder)
    path = os.path.join(folder, "profiled_step.py")
    with open(path, "w") as f:
        f.write(head.replace("import numpy as np", "import numpy as np\nfrom tn_tsc import rdtsc", 1)
                + "@njit(**JIT)\ndef train(" + body + sep + tail)
    spec = importlib.util.spec_from_file_location("profiled_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from tn_tsc import rdtsc

    @njit
    def now():
        return rdtsc()

    acc = np.zeros(len(labels), np.int64)
    call = (*call, acc)
    steps = n // B
    with fast.numerics(threads), fast.blas_threads(1 if cm.composer.split else threads):
        module.train(*call)  # compiles the profiled copy
        walls = []
        for _ in range(args.repeats):
            acc[:] = 0
            t = time.perf_counter()
            module.train(*call)
            walls.append(time.perf_counter() - t)
    now()
    c0, t0 = now(), time.perf_counter()
    time.sleep(0.2)
    hz = (now() - c0) / (time.perf_counter() - t0)
    print(f"784-{W}-{W}-10 {args.act}, {args.opt}, batch {B}, {threads} thread(s), "
          f"{'the path' + chr(39) + 's own threads' if cm.composer.split else 'BLAS threads for the products'}; "
          f"{min(walls) / steps * 1e3:.3f} ms per step (best of {args.repeats}), cycle counter {hz / 1e9:.2f} GHz")
    print("ms per step (last epoch)  piece call")
    for label, cycles in zip(labels, acc):
        print(f"  {cycles / hz / steps * 1e3:8.3f}  {label}")
    print(f"  {acc.sum() / hz / steps * 1e3:8.3f}  all pieces")
    print(f"generated step: {cm.module.__file__}; each piece's source is the file its _pieceN import names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
