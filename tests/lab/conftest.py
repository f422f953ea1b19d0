"""Ray tests start clusters of several nodes on this machine: they run alone, one at a time
(``python -m pytest -m ray``, as ``.ci/run`` does after the main ``-n 2`` run), never beside other tests
under xdist, where two clusters and the other tests would fight for the CPUs and the tuned-down node-death
detection would see busy nodes as dead."""
from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        alone = pytest.mark.skip(reason="a Ray test: run alone with `python -m pytest -m ray` (not under -n)")
        for item in items:
            if "ray" in item.keywords:
                item.add_marker(alone)
