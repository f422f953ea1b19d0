"""The book's Keras code, run on tweaknet with only the import line changed.

Ekman, *Learning Deep Learning*, ch. 5: Code Snippets 5-4 to 5-12 and the two complete scripts of
Table 5-1 (configuration 1: tanh/sigmoid, MSE, SGD, batch 1; configuration 5: ReLU/softmax,
cross-entropy, Adam, batch 64), on the real MNIST that ships with tweaknet.  The only changes to
the book's text: ``import tweaknet as keras`` instead of ``from tensorflow import keras``,
``keras.utils.set_random_seed(7)`` instead of ``tf.random.set_seed(7)``, and fewer epochs (and, for
the batch-1 script, fewer training images) so that CI stays short.
"""
import numpy as np
import pytest

import tweaknet as keras  # was: from tensorflow import keras
from tweaknet.utils import to_categorical  # was: from tensorflow.keras.utils import to_categorical


def load_standardized_mnist():
    """The book's data preparation: scalar mean and standard deviation of the training images."""
    mnist = keras.datasets.mnist
    (train_images, train_labels), (test_images, test_labels) = mnist.load_data()
    mean = np.mean(train_images)
    stddev = np.std(train_images)
    train_images = (train_images - mean) / stddev
    test_images = (test_images - mean) / stddev
    train_labels = to_categorical(train_labels, num_classes=10)
    test_labels = to_categorical(test_labels, num_classes=10)
    return train_images, train_labels, test_images, test_labels


def test_complete_script_configuration_1(capsys):
    keras.utils.set_random_seed(7)  # was: tf.random.set_seed(7)
    EPOCHS = 2       # the book: 20
    BATCH_SIZE = 1
    train_images, train_labels, test_images, test_labels = load_standardized_mnist()
    train_images, train_labels = train_images[:20000], train_labels[:20000]  # CI: a third of the images

    initializer = keras.initializers.RandomUniform(minval=-0.1, maxval=0.1)
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(25, activation='tanh', kernel_initializer=initializer, bias_initializer='zeros'),
        keras.layers.Dense(10, activation='sigmoid', kernel_initializer=initializer, bias_initializer='zeros')])
    opt = keras.optimizers.SGD(learning_rate=0.01)
    model.compile(loss='mean_squared_error', optimizer=opt, metrics=['accuracy'])
    history = model.fit(train_images, train_labels, validation_data=(test_images, test_labels),
                        epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2, shuffle=True)

    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "20000/20000 - " in out and "val_accuracy: " in out
    h = history.history
    assert h["loss"][1] < h["loss"][0]
    assert 0.85 < h["val_accuracy"][-1] < 0.99  # the book's configuration 1 reaches ~0.9 in its first epochs
    assert keras.fast.explain(model).compiled  # the book's model takes the compiled path


def test_complete_script_configuration_5(capsys):
    keras.utils.set_random_seed(7)
    EPOCHS = 2       # the book: 20
    BATCH_SIZE = 64
    train_images, train_labels, test_images, test_labels = load_standardized_mnist()

    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(25, activation='relu', kernel_initializer='he_normal', bias_initializer='zeros'),
        keras.layers.Dense(10, activation='softmax', kernel_initializer='glorot_uniform', bias_initializer='zeros')])
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    history = model.fit(train_images, train_labels, validation_data=(test_images, test_labels),
                        epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=2, shuffle=True)

    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "60000/60000 - " in out
    h = history.history
    assert h["loss"][1] < h["loss"][0]
    assert 0.93 < h["val_accuracy"][-1] < 0.99
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.iterations == EPOCHS * 938  # ceil(60000 / 64) steps per epoch


# -- Code Snippets 5-4 to 5-12 ---------------------------------------------------------------------
@pytest.fixture
def small_mnist():
    train_images, train_labels, test_images, test_labels = load_standardized_mnist()
    return train_images[:512], train_labels[:512], test_images[:256], test_labels[:256]


def _fit_twice(model, data, loss, optimizer):
    train_images, train_labels, test_images, test_labels = data
    model.compile(loss=loss, optimizer=optimizer, metrics=['accuracy'])
    h = model.fit(train_images, train_labels, validation_data=(test_images, test_labels), epochs=2,
                  batch_size=32, verbose=0, shuffle=True).history
    assert h["loss"][1] < h["loss"][0] and np.isfinite(h["val_loss"]).all()
    return h


def test_snippets_5_4_and_5_5_initializers(small_mnist):
    keras.utils.set_random_seed(7)
    initializer = keras.initializers.RandomUniform(minval=-0.1, maxval=0.1)  # 5-4
    glorot = keras.initializers.glorot_uniform()
    he = keras.initializers.he_normal()
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(25, activation='tanh', kernel_initializer=initializer, bias_initializer='zeros'),
        keras.layers.Dense(10, activation='sigmoid', kernel_initializer='glorot_uniform',  # 5-5
                           bias_initializer='zeros')])
    model.build()
    kernel, bias, out_kernel, _ = model.get_weights()
    assert np.abs(kernel).max() <= 0.1 and not bias.any()
    assert np.abs(out_kernel).max() <= np.sqrt(6 / (25 + 10))
    assert isinstance(glorot, keras.initializers.GlorotUniform) and isinstance(he, keras.initializers.HeNormal)
    _fit_twice(model, small_mnist, 'mean_squared_error', keras.optimizers.SGD(learning_rate=0.01))


@pytest.mark.parametrize("placement", ["5-6 before the activation", "5-7 after the activation"])
def test_snippets_5_6_and_5_7_batch_normalization(small_mnist, placement):
    keras.utils.set_random_seed(7)
    if placement.startswith("5-6"):
        hidden = [keras.layers.Dense(64),
                  keras.layers.BatchNormalization(),
                  keras.layers.Activation('tanh')]
    else:
        hidden = [keras.layers.Dense(64, activation='tanh'),
                  keras.layers.BatchNormalization()]
    model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)), *hidden,
                              keras.layers.Dense(10, activation='softmax')])
    _fit_twice(model, small_mnist, 'categorical_crossentropy', 'adam')
    bn = model.layers[2]
    assert isinstance(bn, keras.layers.BatchNormalization)
    moving_mean, moving_variance = bn.get_weights()[2:]
    assert np.abs(moving_mean).sum() > 0 and not np.allclose(moving_variance, 1.0)  # moving statistics moved


def test_snippet_5_8_cross_entropy_agrees_with_binary_crossentropy():
    def cross_entropy(y_truth, y_predict):  # Code Snippet 5-8, as printed
        if y_truth == 1.0:
            return -np.log(y_predict)
        else:
            return -np.log(1.0 - y_predict)

    rng = np.random.default_rng(8)
    y_true = rng.integers(0, 2, size=50).astype(np.float64)
    y_pred = rng.uniform(0.01, 0.99, size=50)
    ours = keras.losses.binary_crossentropy(y_true.reshape(-1, 1), y_pred.reshape(-1, 1))
    book = [cross_entropy(t, p) for t, p in zip(y_true, y_pred)]
    np.testing.assert_allclose(np.asarray(ours).reshape(-1), book, rtol=1e-6)


def test_snippets_5_9_to_5_12_loss_activation_and_optimizers(small_mnist):
    train_images, train_labels, test_images, test_labels = small_mnist
    keras.utils.set_random_seed(7)
    # 5-9: binary cross-entropy for a binary problem (is the digit a zero?)
    model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                              keras.layers.Dense(25, activation='tanh'),  # 5-10
                              keras.layers.Dense(1, activation='sigmoid')])
    binary = (small_mnist[0], small_mnist[1][:, :1], small_mnist[2], small_mnist[3][:, :1])
    h = _fit_twice(model, binary, 'binary_crossentropy', keras.optimizers.SGD(learning_rate=0.01))  # 5-11
    assert model.compiled_metrics[0].name == "accuracy" and h["val_accuracy"][-1] > 0.5
    # 5-11 alternatives, in the Keras 2 spellings the book prints (deprecated, still accepted)
    with pytest.warns(DeprecationWarning):
        opts = [keras.optimizers.Adagrad(lr=0.01, epsilon=None),
                keras.optimizers.RMSprop(lr=0.001, rho=0.8, epsilon=None),
                keras.optimizers.Adam(lr=0.01, epsilon=0.1, decay=0.0)]
    for opt in [*opts, 'adam']:  # 'adam': Code Snippet 5-12, the optimizer by name
        model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                                  keras.layers.Dense(25, activation='relu', kernel_initializer='he_normal'),
                                  keras.layers.Dense(10, activation='softmax')])
        _fit_twice(model, small_mnist, 'categorical_crossentropy', opt)
