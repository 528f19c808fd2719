"""Decentralised training without a server: D-PSGD, local SGD with gossip, and bilayer gossip.

Devices train the softmax learner (:class:`tinydtl.learners.softmax.SoftmaxModel`) on their own data and mix
models with neighbours (Metropolis weights ``W`` on the live links; :mod:`tinydtl.networks.transport`):

* **D-PSGD** (Lian et al. 2017, Algorithm 1): *one* stochastic gradient step per mixing step,
  ``x_{k+1,i} = Σ_j W_ij x_{k,j} - γ ∇F_i(x_{k,i}; ξ_{k,i})`` (gradient at the pre-mixing point). A
  round is one pass of the largest device over its data (``local_epochs`` passes; smaller devices
  cycle their shuffled data), i.e. as many gradient-and-mixing iterations as it has minibatches.
* **Local SGD with gossip** (Koloskova et al. 2020, "local decentralized SGD", their Algorithm 1
  with ``τ`` local steps): ``local_epochs`` of local SGD, then ``gossip_steps`` mixing steps. This is
  what the package called D-PSGD before it ran one step per mixing.
* **Bilayer gossip GD-PSGD** (arXiv 2501.04817): devices are grouped by DK-means into geographic
  clusters with a head each. A round is local training, ``g_intra`` gossip steps inside each cluster,
  each member's model reaching its head over existing radio links (multi-hop relays, every hop
  counted), the head folding them into one **Cumulative FedAvg** running sum ``(Σ n w, Σ n)``,
  ``g_inter`` gossip steps among heads on those pairs (so clusters weigh by their sample counts), and
  the heads sharing the result back. Members that cannot reach their head are counted in the
  ``unreachable`` column and keep their intra-cluster model (:class:`tinydtl.networks.transport.Bilayer`).
* **One-hop Cumulative FedAvg** (the aggregation of the bilayer paper's public simulator): after local
  training every device folds the models of its in-range neighbours into one running sum with its own,
  weighted by sample counts, and keeps the average — information moves one hop per round
  (:func:`tinydtl.networks.transport.one_hop_average`).

Moving devices: with ``mobility`` (a :class:`tinydtl.networks.transport.MovingDevices`) round ``r`` uses
the links of the positions after ``r + 1`` moves (devices move, then train and mix, as in the paper's
simulator). A bilayer keeps the clusters and heads it was given (they are not re-formed); its members
reach their head, and heads each other, over the links of the current positions.

Faults: each round every device drops out with probability ``dropout`` (it neither trains nor
communicates; a dropped head leaves its cluster to its intra-cluster result) and every link fails with
probability ``link_failure``, drawn **once per round**: the intra-cluster gossip, the members' relays
to their heads and the head-to-head gossip of a bilayer round all use that one draw. Metropolis weights are recomputed on what
survives, so mixing stays doubly stochastic among the living.

The paper trains a classifier head on a frozen MCUNet backbone over CIFAR-10; neither CIFAR-10 nor
MCUNet weights can be shipped offline, so here the head is the MNIST softmax learner.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.history import History
from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.validation import (
    as_features,
    check_choice,
    check_int_seed,
    check_labels,
    check_number,
    check_parts,
    check_test_set,
    n_classes_of,
)
from tinydtl.learners.softmax import SoftmaxModel
from tinydtl.networks.gossip import adjacency, metropolis_weights
from tinydtl.networks.topology import bilayer_graph
from tinydtl.networks.transport import Bilayer, MovingDevices, gossip, live_devices, one_hop_average, surviving_links
from tinydtl.runtime.deprecation import deprecated_alias

__all__ = ["INITS", "SCHEMES", "decentralized_algorithm", "decentralized_train", "run_decentralized"]

SCHEMES = ("dpsgd", "local_sgd_gossip", "bilayer", "one_hop")
INITS = ("shared", "per_device")


# ----------------------------------------------------------------------------- one round of each scheme
def dpsgd_round(model, X, y, P, plan, live, A_live, *, lr, gossip_steps):
    """D-PSGD (Lian et al. 2017, Alg. 1): per minibatch step, ``x ← W x - γ ∇F(x)`` with the gradient
    taken at the pre-mixing point. Returns ``(P, traffic or None, iterations)``."""
    n = len(P)
    traffic = None
    steps = plan.n_steps() if live.size else 0
    M = metropolis_weights(A_live).astype(P.dtype) if A_live.nnz else None  # the round's links: once
    for s in range(steps):
        stepped = model.local_update(X, y, P[live], plan.only_step(s), lr, copy=False)[0]  # P[live]: a copy
        if live.size == n:
            step = np.subtract(P, stepped, out=stepped)  # γ ∇F_i(x_{k,i}) at the pre-mixing point
        else:
            step = np.zeros_like(P)
            step[live] = P[live] - stepped
        mixed, t = gossip(A_live, P, gossip_steps, weights=M)
        P = np.subtract(mixed, step, out=mixed if mixed is not P else None)
        traffic = t if traffic is None else traffic + t
    return P, traffic, steps


def network_of_round(A, bilayer, mobility=None, head_radius=None):
    """``r -> (adjacency, Bilayer or None)``: the links of round ``r`` (fixed, or those of the moving
    devices' positions after ``r + 1`` moves; a moving bilayer keeps its clusters and heads)."""
    if mobility is None:
        return lambda r: (A, bilayer)

    def at(r):
        if bilayer is None:
            return mobility.links(r + 1), None
        G = bilayer_graph(mobility.trajectory[r + 1], bilayer.clusters, bilayer.heads, mobility.radius,
                          head_radius=head_radius)
        moved = Bilayer(G, bilayer.clusters, bilayer.heads)
        return moved.A, moved

    return at


def decentralized_algorithm(model, X, y, parts, *, scheme, A, bilayer=None, lr, gossip_steps=1, g_intra=1,
                            g_inter=1, dropout=0.0, link_failure=0.0, x_test=None, y_test=None,
                            eval_devices=10, seed=0, mobility=None, head_radius=None, init="shared") -> Algorithm:
    """The decentralised schemes as an :class:`~tinydtl.core.simulation.Algorithm` over the stack of every
    device's parameters ``(n, n_params)`` (see the module docstring for the schemes).

    The state is ``{"P": parameters, "rng": the fault generator}``, both made by ``init``: the
    algorithm can be simulated again and gives the same history. Each round draws its faults once
    (dropouts, then link failures) and every step of the round uses that draw. With ``mobility`` the
    links (and a bilayer's relays and head links) are those of the round's positions. ``init``:
    ``"shared"`` (every device starts from ``model.init(seed)``) or ``"per_device"`` (each device
    draws its own initial model, as devices do that initialise themselves without a server).
    """
    n = len(parts)
    links = network_of_round(A, bilayer, mobility, head_radius)
    if hasattr(model, "prepare"):
        X = model.prepare(X)  # softmax: [x/255, 1] float32 rows, once per run
    sizes = np.array([len(p) for p in parts], dtype=float)
    watch = np.sort(np.random.default_rng([seed, 98]).choice(n, size=min(eval_devices, n), replace=False))

    shared_init = init == "shared"

    def init():
        if shared_init:  # one initial model for every device, as a server would send it
            P = np.broadcast_to(model.init(seed), (n, model.n_params)).copy()
        else:  # every device draws its own initial model
            P = np.stack([model.init(int(np.random.default_rng([seed, 97, i]).integers(2**31))) for i in range(n)])
        return {"P": P, "rng": np.random.default_rng([seed, 99])}

    def apply(state, r, settings):
        P, rng = state["P"], state["rng"]
        A_r, bilayer_r = links(r)
        alive = live_devices(n, dropout, rng)
        A_live = surviving_links(A_r, alive, link_failure, rng)  # the round's one draw of link failures
        live = np.flatnonzero(alive)
        plan = plan_from_settings(parts, r, settings, seed=seed).subset(live)
        stats = {"live_devices": int(alive.sum())}
        if scheme == "dpsgd":
            P, traffic, stats["iterations"] = dpsgd_round(model, X, y, P, plan, live, A_live, lr=lr,
                                                          gossip_steps=gossip_steps)
        else:
            if live.size:
                P[live] = model.local_update(X, y, P[live], plan, lr)[0]
            if scheme == "local_sgd_gossip":
                mixed, traffic = gossip(A_live, P, gossip_steps)
            elif scheme == "one_hop":
                mixed, traffic = one_hop_average(A_live, P, sizes)
            else:
                mixed, traffic, stats["unreachable"] = bilayer_r.round(P, sizes, alive, A_live, g_intra=g_intra,
                                                                       g_inter=g_inter)
            P = np.asarray(mixed, dtype=np.float32)
        stats.update(traffic.as_row() if traffic is not None else {"bytes_up": 0, "bytes_down": 0, "messages": 0})
        return {"P": P, "rng": rng}, stats

    def measure(state):
        P = state["P"]
        avg = (sizes[:, None] * P).sum(axis=0) / sizes.sum()
        out = {"consensus_distance": float(np.sqrt(((P - avg) ** 2).sum(axis=1).mean()))}
        if x_test is not None:
            loss, acc = model.evaluate(avg.astype(np.float32), x_test, y_test)
            out.update(accuracy=acc, loss=loss, device_accuracy=float(np.mean(device_accuracies(model, P[watch],
                                                                                                   x_test, y_test))))
        return out

    def final(state):
        return tuple(a.copy() for a in model.unflatten(state["P"]))

    return Algorithm(scheme, init, apply, measure, final, live_devices=n)


def device_accuracies(model, rows, x_test, y_test) -> np.ndarray:
    """Test accuracy of several devices' models: for the softmax learner one matrix product per chunk
    of test samples for all of them; a model with ``accuracies(rows, X, y)`` (the dense head) in one
    batched pass; any other model device by device."""
    if hasattr(model, "accuracies"):
        return np.asarray(model.accuracies(rows, x_test, y_test))
    if not isinstance(model, SoftmaxModel):
        return np.array([model.evaluate(row, x_test, y_test)[1] for row in rows])
    W, b = model.unflatten(rows)  # (m, F, C), (m, C)
    m, F, C = W.shape
    Wcat = W.transpose(1, 0, 2).reshape(F, m * C)
    correct = np.zeros(m)
    for s in range(0, len(x_test), 8192):
        logits = (x_test[s : s + 8192] @ Wcat).reshape(-1, m, C) + b
        correct += (logits.argmax(axis=2) == y_test[s : s + 8192, None]).sum(axis=0)
    return correct / len(x_test)


# ----------------------------------------------------------------------------- front end
def check_schedule(*, scheme, rounds, gossip_steps, g_intra, g_inter, eval_devices, dropout, link_failure, lr):
    """The front end's checks of the scheme and its numbers (see :func:`run_decentralized`)."""
    check_choice("scheme", scheme, SCHEMES)
    for name, v, low in (("rounds", rounds, 1), ("gossip_steps", gossip_steps, 0), ("g_intra", g_intra, 0),
                         ("g_inter", g_inter, 0), ("eval_devices", eval_devices, 1)):
        check_number(name, v, low=low, integer=True)
    for name, v in (("dropout", dropout), ("link_failure", link_failure)):
        check_number(name, v, low=0.0, high=1.0, high_open=True)
    check_number("lr", lr, low=0, low_open=True)


def check_model(model, n_features: int, n_classes: int):
    """``model`` or the softmax learner for these features and classes."""
    if model is None:
        return SoftmaxModel(n_features, n_classes)
    if not all(hasattr(model, a) for a in ("init", "local_update", "evaluate", "unflatten", "n_params")):
        raise TypeError("model must be a core model with init, local_update, evaluate, unflatten and n_params "
                        f"(e.g. tinydtl.learners.mlp.MLPModel), got {type(model).__name__}")
    return model


def check_network(graph, mobility, *, scheme, clusters, heads, n_devices, rounds, head_radius):
    """The front end's network: ``(A, Bilayer or None)`` from ``graph``, or from ``mobility``'s first positions."""
    if mobility is not None:
        if not isinstance(mobility, MovingDevices):
            raise TypeError(f"mobility must be a tinydtl.networks.transport.MovingDevices, got {type(mobility).__name__}")
        if mobility.n_rounds < rounds:
            raise ValueError(f"mobility holds {mobility.n_rounds} moves but rounds={rounds} needs one per round")
        if head_radius is not None:
            check_number("head_radius", head_radius, low=0, low_open=True)
        if graph is None and scheme == "bilayer" and clusters is not None and heads is not None:
            graph = bilayer_graph(mobility.trajectory[0], clusters, heads, mobility.radius, head_radius=head_radius)
        elif graph is None:
            graph = mobility.links(0)
    elif head_radius is not None:
        raise ValueError("head_radius is for moving devices only (a fixed graph already holds the head links)")
    if graph is None:
        raise ValueError("graph is required (the devices' communication graph), or mobility (moving devices)")
    A = adjacency(graph)
    if A.shape[0] != n_devices:
        raise ValueError(f"graph has {A.shape[0]} devices but parts has {n_devices}")
    if scheme != "bilayer":
        return A, None
    if clusters is None or heads is None:
        raise ValueError("scheme='bilayer' needs clusters (one label per device) and heads (one device per cluster)")
    return A, Bilayer(A, clusters, heads)


def run_decentralized(x_train, y_train, parts, *, scheme: str = "dpsgd", graph=None, clusters=None, heads=None,
                      rounds: int = 20, local_epochs: int = 1, batch_size: int = 20, lr: float = 0.02,
                      gossip_steps: int = 1, g_intra: int = 1, g_inter: int = 1, dropout: float = 0.0,
                      link_failure: float = 0.0, x_test=None, y_test=None, eval_devices: int = 10,
                      n_classes: int | None = None, seed: int = 0, progress: bool = False, model=None,
                      mobility=None, head_radius=None, init: str = "shared", controller=None) -> History:
    """Train one softmax learner (or ``model``) per device (``parts[i]`` is device ``i``'s data) without a server.

    Parameters
    ----------
    scheme : {"dpsgd", "local_sgd_gossip", "bilayer", "one_hop"}
        D-PSGD (one gradient step per mixing step), local SGD with gossip (``local_epochs`` of SGD,
        then ``gossip_steps`` mixing steps), bilayer gossip (needs ``clusters`` and ``heads``), or
        one-hop Cumulative FedAvg (each device averages its neighbours' models with its own once per round).
    graph : networkx graph or sparse adjacency on devices ``0..n-1``
        The links that exist. For ``"bilayer"`` typically
        :func:`tinydtl.networks.topology.bilayer_graph`; members reach their head over it (multi-hop).
    clusters, heads
        ``"bilayer"`` only: one integer cluster label per device and one head device per cluster
        (e.g. from :func:`tinydtl.algorithms.dk_means.dk_means`).
    rounds, local_epochs, batch_size, lr
        Rounds; local passes over the data per round (D-PSGD: the largest device's minibatch count
        times ``local_epochs`` gradient-and-mixing iterations per round); minibatch size; learning rate.
    gossip_steps, g_intra, g_inter
        Mixing steps per iteration (D-PSGD) or per round (local SGD with gossip); intra-cluster and
        head-to-head gossip steps per round (bilayer).
    dropout, link_failure
        Per-round probabilities in [0, 1) that a device drops out and that a link fails.
    x_test, y_test, eval_devices
        Held-out data: ``accuracy``/``loss`` of the network-average model (weighted by sample
        counts; a virtual model, as in Lian et al.'s analysis) and ``device_accuracy``, the mean over
        ``eval_devices`` devices sampled once by the seed.
    n_classes, model
        Number of classes (default the largest label + 1); a core model (``init``,
        ``local_update``, ``evaluate``, ``unflatten``, ``n_params``), default the softmax learner.
    mobility, head_radius
        Moving devices (:class:`tinydtl.networks.transport.MovingDevices` with at least ``rounds``
        moves): round ``r`` uses the links after ``r + 1`` moves (``graph`` may then be omitted). A
        bilayer keeps ``clusters`` and ``heads``; its heads link within ``head_radius`` (default the
        devices' radius).
    init : {"shared", "per_device"}
        Every device starts from the same initial model (as a server would hand it out), or each
        draws its own.
    controller
        As for :func:`tinydtl.core.simulation.simulate` (e.g. stop once a target is reached).

    Returns
    -------
    History
        Row 0 = the initial model; per round ``accuracy``, ``loss``, ``device_accuracy``,
        ``consensus_distance``, ``bytes_up``/``bytes_down``/``messages``, ``live_devices``,
        ``seconds`` (+ ``iterations`` for D-PSGD, ``unreachable`` for bilayer); ``weights`` = the
        devices' final parameters unflattened by the model.
    """
    check_schedule(scheme=scheme, rounds=rounds, gossip_steps=gossip_steps, g_intra=g_intra, g_inter=g_inter,
                   eval_devices=eval_devices, dropout=dropout, link_failure=link_failure, lr=lr)
    check_choice("init", init, INITS)
    seed = check_int_seed("seed", seed)
    settings = PlanSettings(local_epochs=local_epochs, batch_size=batch_size)
    X = as_features(x_train, "x_train")
    y = check_labels(y_train, "y_train", len(X), n_classes)
    parts = check_parts(parts, len(X))
    A, bilayer = check_network(graph, mobility, scheme=scheme, clusters=clusters, heads=heads, n_devices=len(parts),
                               rounds=rounds, head_radius=head_radius)
    Xt, yt = check_test_set(x_test, y_test, X.shape[1], n_classes)
    model = check_model(model, X.shape[1], n_classes_of(y, yt, n_classes=n_classes))
    algorithm = decentralized_algorithm(
        model, X, y, parts, scheme=scheme, A=A, bilayer=bilayer, lr=lr, gossip_steps=gossip_steps, g_intra=g_intra,
        g_inter=g_inter, dropout=dropout, link_failure=link_failure, x_test=Xt, y_test=yt,
        eval_devices=eval_devices, seed=seed, mobility=mobility, head_radius=head_radius, init=init)
    config = dict(scheme=scheme, rounds=rounds, local_epochs=local_epochs, batch_size=batch_size, lr=lr,
                  gossip_steps=gossip_steps, g_intra=g_intra, g_inter=g_inter, dropout=dropout,
                  link_failure=link_failure, n_devices=len(parts), seed=seed, moving=mobility is not None,
                  init=init)
    return simulate(algorithm, rounds, settings=settings, config=config, progress=progress, controller=controller)


decentralized_train = deprecated_alias("decentralized_train", run_decentralized)  # old name, one release
