"""Split learning: the model is cut between devices and a server; activations cross the link, not weights.

Each device holds layer 1 of an MLP ``F → h → C`` (``a = relu(x W1 + b1)``), the server layer 2 (the
softmax learner on ``a``). Per minibatch the device sends the activations ``a`` (``B × h`` float32)
**and the labels** (``B`` bytes: the server computes the loss, so it learns every label — one of split
learning's known leaks) and receives the gradient of ``a`` (``B × h``); it never sends its weights to
the server (Gupta & Raskar 2018, "Distributed learning of deep neural network over multiple
agents", Sec. 2; Vepakomma et al. 2018).

With several devices (``parts``) they train **in turn** in each epoch (Gupta & Raskar's multi-agent
setting): a device trains on its data with the server, then hands its layer-1 weights to the next
device (one payload of ``F·h + h`` floats). The hand-overs wrap around: from the second epoch on, the first
device must receive the last device's layer 1 before it trains, so the first epoch makes ``K - 1``
hand-overs and every later epoch ``K`` (one device alone keeps its layer 1 and hands nothing over). Compare with FedAvg on the same devices, which ships whole
models every round: which is cheaper depends on ``h``, the data size and the number of rounds.

Training runs on :func:`tinydtl.core.simulation.simulate` (one round = one epoch over every device)
and reuses the softmax cross-entropy gradient and the Glorot initialisation of
:mod:`tinydtl.learners.functional`. Bytes follow the package's one rule (:mod:`tinydtl.core.traffic`):
activations and labels are ``bytes_up``, their gradients ``bytes_down``, the hand-over of layer 1
between devices is ``bytes_up`` too (device to device).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.history import History
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import Traffic, payload_bytes
from tinydtl.core.validation import (
    as_features,
    check_int_seed,
    check_labels,
    check_number,
    check_parts,
    check_test_set,
    n_classes_of,
    scaled,
)
from tinydtl.learners.functional import (
    cross_entropy,
    glorot_uniform,
    softmax_cross_entropy_grad,
)
from tinydtl.runtime.deprecation import deprecated_alias

__all__ = ["run_split_learning", "split_algorithm", "split_bytes_per_epoch", "split_train"]

LABEL_DTYPE = "uint8"  # one byte per label (up to 256 classes)


def split_bytes_per_epoch(n_samples: int, hidden: int, *, n_features: int = 784, n_devices: int = 1,
                          first: bool = False) -> int:
    """Bytes over the links in one epoch: activations and labels up, activation gradients down, and the
    hand-overs of layer 1 between devices — ``n_devices`` of them in every epoch after the first (the last
    device hands layer 1 back round to the first), ``n_devices - 1`` in the first (``first=True``); none
    with one device."""
    check_number("n_samples", n_samples, low=1, integer=True)
    check_number("hidden", hidden, low=1, integer=True)
    check_number("n_features", n_features, low=1, integer=True)
    check_number("n_devices", n_devices, low=1, integer=True)
    activations = 2 * payload_bytes(int(n_samples) * int(hidden)) + payload_bytes(n_samples, LABEL_DTYPE)
    k = int(n_devices)
    handovers = k - 1 if first or k == 1 else k
    return activations + handovers * payload_bytes(int(n_features) * int(hidden) + int(hidden))


def split_algorithm(X, y, n_classes, parts, *, hidden, batch_size, lr, x_test=None, y_test=None, seed=0) -> Algorithm:
    """Split learning of ``len(parts)`` devices (in turn) and one server as an
    :class:`~tinydtl.core.simulation.Algorithm`; the state, generator included, is made by ``init``."""
    F = X.shape[1]

    def init():
        rng = np.random.default_rng(seed)
        return {"W1": glorot_uniform(F, hidden, rng), "b1": np.zeros(hidden, np.float32),  # device side
                "W2": glorot_uniform(hidden, n_classes, rng), "b2": np.zeros(n_classes, np.float32),  # server
                "rng": rng}

    def apply(s, r, settings):
        traffic = Traffic()
        for k, idx in enumerate(parts):
            if len(parts) > 1 and (k or r):  # the previous device hands layer 1 over (wrapping round after epoch 1)
                handover = payload_bytes(s["W1"].size + s["b1"].size)
                traffic = traffic + Traffic(bytes_up=handover, messages=1)
            traffic = traffic + device_epoch(s, idx[s["rng"].permutation(len(idx))])
        return s, {**traffic.as_row(), "live_devices": len(parts)}

    def device_epoch(s, order) -> Traffic:
        W1, b1, W2, b2 = s["W1"], s["b1"], s["W2"], s["b2"]
        up = down = batches = 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = scaled(X[idx]), y[idx]
            a = np.maximum(xb @ W1 + b1, 0)  # device forward; a and the labels are sent
            p = softmax_cross_entropy_grad(a @ W2 + b2, yb)  # server
            grad_a = p @ W2.T  # sent back to the device
            W2 -= lr * a.T @ p
            b2 -= lr * p.sum(axis=0)
            grad_h = grad_a * (a > 0)
            W1 -= lr * xb.T @ grad_h
            b1 -= lr * grad_h.sum(axis=0)
            up += payload_bytes(a.size) + payload_bytes(len(yb), LABEL_DTYPE)
            down += payload_bytes(grad_a.size)
            batches += 1
        return Traffic(up, down, 2 * batches)

    def measure(s):
        if x_test is None:
            return {}
        H = np.maximum(scaled(x_test) @ s["W1"] + s["b1"], 0)
        logits = H @ s["W2"] + s["b2"]
        return {"accuracy": float((logits.argmax(axis=1) == y_test).mean()),
                "loss": float(cross_entropy(logits, y_test).mean())}

    def final(s):
        return {k: v for k, v in s.items() if k != "rng"}

    return Algorithm("split", init, apply, measure, final, live_devices=len(parts))


def run_split_learning(x_train, y_train, parts=None, *, hidden=32, epochs=2, batch_size=20, lr=0.05, x_test=None,
                       y_test=None, n_classes=None, seed=0) -> History:
    """Train the split MLP by minibatch SGD; ``parts`` (default: one device holding everything) are
    the devices, which train in turn each epoch.

    Labels must be integers in ``[0, n_classes - 1]`` (default ``n_classes``: largest label + 1).
    Returns the :class:`~tinydtl.core.history.History`: row 0 is the initial model, one row per
    epoch with test ``accuracy``/``loss``, ``bytes_up`` (activations, labels, hand-overs),
    ``bytes_down`` (activation gradients) and ``messages``; ``weights`` = the four arrays.
    """
    check_number("hidden", hidden, low=1, integer=True)
    check_number("epochs", epochs, low=1, integer=True)
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("lr", lr, low=0, low_open=True)
    seed = check_int_seed("seed", seed)
    X = as_features(x_train, "x_train")
    y = check_labels(y_train, "y_train", len(X), n_classes)
    parts = check_parts([np.arange(len(X))] if parts is None else parts, len(X))
    Xt, yt = check_test_set(x_test, y_test, X.shape[1], n_classes)
    C = n_classes_of(y, yt, n_classes=n_classes)
    if C > 256:
        raise ValueError(f"n_classes must be at most 256 (labels are sent as one byte), got {C}")
    algorithm = split_algorithm(X, y, C, parts, hidden=hidden, batch_size=batch_size, lr=np.float32(lr), x_test=Xt,
                                y_test=yt, seed=seed)
    config = dict(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, n_classes=C, seed=seed,
                  n_devices=len(parts))
    return simulate(algorithm, epochs, config=config)


split_train = deprecated_alias("split_train", run_split_learning)  # old name, one release
