"""How models move between devices: faults, gossip, bilayer clusters, moving devices.

Every transmission here is costed by the package's one byte rule (:mod:`tinydtl.core.traffic`: a
broadcast to k neighbours counts k transmissions, a relay over h hops counts h).

Mixing rules: :func:`gossip` (Metropolis steps), :func:`one_hop_average` (each device folds the models
of its in-range neighbours into one Cumulative FedAvg sum, once per round) and :class:`Bilayer`
(clusters, heads, relays, head gossip).

Faults (:func:`live_devices`, :func:`surviving_links`): every round each device drops out with
probability ``dropout`` (it neither trains nor communicates) and every link fails with probability
``link_failure``. A trainer draws both **once per round** and passes the surviving links to every
step of that round. Metropolis weights are recomputed on what survives, so gossip stays doubly
stochastic among the living.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from tinydtl.core.aggregation import CumulativeFedAvg
from tinydtl.core.traffic import Traffic, payload_bytes
from tinydtl.core.validation import check_number
from tinydtl.networks.gossip import adjacency, metropolis_weights
from tinydtl.networks.topology import geometric_adjacency

__all__ = [
    "live_devices",
    "surviving_links",
    "gossip",
    "one_hop_average",
    "Bilayer",
    "MovingDevices",
]

# ----------------------------------------------------------------------------- faults
def live_devices(n: int, dropout: float, rng) -> np.ndarray:
    """Boolean mask of devices that take part this round (each drops out with probability ``dropout``)."""
    check_number("dropout", dropout, low=0.0, high=1.0, high_open=True)
    return rng.random(n) >= dropout if dropout else np.ones(n, dtype=bool)


def surviving_links(A: sp.csr_matrix, alive, link_failure: float, rng) -> sp.csr_matrix:
    """Links whose two ends are alive, each kept with probability ``1 - link_failure`` (symmetric)."""
    check_number("link_failure", link_failure, low=0.0, high=1.0, high_open=True)
    A = sp.triu(A, k=1).tocoo()
    keep = alive[A.row] & alive[A.col]
    if link_failure:
        keep &= rng.random(A.nnz) >= link_failure
    U = sp.csr_matrix((np.ones(int(keep.sum())), (A.row[keep], A.col[keep])), shape=A.shape)
    return sp.csr_matrix(U + U.T)


# ----------------------------------------------------------------------------- gossip
def gossip(A_live: sp.csr_matrix, values: np.ndarray, steps: int, *, weights=None):
    """``steps`` synchronous gossip steps ``x ← W x`` with Metropolis weights on the live links.

    Every step each device sends its row to each live neighbour: ``nnz(A_live)`` transmissions of
    ``values.shape[1]`` float32 numbers. The arithmetic runs in ``values``' precision (float32 rows
    stay float32: half the memory traffic; pass float64 for exact ratio consensus). ``weights`` are
    ``metropolis_weights(A_live)`` computed once by a caller that mixes many times over the same
    links (D-PSGD mixes after every step of a round). Returns ``(values, Traffic)``.
    """
    check_number("steps", steps, low=0, integer=True)
    values = np.asarray(values)
    if values.shape[:1] != (A_live.shape[0],):
        raise ValueError(f"values must hold one row per device ({A_live.shape[0]} rows), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite (NaN or inf would spread to every device)")
    if steps == 0 or A_live.nnz == 0:
        return values, Traffic()
    M = metropolis_weights(A_live) if weights is None else weights
    if values.dtype == np.float32 and M.dtype != np.float32:
        M = M.astype(np.float32)
    for _ in range(steps):
        values = M @ values
    messages = A_live.nnz * steps
    row = values.shape[1] if values.ndim > 1 else 1
    return values, Traffic(bytes_up=messages * payload_bytes(row), messages=messages)


def one_hop_average(A_live: sp.csr_matrix, values: np.ndarray, weights):
    """One round of one-hop Cumulative FedAvg: every device averages its own model with the models of
    its live neighbours, weighted by sample counts,

        x_i ← (n_i x_i + Σ_{j ∈ N(i)} n_j x_j) / (n_i + Σ_{j ∈ N(i)} n_j),

    as a device does that folds each neighbour's model into one running sum ``(Σ n w, Σ n)`` as it
    arrives and sends its **own** model (never the sum) — so information travels one hop per round.
    This is the aggregation of the bilayer paper's public simulator (its cumulative-FedAvg versions).
    The rows are row-stochastic, not doubly stochastic: the network's weighted mean may move.

    Every live pair exchanges models both ways: ``nnz(A_live)`` transmissions of the model and its
    weight (``values.shape[1] + 1`` float32 numbers). A device without live links keeps its model.
    Returns ``(values float64, Traffic)``.
    """
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    A_live = sp.csr_matrix(A_live, dtype=np.float64, copy=True)
    A_live.eliminate_zeros()
    A_live.data[:] = 1.0  # the links, whatever their weights
    n = A_live.shape[0]
    if values.ndim != 2 or len(values) != n:
        raise ValueError(f"values must hold one row per device ({n} rows), got shape {values.shape}")
    if weights.shape != (n,) or not np.isfinite(weights).all() or (weights <= 0).any():
        raise ValueError(f"weights must be {n} finite numbers > 0 (e.g. sample counts)")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite (NaN or inf would spread to every neighbour)")
    weighted = weights[:, None] * values
    out = (A_live @ weighted + weighted) / (A_live @ weights + weights)[:, None]  # the neighbours' and its own
    messages = int(A_live.nnz)
    return out, Traffic(bytes_up=messages * payload_bytes(values.shape[1] + 1), messages=messages)


# ----------------------------------------------------------------------------- bilayer
class Bilayer:
    """Clusters with one head each (arXiv 2501.04817): members' models reach their head over radio
    links, heads mix with heads, heads share the result back.

    Parameters
    ----------
    graph : networkx graph or sparse adjacency
        The links that exist: intra-cluster radio links and head-to-head links (e.g. from
        :func:`tinydtl.algorithms.decentralized.bilayer_graph`). Members reach their head over shortest live
        paths in this graph, relayed hop by hop (each hop one transmission).
    clusters : (n,) integer labels
        Any integers (they need not start at 0 or be contiguous).
    heads : device indices
        One head per cluster label, ``clusters[head]`` naming its cluster. ``-1`` entries are ignored.
    """

    def __init__(self, graph, clusters, heads):
        self.A = adjacency(graph)
        n = self.A.shape[0]
        clusters = np.asarray(clusters)
        if clusters.shape != (n,) or not np.issubdtype(clusters.dtype, np.integer):
            raise ValueError(f"clusters must be {n} integer cluster labels (one per device), got shape {clusters.shape}")
        heads = np.asarray(heads)
        if heads.ndim != 1 or not np.issubdtype(heads.dtype, np.integer):
            raise ValueError("heads must be a 1-D array of device indices (one per cluster)")
        heads = heads[heads >= 0]
        if heads.size and heads.max() >= n:
            raise ValueError(f"heads must be device indices in [0, {n - 1}], got {heads.max()}")
        labels = np.unique(clusters)
        head_labels = clusters[heads]
        if len(np.unique(head_labels)) != len(heads):
            raise ValueError("heads must name one head per cluster (two heads share a cluster)")
        missing = np.setdiff1d(labels, head_labels)
        if missing.size:
            raise ValueError(f"every cluster needs a head; clusters without one: {missing.tolist()}")
        self.n, self.clusters, self.heads = n, clusters, np.sort(heads)
        coo = self.A.tocoo()
        same = clusters[coo.row] == clusters[coo.col]
        self.A_intra = sp.csr_matrix((np.ones(int(same.sum())), (coo.row[same], coo.col[same])), shape=self.A.shape)
        is_head = np.zeros(n, dtype=bool)
        is_head[self.heads] = True
        inter = is_head[coo.row] & is_head[coo.col] & ~same
        self.A_inter = sp.csr_matrix((np.ones(int(inter.sum())), (coo.row[inter], coo.col[inter])), shape=self.A.shape)

    def hops_to_heads(self, A_live: sp.csr_matrix, alive) -> np.ndarray:
        """Hops from each device to its own cluster's head over live links (``inf`` if unreachable or
        the head is down; 0 for the head itself)."""
        hops = np.full(self.n, np.inf)
        live_heads = self.heads[alive[self.heads]]
        if live_heads.size:
            D = csgraph.shortest_path(A_live, unweighted=True, indices=live_heads)
            for row, h in zip(D, live_heads):
                members = self.clusters == self.clusters[h]
                hops[members] = row[members]
        hops[~alive] = np.inf
        return hops

    def round(self, values, weights, alive, A_live=None, *, g_intra: int, g_inter: int):
        """One bilayer round on the rows of ``values`` (float64 recommended), weighted by ``weights``.

        ``A_live`` are the links that work this round (one draw per round, e.g.
        :func:`surviving_links`; default: every link between live devices); the intra-cluster links,
        the relay paths and the head-to-head links are all taken from it, so a link is either up for
        the whole round or down for the whole round.

        1. ``g_intra`` gossip steps on live intra-cluster links;
        2. every reachable live member sends ``(n_i w_i, n_i)`` to its head over the shortest live path
           (``hops`` transmissions); the head folds them into one running sum (Cumulative FedAvg);
        3. ``g_inter`` gossip steps among live heads on the **pairs** ``(Σ n w, Σ n)``, then each head
           divides: with doubly stochastic mixing the ratio tends to the sample-weighted average of all
           clusters (push-sum-style ratio consensus, Kempe et al. 2003);
        4. heads send the result back along the same paths.

        Devices that cannot reach their head keep their intra-cluster model. Returns
        ``(values, Traffic, unreachable)`` with ``unreachable`` the number of live devices cut off.
        """
        values, weights, alive = self.check_round(values, weights, alive)
        if A_live is None:
            A_live = surviving_links(self.A, alive, 0.0, None)
        A_live = sp.csr_matrix(A_live)
        if A_live.shape != self.A.shape:
            raise ValueError(f"A_live must be a ({self.n}, {self.n}) adjacency, got shape {A_live.shape}")
        values, traffic = gossip(A_live.multiply(self.A_intra).tocsr(), values, g_intra)
        hops = self.hops_to_heads(A_live, alive)
        reach = np.isfinite(hops)
        unreachable = int((alive & ~reach).sum())
        live_heads = self.heads[alive[self.heads]]
        if live_heads.size == 0:
            return values, traffic, unreachable
        pairs, t_up = self.gather_at_heads(values, weights, hops, reach, live_heads)
        A_h = A_live.multiply(self.A_inter).tocsr()[live_heads][:, live_heads]
        pairs, t_inter = gossip(sp.csr_matrix(A_h), pairs, g_inter)
        models = pairs[:, :-1] / pairs[:, -1:]
        down = 0
        for h, model in zip(live_heads, models):
            members = np.flatnonzero(reach & (self.clusters == self.clusters[h]))
            values[members] = model
            down += int(hops[members].sum())
        t_down = Traffic(bytes_down=down * payload_bytes(values.shape[1]), messages=down)
        return values, traffic + t_up + t_inter + t_down, unreachable

    def check_round(self, values, weights, alive):
        """The round's inputs as float64 values (a copy), float64 weights > 0 and a boolean mask."""
        values = np.array(values, dtype=np.float64, copy=True)
        weights = np.asarray(weights, dtype=np.float64)
        alive = np.asarray(alive, dtype=bool)
        if values.ndim != 2 or len(values) != self.n:
            raise ValueError(f"values must hold one row per device ({self.n} rows), got shape {values.shape}")
        if weights.shape != (self.n,) or not np.isfinite(weights).all() or (weights <= 0).any():
            raise ValueError(f"weights must be {self.n} finite numbers > 0 (e.g. sample counts)")
        if alive.shape != (self.n,):
            raise ValueError(f"alive must be a boolean mask of {self.n} devices, got shape {alive.shape}")
        return values, weights, alive

    def gather_at_heads(self, values, weights, hops, reach, live_heads):
        """Every reachable member's ``(n_i w_i, n_i)`` folded into its head's running sum (Cumulative
        FedAvg), each relayed over ``hops`` transmissions. Returns ``(pairs (heads, P + 1), Traffic)``."""
        sums, totals = [], []
        for h in live_heads:
            members = np.flatnonzero(reach & (self.clusters == self.clusters[h]))
            acc = CumulativeFedAvg(np.float64)
            for i in members:  # models arrive one by one; the head keeps one running sum
                acc.add([values[i]], weights[i])
            sums.append(acc.sum[0])
            totals.append(acc.total)
        relay_msgs = int(hops[reach].sum())  # the head's own model travels 0 hops
        row_bytes = payload_bytes(values.shape[1] + 1)  # the model and its weight
        pairs = np.hstack([np.vstack(sums), np.array(totals)[:, None]])
        return pairs, Traffic(bytes_up=relay_msgs * row_bytes, messages=relay_msgs)


# ----------------------------------------------------------------------------- moving devices
class MovingDevices:
    """Devices that move: the links of round ``t`` are those of the positions ``trajectory[t]``
    within ``radius`` (one snapshot per round)."""

    def __init__(self, trajectory, radius: float):
        traj = np.asarray(trajectory, dtype=float)
        if traj.ndim != 3 or traj.shape[0] < 1:
            raise ValueError(f"trajectory must be (steps + 1, n, dim) positions, got shape {traj.shape}")
        if not np.isfinite(traj).all():
            raise ValueError("trajectory must hold finite positions")
        check_number("radius", radius, low=0, low_open=True)
        self.trajectory, self.radius = traj, float(radius)

    @property
    def n_rounds(self) -> int:
        return self.trajectory.shape[0] - 1

    def links(self, t: int) -> sp.csr_matrix:
        """Adjacency of the snapshot at time ``t``."""
        check_number("t", t, low=0, high=self.n_rounds, integer=True)
        return geometric_adjacency(self.trajectory[t], self.radius)
