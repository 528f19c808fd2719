"""Globe2Train's baselines: synchronous and asynchronous SGD of the softmax learner over the same network.

Globe2Train compares G2T-D against the two classic ways of training one model on many devices
(Sudharsan, Breslin & Ali 2021): *synchronous* SGD, where the server waits for a gradient
from every live device before it steps (a round is as slow as its slowest device and link), and
*asynchronous* SGD (Hogwild!-style parameter server), where the server applies each gradient the
moment it arrives — computed on parameters that may be several versions old.

Both train the core's :class:`tinydtl.learners.softmax.SoftmaxModel` (``softmax(x W + b)``, K classes) on an
IID split of the data across the devices, over a :class:`tinydtl.networks.netsim.Network` (latency,
bandwidth, congestion, drops, churn), with the device compute model of :mod:`tinydtl.papers.globe2train.fleet`
(``6`` flops per sample and weight for a minibatch step). A device's step: download the current
parameters (one payload), take one minibatch SGD step with the core's
:meth:`tinydtl.learners.softmax.SoftmaxModel.local_update` (``Δ = −η ∇ mean CE``), upload the update (one
payload); the server adds it (synchronous: the mean of the round's updates, weighted by samples, via
:func:`tinydtl.core.aggregation.aggregate_updates` — FedAvg with one local step is synchronous SGD).
Both run through the core's loop :func:`tinydtl.core.simulation.simulate` and stop after the same
training budget, ``epochs`` passes over the data (synchronous: ``ceil(budget / devices)`` rounds).

**Staleness, per update**: the server's version when it applies ``g`` minus the version ``g`` was
computed from (0 for synchronous SGD by construction, measured anyway).

Bytes and messages follow the core's rule (:mod:`tinydtl.networks.transport`: payload bytes per
transmission, retransmissions not counted); transmission attempts, retransmissions included, are the
extra column ``attempts``. Each returns a :class:`tinydtl.core.history.History`, one row per server update
(row 0 the initial model; ``seconds`` and ``cpu_seconds`` are the host's, as everywhere in the core),
with the extra columns ``sim_seconds`` (simulated duration of the row), ``time`` (simulated clock at
the row's end), ``staleness`` and ``flops``.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from tinydtl.core.aggregation import aggregate_updates
from tinydtl.core.history import History
from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import Traffic, payload_bytes
from tinydtl.core.validation import as_features, check_int, check_labels, check_number
from tinydtl.learners.softmax import SoftmaxModel
from tinydtl.papers.globe2train.fleet import check_devices

__all__ = ["iid_parts", "run_async_sgd", "run_sync_sgd", "step_flops"]


def step_flops(model: SoftmaxModel, batch: int) -> float:
    """Flops of one minibatch step, ``6 × batch × (d + 1) × K`` (the compute model of
    :func:`tinydtl.papers.globe2train.fleet.problem_costs`)."""
    return 6.0 * batch * (model.n_features + 1) * model.n_classes


def iid_parts(n_samples: int, n_devices: int, seed: int = 0) -> list[np.ndarray]:
    """A seeded IID split of ``n_samples`` indices over ``n_devices`` devices."""
    check_int("n_devices", n_devices, 1)
    if n_samples < n_devices:
        raise ValueError(f"need at least one sample per device: {n_samples} samples for {n_devices} devices")
    perm = np.random.default_rng([seed, 11]).permutation(n_samples)
    return [np.sort(p) for p in np.array_split(perm, n_devices)]


def _setup(X, y, devices, network, epochs, batch_size, lr, X_test, y_test, n_classes, seed, eval_every):
    check_devices(devices)
    if len(network) != len(devices):
        raise ValueError(f"network has {len(network)} links for {len(devices)} devices")
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    check_number("lr", lr, low=0, low_open=True)
    check_int("seed", seed, 0)
    check_int("eval_every", eval_every, 1)
    X = as_features(X, "X")
    y = check_labels(y, "y", len(X), n_classes)
    model = SoftmaxModel(X.shape[1], n_classes or max(int(y.max()) + 1, 2))
    test = None
    if X_test is not None:
        Xt = as_features(X_test, "X_test")
        test = (Xt, check_labels(y_test, "y_test", len(Xt), model.n_classes))
    parts = iid_parts(len(X), len(devices), seed)
    budget = math.ceil(epochs * len(X) / batch_size)  # minibatch updates the server applies
    return model.prepare(X), y, model, test, parts, budget  # features prepared once for every local update


def _evaluator(model, test, eval_every, last):
    def evaluate(state):
        if test is None or (state["updates"] % eval_every and state["updates"] < last):
            return {}
        loss, acc = model.evaluate(state["params"], *test)
        return {"loss": loss, "accuracy": acc}

    return evaluate


def _step(model, X, y, params, parts, k, index, settings, seed, lr):
    """Device ``k``'s ``index``-th minibatch step from ``params``: ``(update, samples)`` (the core's local update)."""
    plan = plan_from_settings(parts, index, settings, seed=seed).subset([k])
    new, n, _, _ = model.local_update(X, y, params[None, :], plan, lr)
    return new[0] - params, float(n[0])


def run_sync_sgd(X, y, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5, X_test=None,
                 y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0, progress: bool = False) -> History:
    """Synchronous SGD: every round each live device sends one update; the server waits for all.

    A device that drops out before its update arrives is left out of the round (the server stops
    waiting when it notices the drop-out); when no device is online the round waits for the first
    to return.
    """
    X, y, model, test, parts, budget = _setup(X, y, devices, network, epochs, batch_size, lr, X_test, y_test,
                                              n_classes, seed, eval_every)
    rounds = math.ceil(budget / len(devices))
    P = payload_bytes(model.n_params)
    settings = PlanSettings(batch_size=batch_size, local_steps=1)

    def init():
        return {"params": model.init(seed), "t": 0.0, "updates": 0}

    def apply(state, r, settings):
        t = state["t"]
        online = [k for k in range(len(devices)) if network.online(k, t)]
        while not online:
            t = min(network.next_online(k, t) for k in range(len(devices)))
            online = [k for k in range(len(devices)) if network.online(k, t)]
        plan = plan_from_settings(parts, r, settings, seed=seed)
        traffic, attempts, flops, kept, ends = Traffic(), 0, 0.0, [], []
        for k in online:
            leave = network.next_dropout(k, t)
            down = network.transmit(k, P, t)
            traffic += Traffic(bytes_down=P, messages=1)
            attempts += down.attempts
            f = step_flops(model, plan.n_examples(k))
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
            kept.append(k)
            ends.append(up.arrival)
        params = state["params"]
        if kept:
            stack = np.repeat(params[None, :], len(kept), axis=0)
            new, n, _, _ = model.local_update(X, y, stack, plan.subset(kept), lr)
            params = aggregate_updates(new, n, "mean").astype(np.float32)
        t_end = max(ends)
        stats = {**traffic.as_row(), "live_devices": len(kept), "sim_seconds": t_end - state["t"], "time": t_end,
                 "staleness": 0 if kept else math.nan, "attempts": attempts, "flops": flops}
        return {"params": params, "t": t_end, "updates": state["updates"] + 1}, stats

    algo = Algorithm("sync-sgd", init, apply, _evaluator(model, test, eval_every, rounds),
                     final=lambda s: s["params"], live_devices=len(devices))
    return simulate(algo, rounds, settings=settings, progress=progress,
                    config=dict(epochs=epochs, batch_size=batch_size, lr=lr, devices=len(devices), seed=seed))


def run_async_sgd(X, y, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5, X_test=None,
                  y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0, progress: bool = False) -> History:
    """Asynchronous SGD: the server applies each update when it arrives; one row per applied update.

    Device ``k`` downloads the parameters of version ``v``, takes a minibatch step, uploads the
    update; it is applied at version ``v'`` (staleness ``v' − v``) and the device starts again at
    once. A device that drops out loses the update it was working on and restarts when it is back.
    """
    X, y, model, test, parts, budget = _setup(X, y, devices, network, epochs, batch_size, lr, X_test, y_test,
                                              n_classes, seed, eval_every)
    P = payload_bytes(model.n_params)
    settings = PlanSettings(batch_size=batch_size, local_steps=1)
    steps = [0] * len(devices)  # minibatch steps each device has started (its plan index)

    def start(state, k, t):
        """Device k fetches the current parameters at t and works on an update (until one arrives)."""
        while True:
            t = network.next_online(k, t)
            leave = network.next_dropout(k, t)
            down = network.transmit(k, P, t)
            state["traffic"] += Traffic(bytes_down=P, messages=1)
            state["attempts"] += down.attempts
            update, n = _step(model, X, y, state["params"], parts, k, steps[k], settings, seed, lr)
            steps[k] += 1
            f = step_flops(model, int(n))
            ready = down.arrival + f / devices[k].speed
            if ready > leave:
                t = leave
                continue
            state["flops"] += f
            up = network.transmit(k, P, ready)
            state["traffic"] += Traffic(bytes_up=P, messages=1)
            state["attempts"] += up.attempts
            if up.arrival > leave:
                t = leave
                continue
            heapq.heappush(state["events"], (up.arrival, k, state["updates"], update))
            return

    def init():
        state = {"params": model.init(seed), "t": 0.0, "updates": 0, "events": [], "traffic": Traffic(),
                 "attempts": 0, "flops": 0.0}
        for k in range(len(devices)):
            start(state, k, 0.0)
        return state

    def apply(state, r, settings):
        t, k, version, update = heapq.heappop(state["events"])
        state["params"] = state["params"] + update
        staleness = state["updates"] - version
        state["updates"] += 1
        stats = {**state["traffic"].as_row(), "live_devices": 1, "sim_seconds": t - state["t"], "time": t,
                 "staleness": staleness, "attempts": state["attempts"], "flops": state["flops"]}
        state.update(t=t, traffic=Traffic(), attempts=0, flops=0.0)
        if state["updates"] < budget:
            start(state, k, t)
        return state, stats

    algo = Algorithm("async-sgd", init, apply, _evaluator(model, test, eval_every, budget),
                     final=lambda s: s["params"], live_devices=len(devices))
    return simulate(algo, budget, settings=settings, progress=progress,
                    config=dict(epochs=epochs, batch_size=batch_size, lr=lr, devices=len(devices), seed=seed))
