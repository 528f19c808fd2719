"""Split a labelled data set across clients (devices).

Each partitioner returns a list of index arrays, one per client, each sorted; together they use
every sample exactly once. All are seeded: the same seed gives the same split (``seed`` is an
integer >= 0 or a ``numpy.random.Generator``; anything else is a ``TypeError`` naming it).

* :func:`iid` — shuffle and deal out equal shares.
* :func:`dirichlet` — label skew: for each class, the shares of the clients are drawn from
  ``Dirichlet(alpha)`` (as flwr-datasets' ``DirichletPartitioner``; Hsu et al. 2019). Small
  ``alpha`` → each client sees few classes; large ``alpha`` → close to IID.
* :func:`shards` — pathological skew (McMahan et al. 2017): sort by label, cut into
  ``n_clients × classes_per_client`` shards, give each client ``classes_per_client`` shards.
* :func:`quantity_skew` — IID content, client sizes drawn from ``Dirichlet(alpha)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import as_rng

__all__ = ["iid", "dirichlet", "shards", "quantity_skew", "summary", "plot_partition"]


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


def _check_alpha(alpha):
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")


def iid(y, n_clients: int, seed=0) -> list[np.ndarray]:
    """Shuffle the samples and deal them out in ``n_clients`` near-equal shares (sizes differ by ≤ 1)."""
    y = _check_clients(y, n_clients)
    order = as_rng("seed", seed).permutation(len(y))
    return [np.sort(part) for part in np.array_split(order, n_clients)]


def dirichlet(
    y, n_clients: int, alpha: float, seed=0, *, min_size: int = 1, max_tries: int = 100
) -> list[np.ndarray]:
    """Label-skewed split: class ``k``'s samples go to clients in proportions ``p_k ~ Dir(alpha·1)``.

    Draws are repeated (up to ``max_tries``) until every client holds at least ``min_size``
    samples; if that never happens the request is impossible in practice and a ``ValueError``
    says so (use fewer clients, a larger ``alpha`` or a smaller ``min_size``).
    """
    y = _check_clients(y, n_clients)
    _check_alpha(alpha)
    if not isinstance(min_size, numbers.Integral) or min_size < 1 or min_size * n_clients > len(y):
        raise ValueError(
            f"min_size must be an integer in [1, {len(y) // n_clients}] for {n_clients} clients, got {min_size!r}"
        )
    rng = as_rng("seed", seed)
    by_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    for _ in range(max_tries):
        parts = [[] for _ in range(n_clients)]
        for idx in by_class:
            p = rng.dirichlet(np.full(n_clients, float(alpha)))
            cuts = (np.cumsum(p)[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].append(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise ValueError(
        f"dirichlet could not give each of {n_clients} clients >= {min_size} samples with alpha={alpha} "
        f"in {max_tries} draws; use fewer clients, a larger alpha or a smaller min_size"
    )


def shards(y, n_clients: int, classes_per_client: int = 2, seed=0) -> list[np.ndarray]:
    """Pathological label skew: each client receives ``classes_per_client`` label-sorted shards.

    With MNIST, 100 clients and 2 shards each, most clients hold exactly two digits.
    """
    y = _check_clients(y, n_clients)
    if (
        not isinstance(classes_per_client, numbers.Integral)
        or classes_per_client < 1
        or n_clients * classes_per_client > len(y)
    ):
        raise ValueError(
            f"classes_per_client must be an integer in [1, {len(y) // n_clients}] for {n_clients} clients "
            f"and {len(y)} samples, got {classes_per_client!r}"
        )
    rng = as_rng("seed", seed)
    # stable sort by label, ties broken by a random permutation so shards differ with the seed
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]
    pieces = np.array_split(order, n_clients * classes_per_client)
    assignment = rng.permutation(len(pieces)).reshape(n_clients, classes_per_client)
    return [np.sort(np.concatenate([pieces[j] for j in row])) for row in assignment]


def quantity_skew(y, n_clients: int, alpha: float = 1.0, seed=0) -> list[np.ndarray]:
    """IID content, unequal sizes: client shares ``q ~ Dir(alpha·1)``, each client at least one sample."""
    y = _check_clients(y, n_clients)
    _check_alpha(alpha)
    rng = as_rng("seed", seed)
    q = rng.dirichlet(np.full(n_clients, float(alpha)))
    extra = len(y) - n_clients
    sizes = 1 + np.floor(q * extra).astype(int)
    leftover = len(y) - sizes.sum()
    sizes[np.argsort(-(q * extra - np.floor(q * extra)))[:leftover]] += 1
    order = rng.permutation(len(y))
    return [np.sort(p) for p in np.split(order, np.cumsum(sizes)[:-1])]


def summary(parts, y):
    """Samples and label histogram per client, as a pandas DataFrame (one row per client)."""
    import pandas as pd

    y = np.asarray(y)
    labels = np.unique(y)
    rows = []
    for k, idx in enumerate(parts):
        counts = {int(c) if np.issubdtype(labels.dtype, np.integer) else c: 0 for c in labels}
        vals, cnt = np.unique(y[np.asarray(idx, dtype=int)], return_counts=True)
        for v, c in zip(vals, cnt):
            counts[int(v) if np.issubdtype(labels.dtype, np.integer) else v] = int(c)
        rows.append({"client": k, "samples": int(len(idx)), "classes": int((cnt > 0).sum()), **counts})
    return pd.DataFrame(rows).set_index("client")


def plot_partition(parts, y, ax=None, *, title=None, max_clients=50):
    """Stacked bars: samples of each label per client (first ``max_clients`` clients)."""
    import matplotlib.pyplot as plt

    table = summary(parts[:max_clients], y)
    counts = table.drop(columns=["samples", "classes"])
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    bottom = np.zeros(len(counts))
    cmap = plt.get_cmap("tab10" if counts.shape[1] <= 10 else "tab20")
    for j, label in enumerate(counts.columns):
        ax.bar(counts.index, counts[label].values, bottom=bottom, color=cmap(j % cmap.N), label=str(label), width=0.9)
        bottom += counts[label].values
    ax.set_xlabel("client")
    ax.set_ylabel("samples")
    if title:
        ax.set_title(title)
    ax.legend(title="label", fontsize=7, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    return ax
