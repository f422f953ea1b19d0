"""The local backend's pool of worker processes (``tweaknet/lab/pool.py``)."""
from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import os, struct, sys, time
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
pool.cancel([future])
pool.close()
print("closed", flush=True)
"""


def test_cancel_ends_even_when_a_worker_was_stopped_in_the_middle_of_its_result(tmp_path):
    """Ctrl-C cancels the jobs in flight; a worker stopped while it wrote its result must not keep the run from
    exiting (the process used to wait at exit, forever, for the rest of that result)."""
    started = tmp_path / "STARTED"
    (tmp_path / "slow.py").write_text(f"import pathlib, time\ndef load():\n    pathlib.Path({str(started)!r}).touch()\n"
                                      f"    time.sleep(600)\n")
    script = SCRIPT.format(folder=str(tmp_path), started=str(started))
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "TWEAKNET_ALLOW_CODE": "1"})
    except subprocess.TimeoutExpired:
        raise AssertionError("the process did not exit within 60 s of cancelling its pool") from None
    assert done.returncode == 0 and "closed" in done.stdout, done.stderr
