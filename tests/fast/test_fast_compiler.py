"""Compiling apart (``tweaknet.fast.compiler``): a first compile runs in a child process that fills the disk cache,
the training process loads the code from it, ends with the same weights, and keeps less memory; a child that
fails leaves the compile to the process itself.  Each case is a fresh Python process with empty caches
(about 8 s each: a cold compile)."""
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

SCRIPT = r'''
import json, sys
import numpy as np
import tweaknet as keras
from tweaknet.fast import compiler, source
if sys.argv[1] == "failing-child":
    compiler._BOOT = "raise SystemExit(3)"   # every child fails at once
compiler.IDLE_SECONDS = 2.0


def resident_mib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


rng = np.random.default_rng(0)
x = rng.standard_normal((256, 20)).astype("float32")
y = np.eye(3, dtype="float32")[rng.integers(0, 3, 256)]
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.layers.Input(shape=(20,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy")
before = resident_mib()
model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
grown = resident_mib() - before
train = list(source._MODULES.values())[-1].train   # the model's glue module is the last one loaded
child = compiler._child.proc if compiler._child is not None else None
waiting = child is not None and child.poll() is None
dismissed = idle = False
if child is not None:
    compiler.close_child()                            # let go at once
    dismissed = child.poll() == 0
    other = keras.Sequential([keras.layers.Input(shape=(20,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    other.compile(optimizer="sgd", loss="categorical_crossentropy")
    other.fit(x, y, batch_size=8, epochs=1, verbose=0)  # a new child compiles the next model
    second = compiler._child.proc
    idle = second is not child and second.wait(timeout=60) == 0   # and leaves by itself once idle
print(json.dumps(dict(grown=grown, waiting=waiting, left=dismissed and idle,
                      hits=sum(train.stats.cache_hits.values()),
                      misses=sum(train.stats.cache_misses.values()), apart=compiler.apart,
                      weights=[w.tolist() for w in model.get_weights()])))
'''


def _fit_in_fresh_process(tmp_path, mode):
    env = dict(os.environ, TWEAKNET_CACHE_DIR=str(tmp_path / mode), NUMBA_CACHE_DIR=str(tmp_path / mode / "numba"),
               TWEAKNET_COMPILE_MIN_SAMPLES="0")
    env.pop("TWEAKNET_COMPILE_APART", None)
    env.pop("TWEAKNET_REFERENCE_ONLY", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux", reason="the resident set is read from /proc")
def test_a_first_compile_runs_in_a_child_and_the_process_loads_it(tmp_path):
    apart = _fit_in_fresh_process(tmp_path, "apart")
    itself = _fit_in_fresh_process(tmp_path, "failing-child")
    # the child compiled the step: the training process found it in the disk cache and compiled nothing
    assert (apart["hits"], apart["misses"]) == (1, 0)
    # the child waited for a next compile after the fit; it leaves when let go, and a later one once idle
    assert apart["waiting"] and apart["left"]
    # a child that fails leaves the compile to the process, which still works, and tries children again later
    assert (itself["hits"], itself["misses"]) == (0, 1) and itself["apart"]
    # the same code either way: the same weights, to the bit
    for a, b in zip(apart["weights"], itself["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    # what compiling leaves resident stayed in the child (about 75 against 165 MiB here)
    assert apart["grown"] < itself["grown"] - 40, (apart["grown"], itself["grown"])


def test_a_function_that_is_not_generated_compiles_in_the_process():
    numba = pytest.importorskip("numba")
    from tweaknet.fast import compiler

    fn = numba.njit(lambda x: x + 1.0)
    sig = (numba.typeof(1.0),)
    assert not compiler.compile_apart(fn, sig)   # no generated module to import in a child: no child
    compiler.prepare(fn, (1.0,), "a test function")
    assert fn(2.0) == 3.0 and sig in fn.overloads

