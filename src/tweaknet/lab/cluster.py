"""The Ray backend: each job (a few epochs of one trial) is a Ray task on whatever node has a free CPU.

``pip install 'tweaknet[ray]'``.  The driver connects to the cluster at the given address (``ray
start --head`` prints it; ``RAY_ADDRESS`` works too), or starts a local Ray instance without one.
Tasks run :func:`.worker.train_epochs`, which returns the epochs and the checkpoint as the task's
result, so the nodes need tweaknet installed (the same version) but no shared file system.  Tasks
are submitted with ``max_retries=0``: Ray's own retry would rerun a task with its original arguments,
while the driver resubmits a job lost with its node from the trial's last stored checkpoint (see
:mod:`.engine`).  Workers run with the driver's BLAS thread settings (1 unless set), as local workers
do, so a trial gives the same numbers on either backend on the same kind of machine.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
import sysconfig
import time
from pathlib import Path

from .engine import BackendError
from .pool import THREAD_VARS
from .worker import train_epochs

#: Seconds to wait for a TCP connection to a cluster's address before calling it unreachable.
CONNECT_TIMEOUT = 5.0


def check_reachable(address: str) -> None:
    """Raise :class:`BackendError` unless something accepts a TCP connection at ``address`` (``HOST:PORT`` or
    ``ray://HOST:PORT``): connecting to an address where nothing answers would make Ray wait for minutes."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        raise BackendError(f"Ray address {address!r}: expected HOST:PORT (the address `ray start --head` prints, "
                           f"like 10.0.0.5:6379), ray://HOST:PORT, or 'auto'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise BackendError(f"Ray address {address}: no Ray cluster answers there ({exc.strerror or exc}); start one "
                           f"with `ray start --head` on that machine and pass the address it prints, or give no "
                           f"address to start a local Ray instance") from None


def shipped_modules(trials) -> list:
    """The local code that workers need: the module (file or package folder) of each data loader
    (``data.dataset = {python = 'module:function'}``) that is not installed in site-packages.  Ray ships
    them with the job, so a loader beside the experiment works on every node.  The workers run the loader
    without asking again: the driver ran it first, with the user's consent (``--allow-code``), and a
    worker only trains jobs its driver sent."""
    installed = {str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("purelib", "platlib", "stdlib")}
    out = []
    loaders = {t["data"]["dataset"]["python"] for t in trials if isinstance(t["data"]["dataset"], dict)}
    for dataset in sorted(loaders):
        spec = importlib.util.find_spec(dataset.partition(":")[0].split(".")[0])
        if spec is None or spec.origin in (None, "built-in", "frozen"):
            continue
        where = spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin
        if not any(str(Path(where).resolve()).startswith(root + os.sep) for root in installed) and where not in out:
            out.append(where)
    return out


def preflight(address=None):
    """Ray itself, once it is known to be installed and (given an address) the cluster answers: the quick
    checks, made before an experiment is validated.  Raises :class:`BackendError`."""
    try:
        import ray
    except ImportError:
        raise BackendError("Ray is not installed here: pip install 'tweaknet[ray]' (or run without --ray, "
                           "in local processes)") from None
    if not ray.is_initialized() and address not in (None, "auto", "local"):
        check_reachable(address)
    return ray


def connection_failure(address, exc) -> str:
    """What to do when ``ray.init`` could not connect: clusters started by ``ray start --head`` (recent Ray
    versions) require a token unless started with ``RAY_AUTH_MODE=disabled``."""
    chain, e = [], exc
    while e is not None:
        chain.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    if any("AuthToken" in c or "AuthenticationError" in c for c in chain):
        return (f"Ray address {address}: the cluster requires Ray's token authentication; run with "
                f"RAY_AUTH_MODE=token and the cluster's token in ~/.ray/auth_token (or RAY_AUTH_TOKEN), as for "
                f"`ray start --address`")
    return f"Ray address {address or '(a local instance)'}: {exc}"


def lost_reason(exc) -> str:
    """A short line for a job lost with its node or worker: ``node 9cfd43f4 (192.0.2.2) died``."""
    node, ip = re.search(r"node ID: ([0-9a-f]{8})", str(exc)), re.search(r"Node IP: ([\w.:-]+)", str(exc))
    if node:
        return f"node {node.group(1)}{f' ({ip.group(1)})' if ip else ''} is gone ({type(exc).__name__})"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:160]}"


class RayCluster:
    """A connection to a Ray cluster that runs at most ``jobs`` jobs at once (default: its CPUs); see
    :mod:`.engine` for the backend protocol."""

    def __init__(self, address=None, jobs=None, trials=()):
        ray = preflight(address)
        self.ray, self.address, self.jobs, self.started = ray, address, jobs, False
        modules = shipped_modules(trials)
        if not ray.is_initialized():
            try:  # local code can only be shipped for the whole job, when connecting
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, runtime_env={"py_modules": modules} if modules else None)
            except ConnectionError as exc:
                raise BackendError(connection_failure(address, exc)) from None
            self.started = True
        elif modules:
            raise BackendError(f"the data loader code in {', '.join(modules)} is not installed on the nodes, and this "
                               f"process connected to Ray itself: pass runtime_env={{'py_modules': {modules!r}}} to "
                               f"ray.init, or install the module on every node")
        self.task = ray.remote(train_epochs).options(
            num_cpus=1, max_retries=0, retry_exceptions=False,
            runtime_env={"env_vars": {v: os.environ.get(v, "1") for v in THREAD_VARS}})
        self.nodes, self.cpus, self.seen = 0, 0, 0.0
        self.refresh()

    def refresh(self, every=2.0):
        """Count the alive nodes and their CPUs (at most every ``every`` seconds)."""
        if time.monotonic() - self.seen >= every:
            self.seen = time.monotonic()
            self.nodes = sum(1 for n in self.ray.nodes() if n.get("Alive"))
            self.cpus = int(self.ray.cluster_resources().get("CPU", 0))

    def capacity(self) -> int:
        self.refresh()
        return self.jobs or max(1, self.cpus)  # at least one: a job waits in Ray until a node joins

    def describe(self) -> str:
        where = self.address or "a local instance"
        return f"Ray ({where}): {self.nodes} node{'s' if self.nodes != 1 else ''}, {self.cpus} CPUs"

    def submit(self, job):
        return self.task.remote(job)

    def wait(self, handles, timeout):
        ray = self.ray
        ready, rest = ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        out = []
        for ref in ready:
            try:
                out.append((ref, ray.get(ref), None))
            except (ray.exceptions.RayTaskError, ray.exceptions.RuntimeEnvSetupError) as exc:  # not the node's fault
                out.append((ref, {"status": "failed", "error": str(exc)}, None))
            except ray.exceptions.RayError as exc:  # its node or worker died, or its result was lost with it
                out.append((ref, None, lost_reason(exc)))
        return out

    def cancel(self, handles):
        for ref in handles:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # already finished, or its node is gone
                pass

    def close(self):
        if self.started:
            self.ray.shutdown()
            self.started = False
