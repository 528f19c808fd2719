"""Split a labelled data set across clients (devices).

Each partitioner returns a list of index arrays, one per client, each sorted and non-empty; together
they use every sample exactly once (:func:`pathological`: at most once, see there). All are seeded:
the same seed gives the same split (``seed`` is an integer >= 0 or a ``numpy.random.Generator``;
anything else is a ``TypeError`` naming it).

* :func:`iid` — shuffle and deal out equal shares.
* :func:`dirichlet` — label skew: for each class, the shares of the clients are drawn from
  ``Dirichlet(alpha)`` (as flwr-datasets' ``DirichletPartitioner``; Hsu et al. 2019). Small
  ``alpha`` → each client sees few classes; large ``alpha`` → close to IID.
* :func:`shards` — McMahan et al. (2017)'s label-sorted shards: sort by label, cut into
  ``n_clients × shards_per_client`` shards, give each client ``shards_per_client`` shards (shards straddle
  label boundaries, so a client may get more classes than shards: up to 4 with MNIST, 100 × 2).
* :func:`pathological` — exactly ``k`` classes per client (Li et al. 2022's ``#C = k``, as
  flwr-datasets' ``PathologicalPartitioner``); uses every sample at most once (exactly once when
  every class is held by some client).
* :func:`quantity_skew` — IID content, client sizes drawn from ``Dirichlet(alpha)``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from tinydtl.core.validation import as_rng

__all__ = ["iid", "dirichlet", "shards", "pathological", "quantity_skew", "summary", "plot_partition"]


def _check_clients(y, n_clients):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    if y.dtype == bool or y.dtype.kind == "c" or (y.dtype.kind == "f" and not (np.isfinite(y).all() and
                                                                               np.array_equal(y, np.round(y)))):
        raise ValueError("y must hold integer class labels (or strings); got non-integer or NaN values, which "
                         "would be dropped or split into classes of their own")
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
    if not isinstance(max_tries, numbers.Integral) or isinstance(max_tries, bool) or max_tries < 1:
        raise ValueError(f"max_tries must be an integer >= 1, got {max_tries!r}")
    if (
        not isinstance(min_size, numbers.Integral)
        or isinstance(min_size, bool)
        or min_size < 1
        or min_size * n_clients > len(y)
    ):
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


def shards(y, n_clients: int, shards_per_client: int = 2, seed=0, *, classes_per_client=None) -> list[np.ndarray]:
    """McMahan et al. (2017)'s label-sorted shards: sort the samples by label, cut them into
    ``n_clients × shards_per_client`` equal shards, deal each client ``shards_per_client`` shards at random.

    Uses every sample exactly once; client sizes differ by at most ``shards_per_client``. A shard
    may straddle a label boundary, so a client can hold more classes than it has shards (MNIST,
    100 clients, 2 shards each: most clients hold 2 digits, some 3 or 4). For
    exactly ``k`` classes per client use :func:`pathological`.

    ``classes_per_client`` is the old, misleading name of ``shards_per_client``: still accepted,
    with a ``DeprecationWarning``.
    """
    if classes_per_client is not None:
        if shards_per_client != 2:
            raise TypeError("pass shards_per_client only (classes_per_client is its deprecated name)")
        warnings.warn(
            "shards(classes_per_client=...) is deprecated: it counts shards, not classes (a client may get up to "
            "2x as many classes). Use shards_per_client=..., or partition.pathological for exactly k classes.",
            DeprecationWarning,
            stacklevel=2,
        )
        shards_per_client = classes_per_client
    y = _check_clients(y, n_clients)
    if (
        not isinstance(shards_per_client, numbers.Integral)
        or isinstance(shards_per_client, bool)
        or shards_per_client < 1
        or n_clients * shards_per_client > len(y)
    ):
        raise ValueError(
            f"shards_per_client must be an integer in [1, {len(y) // n_clients}] for {n_clients} clients "
            f"and {len(y)} samples, got {shards_per_client!r}"
        )
    rng = as_rng("seed", seed)
    # stable sort by label, ties broken by a random permutation so shards differ with the seed
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]
    pieces = np.array_split(order, n_clients * shards_per_client)
    assignment = rng.permutation(len(pieces)).reshape(n_clients, shards_per_client)
    return [np.sort(np.concatenate([pieces[j] for j in row])) for row in assignment]


ASSIGNMENTS = ("balanced", "first-deterministic", "random", "deterministic")


def pathological(
    y, n_clients: int, classes_per_client: int = 2, seed=0, *, assignment: str = "balanced"
) -> list[np.ndarray]:
    """Exactly ``classes_per_client`` distinct classes per client (the ``#C = k`` label skew of Li, Diao,
    Chen & He 2022, "Federated learning on non-IID data silos", as flwr-datasets' ``PathologicalPartitioner``).

    1. Each client is given ``k = classes_per_client`` distinct classes (of the ``C`` sorted labels
       ``c_0 < c_1 < …``), by ``assignment``:

       * ``"balanced"`` (default): clients in random order each take the ``k`` classes held by the
         fewest clients so far (ties broken at random), so every class is held by ``⌊nk/C⌋`` or
         ``⌈nk/C⌉`` clients — all classes are used whenever ``n_clients · k >= C``;
       * ``"first-deterministic"`` (the paper's and flwr-datasets' example): client ``i`` gets
         ``c_{i mod C}`` and ``k - 1`` others drawn at random without replacement;
       * ``"random"`` (flwr-datasets' default): ``k`` classes drawn at random without replacement;
       * ``"deterministic"``: ``c_{(i + j) mod C}``, ``j = 0..k-1``.
    2. Each class's samples are shuffled and split into near-equal parts (sizes differ by ≤ 1), one
       per client holding that class.

    Every sample is used at most once. Every sample is used exactly once iff every class is held by
    some client: always for ``"balanced"`` with ``n_clients · k >= C``, for ``"first-deterministic"``
    with ``n_clients >= C`` and for ``"deterministic"`` with ``n_clients + k - 1 >= C``; otherwise the
    unheld classes' samples are left out and a ``UserWarning`` names them. A class held by more
    clients than it has samples is a ``ValueError``.
    """
    y = _check_clients(y, n_clients)
    if not isinstance(assignment, str) or assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment must be one of {list(ASSIGNMENTS)}, got {assignment!r}")
    classes, counts = np.unique(y, return_counts=True)
    C = len(classes)
    k = classes_per_client
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not (1 <= k <= C):
        raise ValueError(f"classes_per_client must be an integer in [1, {C}] (the number of classes in y), got {k!r}")
    rng = as_rng("seed", seed)
    held = []  # class positions (into `classes`) per client
    if assignment == "balanced":
        load = np.zeros(C, dtype=int)
        held = [None] * n_clients
        for i in rng.permutation(n_clients):
            pick = np.lexsort((rng.random(C), load))[:k]  # fewest holders first, random among equals
            load[pick] += 1
            held[i] = pick.tolist()
    for i in range(n_clients if assignment != "balanced" else 0):
        if assignment == "deterministic":
            held.append([(i + j) % C for j in range(k)])
        elif assignment == "random":
            held.append(rng.choice(C, size=k, replace=False).tolist())
        else:
            first = i % C
            others = rng.choice(np.delete(np.arange(C), first), size=k - 1, replace=False).tolist()
            held.append([first] + others)
    users = np.bincount(np.concatenate(held), minlength=C)
    short = np.flatnonzero(users > counts)
    if short.size:
        c = short[0]
        raise ValueError(
            f"class {classes[c]!r} has {counts[c]} samples but {users[c]} clients must hold it: "
            f"use fewer clients, a smaller classes_per_client, or assignment='deterministic'"
        )
    unused = classes[users == 0]
    if unused.size:
        warnings.warn(
            f"classes {unused.tolist()} are held by no client, so their {int(counts[users == 0].sum())} samples are "
            "not used; use more clients or assignment='first-deterministic'",
            UserWarning,
            stacklevel=2,
        )
    parts = [[] for _ in range(n_clients)]
    for c in np.flatnonzero(users):
        pieces = np.array_split(rng.permutation(np.flatnonzero(y == classes[c])), users[c])
        holders = [i for i in range(n_clients) if c in held[i]]
        for i, piece in zip(holders, pieces):
            parts[i].append(piece)
    return [np.sort(np.concatenate(p)) for p in parts]


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


def _check_parts(parts, n):
    """``parts``: a sequence of 1-D integer index arrays into ``n`` samples."""
    if isinstance(parts, np.ndarray) and parts.ndim == 1 and parts.dtype != object:
        raise TypeError("parts must be a list of index arrays, one per client (got a single array)")
    out = []
    for k, idx in enumerate(parts):
        a = np.asarray(idx)
        if a.size == 0:
            a = a.astype(int)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"parts[{k}] must be a 1-D array of integer sample indices, got {a.dtype} shape {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= n):
            raise ValueError(f"parts[{k}] has indices outside [0, {n - 1}] (y has {n} labels)")
        out.append(a)
    return out


def summary(parts, y):
    """Samples and label histogram per client, as a pandas DataFrame (one row per client)."""
    import pandas as pd

    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    parts = _check_parts(parts, len(y))
    labels = np.unique(y)
    rows = []
    for k, idx in enumerate(parts):
        counts = {int(c) if np.issubdtype(labels.dtype, np.integer) else c: 0 for c in labels}
        vals, cnt = np.unique(y[idx], return_counts=True)
        for v, c in zip(vals, cnt):
            counts[int(v) if np.issubdtype(labels.dtype, np.integer) else v] = int(c)
        rows.append({"client": k, "samples": int(len(idx)), "classes": int((cnt > 0).sum()), **counts})
    return pd.DataFrame(rows).set_index("client")


def plot_partition(parts, y, ax=None, *, title=None, max_clients=50):
    """Stacked bars: samples of each label per client (first ``max_clients`` clients)."""
    import matplotlib.pyplot as plt

    if not isinstance(max_clients, numbers.Integral) or isinstance(max_clients, bool) or max_clients < 1:
        raise ValueError(f"max_clients must be an integer >= 1, got {max_clients!r}")
    table = summary(list(parts)[:max_clients], y)
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
