"""A classifier head of dense layers, trained by SGD or by Adam that is re-created every round.

Transfer learning on a microcontroller trains only the **head** — a few dense layers on top of a
frozen feature extractor (the bilayer-gossip paper, arXiv 2501.04817, trains an MLP head on a frozen
MCUNet backbone). :class:`DenseHead` is that head for the simulation core:
``logits = relu(… relu(x W1 + b1) …) W_L + b_L`` over any list of layer sizes, trained on the mean
softmax cross-entropy, every client of a round plan at once (batched matrix products, as
:class:`tinydtl.learners.mlp.MLPModel`). Parameters are one flat float32 row ``[W1, b1, W2, b2, …]``,
so gossip and aggregation move and average rows as for every other learner.

Two optimisers:

* ``"sgd"`` — ``θ ← θ − lr · g``;
* ``"adam"`` — Adam (Kingma & Ba 2015, Algorithm 1; :class:`tinydtl.learners.quantized_adam.Adam`)
  **re-created at the start of every round**: its moments start at zero and its step counter at 1 in
  each :meth:`DenseHead.local_update`. This is what a device does when it builds its optimiser inside
  the round (as the paper's public simulator does), and it is why the head needs no optimiser state
  between rounds. ``weight_decay`` adds ``wd · θ`` to the gradient (PyTorch's ``Adam(weight_decay=)``).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import check_choice, check_number, scaled
from tinydtl.learners.flat_params import FlatParameters, dense_shapes
from tinydtl.learners.functional import check_converging, cross_entropy, glorot_uniform
from tinydtl.learners.quantized_adam import Adam

__all__ = ["OPTIMIZERS", "WEIGHT_INITS", "DenseHead", "RowAdam"]

OPTIMIZERS = ("sgd", "adam")
WEIGHT_INITS = ("glorot", "he")


class DenseHead(FlatParameters):
    """Dense ReLU layers ``sizes[0] → … → sizes[-1]`` (classes last), SGD or Adam re-created per round.

    Parameters
    ----------
    sizes : sequence of int
        Input features, hidden widths, classes, e.g. ``(64, 128, 64, 10)``.
    optimizer : {"sgd", "adam"}
        ``"adam"``: a fresh Adam (zero moments) for every client at the start of every round.
    weight_decay : float >= 0
        L2 term added to the gradient.
    weight_init : {"glorot", "he"}
        Initial weights: Glorot-uniform or He-normal (zero biases either way).
    beta1, beta2, eps : float
        Adam's constants (Kingma & Ba's defaults).
    """

    def __init__(self, sizes, *, optimizer: str = "sgd", weight_decay: float = 0.0, weight_init: str = "glorot",
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        sizes = list(sizes) if isinstance(sizes, (list, tuple)) else None
        if sizes is None or len(sizes) < 2:
            raise ValueError("sizes must be a list or tuple of at least two layer sizes (inputs ... classes)")
        for i, s in enumerate(sizes):
            check_number(f"sizes[{i}]", s, low=1, integer=True)
        check_number("sizes[-1] (classes)", sizes[-1], low=2, integer=True)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_number("weight_decay", weight_decay, low=0)
        check_choice("weight_init", weight_init, WEIGHT_INITS)
        self.weight_init = weight_init
        Adam((1,), beta1=beta1, beta2=beta2, eps=eps)  # Adam checks its own constants
        self.sizes = tuple(int(s) for s in sizes)
        self.optimizer, self.weight_decay = optimizer, float(weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    # ------------------------------------------------------------------ parameters
    @property
    def shapes(self):
        return dense_shapes(self.sizes)

    @property
    def params_rule(self) -> str:
        return f"the head's {self.n_params} parameters"

    @property
    def n_features(self) -> int:
        return self.sizes[0]

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    def init(self, seed=0) -> np.ndarray:
        """Zero biases and, seeded, Glorot-uniform weights (``weight_init="glorot"``, Keras' default) or
        He-normal weights ``N(0, 2 / fan_in)`` (``"he"``, PyTorch's ``kaiming_normal_``)."""
        rng = np.random.default_rng([seed, 7919, len(self.sizes)])
        arrays = []
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            W = glorot_uniform(a, b, rng) if self.weight_init == "glorot" else \
                rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b)).astype(np.float32)
            arrays += [W, np.zeros(b, np.float32)]
        return self.flatten(*arrays)

    # ------------------------------------------------------------------ maths
    def forward(self, params, X):
        """Every layer's output (ReLU for the hidden layers, logits last) for a row or a stack of rows."""
        arrays = self.unflatten(params)
        outs, h = [], X
        for i in range(0, len(arrays), 2):
            W, b = np.ascontiguousarray(arrays[i]), arrays[i + 1]  # contiguous: matmul can call BLAS
            z = np.matmul(h, W) + (b if b.ndim == 1 else b[..., None, :])
            h = z if i == len(arrays) - 2 else np.maximum(z, 0, out=z)
            outs.append(h)
        return outs

    def backward(self, params, X, outs, g):
        """Gradients ``[dW1, db1, …]`` from the logits' gradient ``g`` (rows in the batch's leading axes)."""
        arrays = self.unflatten(params)
        grads = []
        for i in range(len(arrays) - 2, -1, -2):
            below = X if i == 0 else outs[i // 2 - 1]
            grads = [np.matmul(np.swapaxes(below, -1, -2), g), g.sum(axis=-2)] + grads
            if i:
                g = np.matmul(g, np.swapaxes(np.ascontiguousarray(arrays[i]), -1, -2)) * (below > 0)
        return grads

    def evaluate(self, params, X, y, chunk: int = 8192):
        """Mean cross-entropy and accuracy of one row of parameters on ``(X, y)``."""
        self.check_params(params)
        if len(X) == 0:
            raise ValueError("X must hold at least one sample to evaluate on")
        loss, correct = 0.0, 0
        for s in range(0, len(X), chunk):
            xs = scaled(np.asarray(X[s : s + chunk])).astype(np.float32, copy=False)
            logits = self.forward(params, xs)[-1]
            ys = np.asarray(y[s : s + chunk])
            loss += float(cross_entropy(logits, ys).sum())
            correct += int((logits.argmax(axis=1) == ys).sum())
        return loss / len(X), correct / len(X)

    def accuracies(self, rows, X, y, chunk: int = 4096) -> np.ndarray:
        """Accuracy of each row of ``rows`` (several devices' parameters) on ``(X, y)``, batched."""
        rows = np.asarray(rows, dtype=np.float32)
        self.check_params(rows, len(rows))
        correct = np.zeros(len(rows))
        for s in range(0, len(X), chunk):
            xs = scaled(np.asarray(X[s : s + chunk])).astype(np.float32, copy=False)
            logits = self.forward(rows, xs)[-1]  # (devices, chunk, classes)
            correct += (logits.argmax(axis=2) == np.asarray(y[s : s + chunk])[None, :]).sum(axis=1)
        return correct / len(X)

    def local_update(self, X, y, params, plan, lr, *, copy=True):
        """The round's local training of every client of ``plan`` (all at once, batched).

        Client ``plan.clients[i]`` starts from row ``params[i]`` and follows its batches; with
        ``optimizer="adam"`` each client gets a **new** Adam for this call (moments zero, step 1
        first). Returns ``(params, n_examples, loss_sum, correct)``, rows in plan order.
        """
        K = len(plan.clients)
        self.check_params(params, K)
        check_number("lr", lr, low=0, low_open=True)
        P = np.array(params, dtype=np.float32, copy=copy)
        adam, cohort = None, None  # one Adam over the rows of the clients still training (made fresh here)
        batches = [plan.batches(i) for i in range(K)]
        n, loss_sum, correct = np.zeros(K), 0.0, 0.0
        for s in range(max((len(b) for b in batches), default=0)):
            active = np.array([i for i in range(K) if s < len(batches[i])])
            x, ys, mask = self.gather(X, y, [batches[i][s] for i in active], plan.batch_size)
            rows = P[active]  # a copy: updated below, written back
            outs = self.forward(rows, x)
            g, step_loss, step_correct = self.logit_gradient(outs[-1], ys, mask)
            grad = self.flatten_stack(self.backward(rows, x, outs, g))
            if self.weight_decay:
                grad += np.float32(self.weight_decay) * rows
            if self.optimizer == "sgd":
                rows -= np.float32(lr) * grad
                check_converging("the parameters", rows, when="in an SGD step")
            else:
                if cohort is None or len(active) < len(cohort):
                    adam, cohort = self.narrow(adam, cohort, active, lr), active
                adam.step(rows, grad)
            P[active] = rows
            loss_sum, correct = loss_sum + step_loss, correct + step_correct
            n[active] += mask.sum(axis=1)
        return P, n, loss_sum, correct

    @staticmethod
    def gather(X, y, batches, B):
        """The step's minibatches stacked ``(k, B, F)`` with a mask for short batches."""
        idx = np.zeros((len(batches), B), dtype=np.intp)
        mask = np.zeros((len(batches), B), dtype=np.float32)
        for r, b in enumerate(batches):
            idx[r, : len(b)], mask[r, : len(b)] = b, 1.0
        x = scaled(np.take(X, idx.reshape(-1), axis=0)).astype(np.float32, copy=False)
        return x.reshape(len(batches), B, -1), np.asarray(y)[idx], mask

    @staticmethod
    def logit_gradient(logits, ys, mask):
        """``∂ mean CE / ∂ logits`` over each client's real samples, with the step's loss sum and hits."""
        logits = logits - logits.max(axis=2, keepdims=True)
        rows, cols = np.arange(len(ys))[:, None], np.arange(ys.shape[1])[None, :]
        p = np.exp(logits)
        z = p.sum(axis=2, keepdims=True)
        loss = float(((np.log(z[..., 0]) - logits[rows, cols, ys]) * mask).sum())
        correct = float(((logits.argmax(axis=2) == ys) * mask).sum())
        p /= z
        p[rows, cols, ys] -= 1.0
        p *= (mask / np.maximum(mask.sum(axis=1, keepdims=True), 1.0))[..., None]
        return p, loss, correct

    @staticmethod
    def flatten_stack(grads) -> np.ndarray:
        k = grads[0].shape[0]
        return np.concatenate([g.reshape(k, -1) for g in grads], axis=1).astype(np.float32, copy=False)

    def narrow(self, adam, cohort, active, lr) -> "RowAdam":
        """A new :class:`RowAdam` over the ``active`` clients' rows, carrying their moments and step
        count from ``adam`` (over ``cohort``); a fresh one (moments zero) when ``adam`` is None."""
        new = RowAdam((len(active), self.n_params), lr=lr, beta1=self.beta1, beta2=self.beta2, eps=self.eps)
        if adam is not None:
            keep = np.searchsorted(cohort, active)
            new.m, new.v, new.t = adam.m[keep], adam.v[keep], adam.t
        return new


class RowAdam:
    """Adam over a stack of rows (one row per client), float32, updated in place.

    The same step as :class:`tinydtl.learners.quantized_adam.Adam` (Kingma & Ba 2015, Algorithm 1,
    bias-corrected; the tests compare the two), element by element — so one ``RowAdam`` over the
    stacked rows is each client's own Adam — but in float32 and in place, which keeps a round of
    many clients cheap. A fresh one has zero moments and takes step ``t = 1`` first.
    """

    def __init__(self, shape, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        Adam(shape, lr=lr, beta1=beta1, beta2=beta2, eps=eps)  # the reference checks the constants
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = np.zeros(shape, np.float32)
        self.v = np.zeros(shape, np.float32)
        self.t = 0

    def step(self, param, grad) -> None:
        """``param -= lr · m̂ / (√v̂ + ε)`` in place, after updating the moments with ``grad``."""
        check_converging("the gradient", grad, when=f"at Adam step {self.t + 1}")
        self.t += 1
        b1, b2 = np.float32(self.beta1), np.float32(self.beta2)
        self.m *= b1
        self.m += (1 - b1) * grad
        self.v *= b2
        self.v += (1 - b2) * grad * grad
        denom = np.sqrt(self.v / np.float32(1 - self.beta2**self.t))
        denom += np.float32(self.eps)
        update = self.m * np.float32(self.lr / (1 - self.beta1**self.t))
        update /= denom
        param -= update
        check_converging("the parameters", param, when=f"at Adam step {self.t}")
