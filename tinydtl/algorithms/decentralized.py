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

Faults: each round every device drops out with probability ``dropout`` (it neither trains nor
communicates; a dropped head leaves its cluster to its intra-cluster result) and every link fails with
probability ``link_failure`` (drawn once per round). Metropolis weights are recomputed on what
survives, so mixing stays doubly stochastic among the living.

The paper trains a classifier head on a frozen MCUNet backbone over CIFAR-10; neither CIFAR-10 nor
MCUNet weights can be shipped offline, so here the head is the MNIST softmax learner.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import networkx as nx
import numpy as np

from tinydtl.core.history import History
from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.validation import (
    as_features,
    as_rng,
    check_int_seed,
    check_labels,
    check_parts,
    check_test_set,
    n_classes_of,
)
from tinydtl.core.validation import check_number as _check_number
from tinydtl.learners.softmax import SoftmaxModel
from tinydtl.networks.gossip import adjacency, metropolis_weights
from tinydtl.networks.topology import geometric_adjacency, require_connected
from tinydtl.networks.transport import Bilayer, gossip, live_devices, surviving_links

__all__ = ["SCHEMES", "DKMeansResult", "dk_means", "bilayer_graph", "DecentralizedHistory", "decentralized_train",
           "decentralized_algorithm"]

SCHEMES = ("dpsgd", "local_sgd_gossip", "bilayer")
DecentralizedHistory = History  # the one history type (old name kept)


# ----------------------------------------------------------------------------- DK-means
@dataclass
class DKMeansResult:
    """Clusters found by distributed K-means.

    ``labels`` and ``heads`` are what the devices decided from their own estimates. ``centroids`` (the
    mean of all devices' estimates) and ``disagreement`` (the largest distance of a device's estimate
    from that mean) are computed by the simulator for reporting only: no device ever holds them.
    """

    labels: np.ndarray  # cluster of each device (its own nearest-centroid decision)
    centroids: np.ndarray  # (k, dim), mean of the devices' estimates (reporting only)
    heads: np.ndarray  # device index of each cluster's head, elected by min-flooding; -1 if empty
    disagreement: float  # max distance between a device's centroid estimate and the mean estimate
    iterations: int
    messages: int = 0  # transmissions: statistics gossip plus the head election

def dk_means(positions, k: int, graph, *, iterations: int = 10, gossip_rounds: int = 100, seed=0) -> DKMeansResult:
    """Distributed K-means: Lloyd iterations whose centroid statistics are averaged by gossip.

    Each device knows only its position. Per iteration it assigns itself to the nearest centroid *of its
    own estimate*, contributes ``(one-hot · position, one-hot)`` and runs ``gossip_rounds`` of Metropolis
    gossip on ``graph``; the gossiped averages give every device its estimate of all ``k`` centroids
    (sum / count). Heads are elected without a server too: each device computes its distance to its own
    estimate of its cluster's centroid, and the pairs ``(distance, device id)`` are flooded over
    ``graph`` keeping the minimum per cluster (min-consensus; it settles within the graph's diameter),
    so every device learns the member nearest to the centroid of each cluster.

    What is *not* decentralised: the seeded initial centroids are ``k`` device positions every device
    derives from the shared seed (as if agreed at deployment), the stopping test (labels unchanged) is
    checked by the simulator for all devices at once, and the returned ``centroids``/``disagreement``
    are a global view for reporting. No device ever sees all positions.
    """
    pos = np.asarray(positions, dtype=float)
    n = len(pos)
    if not isinstance(k, numbers.Integral) or not (1 <= k <= n):
        raise ValueError(f"k must be an integer in [1, {n}], got {k!r}")
    for name, v in (("iterations", iterations), ("gossip_rounds", gossip_rounds)):
        if not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    require_connected(graph)
    W = metropolis_weights(graph)
    rng = as_rng("seed", seed)
    est = np.broadcast_to(pos[rng.choice(n, size=k, replace=False)], (n, k, pos.shape[1])).copy()
    labels = np.full(n, -1)
    for it in range(1, iterations + 1):
        d = np.linalg.norm(pos[:, None, :] - est, axis=2)  # each device against its own estimate
        new = d.argmin(axis=1)
        onehot = np.eye(k)[new]
        stats = np.hstack([(onehot[:, :, None] * pos[:, None, :]).reshape(n, -1), onehot])
        for _ in range(gossip_rounds):
            stats = W @ stats
        sums = stats[:, : k * pos.shape[1]].reshape(n, k, -1)
        counts = stats[:, k * pos.shape[1] :]
        ok = counts > 1e-9
        est = np.where(ok[:, :, None], sums / np.where(ok, counts, 1.0)[:, :, None], est)
        if np.array_equal(new, labels):
            labels = new
            break
        labels = new
    A = adjacency(graph)
    messages = it * gossip_rounds * A.nnz
    own = est[np.arange(n), labels]  # each device's estimate of its own cluster's centroid
    dist = np.linalg.norm(pos - own, axis=1)
    # (distance, id) pairs compared as one integer rank; flooding the minimum rank per cluster is the
    # same as flooding the pairs (each device forwards the smallest pair it has heard of per cluster)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), dist))] = np.arange(n)
    best = np.full((n, k), n, dtype=np.int64)
    best[np.arange(n), labels] = rank
    coo = A.tocoo()
    for _ in range(n):
        new = best.copy()
        np.minimum.at(new, coo.row, best[coo.col])
        messages += A.nnz
        if np.array_equal(new, best):
            break
        best = new
    by_rank = np.argsort(rank)
    known = best[0]  # device 0's view; the graph is connected, so every device holds the same
    if not (best == known).all():
        raise RuntimeError("head election did not converge (graph not connected?)")
    heads = np.array([int(by_rank[r]) if r < n else -1 for r in known])
    centroids = est.mean(axis=0)
    disagreement = float(np.max(np.linalg.norm(est - centroids, axis=2)))
    return DKMeansResult(labels, centroids, heads, disagreement, it, int(messages))


def bilayer_graph(positions, labels, heads, radius: float, head_radius: float | None = None) -> nx.Graph:
    """The bilayer topology: intra-cluster links (same cluster, within ``radius``) plus links between
    cluster heads within ``head_radius`` (default ``radius``; heads may have longer-range radios).

    Node attributes: ``pos``, ``cluster``, ``head`` (bool). Edge attribute ``layer``: ``"intra"`` or ``"inter"``.
    """
    pos = np.asarray(positions, dtype=float)
    labels = np.asarray(labels)
    heads = [int(h) for h in heads if h >= 0]
    A = geometric_adjacency(pos, radius).tocoo()
    G = nx.Graph()
    for i, p in enumerate(pos):
        G.add_node(i, pos=p, cluster=int(labels[i]), head=i in set(heads))
    same = labels[A.row] == labels[A.col]
    G.add_edges_from(((int(i), int(j)) for i, j in zip(A.row[same], A.col[same]) if i < j), layer="intra")
    hr = radius if head_radius is None else head_radius
    H = geometric_adjacency(pos[heads], hr).tocoo()
    G.add_edges_from(((heads[i], heads[j]) for i, j in zip(H.row, H.col) if i < j), layer="inter")
    return G


# ----------------------------------------------------------------------------- training
def decentralized_algorithm(model, X, y, parts, *, scheme, A, bilayer=None, lr, gossip_steps=1, g_intra=1,
                            g_inter=1, dropout=0.0, link_failure=0.0, x_test=None, y_test=None,
                            eval_devices=10, seed=0) -> Algorithm:
    """The decentralised schemes as an :class:`~tinydtl.core.simulation.Algorithm` over the stack of every
    device's parameters ``(n, n_params)`` (see the module docstring for the schemes)."""
    n = len(parts)
    if hasattr(model, "prepare"):
        X = model.prepare(X)  # softmax: [x/255, 1] float32 rows, once per run
    sizes = np.array([len(p) for p in parts], dtype=float)
    rng = np.random.default_rng([seed, 99])
    watch = np.sort(np.random.default_rng([seed, 98]).choice(n, size=min(eval_devices, n), replace=False))

    def init():
        return np.broadcast_to(model.init(seed), (n, model.n_params)).copy()

    def apply(P, r, settings):
        alive = live_devices(n, dropout, rng)
        live = np.flatnonzero(alive)
        plan = plan_from_settings(parts, r, settings, seed=seed).subset(live)
        stats = {"live_devices": int(alive.sum())}
        if scheme == "dpsgd":
            A_live = surviving_links(A, alive, link_failure, rng)
            traffic = None
            everyone = live.size == n
            for s in range(plan.n_steps() if live.size else 0):
                start = P[live]  # a private copy (fancy indexing), updated in place below
                stepped = model.local_update(X, y, start, plan.only_step(s), lr, copy=False)[0]
                if everyone:
                    step = np.subtract(P, stepped, out=stepped)  # γ ∇F_i(x_{k,i}) at the pre-mixing point
                else:
                    step = np.zeros_like(P)
                    step[live] = P[live] - stepped
                mixed, t = gossip(A_live, P, gossip_steps)
                P = np.subtract(mixed, step, out=mixed if mixed is not P else None)
                traffic = t if traffic is None else traffic + t
            stats["iterations"] = plan.n_steps() if live.size else 0
        else:
            if live.size:
                P[live] = model.local_update(X, y, P[live], plan, lr)[0]
            if scheme == "local_sgd_gossip":
                mixed, traffic = gossip(surviving_links(A, alive, link_failure, rng), P, gossip_steps)
            else:
                mixed, traffic, unreachable = bilayer.round(P, sizes, alive, g_intra=g_intra, g_inter=g_inter,
                                                            link_failure=link_failure, rng=rng)
                stats["unreachable"] = unreachable
            P = np.asarray(mixed, dtype=np.float32)
        if traffic is not None:
            stats.update(traffic.as_row())
        else:
            stats.update(bytes_up=0, bytes_down=0, messages=0)
        return P, stats

    def device_accuracies(rows):
        """Test accuracy of several devices' models in one matrix product per chunk of test samples
        (softmax learner; any other model is evaluated device by device)."""
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

    def measure(P):
        avg = (sizes[:, None] * P).sum(axis=0) / sizes.sum()
        out = {"consensus_distance": float(np.sqrt(((P - avg) ** 2).sum(axis=1).mean()))}
        if x_test is not None:
            loss, acc = model.evaluate(avg.astype(np.float32), x_test, y_test)
            out.update(accuracy=acc, loss=loss, device_accuracy=float(np.mean(device_accuracies(P[watch]))))
        return out

    def final(P):
        return tuple(a.copy() for a in model.unflatten(P))

    return Algorithm(scheme, init, apply, measure, final, live_devices=n)


def decentralized_train(
    x_train,
    y_train,
    parts,
    *,
    scheme: str = "dpsgd",
    graph=None,
    clusters=None,
    heads=None,
    rounds: int = 20,
    local_epochs: int = 1,
    batch_size: int = 20,
    lr: float = 0.02,
    gossip_steps: int = 1,
    g_intra: int = 1,
    g_inter: int = 1,
    dropout: float = 0.0,
    link_failure: float = 0.0,
    x_test=None,
    y_test=None,
    eval_devices: int = 10,
    n_classes: int | None = None,
    seed: int = 0,
    progress: bool = False,
    model=None,
) -> History:
    """Train one softmax learner (or ``model``) per device (``parts[i]`` is device ``i``'s data) without a server.

    Parameters
    ----------
    scheme : {"dpsgd", "local_sgd_gossip", "bilayer"}
        D-PSGD (one gradient step per mixing step), local SGD with gossip (``local_epochs`` of SGD,
        then ``gossip_steps`` mixing steps), or bilayer gossip (needs ``clusters`` and ``heads``).
    graph : networkx graph or sparse adjacency on devices ``0..n-1``
        The links that exist. For ``"bilayer"`` typically :func:`bilayer_graph`; members reach
        their head over it (multi-hop).
    clusters, heads
        ``"bilayer"`` only: one integer cluster label per device (any integers) and one head device per
        cluster (``clusters[head]`` names its cluster).
    rounds, local_epochs, batch_size, lr
        Rounds; local passes over the data per round (for D-PSGD: the number of gradient-and-mixing
        iterations per round is the largest device's minibatch count times ``local_epochs``);
        minibatch size; SGD rate.
    gossip_steps, g_intra, g_inter
        Mixing steps per iteration (D-PSGD) or per round (local SGD with gossip); intra-cluster and
        head-to-head gossip steps per round (bilayer).
    dropout, link_failure
        Per-round probabilities that a device drops out and that a link fails.
    x_test, y_test, eval_devices
        Held-out data: ``accuracy``/``loss`` of the network-average model (weighted by sample
        counts; a virtual model, as in Lian et al.'s analysis) and ``device_accuracy``, the mean over
        ``eval_devices`` devices sampled once by the seed.
    n_classes
        Number of classes; default the largest label + 1.
    model
        A core model (``init``, ``local_update``, ``evaluate``, ``unflatten``, ``n_params``), e.g.
        :class:`tinydtl.learners.mlp.MLPModel`; default the softmax learner for the data's features and classes.

    Returns
    -------
    History
        Row 0 = the initial model; per round ``accuracy``, ``loss``, ``device_accuracy``,
        ``consensus_distance`` (RMS distance of the devices to their weighted average),
        ``bytes_up``/``bytes_down``/``messages`` (:mod:`tinydtl.networks.transport`'s rule),
        ``live_devices``, ``seconds`` (+ ``iterations`` for D-PSGD, ``unreachable`` for bilayer);
        ``weights`` = the devices' final ``(W (n, F, C), b (n, C))`` (for another ``model``, its
        ``unflatten`` of the ``(n, n_params)`` stack).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be 'dpsgd', 'local_sgd_gossip' or 'bilayer', got {scheme!r}")
    for name, v, low in (("rounds", rounds, 1), ("gossip_steps", gossip_steps, 0), ("g_intra", g_intra, 0),
                         ("g_inter", g_inter, 0), ("eval_devices", eval_devices, 1)):
        _check_number(name, v, low=low, integer=True)
    for name, v in (("dropout", dropout), ("link_failure", link_failure)):
        _check_number(name, v, low=0.0, high=0.999)
    _check_number("lr", lr, low=0, low_open=True)
    seed = check_int_seed("seed", seed)
    settings = PlanSettings(local_epochs=local_epochs, batch_size=batch_size)
    X = as_features(x_train, "x_train")
    y = check_labels(y_train, "y_train", len(X), n_classes)
    check_parts(parts, len(X))
    n = len(parts)
    if graph is None:
        raise ValueError("graph is required (the devices' communication graph)")
    A = adjacency(graph)
    if A.shape[0] != n:
        raise ValueError(f"graph has {A.shape[0]} devices but parts has {n}")
    bilayer = None
    if scheme == "bilayer":
        if clusters is None or heads is None:
            raise ValueError("scheme='bilayer' needs clusters (one label per device) and heads (one device per cluster)")
        bilayer = Bilayer(A, clusters, heads)
    Xt, yt = check_test_set(x_test, y_test, X.shape[1], n_classes)
    if model is None:
        model = SoftmaxModel(X.shape[1], n_classes_of(y, yt, n_classes=n_classes))
    elif not all(hasattr(model, a) for a in ("init", "local_update", "evaluate", "unflatten", "n_params")):
        raise TypeError("model must be a core model with init, local_update, evaluate, unflatten and n_params "
                        f"(e.g. tinydtl.learners.mlp.MLPModel), got {type(model).__name__}")
    algorithm = decentralized_algorithm(
        model, X, y, parts, scheme=scheme, A=A, bilayer=bilayer, lr=lr, gossip_steps=gossip_steps, g_intra=g_intra,
        g_inter=g_inter, dropout=dropout, link_failure=link_failure, x_test=Xt, y_test=yt,
        eval_devices=eval_devices, seed=seed,
    )
    config = dict(scheme=scheme, rounds=rounds, local_epochs=local_epochs, batch_size=batch_size, lr=lr,
                  gossip_steps=gossip_steps, g_intra=g_intra, g_inter=g_inter, dropout=dropout,
                  link_failure=link_failure, n_devices=n, seed=seed)
    return simulate(algorithm, rounds, settings=settings, config=config, progress=progress)
