"""Split learning: the model is cut between device and server; activations cross the link, not weights.

The device holds layer 1 of an MLP ``F → h → C`` (``a = relu(x W1 + b1)``), the server layer 2 (the
softmax learner on ``a``). Per minibatch the device sends the activations ``a`` (``B × h`` float32)
and receives their gradient (``B × h``); it never sends its weights (Gupta & Raskar 2018; Vepakomma
et al. 2018). Compare with FedAvg, which ships whole models each round: which is cheaper depends on
``h``, the data size and the number of rounds.

Training runs on :func:`tinydtl.core.simulation.simulate` (one round = one epoch) and reuses the softmax
cross-entropy gradient and the Glorot initialisation of :mod:`tinydtl.learners.softmax`. Bytes follow the
package's one rule (:mod:`tinydtl.networks.transport`): activations are ``bytes_up``, their gradients
``bytes_down``, one transmission each per minibatch.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.history import History
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import FLOAT32_BYTES, Traffic
from tinydtl.core.validation import (
    as_features,
    check_labels,
    check_seed,
    check_test_set,
    n_classes_of,
    scaled,
)
from tinydtl.core.validation import check_number as _check_number
from tinydtl.learners.functional import (
    cross_entropy,
    glorot_uniform,
    softmax_cross_entropy_grad,
)

__all__ = ["SplitHistory", "split_train", "split_bytes_per_epoch", "split_algorithm"]

SplitHistory = History  # the one history type (old name kept)


def split_bytes_per_epoch(n_samples: int, hidden: int) -> int:
    """Bytes over the device-server link for one epoch: activations up and their gradients down."""
    _check_number("n_samples", n_samples, low=1, integer=True)
    _check_number("hidden", hidden, low=1, integer=True)
    return 2 * int(n_samples) * int(hidden) * FLOAT32_BYTES


def split_algorithm(X, y, n_classes, *, hidden, batch_size, lr, x_test=None, y_test=None, seed=0) -> Algorithm:
    """Split learning of one device and one server as an :class:`~tinydtl.core.simulation.Algorithm`."""
    rng = np.random.default_rng(seed)
    F = X.shape[1]

    def init():
        return {"W1": glorot_uniform(F, hidden, rng), "b1": np.zeros(hidden, np.float32),  # device
                "W2": glorot_uniform(hidden, n_classes, rng), "b2": np.zeros(n_classes, np.float32)}  # server

    def apply(s, r, settings):
        W1, b1, W2, b2 = s["W1"], s["b1"], s["W2"], s["b2"]
        order = rng.permutation(len(X))
        up = batches = 0
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = scaled(X[idx]), y[idx]
            a = np.maximum(xb @ W1 + b1, 0)  # device forward; a is sent
            p = softmax_cross_entropy_grad(a @ W2 + b2, yb)  # server
            grad_a = p @ W2.T  # sent back to the device
            W2 -= lr * a.T @ p
            b2 -= lr * p.sum(axis=0)
            grad_h = grad_a * (a > 0)
            W1 -= lr * xb.T @ grad_h
            b1 -= lr * grad_h.sum(axis=0)
            up += a.size * FLOAT32_BYTES
            batches += 1
        return s, {**Traffic(up, up, 2 * batches).as_row(), "live_devices": 1}

    def measure(s):
        if x_test is None:
            return {}
        H = np.maximum(scaled(x_test) @ s["W1"] + s["b1"], 0)
        logits = H @ s["W2"] + s["b2"]
        return {"accuracy": float((logits.argmax(axis=1) == y_test).mean()),
                "loss": float(cross_entropy(logits, y_test).mean())}

    return Algorithm("split", init, apply, measure, lambda s: s, live_devices=1)


def split_train(x_train, y_train, *, hidden=32, epochs=2, batch_size=20, lr=0.05, x_test=None, y_test=None,
                n_classes=None, seed=0) -> History:
    """Train the split MLP by minibatch SGD.

    Labels must be integers in ``[0, n_classes - 1]`` (default ``n_classes``: largest label + 1);
    ``-1`` or any label out of range raises. Returns the :class:`~tinydtl.core.history.History`: row 0 is
    the initial model, one row per epoch with test ``accuracy``/``loss``, ``bytes_up``
    (activations), ``bytes_down`` (their gradients) and ``messages``; ``weights`` = the four arrays.
    """
    _check_number("hidden", hidden, low=1, integer=True)
    _check_number("epochs", epochs, low=1, integer=True)
    _check_number("batch_size", batch_size, low=1, integer=True)
    _check_number("lr", lr, low=0, low_open=True)
    check_seed("seed", seed)
    X = as_features(x_train, "x_train")
    y = check_labels(y_train, "y_train", len(X), n_classes)
    Xt, yt = check_test_set(x_test, y_test, X.shape[1], n_classes)
    C = n_classes_of(y, yt, n_classes=n_classes)
    algorithm = split_algorithm(X, y, C, hidden=hidden, batch_size=batch_size, lr=np.float32(lr), x_test=Xt,
                                y_test=yt, seed=seed)
    config = dict(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, n_classes=C, seed=seed)
    return simulate(algorithm, epochs, config=config)
