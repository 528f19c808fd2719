"""Globe2Train's baselines: synchronous and asynchronous SGD of the softmax learner over the same network.

Globe2Train compares G2T-D against the two classic ways of training one model on many devices
(Sudharsan, Breslin & Ali 2021, sec. I–II): *synchronous* SGD, where the server waits for a gradient
from every live device before it steps (a round is as slow as its slowest device and link), and
*asynchronous* SGD (Hogwild!-style parameter server), where the server applies each gradient the
moment it arrives — computed on parameters that may be several versions old.

Both train the core's :class:`tinydtl.models.SoftmaxModel` (``softmax(x W + b)``, K classes) on an
IID split of the data across the devices, over a :class:`tinydtl.netsim.Network` (latency,
bandwidth, congestion, drops, churn), with the device compute model of :mod:`tinydtl.ovo`
(``6`` flops per sample and weight for a minibatch step). A device's step: download the current
parameters (one payload), compute the minibatch gradient ``g = ∇ mean CE`` (Xᵀ(softmax − onehot)/B),
upload ``g`` (one payload); the server steps ``w ← w − η g`` (synchronous: the mean of the round's
gradients). Both stop after the same training budget, ``epochs`` passes over the data.

**Staleness, per update**: the server's version when it applies ``g`` minus the version ``g`` was
computed from (0 for synchronous SGD by construction, measured anyway).

Bytes and messages follow the core's rule (:mod:`tinydtl.communication`: payload bytes per
transmission, retransmissions not counted); transmission attempts, retransmissions included, are the
extra column ``attempts``. Each returns a :class:`tinydtl.history.History`, one row per server update
(row 0 the initial model), with ``seconds`` the *simulated* duration of the row, and extra columns ``time`` (simulated clock at the
row's end), ``staleness`` and ``flops``.
"""

from __future__ import annotations

import heapq

import numpy as np

from ._validation import check_int, check_number
from .communication import Traffic, payload_bytes
from .history import History
from .models import SoftmaxModel, as_features, check_labels, scaled, softmax_cross_entropy_grad

__all__ = ["iid_parts", "run_async_sgd", "run_sync_sgd", "softmax_gradient", "step_flops"]


def softmax_gradient(model: SoftmaxModel, params, X, y) -> np.ndarray:
    """Flat gradient of the mean cross-entropy of ``model`` at ``params`` on the minibatch ``(X, y)``."""
    W, b = model.unflatten(params)
    x = scaled(X)
    G = softmax_cross_entropy_grad(x @ W + b, y)
    return model.flatten(x.T @ G, G.sum(axis=0))


def step_flops(model: SoftmaxModel, batch: int) -> float:
    """Flops of one minibatch step: ``6 × batch × (d + 1) × K`` (the compute model of :func:`tinydtl.ovo.problem_costs`)."""
    return 6.0 * batch * (model.n_features + 1) * model.n_classes


def iid_parts(n_samples: int, n_devices: int, seed: int = 0) -> list[np.ndarray]:
    """A seeded IID split of ``n_samples`` indices over ``n_devices`` devices."""
    check_int("n_devices", n_devices, 1)
    if n_samples < n_devices:
        raise ValueError(f"need at least one sample per device: {n_samples} samples for {n_devices} devices")
    perm = np.random.default_rng([seed, 11]).permutation(n_samples)
    return [np.sort(p) for p in np.array_split(perm, n_devices)]


def _setup(X, y, devices, network, epochs, batch_size, lr, X_test, y_test, n_classes, seed):
    from .ovo import check_devices

    check_devices(devices)
    if len(network) != len(devices):
        raise ValueError(f"network has {len(network)} links for {len(devices)} devices")
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    check_number("lr", lr, low=0, low_open=True)
    check_int("seed", seed, 0)
    X = as_features(X, "X")
    y = check_labels(y, "y", len(X), n_classes)
    K = n_classes or int(y.max()) + 1
    model = SoftmaxModel(X.shape[1], max(K, 2))
    test = None
    if X_test is not None:
        Xt = as_features(X_test, "X_test")
        test = (Xt, check_labels(y_test, "y_test", len(Xt), model.n_classes))
    parts = iid_parts(len(X), len(devices), seed)
    budget = int(np.ceil(epochs * len(X) / batch_size))  # minibatch gradients to compute
    return X, y, model, test, parts, budget


def _measure(model, params, test):
    if test is None:
        return {}
    loss, acc = model.evaluate(params, *test)
    return {"loss": loss, "accuracy": acc}


class _Batches:
    """Each device's minibatches: successive seeded shuffles of its own samples."""

    def __init__(self, parts, batch_size, seed):
        self.parts, self.B, self.seed = parts, batch_size, seed
        self.queue = [[] for _ in parts]
        self.epoch = [0] * len(parts)

    def next(self, k):
        if not self.queue[k]:
            rng = np.random.default_rng([self.seed, k, self.epoch[k], 3])
            order = self.parts[k][rng.permutation(len(self.parts[k]))]
            self.queue[k] = [order[s : s + self.B] for s in range(0, len(order), self.B)]
            self.epoch[k] += 1
        return self.queue[k].pop(0)


def run_sync_sgd(X, y, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5, X_test=None,
                 y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0) -> History:
    """Synchronous SGD: every round each live device sends one gradient; the server waits for all.

    A device that drops out before its gradient arrives is left out of the round (the server stops
    waiting when it notices the drop-out); a round with no live device waits for the first to return.
    """
    X, y, model, test, parts, budget = _setup(X, y, devices, network, epochs, batch_size, lr, X_test, y_test, n_classes, seed)
    check_int("eval_every", eval_every, 1)
    params = model.init(seed)
    P = payload_bytes(model.n_params)
    batches = _Batches(parts, batch_size, seed)
    hist = History(algorithm="sync-sgd", config=dict(epochs=epochs, batch_size=batch_size, lr=lr, devices=len(devices)))
    hist.record(0, bytes_up=0, bytes_down=0, messages=0, live_devices=len(devices), seconds=0.0, time=0.0,
                staleness=np.nan, attempts=0, flops=0.0, **_measure(model, params, test))
    t, done, r = 0.0, 0, 0
    while done < budget:
        online = [k for k in range(len(devices)) if network.online(k, t)]
        if not online:
            t = min(network.next_online(k, t) for k in range(len(devices)))
            continue
        grads, ends, traffic, attempts, flops = [], [], Traffic(), 0, 0.0
        for k in online:
            leave = network.next_dropout(k, t)
            down = network.transmit(k, P, t)
            traffic += Traffic(bytes_down=P, messages=1)
            attempts += down.attempts
            idx = batches.next(k)
            f = step_flops(model, len(idx))
            ready = down.arrival + f / devices[k].speed
            if ready > leave:
                ends.append(leave)
                continue
            flops += f
            up = network.transmit(k, P, ready)
            traffic += Traffic(bytes_up=P, messages=1)
            attempts += up.attempts
            if up.arrival > leave:
                ends.append(leave)
                continue
            grads.append(softmax_gradient(model, params, X[idx], y[idx]))
            ends.append(up.arrival)
        r += 1
        if grads:
            params = params - np.float32(lr) * np.mean(grads, axis=0, dtype=np.float32)
            done += len(grads)
        t_end = max(ends)
        last = done >= budget
        measured = _measure(model, params, test) if (r % eval_every == 0 or last) else {}
        hist.record(r, **traffic.as_row(), live_devices=len(grads), seconds=t_end - t, time=t_end,
                    staleness=0 if grads else np.nan, attempts=attempts, flops=flops, **measured)
        t = t_end
    hist.weights = params
    return hist


def run_async_sgd(X, y, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5, X_test=None,
                  y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0) -> History:
    """Asynchronous SGD: the server applies each gradient when it arrives; one row per applied update.

    Device ``k`` downloads the parameters of version ``v``, computes a gradient, uploads it; it is
    applied at version ``v'`` (staleness ``v' − v``) and the device starts again at once. A device
    that drops out loses the gradient it was working on and restarts when it comes back.
    """
    X, y, model, test, parts, budget = _setup(X, y, devices, network, epochs, batch_size, lr, X_test, y_test, n_classes, seed)
    check_int("eval_every", eval_every, 1)
    params = model.init(seed)
    P = payload_bytes(model.n_params)
    batches = _Batches(parts, batch_size, seed)
    hist = History(algorithm="async-sgd", config=dict(epochs=epochs, batch_size=batch_size, lr=lr, devices=len(devices)))
    hist.record(0, bytes_up=0, bytes_down=0, messages=0, live_devices=len(devices), seconds=0.0, time=0.0,
                staleness=np.nan, attempts=0, flops=0.0, **_measure(model, params, test))
    version = 0
    events = []  # (arrival time, device, version computed from, gradient)
    pending = {"traffic": Traffic(), "attempts": 0, "flops": 0.0}

    def start(k, t):
        """Device k fetches the current parameters at t and works on a gradient (unless it drops out)."""
        while True:
            t = network.next_online(k, t)
            leave = network.next_dropout(k, t)
            down = network.transmit(k, P, t)
            pending["traffic"] += Traffic(bytes_down=P, messages=1)
            pending["attempts"] += down.attempts
            idx = batches.next(k)
            f = step_flops(model, len(idx))
            ready = down.arrival + f / devices[k].speed
            if ready > leave:
                t = leave
                continue
            pending["flops"] += f
            up = network.transmit(k, P, ready)
            pending["traffic"] += Traffic(bytes_up=P, messages=1)
            pending["attempts"] += up.attempts
            if up.arrival > leave:
                t = leave
                continue
            heapq.heappush(events, (up.arrival, k, version, softmax_gradient(model, params, X[idx], y[idx])))
            return

    for k in range(len(devices)):
        start(k, 0.0)
    t_prev = 0.0
    while version < budget:
        t, k, v, g = heapq.heappop(events)
        params = params - np.float32(lr) * g
        staleness = version - v
        version += 1
        last = version >= budget
        traffic, attempts, flops = pending["traffic"], pending["attempts"], pending["flops"]
        pending.update(traffic=Traffic(), attempts=0, flops=0.0)
        measured = _measure(model, params, test) if (version % eval_every == 0 or last) else {}
        hist.record(version, **traffic.as_row(), live_devices=1, seconds=t - t_prev, time=t,
                    staleness=staleness, attempts=attempts, flops=flops, **measured)
        t_prev = t
        if not last:
            start(k, t)
    hist.weights = params
    return hist
