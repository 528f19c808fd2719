"""Decentralised training without a server: D-PSGD and the bilayer gossip schedule.

Devices train the survey's softmax learner (:mod:`tinydtl.federated`) on their own data with local
SGD (:func:`tinydtl.federated.local_sgd`), then mix models with neighbours:

* **D-PSGD** (Lian et al. 2017): after local training, ``gossip_steps`` rounds of ``w ← W w`` with
  Metropolis weights on the communication graph.
* **Bilayer gossip GD-PSGD** (arXiv 2501.04817): devices are grouped by DK-means into geographic
  clusters with a head each. A round is ``g_intra`` gossip rounds inside each cluster, the head folding
  its members' models into one **Cumulative FedAvg** running sum (weighted by sample counts), ``g_inter``
  gossip rounds among heads within range, and the heads sharing the result back to their members.

Faults: each round every device drops out with probability ``dropout`` (it neither trains nor
communicates; a dropped head leaves its cluster to its intra-cluster result) and every link fails with
probability ``link_failure``. Metropolis weights are recomputed on what survives, so mixing stays
doubly stochastic among the living.

The paper trains a classifier head on a frozen MCUNet backbone over CIFAR-10; neither CIFAR-10 nor
MCUNet weights can be shipped offline, so here the head is the MNIST softmax learner.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ._validation import check_number as _check_number
from .aggregation import CumulativeFedAvg
from .federated import (
    N_CLASSES,
    RoundPlan,
    _check_labels,
    _check_parts,
    _flat_pixels,
    evaluate,
    initial_weights,
    local_sgd,
    plan_round,
    preprocess,
)
from .gossip import adjacency, metropolis_weights
from .topology import geometric_adjacency, require_connected

__all__ = ["DKMeansResult", "dk_means", "bilayer_graph", "DecentralizedHistory", "decentralized_train"]


# ----------------------------------------------------------------------------- DK-means
@dataclass
class DKMeansResult:
    """Clusters found by distributed K-means."""

    labels: np.ndarray  # cluster of each device
    centroids: np.ndarray  # (k, dim), the devices' mean estimate
    heads: np.ndarray  # device index of each cluster's head (nearest member to the centroid)
    disagreement: float  # max distance between a device's centroid estimate and the mean estimate
    iterations: int


def dk_means(positions, k: int, graph, *, iterations: int = 10, gossip_rounds: int = 100, seed=0) -> DKMeansResult:
    """Distributed K-means: Lloyd iterations whose centroid statistics are averaged by gossip.

    Each device knows only its position. Per iteration it assigns itself to the nearest centroid *of its
    own estimate*, contributes ``(one-hot · position, one-hot)`` and runs ``gossip_rounds`` of Metropolis
    gossip on ``graph``; the gossiped averages give every device its estimate of all ``k`` centroids
    (sum / count). No server ever sees all positions. Seeded initial centroids are ``k`` device
    positions every device can compute from the shared seed.
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
    rng = np.random.default_rng(seed)
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
    centroids = est.mean(axis=0)
    heads = np.array(
        [
            np.flatnonzero(labels == c)[np.argmin(np.linalg.norm(pos[labels == c] - centroids[c], axis=1))]
            if np.any(labels == c)
            else -1
            for c in range(k)
        ]
    )
    disagreement = float(np.max(np.linalg.norm(est - centroids, axis=2)))
    return DKMeansResult(labels, centroids, heads, disagreement, it)


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
@dataclass
class DecentralizedHistory:
    """Per-round record of decentralised training."""

    scheme: str
    test_accuracy: list[float] = field(default_factory=list)  # of the network-average model
    device_accuracy: list[float] = field(default_factory=list)  # mean over sampled devices
    consensus_distance: list[float] = field(default_factory=list)  # RMS distance of devices to the average
    messages: list[int] = field(default_factory=list)  # model-sized messages sent in the round
    seconds: list[float] = field(default_factory=list)
    alive: list[int] = field(default_factory=list)


def _surviving(A: sp.csr_matrix, alive, link_failure, rng) -> sp.csr_matrix:
    A = sp.triu(A, k=1).tocoo()
    keep = alive[A.row] & alive[A.col]
    if link_failure:
        keep &= rng.random(A.nnz) >= link_failure
    U = sp.csr_matrix((np.ones(int(keep.sum())), (A.row[keep], A.col[keep])), shape=A.shape)
    return sp.csr_matrix(U + U.T)


def _mix(A_live: sp.csr_matrix, flat: np.ndarray, steps: int) -> np.ndarray:
    if steps == 0 or A_live.nnz == 0:
        return flat
    M = metropolis_weights(A_live)
    for _ in range(steps):
        flat = M @ flat
    return flat


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
    seed: int = 0,
) -> DecentralizedHistory:
    """Train one softmax learner per device (``parts[i]`` is device ``i``'s data) without a server.

    ``scheme="dpsgd"`` needs ``graph`` (devices ``0..n-1``); ``scheme="bilayer"`` needs ``graph`` from
    :func:`bilayer_graph` (or any graph) plus ``clusters`` (cluster per device) and ``heads``.
    All devices start from the same seeded initial weights.
    """
    if scheme not in ("dpsgd", "bilayer"):
        raise ValueError(f"scheme must be 'dpsgd' or 'bilayer', got {scheme!r}")
    for name, v, low in (("rounds", rounds, 1), ("local_epochs", local_epochs, 1), ("batch_size", batch_size, 1),
                         ("gossip_steps", gossip_steps, 0), ("g_intra", g_intra, 0), ("g_inter", g_inter, 0),
                         ("eval_devices", eval_devices, 1)):
        _check_number(name, v, low=low, integer=True)
    for name, v in (("dropout", dropout), ("link_failure", link_failure)):
        _check_number(name, v, low=0.0, high=0.999)
    _check_number("lr", lr, low=0, low_open=True)
    X = _flat_pixels(x_train)
    y = _check_labels(y_train, "y_train", len(X)).astype(np.intp)
    _check_parts(parts, len(X))
    n = len(parts)
    if graph is None:
        raise ValueError("graph is required (the devices' communication graph)")
    A = adjacency(graph)
    if A.shape[0] != n:
        raise ValueError(f"graph has {A.shape[0]} devices but parts has {n}")
    if scheme == "bilayer":
        if clusters is None or heads is None:
            raise ValueError("scheme='bilayer' needs clusters (one label per device) and heads (one device per cluster)")
        clusters = np.asarray(clusters)
        heads = np.asarray(heads)
        if clusters.shape != (n,):
            raise ValueError(f"clusters must have shape ({n},), got {clusters.shape}")
        coo = A.tocoo()
        same = clusters[coo.row] == clusters[coo.col]
        A_intra = sp.csr_matrix((np.ones(int(same.sum())), (coo.row[same], coo.col[same])), shape=A.shape)
        head_set = np.zeros(n, dtype=bool)
        head_set[heads[heads >= 0]] = True
        inter = head_set[coo.row] & head_set[coo.col] & ~same
        A_inter = sp.csr_matrix((np.ones(int(inter.sum())), (coo.row[inter], coo.col[inter])), shape=A.shape)
    Xt = yt = None
    if x_test is not None:
        Xt = preprocess(x_test)
        yt = _check_labels(y_test, "y_test", len(Xt))

    W0, b0 = initial_weights(X.shape[1], N_CLASSES, seed)
    F, C = W0.shape
    Ws = np.broadcast_to(W0, (n, F, C)).copy()
    bs = np.broadcast_to(b0, (n, C)).copy()
    sizes = np.array([len(p) for p in parts], dtype=float)
    rng = np.random.default_rng([seed, 99])
    watch = np.sort(np.random.default_rng([seed, 98]).choice(n, size=min(eval_devices, n), replace=False))
    hist = DecentralizedHistory(scheme=scheme)
    for r in range(rounds):
        t0 = time.perf_counter()
        alive = rng.random(n) >= dropout if dropout else np.ones(n, dtype=bool)
        full = plan_round(parts, r, seed=seed, local_epochs=local_epochs, batch_size=batch_size)
        live = np.flatnonzero(alive)
        if live.size:
            plan = RoundPlan(r, full.clients[live], tuple(full.orders[i] for i in live), batch_size)
            Wl, bl, _, _, _ = local_sgd(X, y, Ws[live], bs[live], plan, lr)
            Ws[live], bs[live] = Wl, bl
        flat = np.hstack([Ws.reshape(n, -1), bs])
        if scheme == "dpsgd":
            A_live = _surviving(A, alive, link_failure, rng)
            flat = _mix(A_live, flat, gossip_steps)
            messages = A_live.nnz * gossip_steps
        else:
            A_in = _surviving(A_intra, alive, link_failure, rng)
            flat = _mix(A_in, flat, g_intra)
            messages = A_in.nnz * g_intra
            cluster_models = {}
            for c, h in enumerate(heads):
                if h < 0 or not alive[h]:
                    continue  # a dropped head: its cluster keeps the intra-cluster result
                members = np.flatnonzero((clusters == c) & alive)
                acc = CumulativeFedAvg(np.float32)
                for i in members:  # models arrive one by one; the head keeps one running sum
                    acc.add([flat[i]], sizes[i])
                cluster_models[h] = acc.result()[0]
                messages += 2 * (len(members) - 1)  # uploads to the head, shares back
            if cluster_models:
                hs = np.array(sorted(cluster_models))
                A_h = _surviving(A_inter, alive, link_failure, rng)[hs][:, hs]
                mixed = _mix(sp.csr_matrix(A_h), np.vstack([cluster_models[h] for h in hs]), g_inter)
                messages += A_h.nnz * g_inter
                for h, model in zip(hs, mixed):
                    members = np.flatnonzero((clusters == clusters[h]) & alive)
                    flat[members] = model
        Ws = flat[:, : F * C].reshape(n, F, C).astype(np.float32)
        bs = flat[:, F * C :].astype(np.float32)
        hist.seconds.append(time.perf_counter() - t0)
        hist.messages.append(int(messages))
        hist.alive.append(int(alive.sum()))
        avg = (sizes[:, None] * flat).sum(axis=0) / sizes.sum()
        hist.consensus_distance.append(float(np.sqrt(((flat - avg) ** 2).sum(axis=1).mean())))
        if Xt is not None:
            Wa, ba = avg[: F * C].reshape(F, C).astype(np.float32), avg[F * C :].astype(np.float32)
            hist.test_accuracy.append(evaluate(Wa, ba, Xt, yt)[1])
            hist.device_accuracy.append(float(np.mean([evaluate(Ws[i], bs[i], Xt, yt)[1] for i in watch])))
    return hist
