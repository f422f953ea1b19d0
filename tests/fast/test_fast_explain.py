"""``tweaknet.fast.explain(model)``: which path ``fit`` takes and why, as an object (issue 11).

``explain`` returns an object with ``.compiled`` (bool), ``.reason`` (empty or None when compiled, else why
not, naming the layer or option) and a readable ``str``.  It works on a model that is not compiled or not
built yet, and it is a pure question: it neither builds the model nor draws from the random generators.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tweaknet as tn
from tweaknet import fast, seeding

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="the compiled path needs numba")


def mlp(input_shape=(6,)):
    first = dict(input_shape=input_shape) if input_shape else {}
    return tn.Sequential([tn.layers.Dense(8, activation="tanh", **first), tn.layers.Dense(3, activation="softmax")])


def data(n=40):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, 6)).astype(np.float32),
            tn.utils.to_categorical(rng.integers(0, 3, n), 3))


def check_shape(info):
    """The answer is an object with a bool ``compiled``, a ``reason`` and a readable ``str``."""
    assert isinstance(getattr(info, "compiled", None), bool), (
        f"fast.explain(model) returned {info!r}: expected an object with a bool .compiled")
    assert hasattr(info, "reason"), f"{info!r} has no .reason"
    text = str(info)
    assert isinstance(text, str) and text.strip(), "str(explain(model)) is empty"
    assert " object at 0x" not in text, f"str(explain(model)) is the default repr: {text!r}"
    assert len(text) < 2000
    if info.compiled:
        assert not info.reason, f"a compiled model has the reason {info.reason!r}"
        assert "compiled" in text.lower(), f"str(explain(model)) does not say compiled: {text!r}"
    else:
        assert isinstance(info.reason, str) and info.reason.strip(), "a model off the compiled path needs a reason"
        assert info.reason in text, f"str(explain(model)) {text!r} does not give the reason {info.reason!r}"
    return info


@needs_numba
def test_a_compiled_model_is_compiled():
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    info = check_shape(fast.explain(model))
    assert info.compiled is True
    assert info.reason in ("", None)


@needs_numba
def test_the_answer_after_fit_is_the_same():
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    before = check_shape(fast.explain(model))
    model.fit(*data(), batch_size=4, epochs=1, verbose=0)
    after = check_shape(fast.explain(model))
    assert before.compiled is after.compiled is True


def test_a_model_that_is_not_compiled_says_so():
    model = mlp()
    assert model.built
    info = check_shape(fast.explain(model))
    assert info.compiled is False
    assert "compile" in info.reason.lower(), f"the reason does not mention compile(): {info.reason!r}"


@needs_numba
def test_compiling_the_model_changes_the_answer():
    model = mlp()
    assert fast.explain(model).compiled is False
    model.compile(optimizer="sgd", loss="mse")
    assert check_shape(fast.explain(model)).compiled is True


@pytest.mark.parametrize("compiled", [False, True])
def test_an_unbuilt_model_is_explained_without_building_it(compiled):
    model = mlp(input_shape=None)
    if compiled:
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert not model.built
    state = seeding.get_state()
    info = check_shape(fast.explain(model))
    assert not model.built, "explain built the model"
    assert seeding.get_state() == state, "explain drew from the global random generator"
    if not compiled:
        assert info.compiled is False and "compile" in info.reason.lower()
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(*data(), batch_size=4, epochs=1, verbose=0)   # still trains as usual afterwards
    assert model.built


def test_explain_draws_no_random_numbers_on_a_built_model():
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    state = seeding.get_state()
    fast.explain(model)
    assert seeding.get_state() == state


def test_a_layer_of_the_users_own_is_named():
    class Scale(tn.layers.Layer):
        """A user-defined layer: NumPy forward and backward, nothing the compiled path knows."""

        def forward(self, x, training=False):
            return 2.0 * x

        def backward(self, dy):
            return 2.0 * dy

    model = tn.Sequential([tn.layers.Dense(8, activation="tanh", input_shape=(6,)), Scale(name="my_scale"),
                           tn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    info = check_shape(fast.explain(model))
    assert info.compiled is False
    assert "Scale" in info.reason or "my_scale" in info.reason, f"the reason does not name the layer: {info.reason!r}"
    w0 = model.get_weights()
    model.fit(*data(), batch_size=4, epochs=1, verbose=0)     # trains on the reference path
    assert any(not np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))


def test_inside_reference_only_the_reference_path_is_named():
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with fast.reference_only():
        info = check_shape(fast.explain(model))
    assert info.compiled is False


SCRIPT = textwrap.dedent("""
    import json, sys
    {block}
    import numpy as np
    import tweaknet as tn
    from tweaknet import fast
    model = tn.Sequential([tn.layers.Dense(8, activation="tanh", input_shape=(6,)),
                           tn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    info = fast.explain(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = tn.utils.to_categorical(rng.integers(0, 3, 20), 3)
    w0 = model.get_weights()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    trained = any(not np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))
    print(json.dumps({{"compiled": getattr(info, "compiled", "no attribute"), "reason": getattr(info, "reason", None),
                      "text": str(info), "repr": repr(info), "trained": trained}}))
""")


def run_script(block="", env=None):
    full_env = dict(os.environ)
    full_env.pop("TWEAKNET_REFERENCE_ONLY", None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(block=block)], capture_output=True, text=True,
                          env=full_env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_reported(out):
    assert isinstance(out["compiled"], bool), f"fast.explain(model) returned {out['repr']}: expected an object " \
                                              f"with a bool .compiled"
    assert out["compiled"] is False
    assert isinstance(out["reason"], str) and out["reason"].strip()
    assert out["reason"] in out["text"]
    assert out["trained"], "fit did not train on the reference path"


def test_without_numba_the_reason_names_numba():
    """numba made unimportable in a fresh process (``sys.modules['numba'] = None``): reference path, and the
    reason says that numba is missing."""
    out = run_script(block="sys.modules['numba'] = None")
    check_reported(out)
    assert "numba" in out["reason"].lower(), f"the reason does not name numba: {out['reason']!r}"


def test_reference_only_environment_variable_is_reported():
    """``TWEAKNET_REFERENCE_ONLY=1`` forces the reference path; explain says why."""
    out = run_script(env={"TWEAKNET_REFERENCE_ONLY": "1"})
    check_reported(out)
    reason = out["reason"].lower()
    assert any(word in reason for word in ("tweaknet_reference_only", "reference", "numba")), \
        f"the reason does not say why: {out['reason']!r}"
