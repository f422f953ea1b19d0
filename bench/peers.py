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
        act = nn.Tanh() if conf.hidden == "tanh" else nn.ReLU()
        layers = [nn.Linear(N_IN, N_HIDDEN), act, nn.Linear(N_HIDDEN, N_OUT)]
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

    def set_weights(self, weights):
        torch = self.torch
        W1, b1, W2, b2 = weights
        lin1, lin2 = self.model[0], self.model[2]
        with torch.no_grad():
            lin1.weight.copy_(torch.from_numpy(np.ascontiguousarray(W1.T)))
            lin1.bias.copy_(torch.from_numpy(b1))
            lin2.weight.copy_(torch.from_numpy(np.ascontiguousarray(W2.T)))
            lin2.bias.copy_(torch.from_numpy(b2))

    def get_weights(self):
        lin1, lin2 = self.model[0], self.model[2]
        return [lin1.weight.detach().numpy().T.copy(), lin1.bias.detach().numpy().copy(),
                lin2.weight.detach().numpy().T.copy(), lin2.bias.detach().numpy().copy()]

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

