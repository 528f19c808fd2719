"""Split learning: the model is cut between device and server; activations cross the link, not weights.

The device holds layer 1 of an MLP ``784 → h → 10`` (``a = relu(x W1 + b1)``), the server layer 2.
Per minibatch the device sends the activations ``a`` (``B × h`` float32) and receives their gradient
(``B × h``); it never sends its weights (Gupta & Raskar 2018; Vepakomma et al. 2018). Compare with
FedAvg, which ships whole models each round: which is cheaper depends on ``h``, the data size and
the number of rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_number as _check_number
from .federated import N_CLASSES, evaluate, preprocess

__all__ = ["SplitHistory", "split_train", "split_bytes_per_epoch"]

FLOAT32_BYTES = 4


def split_bytes_per_epoch(n_samples: int, hidden: int) -> int:
    """Bytes over the device-server link for one epoch: activations up and their gradients down."""
    return 2 * int(n_samples) * int(hidden) * FLOAT32_BYTES


@dataclass
class SplitHistory:
    test_accuracy: list[float] = field(default_factory=list)
    bytes_sent: list[int] = field(default_factory=list)  # cumulative, after each epoch


def split_train(x_train, y_train, *, hidden=32, epochs=2, batch_size=20, lr=0.05, x_test=None, y_test=None, seed=0):
    """Train the split MLP by minibatch SGD; returns per-epoch test accuracy and cumulative link bytes."""
    _check_number("hidden", hidden, low=1, integer=True)
    _check_number("epochs", epochs, low=1, integer=True)
    _check_number("batch_size", batch_size, low=1, integer=True)
    _check_number("lr", lr, low=0, low_open=True)
    X = preprocess(x_train)
    y = np.asarray(y_train).astype(np.intp)
    if y.shape != (len(X),):
        raise ValueError(f"y_train must have shape ({len(X)},), got {y.shape}")
    rng = np.random.default_rng(seed)
    F = X.shape[1]
    W1 = rng.uniform(-1, 1, (F, hidden)).astype(np.float32) * np.sqrt(6 / (F + hidden))  # device
    b1 = np.zeros(hidden, np.float32)
    W2 = rng.uniform(-1, 1, (hidden, N_CLASSES)).astype(np.float32) * np.sqrt(6 / (hidden + N_CLASSES))  # server
    b2 = np.zeros(N_CLASSES, np.float32)
    hist = SplitHistory()
    sent = 0
    Xt = preprocess(x_test) if x_test is not None else None
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for s in range(0, len(X), batch_size):
            idx = order[s : s + batch_size]
            xb, yb = X[idx], y[idx]
            a = np.maximum(xb @ W1 + b1, 0)  # device forward; a is sent
            logits = a @ W2 + b2  # server
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            p /= len(yb)
            grad_a = p @ W2.T  # sent back to the device
            W2 -= lr * a.T @ p
            b2 -= lr * p.sum(axis=0)
            grad_h = grad_a * (a > 0)
            W1 -= lr * xb.T @ grad_h
            b1 -= lr * grad_h.sum(axis=0)
            sent += 2 * a.size * FLOAT32_BYTES
        hist.bytes_sent.append(sent)
        if Xt is not None:
            H = np.maximum(Xt @ W1 + b1, 0)
            hist.test_accuracy.append(evaluate(W2, b2, H, np.asarray(y_test))[1])
    return hist
