"""Where devices are and who can talk to whom: communication graphs for decentralised learning.

Every builder returns a :class:`networkx.Graph` whose nodes ``0..n-1`` carry a ``pos`` attribute
(a point in the unit square, or the layout of the classic graph), so the graphs draw with
``nx.draw(G, pos=nx.get_node_attributes(G, "pos"))``. For very large swarms,
:func:`geometric_adjacency` builds the sparse adjacency matrix directly (100,000 devices in well
under a second) without a networkx object.

Disconnected graphs are reported, not averaged over silently: :func:`components` lists them and
:func:`require_connected` raises an error that names how many there are and how large.
"""

from __future__ import annotations

import numbers

import networkx as nx
import numpy as np
import scipy.sparse as sp

from tinydtl.core.validation import as_rng, check_finite_array, check_number, check_seed

__all__ = [
    "place_devices",
    "geometric_adjacency",
    "random_geometric",
    "line",
    "ring",
    "star",
    "grid",
    "complete",
    "small_world",
    "components",
    "require_connected",
    "DisconnectedGraphError",
    "bilayer_graph",
]


class DisconnectedGraphError(ValueError):
    """Gossip cannot average across components: the graph must be connected."""


def _check_n(n, low=1, name="n"):
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {n!r}")
    return int(n)


def _check_radius(radius):
    if not isinstance(radius, numbers.Real) or isinstance(radius, bool) or not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be a finite number > 0 (communication range, in units of the area's side), got {radius!r}")
    return float(radius)


def _check_positions(positions):
    try:
        pos = np.asarray(positions, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"positions must be an (n, dim) array of numbers, got {type(positions).__name__}") from None
    if pos.ndim != 2 or pos.shape[1] < 1:
        raise ValueError(f"positions must be an (n, dim) array, got shape {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions must contain only finite numbers (found NaN or inf)")
    return pos


def place_devices(n: int, *, side: float = 1.0, seed=0) -> np.ndarray:
    """``n`` device positions uniform in the square ``[0, side]^2`` (``seed``: integer >= 0 or a Generator)."""
    n = _check_n(n)
    if not isinstance(side, numbers.Real) or isinstance(side, bool) or not (np.isfinite(side) and side > 0):
        raise ValueError(f"side must be a finite number > 0, got {side!r}")
    return as_rng("seed", seed).uniform(0.0, side, size=(n, 2))


def geometric_adjacency(positions, radius: float) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency (CSR) of devices closer than ``radius`` (k-d tree; no self loops)."""
    from scipy.spatial import cKDTree

    pos = _check_positions(positions)
    radius = _check_radius(radius)
    pairs = cKDTree(pos).query_pairs(radius, output_type="ndarray")
    n = len(pos)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


def _with_positions(G, pos):
    nx.set_node_attributes(G, {i: np.asarray(p, dtype=float) for i, p in enumerate(pos)}, "pos")
    return G


def random_geometric(n: int, radius: float, *, seed=0, positions=None) -> nx.Graph:
    """Devices placed uniformly in the unit square (or at ``positions``), linked when closer than ``radius``."""
    _check_radius(radius)
    check_seed("seed", seed)
    pos = place_devices(n, seed=seed) if positions is None else _check_positions(positions)
    if positions is not None and len(pos) != _check_n(n):
        raise ValueError(f"positions has {len(pos)} rows but n={n}")
    G = nx.from_scipy_sparse_array(geometric_adjacency(pos, radius))
    G.graph["radius"] = float(radius)
    return _with_positions(G, pos)


def _circle(n):
    t = 2 * np.pi * np.arange(n) / n
    return 0.5 + 0.45 * np.column_stack([np.cos(t), np.sin(t)])


def line(n: int) -> nx.Graph:
    """Path 0 - 1 - ... - n-1."""
    n = _check_n(n)
    return _with_positions(nx.path_graph(n), np.column_stack([np.linspace(0, 1, n), np.full(n, 0.5)]))


def ring(n: int) -> nx.Graph:
    """Cycle of ``n >= 3`` devices."""
    n = _check_n(n, 3)
    return _with_positions(nx.cycle_graph(n), _circle(n))


def star(n: int) -> nx.Graph:
    """Device 0 in the centre linked to ``n - 1`` others (a server-like hub)."""
    n = _check_n(n, 2)
    pos = np.vstack([[0.5, 0.5], _circle(n - 1)])
    return _with_positions(nx.star_graph(n - 1), pos)


def grid(rows: int, cols: int) -> nx.Graph:
    """``rows × cols`` lattice, nodes numbered row by row."""
    rows, cols = _check_n(rows, name="rows"), _check_n(cols, name="cols")
    G = nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, cols), ordering="sorted")
    r, c = np.divmod(np.arange(rows * cols), cols)
    return _with_positions(G, np.column_stack([c / max(cols - 1, 1), r / max(rows - 1, 1)]))


def complete(n: int) -> nx.Graph:
    """Everyone talks to everyone."""
    n = _check_n(n)
    return _with_positions(nx.complete_graph(n), _circle(n))


def small_world(n: int, k: int = 4, p: float = 0.1, *, seed=0) -> nx.Graph:
    """Watts-Strogatz ring of ``n`` devices with ``k`` nearest neighbours, each edge rewired with probability ``p`` (kept connected)."""
    n = _check_n(n, 3)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not (2 <= k < n):
        raise ValueError(f"k must be an integer in [2, {n - 1}], got {k!r}")
    check_number("p", p, low=0, high=1)
    seed = check_seed("seed", seed)
    # networkx takes a Python int or a numpy Generator
    seed = np.random.default_rng(seed) if isinstance(seed, np.random.SeedSequence) else seed
    seed = int(seed) if isinstance(seed, numbers.Integral) else seed
    return _with_positions(nx.connected_watts_strogatz_graph(n, k, p, seed=seed), _circle(n))


def components(G) -> list[set]:
    """Connected components, largest first (a networkx graph or a square sparse adjacency matrix)."""
    if sp.issparse(G):
        if G.shape[0] != G.shape[1]:
            raise ValueError(f"G must be a square adjacency matrix, got shape {G.shape}")
        n_comp, labels = sp.csgraph.connected_components(G, directed=False)
        comps = [set(np.flatnonzero(labels == c).tolist()) for c in range(n_comp)]
    else:
        if not isinstance(G, nx.Graph) or G.is_directed():
            raise TypeError(f"G must be an undirected networkx graph or a scipy.sparse adjacency matrix, got {type(G).__name__}")
        comps = [set(c) for c in nx.connected_components(G)]
    return sorted(comps, key=len, reverse=True)


def require_connected(G) -> None:
    """Raise :class:`DisconnectedGraphError` naming the components if ``G`` is not connected."""
    comps = components(G)
    if len(comps) > 1:
        sizes = [len(c) for c in comps]
        shown = ", ".join(map(str, sizes[:10])) + (", ..." if len(sizes) > 10 else "")
        isolated = sum(1 for s in sizes if s == 1)
        raise DisconnectedGraphError(
            f"the graph has {len(comps)} connected components (sizes {shown}; {isolated} isolated devices): "
            "gossip cannot reach consensus across them. Increase the communication range or add links."
        )


def bilayer_graph(positions, labels, heads, radius: float, head_radius: float | None = None) -> nx.Graph:
    """The bilayer topology: intra-cluster links (same cluster, within ``radius``) plus links between
    cluster heads within ``head_radius`` (default ``radius``; heads may have longer-range radios).

    Node attributes: ``pos``, ``cluster``, ``head`` (bool). Edge attribute ``layer``: ``"intra"`` or ``"inter"``.
    """
    pos = check_finite_array("positions", positions, ndim=2)
    labels = np.asarray(labels)
    if labels.shape != (len(pos),) or labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must hold one cluster per device: {len(pos)} integers, got {labels.dtype} "
                         f"shape {labels.shape}")
    heads = np.asarray(heads)
    if heads.ndim != 1 or (heads.size and (not np.issubdtype(heads.dtype, np.integer) or heads.max() >= len(pos))):
        raise ValueError(f"heads must be device indices in [0, {len(pos) - 1}] (-1 for an empty cluster)")
    heads = [int(h) for h in heads if h >= 0]
    if head_radius is not None:
        _check_radius(head_radius)
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
