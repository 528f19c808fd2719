"""Split a labelled data set across clients (devices).

Each partitioner returns a list of index arrays, one per client; together they use every sample
exactly once. All are seeded: the same seed gives the same split.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["iid"]


def _check_clients(y, n_clients):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    if not isinstance(n_clients, numbers.Integral) or isinstance(n_clients, bool) or n_clients < 1:
        raise ValueError(f"n_clients must be an integer >= 1, got {n_clients!r}")
    if n_clients > len(y):
        raise ValueError(
            f"n_clients must be <= the number of samples ({len(y)}) so that no client is empty, "
            f"got {n_clients}"
        )
    return y


def iid(y, n_clients: int, seed: int | None = 0) -> list[np.ndarray]:
    """Shuffle the samples and deal them out in ``n_clients`` near-equal shares (sizes differ by ≤ 1)."""
    y = _check_clients(y, n_clients)
    order = np.random.default_rng(seed).permutation(len(y))
    return [np.sort(part) for part in np.array_split(order, n_clients)]
