"""Trying fixes: every candidate starts where the baseline started (weights, seed, data order), trains the same
budget in a worker process or here with the same result, and is ranked by measured validation improvement."""
import math
import multiprocessing
import os

import numpy as np
import pytest

import tweaknet as tn
from tweaknet import seeding
from tweaknet.diagnostics import fixes, zoo
from tweaknet.diagnostics.blueprint import Blueprint
from tweaknet.diagnostics.findings import Finding
from tweaknet.diagnostics.tryout import Job, Pool, TrainingData, ranked, score, train

D = tn.layers.Dense


def _network(name):
    return next(n for n in zoo.NETWORKS if n.name.startswith(name))


@pytest.fixture(scope="module")
def conf2():
    net = _network("book configuration 2")
    (x, y), (xv, yv) = net.dataset()
    return net, TrainingData(x[:1500], y[:1500], xv[:1000], yv[:1000])


def _baseline(net, data, batch_size=None):
    """The unchanged model trained as diagnose trains it: its blueprint and random state before, its score after."""
    model = net.build()
    blueprint, state = Blueprint.of(model), seeding.get_state()
    model.fit(data.x, data.y, batch_size=batch_size or net.batch_size, epochs=1, verbose=0)
    return model, blueprint, state


def test_an_unchanged_copy_trains_to_the_baseline_exactly(conf2):
    """The blueprint rebuilt, with the baseline's random state, gives the same weights and scores, bit for bit:
    same initial weights, same data order, same budget."""
    net, data = conf2
    model, blueprint, state = _baseline(net, data)
    metrics, _, error = train(Job("same", "", "", blueprint, state, net.batch_size, 1), data)
    assert error is None
    assert metrics == score(model, data, True)
    again = blueprint.build()
    seeding.set_state(state)
    again.fit(data.x, data.y, batch_size=net.batch_size, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layers_a_fix_does_not_change_keep_their_initial_weights(conf2):
    net, data = conf2
    model = net.build()
    initial = [layer.get_weights() for layer in model.layers]
    blueprint = Blueprint.of(model)
    context = fixes.context_of(model, data.x, data.y, 32)
    for name, fresh in (("lower_learning_rate_10x", set()), ("cross_entropy", set()), ("clip_gradients", set()),
                        ("matched_initialization", {1, 2}), ("relu_he", {1})):
        edited = blueprint.copy()
        assert fixes.CANDIDATES[name].apply(edited, context, "saturated_units") is not None, name
        built = edited.build()
        for i, (layer, weights) in enumerate(zip(built.layers, initial)):
            same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), weights))
            assert same == (i not in fresh), (name, i)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), sum(initial, [])))  # the model: untouched


def test_candidates_say_what_they_change_and_skip_what_does_not_apply(conf2):
    net, data = conf2
    model = net.build()
    bp, context = Blueprint.of(model), fixes.context_of(model, data.x, data.y, 1)

    def change(name, code="saturated_units", ctx=context):
        return fixes.CANDIDATES[name].apply(bp.copy(), ctx, code)

    assert change("lower_learning_rate_10x") == "learning_rate 10 -> 1"
    assert change("lower_learning_rate_100x") == "learning_rate 10 -> 0.1"
    assert change("default_learning_rate", "learning_rate_too_high") == "learning_rate 10 -> 0.01"
    assert change("default_learning_rate", "learning_rate_too_low") is None  # 0.01 is not higher than 10
    assert change("clip_gradients") == "global_clipnorm None -> 1"
    assert change("adam").startswith("optimizer SGD(learning_rate=10) -> Adam(learning_rate=0.001)")
    assert change("cross_entropy") == "loss mean_squared_error -> categorical_crossentropy, output sigmoid -> softmax"
    assert change("relu_he") == "activation tanh -> relu with he_normal kernels in hidden layer 1 of 2"
    assert change("matched_initialization") == \
        "RandomUniform -> glorot_uniform in hidden layer 1 and output layer 2 of 2"
    assert change("standardize_inputs") is None  # the leading Normalization layer already standardizes
    assert change("batch_normalization") is None  # batch size 1: no batch statistics
    assert change("leaky_relu") is None  # no ReLU to replace
    batch_64 = fixes.context_of(model, data.x, data.y, 64)
    assert change("batch_normalization", ctx=batch_64) == "BatchNormalization before the activation in hidden layer " \
                                                          "1 of 2"
    for name, candidate in fixes.CANDIDATES.items():
        assert candidate.description and name in {n for names in fixes.TABLE.values() for n in names}
    assert all(len(names) <= 4 for names in fixes.TABLE.values()) and set(fixes.TABLE) == set(tn.diagnostics.FIXES) \
        - {"vanishing_gradient_relu"}


def test_a_schedule_has_its_initial_rate_scaled_and_a_piecewise_one_is_left_alone(conf2):
    net, data = conf2
    context = fixes.context_of(net.build(), data.x, data.y, 32)
    for schedule, expected in ((tn.optimizers.schedules.ExponentialDecay(0.5, 100, 0.9),
                                "initial_learning_rate 0.5 -> 0.05"),
                               (tn.optimizers.schedules.PiecewiseConstantDecay([100], [0.5, 0.1]), None)):
        model = net.build()
        model.compile(optimizer=tn.optimizers.SGD(schedule), loss="mse")
        edited = Blueprint.of(model).copy()
        assert fixes.CANDIDATES["lower_learning_rate_10x"].apply(edited, context, "divergence") == expected
        if expected:
            assert edited.build().optimizer.learning_rate == pytest.approx(0.05)


def test_a_shared_candidate_answers_the_finding_that_lists_it_first(conf2):
    net, data = conf2
    model = net.build()
    found = [Finding("saturated_output", None, {}), Finding("learning_rate_too_high", None, {})]
    proposals = fixes.proposals(found, Blueprint.of(model), fixes.context_of(model, data.x, data.y, 1))
    answers = {name: code for name, code, _, _ in proposals}
    assert answers["lower_learning_rate_10x"] == "learning_rate_too_high"  # 1st there, 3rd for saturated_output
    assert answers["cross_entropy"] == "saturated_output"
    changes = [change for _, _, change, _ in proposals]
    assert len(changes) == len(set(changes))


def test_raw_inputs_are_standardized_in_the_model():
    net = _network("raw pixels")
    (x, y), _ = net.dataset()
    model = net.build()
    context = fixes.context_of(model, x, y, 32)
    assert not context.standardized and context.input_mean == pytest.approx(x[:5000].mean(), rel=1e-6)
    edited = Blueprint.of(model).copy()
    assert fixes.CANDIDATES["standardize_inputs"].apply(edited, context, "unscaled_inputs").startswith(
        "inputs standardized: (x - 33")
    out = edited.build().layers[0].forward(x[:1000].astype("float32"))
    assert abs(out.mean()) < 0.1 and 0.9 < out.std() < 1.1


def test_worker_processes_give_the_results_of_this_process(conf2):
    """The pool (forkserver or spawn workers) and this process train a candidate to the same numbers; a
    speculative run started before the baseline ends is reused, an unneeded one dropped."""
    net, data = conf2
    model = net.build()
    blueprint, state = Blueprint.of(model), seeding.get_state()
    context = fixes.context_of(model, data.x, data.y, 1)
    proposals = fixes.proposals([Finding("learning_rate_too_high", None, {})], blueprint, context)
    jobs = [(change, Job(name, code, change, bp, state, 1, 1)) for name, code, change, bp in proposals]
    here = Pool(data, 1).run(jobs)
    with Pool(data, 2, warm_up=jobs[0][1]) as pool:
        pool.speculate(jobs[:2])
        there = pool.run(jobs[1:])
    assert [r[0] for r in there] == [r[0] for r in here[1:]]
    assert all(r[2] is None for r in here + there)
    assert seeding.get_state() == state  # training here gave the caller's random state back


class DyingBlueprint(Blueprint):
    """A blueprint whose build ends the process that builds it: a worker that dies."""

    def build(self):
        if multiprocessing.parent_process() is not None:
            os._exit(3)
        return super().build()


def test_candidates_train_here_when_the_workers_die(conf2):
    net, data = conf2
    model = net.build()
    blueprint, state = Blueprint.of(model), seeding.get_state()
    dying = DyingBlueprint(**blueprint.__dict__)
    jobs = [("same", Job("same", "", "", dying, state, 1, 1))]
    with Pool(data, 2) as pool, pytest.warns(RuntimeWarning, match="train in this process instead"):
        (metrics, _, error), = pool.run(jobs)
    assert error is None and metrics == Pool(data, 1).run(jobs)[0][0]


def test_ranking_and_what_counts_as_helped():
    before = {"val_loss": 0.1, "val_accuracy": 0.30}
    job = Job("x", "f", "c", None, {}, 1, 1)
    results = [({"val_loss": 0.09, "val_accuracy": 0.31}, 1.0, None), ({"val_loss": 0.05, "val_accuracy": 0.90}, 1.0,
                                                                         None),
               ({"val_loss": math.nan, "val_accuracy": 0.098}, 1.0, None), ({}, 0.1, "TypeError: boom")]
    fixed = ranked([job] * 4, results, before)
    assert [f.after.get("val_accuracy") for f in fixed] == [0.90, 0.31, 0.098, None]
    assert [f.helped for f in fixed] == [True, False, False, False]  # +60 pp; +1 pp is not 2
    assert fixed[0].gain == pytest.approx(0.6) and fixed[-1].error == "TypeError: boom"
    loss_only = ranked([job] * 2, [({"val_loss": 0.085}, 1, None), ({"val_loss": 0.095}, 1, None)], {"val_loss": 0.1})
    assert [f.helped for f in loss_only] == [True, False] and loss_only[0].gain == pytest.approx(0.15)


def test_diagnose_with_try_fixes_holds_out_validation_data_and_keeps_the_caller_random_state():
    net = _network("SGD at learning rate 1e-5")
    (x, y), _ = net.dataset()
    model = net.build()
    seeding.set_random_seed(11)
    report = model.diagnose(x, y, batch_size=32, try_fixes=True, jobs=1)
    after = seeding.get_state()
    seeding.set_random_seed(11)
    plain = net.build()
    seeding.set_random_seed(11)
    plain.fit(x[:1600], y[:1600], batch_size=32, verbose=0)  # the baseline trains on the first 80%
    assert seeding.get_state() == after  # the candidates did not move the caller's generator
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert report.fixes_tried and report.fixes and report.fixes[0].before == score(plain, TrainingData(
        x, y, x[1600:], y[1600:]), True)
