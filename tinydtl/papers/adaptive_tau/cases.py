"""The demo's data: MNIST as even-vs-odd, dealt to the edge nodes in four ways.

How data is spread over the nodes decides how much their gradients diverge (the ``δ`` of the bound),
and so how often they must aggregate. The demo (Tuor, Wang et al., INFOCOM 2018 demos) and JSAC 2019
(Section VII) compare four cases, reproduced here as the authors' ``get_indices_each_node_case``:
uniform (1), by label (2, the most divergent), replicated (3, no divergence) and half and half (4).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydtl.core.validation import check_int

__all__ = ["CASES", "data_case", "even_odd"]

CASES = {
    1: "uniform: samples dealt round-robin over the nodes",
    2: "by label: each node holds whole labels (node 1: 0 and 5, node 2: 1 and 6, ...)",
    3: "replicated: every node holds the full data set",
    4: "half and half: labels below the middle spread uniformly over the first nodes, the others by label over the rest",
}


def _targets(labels, n_nodes: int, case: int) -> np.ndarray:
    """The node each sample goes to (before rebalancing) in cases 1, 2 and 4."""
    lo, hi = int(labels.min()), int(labels.max())
    idx = np.arange(labels.size)
    if case == 1:
        return idx % n_nodes
    if case == 2:
        return (labels - lo) % n_nodes
    n_labels = hi - lo + 1
    first = int(math.ceil(min(n_nodes, n_labels) / 2))
    rest = min(n_nodes, n_labels) - first
    low = labels < (lo + hi) / 2
    return np.where(low, idx % first, ((labels - lo) % max(rest, 1)) + first) if n_nodes > 1 else idx * 0


def data_case(labels, n_nodes: int, case: int) -> list[np.ndarray]:
    """Index sets per node for the demo's four data distributions (the authors' ``get_indices_each_node_case``).

    ``case`` 1–4 as in :data:`CASES`. Case 2 sends label ``l`` to node ``l mod n``; case 4 sends labels
    below the middle of the label range to nodes ``0 … ceil(min(n, L)/2) − 1`` round-robin and the others
    to the remaining nodes by label. For ``n_nodes`` > number of labels the authors' rebalancing (least
    filled node of the same residue) is applied.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("labels must be a non-empty 1-D array of integers")
    check_int("n_nodes", n_nodes, 1)
    if not isinstance(case, numbers.Integral) or isinstance(case, bool) or case not in CASES:
        raise ValueError(f"case must be one of {sorted(CASES)}, got {case!r}")
    if case == 3:
        return [np.arange(labels.size) for _ in range(n_nodes)]
    target = _targets(labels, n_nodes, case)
    n_labels = int(labels.max()) - int(labels.min()) + 1
    parts = [[] for _ in range(n_nodes)]
    if n_nodes > n_labels and case in (2, 4):
        for i, t in enumerate(target):
            same = [n for n in range(n_nodes) if n % n_labels == t]
            k = min(same, key=lambda n: len(parts[n]))
            parts[k].append(i)
    else:
        for i, t in enumerate(target):
            parts[int(t)].append(i)
    return [np.asarray(p, dtype=np.int64) for p in parts]


def even_odd(labels) -> np.ndarray:
    """MNIST digits as the demo's binary task: even → +1, odd → −1."""
    labels = np.asarray(labels)
    return np.where(labels % 2 == 0, 1.0, -1.0)
