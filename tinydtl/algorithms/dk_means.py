"""DK-means: the bilayer paper's distributed K-means, which groups devices into geographic clusters
and elects a head per cluster without a server (arXiv 2501.04817).

Lloyd's iterations (assign each point to its nearest centroid, move each centroid to the mean of
its points) where the centroid statistics ``(Σ_i 1[c_i = k] x_i, Σ_i 1[c_i = k])`` are averaged by
Metropolis gossip instead of being summed at a server: every device ends each iteration with its
own estimate ``sum / count`` of every centroid. Heads are elected by min-consensus flooding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydtl.core.validation import as_rng, check_finite_array, check_number
from tinydtl.networks.gossip import adjacency, metropolis_weights
from tinydtl.networks.topology import require_connected

__all__ = ["DKMeansResult", "dk_means"]


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
    pos = check_finite_array("positions", positions, ndim=2, allow_empty=False)
    n = len(pos)
    check_number("k", k, low=1, high=n, integer=True)
    check_number("iterations", iterations, low=1, integer=True)
    check_number("gossip_rounds", gossip_rounds, low=1, integer=True)
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
