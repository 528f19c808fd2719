"""A one-hidden-layer MLP for the simulation core: the non-convex learner next to the softmax head.

``logits = act(x W1 + b1) W2 + b2`` with ``act`` ReLU or tanh, trained by minibatch SGD on the mean
softmax cross-entropy. It implements the core's model interface (see ``docs/architecture.md``):
:meth:`MLPModel.init`, :meth:`MLPModel.local_update` (every client of a round plan, by the compiled
kernel of :mod:`tinydtl.learners.mlp_kernels` or by the numpy reference that steps all clients at once
as batched matrix products), :meth:`MLPModel.evaluate`, :meth:`MLPModel.arrays` and
:meth:`MLPModel.loss_and_gradient`. Parameters are one flat float32 row ``[W1, b1, W2, b2]``, so
communication and aggregation move and average rows exactly as for the softmax learner.

Where the softmax learner's loss is convex, this one's is not: FedAvg and gossip averaging of models
that drifted apart no longer average to a model as good as the centralised one, which is why lessons
compare decentralised schemes on both.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import check_choice, check_number, scaled
from tinydtl.learners.functional import (
    cross_entropy,
    glorot_uniform,
    softmax_cross_entropy_grad,
)
from tinydtl.learners.flat_params import FlatParameters, dense_shapes
from tinydtl.learners.softmax import KERNELS, flat_batches

__all__ = ["ACTIVATIONS", "DeepMLPModel", "MLPModel"]

ACTIVATIONS = ("relu", "tanh")


class MLPModel(FlatParameters):
    """``softmax(act(x W1 + b1) W2 + b2)``; ``W1 (F, H)``, ``W2 (H, C)``; Glorot-uniform weights, zero biases."""

    def __init__(self, n_features: int, hidden: int, n_classes: int, *, activation: str = "relu",
                 kernel: str = "numba"):
        check_number("n_features", n_features, low=1, integer=True)
        check_number("hidden", hidden, low=1, integer=True)
        check_number("n_classes", n_classes, low=2, integer=True)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        check_choice("kernel", kernel, KERNELS)
        self.n_features, self.hidden, self.n_classes = int(n_features), int(hidden), int(n_classes)
        self.activation, self.kernel = activation, kernel

    params_rule = "n_params = F*H + H + H*C + C"

    # ------------------------------------------------------------------ parameters
    @property
    def shapes(self):
        return dense_shapes((self.n_features, self.hidden, self.n_classes))

    def init(self, seed=0) -> np.ndarray:
        rng = np.random.default_rng([seed, 7919, 2])
        W1 = glorot_uniform(self.n_features, self.hidden, rng)
        W2 = glorot_uniform(self.hidden, self.n_classes, rng)
        return self.flatten(W1, np.zeros(self.hidden, np.float32), W2, np.zeros(self.n_classes, np.float32))

    # ------------------------------------------------------------------ maths
    def _act(self, z):
        return np.maximum(z, 0, out=z) if self.activation == "relu" else np.tanh(z, out=z)

    def _act_grad(self, a):
        """d act / d z from the activation's output ``a``."""
        return (a > 0).astype(np.float32) if self.activation == "relu" else 1.0 - a * a

    def _forward(self, params, X):
        W1, b1, W2, b2 = self.unflatten(params)
        h = self._act(X @ W1 + b1)
        return h, h @ W2 + b2

    def loss_and_gradient(self, params, X, y):
        """Mean cross-entropy on ``(X, y)`` and its gradient, both for one flat row of parameters."""
        self.check_params(params)
        X = scaled(np.asarray(X)) if np.asarray(X).dtype == np.uint8 else np.asarray(X, np.float32)
        y = np.asarray(y)
        W1, b1, W2, b2 = self.unflatten(np.asarray(params, np.float32))
        h, logits = self._forward(params, X)
        loss = float(np.mean(cross_entropy(logits, y)))
        g = softmax_cross_entropy_grad(logits, y)
        dh = (g @ W2.T) * self._act_grad(h)
        return loss, self.flatten(X.T @ dh, dh.sum(axis=0), h.T @ g, g.sum(axis=0))

    def evaluate(self, params, X, y, chunk: int = 8192):
        """Mean cross-entropy and accuracy on ``(X, y)``."""
        self.check_params(params)
        if len(X) == 0:
            raise ValueError("X must hold at least one sample to evaluate on")
        loss, correct = 0.0, 0
        for s in range(0, len(X), chunk):
            xs = np.asarray(X[s : s + chunk])
            xs = scaled(xs) if xs.dtype == np.uint8 else xs.astype(np.float32, copy=False)
            _, logits = self._forward(params, xs)
            ys = np.asarray(y[s : s + chunk])
            loss += float(cross_entropy(logits, ys).sum())
            correct += int((logits.argmax(axis=1) == ys).sum())
        return loss / len(X), correct / len(X)

    def prepare(self, X) -> np.ndarray:
        """``X`` as ``uint8`` pixels or float32 features, one flat C-contiguous row per sample: converted
        once per run, not per call."""
        X = np.asarray(X)
        X = X.reshape(len(X), -1)
        return np.ascontiguousarray(X) if X.dtype == np.uint8 else np.ascontiguousarray(X, dtype=np.float32)

    def local_update(self, X, y, params, plan, lr, *, copy=True):
        """Minibatch SGD on every client of ``plan``.

        Client ``plan.clients[i]`` starts from row ``params[i]`` and follows its batches in ``plan``
        (clients that run out of batches stop). Returns ``(params, n_examples, loss_sum, correct)``,
        rows in plan order, like :meth:`tinydtl.learners.softmax.SoftmaxModel.local_update`. The
        ``"numba"`` kernel (default, :mod:`tinydtl.learners.mlp_kernels`) trains client after client
        in one compiled call; the ``"numpy"`` reference steps all clients at once (batched matrix
        products). They agree to float32 rounding.
        """
        K, B = len(plan.clients), plan.batch_size
        self.check_params(params, K)
        check_number("lr", lr, low=0, low_open=True)
        if self.kernel == "numba":
            return self._compiled_update(self.prepare(X), y, params, plan, lr, copy=copy)
        P = np.array(params, dtype=np.float32, copy=copy)  # copy=False: a float32 C-contiguous params is updated in place
        W1, b1, W2, b2 = self.unflatten(P)
        batches = [plan.batches(i) for i in range(K)]
        S = max((len(b) for b in batches), default=0)
        lr = np.float32(lr)
        n = np.zeros(K)
        loss_sum = correct = 0.0
        for s in range(S):
            active = np.array([i for i in range(K) if s < len(batches[i])])
            idx = np.zeros((len(active), B), dtype=np.intp)
            mask = np.zeros((len(active), B), dtype=np.float32)
            for r, i in enumerate(active):
                b = batches[i][s]
                idx[r, : len(b)], mask[r, : len(b)] = b, 1.0
            x = np.take(X, idx.reshape(-1), axis=0)
            x = (scaled(x) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)).reshape(len(active), B, -1)
            ys = np.asarray(y)[idx]
            h = self._act(np.matmul(x, W1[active]) + b1[active][:, None, :])
            logits = np.matmul(h, W2[active]) + b2[active][:, None, :]
            logits -= logits.max(axis=2, keepdims=True)
            rows, cols = np.arange(len(active))[:, None], np.arange(B)[None, :]
            true = logits[rows, cols, ys]
            correct += float(((logits.argmax(axis=2) == ys) * mask).sum())
            p = np.exp(logits)
            z = p.sum(axis=2, keepdims=True)
            loss_sum += float(((np.log(z[..., 0]) - true) * mask).sum())
            p /= z
            p[rows, cols, ys] -= 1.0
            p *= (mask / np.maximum(mask.sum(axis=1, keepdims=True), 1.0))[..., None]  # mean over real samples
            dh = np.matmul(p, W2[active].transpose(0, 2, 1)) * self._act_grad(h)
            W2[active] -= lr * np.matmul(h.transpose(0, 2, 1), p)
            b2[active] -= lr * p.sum(axis=1)
            W1[active] -= lr * np.matmul(x.transpose(0, 2, 1), dh)
            b1[active] -= lr * dh.sum(axis=1)
            n[active] += mask.sum(axis=1)
        return P, n, loss_sum, correct

    def _compiled_update(self, X, y, params, plan, lr, *, copy):
        from tinydtl.learners.mlp_kernels import mlp_sgd_clients

        K = len(plan.clients)
        P = np.array(params, dtype=np.float32, order="C") if copy else np.require(params, np.float32, ["C", "W"])
        order, batch_ptr, client_ptr = flat_batches(plan)
        if order.size and order.min() < 0:
            raise ValueError(f"the plan's sample indices must be >= 0, got {order.min()}")
        labels = np.asarray(y)[order].astype(np.intp, copy=False)
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(f"y must hold labels in [0, {self.n_classes - 1}], got {labels.min()}..{labels.max()}")
        if X.shape[1:] != (self.n_features,):
            raise ValueError(f"X must have {self.n_features} features per row, got shape {X.shape}")
        stats = np.zeros((K, 3))
        mlp_sgd_clients(X, labels, P, self.hidden, order, batch_ptr, client_ptr, np.float32(lr), self.activation == "relu",
                        stats)
        return P, stats[:, 2].copy(), float(stats[:, 0].sum()), float(stats[:, 1].sum())

class DeepMLPModel(FlatParameters):
    """An MLP with any number of hidden layers: ``logits = act(… act(x W1 + b1) …) W_L + b_L``.

    The TFF differential-privacy tutorial's model is ``DeepMLPModel(784, (200, 200), 10)``
    (784-200-200-10, ReLU). Parameters are one flat float32 row ``[W1, b1, W2, b2, …]``, the
    initialisation Glorot-uniform weights (drawn layer by layer from one seeded stream) and zero
    biases, and the interface the simulation core and the FedAvg engine use: :meth:`init`,
    :meth:`prepare`, :meth:`local_update` (every client of a round plan at once), :meth:`evaluate`,
    :meth:`arrays`. With one hidden layer it computes what :class:`MLPModel` computes (the tests
    check it); :class:`MLPModel` stays as it is because lessons pin its numbers.
    """

    def __init__(self, n_features: int, hidden=(200, 200), n_classes: int = 10, *, activation: str = "relu"):
        check_number("n_features", n_features, low=1, integer=True)
        check_number("n_classes", n_classes, low=2, integer=True)
        widths = (hidden,) if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool) else hidden
        if not isinstance(widths, (tuple, list)) or not widths:
            raise ValueError(f"hidden must be a width or a non-empty sequence of widths, got {hidden!r}")
        for h in widths:
            check_number("hidden", h, low=1, integer=True)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        self.n_features, self.n_classes = int(n_features), int(n_classes)
        self.hidden = tuple(int(h) for h in widths)
        self.activation = activation
        self.sizes = (self.n_features, *self.hidden, self.n_classes)

    @property
    def shapes(self):
        return dense_shapes(self.sizes)

    def init(self, seed=0) -> np.ndarray:
        rng = np.random.default_rng([seed, 7919, 2])  # MLPModel's stream: one hidden layer gives its numbers
        arrays = []
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            arrays += [glorot_uniform(a, b, rng), np.zeros(b, np.float32)]
        return self.flatten(*arrays)

    def prepare(self, X):
        """Features as the engine keeps them for a run (uint8 pixels stay uint8, scaled per batch)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have {self.n_features} features per row, got shape {X.shape}")
        return X

    def _act(self, z):
        return np.maximum(z, 0, out=z) if self.activation == "relu" else np.tanh(z, out=z)

    def _act_grad(self, a):
        return (a > 0).astype(np.float32) if self.activation == "relu" else 1.0 - a * a

    def _logits(self, params, X):
        arrays = self.unflatten(params)
        h = X
        for i in range(0, len(arrays), 2):
            h = h @ arrays[i] + arrays[i + 1]
            if i + 2 < len(arrays):
                h = self._act(h)
        return h

    def evaluate(self, params, X, y, chunk: int = 8192):
        """Mean cross-entropy and accuracy on ``(X, y)``."""
        self.check_params(params)
        if len(X) == 0:
            raise ValueError("X must hold at least one sample to evaluate on")
        loss, correct = 0.0, 0
        for s in range(0, len(X), chunk):
            xs = np.asarray(X[s : s + chunk])
            logits = self._logits(params, scaled(xs) if xs.dtype == np.uint8 else xs.astype(np.float32, copy=False))
            ys = np.asarray(y[s : s + chunk])
            loss += float(cross_entropy(logits, ys).sum())
            correct += int((logits.argmax(axis=1) == ys).sum())
        return loss / len(X), correct / len(X)

    def local_update(self, X, y, params, plan, lr, *, mu=0.0, anchor=None, copy=True):
        """Minibatch SGD on every client of ``plan`` at once, like :meth:`MLPModel.local_update`
        (``mu`` must be 0: FedProx is the softmax learner's option). Returns
        ``(params, n_examples, loss_sum, correct)``, rows in plan order.

        Two shortcuts with the same arithmetic: a step's minibatches are padded only to the longest
        batch of that step, and while every client still holds the same weights (the first step from
        a broadcast row, as FedAvg starts a round) the forward and backward products use the one
        shared matrix (one large product instead of one per client).
        """
        K = len(plan.clients)
        self.check_params(params, K)
        check_number("lr", lr, low=0, low_open=True)
        if mu:
            raise ValueError(f"mu must be 0 for DeepMLPModel (no FedProx term), got {mu!r}")
        shared = K > 0 and np.asarray(params).strides[0] == 0  # np.broadcast_to of one row
        P = np.array(params, dtype=np.float32, copy=copy, order="C")  # C order: a broadcast row would copy to F order
        arrays = self.unflatten(P)
        Ws, bs = arrays[0::2], arrays[1::2]
        batches = [plan.batches(i) for i in range(K)]
        S = max((len(b) for b in batches), default=0)
        lr, n, y = np.float32(lr), np.zeros(K), np.asarray(y)
        loss_sum = correct = 0.0
        for s in range(S):
            active = np.array([i for i in range(K) if s < len(batches[i])])
            every = len(active) == K
            B = max(len(batches[i][s]) for i in active)
            idx = np.zeros((len(active), B), dtype=np.intp)
            mask = np.zeros((len(active), B), dtype=np.float32)
            for r, i in enumerate(active):
                b = batches[i][s]
                idx[r, : len(b)], mask[r, : len(b)] = b, 1.0
            x = np.take(X, idx.reshape(-1), axis=0)
            x = (scaled(x) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)).reshape(len(active), B, -1)
            layers = [(W[0], b[0]) if shared and s == 0 else ((W, b) if every else (W[active], b[active]))
                      for W, b in zip(Ws, bs)]
            g, outs = self._forward_batches(layers, x, mask, idx, y)
            loss_sum, correct = loss_sum + g.pop(), correct + g.pop()
            g = g[0]
            for layer in range(len(Ws) - 1, -1, -1):  # gradients with the old weights, then the step
                gW, gb = np.matmul(outs[layer].transpose(0, 2, 1), g), g.sum(axis=1)
                if layer:
                    g = _matmul(g, np.swapaxes(layers[layer][0], -1, -2)) * self._act_grad(outs[layer])
                gW *= lr
                gb *= lr
                if every:
                    Ws[layer][...] -= gW
                    bs[layer][...] -= gb
                else:
                    Ws[layer][active] -= gW
                    bs[layer][active] -= gb
            n[active] += mask.sum(axis=1)
        return P, n, loss_sum, correct

    def _forward_batches(self, layers, x, mask, idx, y):
        """Forward pass of one step: ``([d loss / d logits, correct, loss_sum], layer inputs)``; each
        layer is a shared ``(W, b)`` or one per client."""
        outs = [x]
        for i, (W, b) in enumerate(layers):
            z = _matmul(outs[-1], W) + (b[:, None, :] if b.ndim == 2 else b)
            if i + 1 < len(layers):
                outs.append(self._act(z))
        logits = z - z.max(axis=2, keepdims=True)
        ys, rows, cols = y[idx], np.arange(len(x))[:, None], np.arange(x.shape[1])[None, :]
        correct = float(((logits.argmax(axis=2) == ys) * mask).sum())
        p = np.exp(logits)
        zsum = p.sum(axis=2, keepdims=True)
        loss_sum = float(((np.log(zsum[..., 0]) - logits[rows, cols, ys]) * mask).sum())
        p /= zsum
        p[rows, cols, ys] -= 1.0
        g = p * (mask / np.maximum(mask.sum(axis=1, keepdims=True), 1.0))[..., None]  # mean over real samples
        return [g, correct, loss_sum], outs


def _matmul(a, W):
    """``a (K, B, m) @ W``, with ``W`` one matrix ``(m, n)`` for all clients (one large 2-D product;
    numpy's broadcast of a 2-D operand over a stack leaves BLAS) or one per client ``(K, m, n)``."""
    if W.ndim == 2:
        return (a.reshape(-1, a.shape[-1]) @ W).reshape(a.shape[:-1] + (W.shape[1],))
    return np.matmul(a, W)
