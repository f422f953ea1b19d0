"""The peers: the same 784-25-10 configurations in PyTorch eager and in Keras 3 (torch backend).

PyTorch: ``nn.Sequential`` of ``nn.Linear`` layers, ``nn.MSELoss`` after a sigmoid (configurations
1-3) or ``nn.CrossEntropyLoss`` on the logits with class-index targets (4, 5: the idiomatic, fused
form of softmax + categorical cross-entropy), ``torch.optim.SGD`` / ``torch.optim.Adam`` with
``eps=1e-7`` (Keras's value; PyTorch adds it to the bias-corrected root, Keras to the raw one, so
trajectories differ slightly where sqrt(v) is near 1e-7).  The loop is the efficient idiom: the
epoch's data is gathered once in shuffled order and sliced per step (no DataLoader), and the loss
and accuracy are accumulated in tensors (no ``.item()`` per step).

Keras 3: ``model.fit(x, y, batch_size, epochs=1, shuffle=True, verbose=0)`` with
``KERAS_BACKEND=torch`` (set here unless already set).

JAX (``bench`` extra: jax, optax): the whole epoch is one ``jax.jit`` function, ``jax.lax.scan`` of the
training step over the batches of a permutation drawn inside it (``jax.random.permutation``; each
step gathers its batch), a last partial batch as one more step, ``optax.sgd`` / ``optax.adam`` with
Keras's hyperparameters (``eps=1e-7``, added to the bias-corrected root as in PyTorch), the same losses
(``optax.softmax_cross_entropy`` on the logits; MSE after a sigmoid).  Parameters and optimizer state
are donated to the call, so an epoch updates them in place.
"""
from __future__ import annotations

import os

import numpy as np

from configs import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON, N_HIDDEN, N_IN, N_OUT, Config


# ----------------------------------------------------------------------------------------- PyTorch
class TorchTrainer:
    """One configuration in PyTorch eager; ``epoch(order)`` trains over ``X[order]``."""

    def __init__(self, conf: Config, weights, X, Y, labels, optimizer_impl: str = "default"):
        import torch
        from torch import nn
        self.torch, self.conf = torch, conf
        layers = []
        for k in weights[0::2]:        # one nn.Linear per kernel of ``weights`` (Keras layout: (in, out))
            layers += [nn.Linear(*k.shape), nn.Tanh() if conf.hidden == "tanh" else nn.ReLU()]
        layers.pop()                   # no hidden activation after the last layer
        if conf.output == "sigmoid":
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)
        self.set_weights(weights)
        self.mse = conf.loss == "mse"
        if self.mse and conf.output != "sigmoid":
            raise ValueError("MSE is benchmarked with a sigmoid output only")
        self.loss_fn = nn.MSELoss() if self.mse else nn.CrossEntropyLoss()
        kw = {} if optimizer_impl == "default" else {optimizer_impl: True}   # 'foreach' | 'fused'
        params = self.model.parameters()
        if conf.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=conf.lr, **kw)
        else:
            self.opt = torch.optim.Adam(params, lr=conf.lr, betas=(ADAM_BETA_1, ADAM_BETA_2), eps=ADAM_EPSILON, **kw)
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        self.Y = torch.from_numpy(np.ascontiguousarray(Y, dtype=np.float32))
        self.labels = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))

    def linears(self):
        return [m for m in self.model if isinstance(m, self.torch.nn.Linear)]

    def set_weights(self, weights):
        torch = self.torch
        with torch.no_grad():
            for lin, W, b in zip(self.linears(), weights[0::2], weights[1::2]):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b))

    def get_weights(self):
        return [a for lin in self.linears() for a in (lin.weight.detach().numpy().T.copy(),
                                                     lin.bias.detach().numpy().copy())]

    def epoch(self, order, track=True):
        torch = self.torch
        B = self.conf.batch
        idx = torch.from_numpy(np.ascontiguousarray(order, dtype=np.int64))
        xs = self.X[idx]
        ts = self.Y[idx] if self.mse else self.labels[idx]
        ls = self.labels[idx]
        n = len(idx)
        preds = torch.empty(n, dtype=torch.int64)
        loss_sum = torch.zeros((), dtype=torch.float64)
        model, loss_fn, opt = self.model, self.loss_fn, self.opt
        for start in range(0, n, B):
            xb, tb = xs[start:start + B], ts[start:start + B]
            out = model(xb)
            loss = loss_fn(out, tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if track:
                loss_sum += loss.detach() * len(xb)
                torch.argmax(out.detach(), dim=1, out=preds[start:start + B])
        if not track:
            return {}
        return {"loss": float(loss_sum) / n, "accuracy": float((preds == ls).double().mean())}


# ----------------------------------------------------------------------------------------- JAX
class JaxTrainer:
    """One configuration in JAX; ``compile(n)`` compiles the epoch over the first ``n`` samples ahead of time
    (returns the seconds it took), ``epoch(n)`` trains one shuffled epoch over them."""

    def __init__(self, conf: Config, weights, X, Y, seed: int = 0):
        import jax
        import jax.numpy as jnp
        import optax
        self.jax, self.conf = jax, conf
        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in zip(weights[0::2], weights[1::2])]
        self.opt = (optax.sgd(conf.lr) if conf.optimizer == "sgd"
                    else optax.adam(conf.lr, b1=ADAM_BETA_1, b2=ADAM_BETA_2, eps=ADAM_EPSILON))
        self.state = self.opt.init(self.params)
        self.X = jnp.asarray(np.ascontiguousarray(X, dtype=np.float32))
        self.Y = jnp.asarray(np.ascontiguousarray(Y, dtype=np.float32))
        self.key = jax.random.PRNGKey(seed)
        self.compiled = {}

    def _epoch_fn(self, n):
        jax, conf, opt = self.jax, self.conf, self.opt
        jnp, optax = jax.numpy, __import__("optax")
        act = jnp.tanh if conf.hidden == "tanh" else jax.nn.relu
        B = conf.batch

        def loss_fn(params, xb, yb):
            for W, b in params[:-1]:
                xb = act(xb @ W + b)
            W, b = params[-1]
            z = xb @ W + b
            if conf.loss == "mse":
                return jnp.mean((jax.nn.sigmoid(z) - yb) ** 2), z
            return jnp.mean(optax.softmax_cross_entropy(z, yb)), z

        def epoch(params, state, key, X, Y):
            def step(carry, idx):
                params, state, loss_sum, correct = carry
                xb, yb = X[idx], Y[idx]
                (loss, z), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, xb, yb)
                updates, state = opt.update(grads, state, params)
                params = optax.apply_updates(params, updates)
                correct = correct + jnp.sum(jnp.argmax(z, axis=1) == jnp.argmax(yb, axis=1))
                return (params, state, loss_sum + loss * idx.shape[0], correct), None

            perm = jax.random.permutation(key, n)
            steps = n // B
            carry = (params, state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
            carry, _ = jax.lax.scan(step, carry, perm[:steps * B].reshape(steps, B))
            if n % B:
                carry, _ = step(carry, perm[steps * B:])
            return carry

        return jax.jit(epoch, donate_argnums=(0, 1))

    def compile(self, n) -> float:
        import time
        t0 = time.perf_counter()
        if n not in self.compiled:
            self.compiled[n] = self._epoch_fn(n).lower(self.params, self.state, self.key, self.X, self.Y).compile()
        return time.perf_counter() - t0

    def epoch(self, n):
        self.compile(n)
        self.key, sub = self.jax.random.split(self.key)
        self.params, self.state, loss_sum, correct = self.compiled[n](self.params, self.state, sub, self.X, self.Y)
        return {"loss": float(loss_sum) / n, "accuracy": int(correct) / n}

    def get_weights(self):
        return [np.asarray(a) for W, b in self.params for a in (W, b)]


# ----------------------------------------------------------------------------------------- Keras
def keras_available() -> tuple[bool, str]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except Exception as e:  # noqa: BLE001
        return False, f"keras not importable ({type(e).__name__}: {e})"
    return True, f"keras {keras.__version__}, backend {keras.backend.backend()}"


class KerasTrainer:
    """One configuration in Keras 3; ``epoch(x, y)`` is one ``fit`` call with ``shuffle=True``."""

    def __init__(self, conf: Config, weights):
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras
        self.keras, self.conf = keras, conf

        def init(kind):
            return keras.initializers.RandomUniform(-0.1, 0.1) if kind == "uniform0.1" else kind

        self.model = keras.Sequential([
            keras.Input((N_IN,)),
            keras.layers.Dense(N_HIDDEN, activation=conf.hidden, kernel_initializer=init(conf.hidden_init)),
            keras.layers.Dense(N_OUT, activation=conf.output, kernel_initializer=init(conf.output_init)),
        ])
        self.model.set_weights(weights)
        opt = (keras.optimizers.SGD(learning_rate=conf.lr) if conf.optimizer == "sgd"
               else keras.optimizers.Adam(learning_rate=conf.lr))
        loss = "mean_squared_error" if conf.loss == "mse" else "categorical_crossentropy"
        self.model.compile(loss=loss, optimizer=opt, metrics=["accuracy"])

    def epoch(self, x, y):
        h = self.model.fit(x, y, batch_size=self.conf.batch, epochs=1, shuffle=True, verbose=0)
        return {k: float(v[-1]) for k, v in h.history.items()}

