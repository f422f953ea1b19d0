"""Progress output: Keras's verbose=2 line format, and verbose=1 never flooding a log file."""
import re

import numpy as np

import tweaknet as tn

LINE = re.compile(r"^(\d+)/\1 - \d+(ms|s) - loss: \d+\.\d{4} - accuracy: \d+\.\d{4}"
                  r" - val_loss: \d+\.\d{4} - val_accuracy: \d+\.\d{4}$")


def _fit(verbose, epochs=3, n=20000):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = tn.utils.to_categorical(rng.integers(0, 3, n), 3)
    model = tn.Sequential([tn.layers.Dense(6, activation="tanh", input_shape=(8,)),
                           tn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=1, epochs=epochs, validation_data=(x[:100], y[:100]), verbose=verbose)


def test_verbose_2_prints_keras_epoch_lines(capsys):
    _fit(2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert len(lines) == 6 and all(LINE.match(line) for line in lines[1::2]), lines
    assert all(line.startswith("20000/20000 - ") for line in lines[1::2])


def test_verbose_1_into_a_log_file_writes_no_bar_animation(capsys):
    # pytest's captured stdout is not a terminal, as in CI or `python train.py > log.txt`
    _fit(1)
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out  # no carriage returns, no ANSI erase codes
    lines = out.splitlines()
    assert len(lines) == 6 and all(LINE.match(line) for line in lines[1::2]), lines  # exactly as verbose=2


def test_progress_steps_gate_on_progress_at_multiples_once_per_step():
    from types import SimpleNamespace

    class Every(tn.callbacks.Callback):
        def __init__(self, n):
            super().__init__()
            self.progress_steps, self.calls = n, []

        def on_progress(self, seen, logs=None):
            self.calls.append(self.model.optimizer.iterations)

    class Plain(Every):
        progress_steps = None

    model = SimpleNamespace(optimizer=SimpleNamespace(iterations=0))
    every3, every2, plain = Every(3), Every(2), Plain(None)
    callbacks = tn.callbacks.CallbackList([every3, every2, plain], model, {})
    assert callbacks.progress_steps == 1  # the compiled path must stop wherever any of them asks
    for step in (1, 2, 3, 3, 4, 6, 7, 9):  # a step can be reported twice (chunk end and multiple)
        model.optimizer.iterations = step
        callbacks.on_progress(step * 10, {"loss": 1.0})
    assert every3.calls == [3, 6, 9] and every2.calls == [2, 4, 6]
    assert plain.calls == [1, 2, 3, 3, 4, 6, 7, 9]
