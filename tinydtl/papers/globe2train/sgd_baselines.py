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
:func:`tinydtl.core.robust.weighted_mean` — FedAvg with one local step is synchronous SGD).
Both run through the core's loop :func:`tinydtl.core.simulation.simulate` and stop after the same
training budget, ``epochs`` passes over the data (synchronous: ``ceil(budget / devices)`` rounds).

**Where the data starts.** By default each device already holds its share (the federated setting:
nothing is shipped). Globe2Train's setting is different: the cloud holds the data and hands work to
idle devices. With ``feature_bytes`` set, each device first downloads its share from the cloud,
``n_k × (d × feature_bytes + 1)`` bytes (:func:`~tinydtl.papers.globe2train.fleet.sample_bytes`, the
rule G2T's problems are shipped by), once, when it is first online; it starts training when the
share has arrived, and those bytes are in the first row's ``bytes_down`` (a drop-out during the
download is not modelled: a lower bound on the baseline's cost).

**Stopping.** Both run ``epochs`` passes over the data at most; a ``controller`` (as for
:func:`tinydtl.core.simulation.simulate`) may end a run earlier, e.g. once the accuracy evaluated on
``(x_test, y_test)`` — pass validation data there — reaches a target (time to accuracy).

**Staleness, per update**: the server's version when it applies ``g`` minus the version ``g`` was
computed from (0 for synchronous SGD by construction, measured anyway).

Bytes and messages follow the core's rule (:mod:`tinydtl.networks.transport`: payload bytes per
transmission, retransmissions not counted); transmission attempts, retransmissions included, are the
extra column ``attempts``. Each returns a :class:`tinydtl.core.history.History`, one row per server update
(row 0 the initial model; ``seconds`` and ``cpu_seconds`` are the host's, as everywhere in the core),
with the extra columns ``sim_seconds`` (simulated duration of the row), ``time`` (simulated clock at
the row's end), ``staleness`` and ``flops``.

Each front end (:func:`run_sync_sgd`, :func:`run_async_sgd`) builds an
:class:`~tinydtl.core.simulation.Algorithm` (:func:`sync_sgd_algorithm`, :func:`async_sgd_algorithm`)
whose ``init()`` holds everything a run changes — the parameters, the clock, the network's random
draws (:meth:`tinydtl.networks.netsim.Network.fresh`), each device's step count — so simulating the
same algorithm twice gives the same history.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from tinydtl.core.history import History
from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.core.robust import weighted_mean
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import Traffic, payload_bytes
from tinydtl.core.validation import (
    as_features,
    check_int,
    check_labels,
    check_number,
    check_test_set,
)
from tinydtl.learners.softmax import AugmentedFeatures, SoftmaxModel
from tinydtl.networks.netsim import check_network
from tinydtl.papers.globe2train.fleet import check_devices, sample_bytes
from tinydtl.runtime.deprecation import renamed_keywords

__all__ = [
    "SGDProblem",
    "async_sgd_algorithm",
    "iid_parts",
    "run_async_sgd",
    "run_sync_sgd",
    "step_flops",
    "sync_sgd_algorithm",
    "update_budget",
]

#: keywords of the 0.1 front ends -> their names now (accepted for one release, with a DeprecationWarning)
RENAMED_KEYWORDS = {"X": "x_train", "y": "y_train", "X_test": "x_test"}


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


def update_budget(n_samples: int, epochs: int, batch_size: int) -> int:
    """The training budget of both baselines: ``ceil(epochs × n_samples / batch_size)`` minibatch updates."""
    return math.ceil(epochs * n_samples / batch_size)


@dataclass
class SGDProblem:
    """A baseline's validated inputs: the data split over the devices, the model, the network, the budget."""

    x: AugmentedFeatures  # the training features, prepared once for every local update
    y: np.ndarray
    model: SoftmaxModel
    test: tuple | None
    parts: list
    devices: list
    network: object
    lr: float
    seed: int
    eval_every: int
    budget: int  # minibatch updates the server applies
    settings: PlanSettings
    share_bytes: list  # bytes of each device's share of the data, shipped before training (0: already there)

    @classmethod
    def from_data(cls, x_train, y_train, devices, network, *, epochs, batch_size, lr, x_test, y_test, n_classes, seed,
                  eval_every, feature_bytes=None) -> SGDProblem:
        check_devices(devices)
        check_network(network, len(devices))
        check_int("epochs", epochs, 1)
        check_int("batch_size", batch_size, 1)
        check_number("lr", lr, low=0, low_open=True)
        check_int("seed", seed, 0)
        check_int("eval_every", eval_every, 1)
        if n_classes is not None:
            check_int("n_classes", n_classes, 2)
        x = as_features(x_train, "x_train")
        y = check_labels(y_train, "y_train", len(x), n_classes)
        model = SoftmaxModel(x.shape[1], n_classes or max(int(y.max()) + 1, 2))
        xt, yt = check_test_set(x_test, y_test, x.shape[1], model.n_classes)
        parts = iid_parts(len(x), len(devices), seed)
        per_sample = 0 if feature_bytes is None else sample_bytes(x.shape[1], feature_bytes)
        return cls(model.prepare(x), y, model, None if xt is None else (xt, yt), parts,
                   list(devices), network, lr, seed, eval_every, update_budget(len(x), epochs, batch_size),
                   PlanSettings(batch_size=batch_size, local_steps=1), [len(part) * per_sample for part in parts])

    def ship_shares(self, network) -> tuple[list, Traffic, int]:
        """Send every device its share of the data when it is first online: ``(arrival time per device,
        the traffic, transmission attempts)``; with nothing to ship every device is ready at 0."""
        ready, traffic, attempts = [0.0] * len(self.devices), Traffic(), 0
        for k, nbytes in enumerate(self.share_bytes):
            if nbytes:
                down = network.transmit(k, nbytes, network.next_online(k, 0.0))
                ready[k] = down.arrival
                traffic += Traffic(bytes_down=nbytes, messages=1)
                attempts += down.attempts
        return ready, traffic, attempts

    @property
    def payload(self) -> int:
        """Bytes of one parameter transfer (the whole model, float32)."""
        return payload_bytes(self.model.n_params)

    def evaluator(self, last: int):
        """``evaluate(state)``: test loss and accuracy every ``eval_every`` updates and after the ``last``."""

        def evaluate(state):
            if self.test is None or (state["updates"] % self.eval_every and state["updates"] < last):
                return {}
            loss, acc = self.model.evaluate(state["params"], *self.test)
            return {"loss": loss, "accuracy": acc}

        return evaluate

    def algorithm(self, name: str, init, apply, last: int) -> Algorithm:
        return Algorithm(name, init, apply, self.evaluator(last), final=lambda s: s["params"],
                         live_devices=len(self.devices))


# ----------------------------------------------------------------------------- synchronous SGD
def sync_device(prob: SGDProblem, network, k: int, t: float, plan, tally: dict) -> tuple[float, bool]:
    """Device ``k``'s part of a synchronous round started at ``t``: download, step, upload (traffic,
    attempts and flops added to ``tally``). Returns ``(when its update arrived, True)``, or ``(when it
    left, False)`` if it dropped out first (the server stops waiting for it then)."""
    leave = network.next_dropout(k, t)
    down = network.transmit(k, prob.payload, t)
    tally["traffic"] += Traffic(bytes_down=prob.payload, messages=1)
    tally["attempts"] += down.attempts
    f = step_flops(prob.model, plan.n_examples(k))
    ready = down.arrival + f / prob.devices[k].speed
    if ready > leave:
        return leave, False
    tally["flops"] += f
    up = network.transmit(k, prob.payload, ready)
    tally["traffic"] += Traffic(bytes_up=prob.payload, messages=1)
    tally["attempts"] += up.attempts
    return (leave, False) if up.arrival > leave else (up.arrival, True)


def sync_sgd_algorithm(x_train, y_train, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5,
                       x_test=None, y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0,
                       feature_bytes: int | None = None) -> tuple[Algorithm, int]:
    """Synchronous SGD (:func:`run_sync_sgd`, same parameters) as ``(Algorithm, rounds)``. Its rounds
    use the algorithm's own plan (``batch_size``, one local step), whatever settings ``simulate`` passes."""
    prob = SGDProblem.from_data(x_train, y_train, devices, network, epochs=epochs, batch_size=batch_size, lr=lr,
                                x_test=x_test, y_test=y_test, n_classes=n_classes, seed=seed, eval_every=eval_every,
                                feature_bytes=feature_bytes)
    rounds = math.ceil(prob.budget / len(devices))

    def init():
        net = network.fresh()
        ready, traffic, attempts = prob.ship_shares(net)
        return {"params": prob.model.init(seed), "t": 0.0, "updates": 0, "network": net, "ready": max(ready),
                "shipped": (traffic, attempts)}

    def apply(state, r, settings):
        net, t0 = state["network"], state["t"]
        t, online = first_online(net, len(devices), max(t0, state["ready"]))  # round 1 waits for every share
        plan = plan_from_settings(prob.parts, r, prob.settings, seed=seed)
        traffic, attempts = state["shipped"] if r == 0 else (Traffic(), 0)
        tally = {"traffic": traffic, "attempts": attempts, "flops": 0.0}
        ends = [sync_device(prob, net, k, t, plan, tally) for k in online]
        kept = [k for k, (_, ok) in zip(online, ends) if ok]
        params = state["params"]
        if kept:
            stack = np.repeat(params[None, :], len(kept), axis=0)
            new, n, _, _ = prob.model.local_update(prob.x, prob.y, stack, plan.subset(kept), lr)
            params = weighted_mean(new, n).astype(np.float32)
        t_end = max(end for end, _ in ends)
        stats = {**tally["traffic"].as_row(), "live_devices": len(kept), "sim_seconds": t_end - t0, "time": t_end,
                 "staleness": 0 if kept else math.nan, "attempts": tally["attempts"], "flops": tally["flops"]}
        return {**state, "params": params, "t": t_end, "updates": state["updates"] + 1}, stats

    return prob.algorithm("sync-sgd", init, apply, rounds), rounds


def first_online(network, n_devices: int, t: float) -> tuple[float, list[int]]:
    """The first time ``>= t`` at which some device is online, and the devices online then."""
    online = [k for k in range(n_devices) if network.online(k, t)]
    while not online:
        t = min(network.next_online(k, t) for k in range(n_devices))
        online = [k for k in range(n_devices) if network.online(k, t)]
    return t, online


@renamed_keywords(**RENAMED_KEYWORDS)
def run_sync_sgd(x_train, y_train, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5,
                 x_test=None, y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0,
                 feature_bytes: int | None = None, controller=None, progress: bool = False) -> History:
    """Synchronous SGD: every round each live device sends one update; the server waits for all.

    A device that drops out before its update arrives is left out of the round (the server stops
    waiting when it notices the drop-out); when no device is online the round waits for the first
    to return. ``network`` is not advanced (the run uses :meth:`~tinydtl.networks.netsim.Network.fresh`).
    ``feature_bytes``: ship each device its share of the data first (module docstring); ``controller``:
    as for :func:`tinydtl.core.simulation.simulate` (e.g. stop once an accuracy is reached).
    """
    algo, rounds = sync_sgd_algorithm(x_train, y_train, devices, network, epochs=epochs, batch_size=batch_size, lr=lr,
                                      x_test=x_test, y_test=y_test, n_classes=n_classes, eval_every=eval_every,
                                      seed=seed, feature_bytes=feature_bytes)
    return simulate(algo, rounds, progress=progress, controller=controller,
                    config=dict(epochs=epochs, batch_size=batch_size, lr=lr, devices=len(devices), seed=seed,
                                feature_bytes=feature_bytes))


# ----------------------------------------------------------------------------- asynchronous SGD
def async_start(prob: SGDProblem, state: dict, k: int, t: float) -> None:
    """Device ``k`` fetches the current parameters at ``t`` and works on an update until one arrives
    (a drop-out loses the update; the device starts again when it is back)."""
    net = state["network"]
    while True:
        t = net.next_online(k, t)
        leave = net.next_dropout(k, t)
        down = net.transmit(k, prob.payload, t)
        state["traffic"] += Traffic(bytes_down=prob.payload, messages=1)
        state["attempts"] += down.attempts
        # device k's batch order is seeded by (seed, step, k) alone: planning devices 0..k gives the
        # same order as planning all of them, at a fraction of the cost
        plan = plan_from_settings(prob.parts[: k + 1], state["steps"][k], prob.settings, seed=prob.seed).subset([k])
        new, n, _, _ = prob.model.local_update(prob.x, prob.y, state["params"][None, :], plan, prob.lr)
        update = new[0] - state["params"]
        state["steps"][k] += 1
        f = step_flops(prob.model, int(n[0]))
        ready = down.arrival + f / prob.devices[k].speed
        if ready > leave:
            t = leave
            continue
        state["flops"] += f
        up = net.transmit(k, prob.payload, ready)
        state["traffic"] += Traffic(bytes_up=prob.payload, messages=1)
        state["attempts"] += up.attempts
        if up.arrival > leave:
            t = leave
            continue
        heapq.heappush(state["events"], (up.arrival, k, state["updates"], update))
        return


def async_sgd_algorithm(x_train, y_train, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5,
                        x_test=None, y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0,
                        feature_bytes: int | None = None) -> tuple[Algorithm, int]:
    """Asynchronous SGD (:func:`run_async_sgd`, same parameters) as ``(Algorithm, rounds)``: one round
    per applied update; each device's step uses the algorithm's own plan (``batch_size``, one step)."""
    prob = SGDProblem.from_data(x_train, y_train, devices, network, epochs=epochs, batch_size=batch_size, lr=lr,
                                x_test=x_test, y_test=y_test, n_classes=n_classes, seed=seed, eval_every=eval_every,
                                feature_bytes=feature_bytes)

    def init():
        net = network.fresh()
        ready, traffic, attempts = prob.ship_shares(net)  # the shipping is in the first applied update's row
        state = {"params": prob.model.init(seed), "t": 0.0, "updates": 0, "events": [], "traffic": traffic,
                 "attempts": attempts, "flops": 0.0, "network": net, "steps": [0] * len(devices)}
        for k in range(len(devices)):
            async_start(prob, state, k, ready[k])  # each device starts once its share has arrived
        return state

    def apply(state, r, settings):
        t, k, version, update = heapq.heappop(state["events"])
        state["params"] = state["params"] + update
        staleness = state["updates"] - version
        state["updates"] += 1
        stats = {**state["traffic"].as_row(), "live_devices": 1, "sim_seconds": t - state["t"], "time": t,
                 "staleness": staleness, "attempts": state["attempts"], "flops": state["flops"]}
        state.update(t=t, traffic=Traffic(), attempts=0, flops=0.0)
        if state["updates"] < prob.budget:
            async_start(prob, state, k, t)
        return state, stats

    return prob.algorithm("async-sgd", init, apply, prob.budget), prob.budget


@renamed_keywords(**RENAMED_KEYWORDS)
def run_async_sgd(x_train, y_train, devices, network, *, epochs: int = 1, batch_size: int = 32, lr: float = 0.5,
                  x_test=None, y_test=None, n_classes=None, eval_every: int = 10, seed: int = 0,
                  feature_bytes: int | None = None, controller=None, progress: bool = False) -> History:
    """Asynchronous SGD: the server applies each update when it arrives; one row per applied update.

    Device ``k`` downloads the parameters of version ``v``, takes a minibatch step, uploads the
    update; it is applied at version ``v'`` (staleness ``v' − v``) and the device starts again at
    once. A device that drops out loses the update it was working on and restarts when it is back.
    ``network`` is not advanced (the run uses :meth:`~tinydtl.networks.netsim.Network.fresh`).
    ``feature_bytes`` and ``controller`` as in :func:`run_sync_sgd`.
    """
    algo, rounds = async_sgd_algorithm(x_train, y_train, devices, network, epochs=epochs, batch_size=batch_size,
                                       lr=lr, x_test=x_test, y_test=y_test, n_classes=n_classes,
                                       eval_every=eval_every, seed=seed, feature_bytes=feature_bytes)
    return simulate(algo, rounds, progress=progress, controller=controller,
                    config=dict(epochs=epochs, batch_size=batch_size, lr=lr, devices=len(devices), seed=seed,
                                feature_bytes=feature_bytes))
