"""The local backend's pool of worker processes (``tweaknet/lab/pool.py``): a worker stopped while it sends its
result (the start of a message left in the result pipe, as a worker killed in the middle of sending leaves it) must
neither keep a run from exiting nor leave the driver waiting forever for that job."""
from __future__ import annotations

import os
import subprocess
import sys

SETUP = """
import os, signal, struct, sys, time
sys.path.insert(0, {folder!r})
from tweaknet.lab.pool import LocalPool

pool = LocalPool(1)
future = pool.submit({{"trial": {{"data": {{"dataset": {{"python": "slow:load"}}}}}}}})
for _ in range(600):  # until the worker runs the job (its loader)
    if os.path.exists({started!r}):
        break
    time.sleep(0.1)
else:
    sys.exit("the worker did not start")
# What a worker stopped while it sends its result leaves behind: the start of a message in the result pipe.
writer = pool.pool._result_queue._writer
os.write(writer.fileno(), struct.pack("!i", 1000) + b"part of a result")
time.sleep(0.5)  # the executor's thread now reads the rest of that message
"""
CANCEL = """
pool.cancel([future])
pool.close()
print("closed", flush=True)
"""
KILL = """
worker, = pool.pool._processes.values()
os.kill(worker.pid, signal.SIGKILL)
t0 = time.monotonic()
while time.monotonic() < t0 + 30:
    back = pool.wait([future], 0.5)
    if back:
        (f, result, lost), = back
        print("lost" if f is future and result is None and lost else f"returned {{result!r}} {{lost!r}}", flush=True)
        break
pool.close()
print("closed", flush=True)
"""


def run(tmp_path, script):
    started = tmp_path / "STARTED"
    (tmp_path / "slow.py").write_text(f"import pathlib, time\ndef load():\n    pathlib.Path({str(started)!r}).touch()\n"
                                      f"    time.sleep(600)\n")
    try:
        return subprocess.run([sys.executable, "-c", SETUP.format(folder=str(tmp_path), started=str(started)) + script],
                              capture_output=True, text=True, timeout=90, env={**os.environ, "TWEAKNET_ALLOW_CODE": "1"})
    except subprocess.TimeoutExpired:
        raise AssertionError("the process did not exit within 90 s") from None


def test_cancel_ends_even_when_a_worker_was_stopped_in_the_middle_of_its_result(tmp_path):
    """Ctrl-C cancels the jobs in flight: the process used to wait at exit, forever, for the rest of that result."""
    done = run(tmp_path, CANCEL)
    assert done.returncode == 0 and done.stdout.split() == ["closed"], done.stderr


def test_a_worker_killed_in_the_middle_of_its_result_comes_back_as_lost(tmp_path):
    """The executor never noticed such a death (its thread waits for the rest of the message): ``wait`` now breaks
    the pool once a worker has been dead for ``STUCK_SECONDS``, and the job comes back as lost (the driver submits it
    again from its checkpoint)."""
    done = run(tmp_path, KILL)
    assert done.returncode == 0 and done.stdout.split() == ["lost", "closed"], (done.stdout, done.stderr)
