"""Issue 15: random and mutated bytes fed to the experiment-file reader and the store opener, 2,000 examples each
(hypothesis).  The only exceptions allowed are the documented ones: :class:`SpecError` from the reader
(``spec.from_bytes``, what ``tweaknet run FILE`` reads, then the expansion into trials), :class:`StoreError`
from the store (``Store(path)``, then reading its trials and epochs).  Anything else (a UnicodeDecodeError, a
RecursionError, a raw sqlite3 or JSON error) fails the test with the input that caused it.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tweaknet.lab import spec
from tweaknet.lab.spec import SpecError
from tweaknet.lab.store import Store, StoreError

EXAMPLES = 2000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALID_SPEC = b"""\
name = "fuzz"
description = "a valid experiment that the mutations start from"
data = { dataset = "synthetic", train_samples = 200, test_samples = 50, validation_split = 0.1 }
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 16
activation = "relu"
batch_norm = "before"
[[model.layers]]
units = 10
activation = "softmax"
[optimizer]
name = "adam"
learning_rate = 0.001
schedule = { name = "exponential_decay", decay_steps = 100, decay_rate = 0.9 }
[train]
batch_size = 20
epochs = 2
seeds = [1, 2]
[grid]
"optimizer.learning_rate" = [0.1, 0.01]
[[configurations]]
name = "a"
"model.layers.0.activation" = "tanh"
[[configurations]]
name = "b"
"""
TOKENS = [b"[", b"]", b"{", b"}", b"=", b'"', b"'", b"\n", b",", b".", b"#", b"[[", b"]]", b"\xef\xbb\xbf", b"\xff",
          b"\x00", b"1e999", b"-1", b"nan", b"inf", b"true", b"9223372036854775808", b"[" * 200, b"{a=" * 100]


def _read_spec(data: bytes) -> None:
    try:
        experiment = spec.from_bytes(data, "fuzz.toml")
        experiment.trials()
    except SpecError as exc:
        assert str(exc)  # a message, naming the key or the file


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_to_the_spec_reader(data):
    _read_spec(data)


@st.composite
def mutated(draw, valid: bytes, tokens=()):
    """``valid`` with a few edits: bytes flipped, inserted (random or tokens), deleted, or cut short."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "token", "delete", "cut"] if tokens else
                                    ["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(tokens))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "cut":
            del data[at:]
    return bytes(data)


@FUZZ
@given(mutated(VALID_SPEC, TOKENS))
def test_mutated_experiments_to_the_spec_reader(data):
    _read_spec(data)


# -- the store ----------------------------------------------------------------------------------------
_DIR = Path(tempfile.mkdtemp(prefix="tweaknet-fuzz-store-"))


def _valid_store() -> bytes:
    """A small store as the lab writes it: two trials, epoch rows, a checkpoint (the WAL folded in)."""
    from tweaknet.lab.store import pack_state
    import numpy as np
    path = _DIR / "valid.sqlite"
    trials = spec.loads(VALID_SPEC.decode()).trials()[:2]
    with Store(path) as s:
        rows = s.upsert_trials(trials)
        for r in rows:
            s.claim(r["id"], "fuzz")
            s.commit("fuzz", [(r["id"], {"epochs": [{"epoch": 1, "metrics": {"train_loss": 0.5, "train_accuracy": 0.8},
                                                     "seconds": 1.0}],
                                         "state": pack_state({"weights": [np.ones((3, 2), np.float32)],
                                                              "optimizer": {"iterations": 3}}),
                                         "rng": {"seed": 1}, "node": "n", "host": "h"})])
            s.finish(r["id"], "fuzz", "done")
    return path.read_bytes()


try:
    VALID_STORE = _valid_store()
except Exception as exc:  # pragma: no cover - reported by the tests below
    VALID_STORE = exc


def _open_store(data: bytes) -> None:
    path = _DIR / "runs.sqlite"
    for p in (path, path.with_name("runs.sqlite-wal"), path.with_name("runs.sqlite-shm")):
        if p.exists():
            p.unlink()
    path.write_bytes(data)
    try:
        with Store(path, wait=0.1) as s:
            s.trials()
            s.epochs()
    except StoreError as exc:
        assert str(exc.args[0]).count("(") >= 1 and str(path) in str(exc)  # names the file


@FUZZ
@given(st.binary(max_size=8192))
def test_random_bytes_to_the_store_opener(data):
    _open_store(data)


@FUZZ
@given(st.data())
def test_mutated_stores_to_the_store_opener(data):
    if isinstance(VALID_STORE, Exception):
        raise VALID_STORE
    _open_store(data.draw(mutated(VALID_STORE)))


def test_the_valid_inputs_themselves_open():
    """The mutations start from inputs that are valid (else the fuzzing would only ever see errors)."""
    assert len(spec.from_bytes(VALID_SPEC).trials()) == 8
    assert isinstance(VALID_STORE, bytes) and VALID_STORE.startswith(b"SQLite format 3\x00")
    path = _DIR / "check.sqlite"
    path.write_bytes(VALID_STORE)
    with Store(path) as s:
        assert len(s.trials()) == 2 and len(s.epochs()) == 2


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(_DIR, ignore_errors=True)
