"""Distributed ILVQ: devices learn prototypes on their own streams, then share them.

The survey's DTL angle on its first benchmark. Each of N devices runs :class:`~tinydtl.learners.ilvq.ILVQ`
on the samples it sees. Two ways to combine what they learned:

* **Central merge** (federated, one round): every device uploads its prototype set to a server,
  which forms the union and optionally *condenses* it by running ILVQ over the union (prototypes
  as labelled samples, repeated by their win counts up to a cap); the merged set is broadcast back.
* **Neighbour exchange** (decentralised gossip): in each round every device sends its current
  prototypes to its graph neighbours and absorbs what it receives with ``partial_fit``. No server.

Communication counts every byte of a prototype that the receiver needs: its float32 coordinates and its label
(one byte, uint8), ``n_prototypes × (n_features × 4 + 1)`` bytes per gossip message; a central merge also
sends each prototype's win count (float32, 4 bytes: the server condenses by it, and a device keeps learning with
it), both ways. Messages follow
the package's one rule (:mod:`tinydtl.core.traffic`): a set sent to k neighbours is k transmissions.
The exchange runs on :func:`tinydtl.core.simulation.simulate` and returns its
:class:`~tinydtl.core.history.History` (row 0 = the devices before any exchange).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np

from tinydtl.core.history import History
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import Traffic, payload_bytes, star_traffic
from tinydtl.core.validation import as_rng, check_int_seed, check_number
from tinydtl.learners.ilvq import ILVQ
from tinydtl.runtime.deprecation import renamed_keywords

__all__ = [
    "MergeResult",
    "exchange_algorithm",
    "merge_central",
    "neighbour_exchange",
    "prototype_bytes",
    "run_ilvq_exchange",
    "train_devices",
]

def prototype_bytes(n_prototypes: int, n_features: int, *, win_counts: bool = False) -> int:
    """Bytes of one prototype set: float32 coordinates and a one-byte label per prototype, plus its float32 win
    count when ``win_counts`` (what a central merge needs)."""
    check_number("n_prototypes", n_prototypes, low=0, integer=True)
    check_number("n_features", n_features, low=1, integer=True)
    n = int(n_prototypes)
    return payload_bytes(n * int(n_features)) + payload_bytes(n, "uint8") + (payload_bytes(n) if win_counts else 0)


def train_devices(X, y, parts, *, classes=None, n_epochs=2, seed=0, **ilvq_params) -> list[ILVQ]:
    """Fit one ILVQ per device on ``X[parts[i]]`` (each device shuffles its own stream).

    ``classes`` defaults to all labels in ``y``, so that every device knows the full label set
    even if its own data lack some classes.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    check_int_seed("seed", seed)
    if len(parts) < 1:
        raise ValueError("parts must hold at least one device's indices")
    classes = np.unique(y) if classes is None else np.asarray(classes)
    models = []
    for i, idx in enumerate(parts):
        idx = np.asarray(idx)
        if idx.size == 0:
            raise ValueError(f"device {i} has no samples (parts[{i}] is empty)")
        rng = np.random.default_rng([seed, i])
        model = ILVQ(**ilvq_params)
        models.append(model.learn_passes(X[idx], y[idx], classes=classes, n_epochs=n_epochs, rng=rng))
    return models


@dataclass
class MergeResult:
    """A centrally merged model and what the merge cost in communication."""

    model: ILVQ
    union_size: int
    bytes_up: int
    bytes_down: int

    @property
    def bytes_total(self) -> int:
        return self.bytes_up + self.bytes_down


def merge_central(models, *, condense=True, n_epochs=2, max_repeat=5, seed=0, **ilvq_params) -> MergeResult:
    """Merge device models at a server (one federated round).

    Parameters
    ----------
    condense : bool
        ``False``: the merged model holds the union of all prototypes (with their win counts).
        ``True``: the server runs ILVQ over the union, each prototype repeated
        ``min(win_count, max_repeat)`` times so that well-supported prototypes weigh more; the
        result is smaller and is what gets broadcast.
    """
    if not models:
        raise ValueError("models must hold at least one fitted ILVQ")
    classes = models[0].classes_
    for m in models[1:]:
        if not np.array_equal(m.classes_, classes):
            raise ValueError("all device models must share the same classes_ (pass classes= when training)")
    P = np.vstack([m.prototypes_ for m in models])
    L = np.concatenate([m.prototype_labels_ for m in models])
    M = np.concatenate([m.win_counts_ for m in models])
    d = P.shape[1]
    uploads = [prototype_bytes(m.n_prototypes_, d, win_counts=True) for m in models]
    if condense:
        reps = np.minimum(np.maximum(M, 1), max_repeat).astype(int)
        Xs, ys = np.repeat(P, reps, axis=0), np.repeat(L, reps)
        merged = ILVQ(**ilvq_params).learn_passes(Xs, ys, classes=classes, n_epochs=n_epochs, rng=as_rng("seed", seed))
    else:
        merged = ILVQ.from_prototypes(P, L, classes, win_counts=M, **ilvq_params)
    traffic = star_traffic(uploads, prototype_bytes(merged.n_prototypes_, d, win_counts=True))
    return MergeResult(merged, union_size=len(P), bytes_up=traffic.bytes_up, bytes_down=traffic.bytes_down)


def exchange_algorithm(models, graph, *, x_test, y_test, seed=0) -> Algorithm:
    """Synchronous prototype gossip as an :class:`~tinydtl.core.simulation.Algorithm`.

    The state made by ``init`` is a deep copy of the caller's models and a generator seeded by
    ``seed``, so the caller's models are never changed and simulating the algorithm twice gives the
    same history. Each round every device sends a snapshot of its prototypes to each neighbour,
    then absorbs the sets it received (shuffled) with ``partial_fit``.
    """
    n = len(models)
    classes = models[0].classes_
    d = models[0].n_features_in_
    check_int_seed("seed", seed)
    neighbours = [sorted(graph.neighbors(i)) for i in range(n)]
    originals = [copy.deepcopy(m) for m in models]

    def init():
        return {"models": [copy.deepcopy(m) for m in originals], "rng": np.random.default_rng(seed)}

    def apply(state, r, settings):
        models, rng = state["models"], state["rng"]
        snapshot = [(m.prototypes_.copy(), m.prototype_labels_.copy()) for m in models]
        traffic = Traffic()
        for i in range(n):
            nbrs = neighbours[i]
            if not nbrs:
                continue
            P = np.vstack([snapshot[j][0] for j in nbrs])
            L = np.concatenate([snapshot[j][1] for j in nbrs])
            sent = sum(prototype_bytes(len(snapshot[j][0]), d) for j in nbrs)
            traffic = traffic + Traffic(bytes_up=sent, messages=len(nbrs))
            order = rng.permutation(len(L))
            models[i].partial_fit(P[order], L[order], classes=classes)
        return state, {**traffic.as_row(), "live_devices": n}

    def measure(state):
        accs = [m.score(x_test, y_test) for m in state["models"]]
        return {"accuracy": float(np.mean(accs)), "min_accuracy": float(np.min(accs)),
                "prototypes": float(np.mean([m.n_prototypes_ for m in state["models"]]))}

    return Algorithm("ilvq-exchange", init, apply, measure, final=lambda state: state["models"], live_devices=n)


def run_ilvq_exchange(models, graph, *, rounds, x_test, y_test, seed=0) -> History:
    """Synchronous gossip of prototype sets over ``graph`` (nodes ``0..N-1``, one per model).

    In each round every device sends a snapshot of its prototypes to each neighbour, then absorbs
    the sets it received (shuffled) with ``partial_fit``. The caller's models are not changed: the
    exchanged models are ``history.weights``.

    Returns the :class:`~tinydtl.core.history.History`: row 0 before any exchange, then per round the
    mean device ``accuracy``, ``min_accuracy``, mean ``prototypes`` per device, ``bytes_up`` and
    ``messages`` (cumulative bytes: ``hist.cumulative("bytes_up")``).
    """
    n = len(models)
    if n < 1:
        raise ValueError("models must hold at least one fitted ILVQ")
    if set(graph.nodes) != set(range(n)):
        raise ValueError(f"graph nodes must be 0..{n - 1} (one per model), got {sorted(graph.nodes)[:10]}…")
    check_number("rounds", rounds, low=0, integer=True)
    algorithm = exchange_algorithm(models, graph, x_test=x_test, y_test=y_test, seed=seed)
    return simulate(algorithm, int(rounds), config=dict(rounds=int(rounds), n_devices=n, seed=seed))


@renamed_keywords(X_test="x_test")
def neighbour_exchange(models, graph, *, rounds, x_test, y_test, seed=0) -> History:
    """Deprecated (removed in tinydtl 0.3): :func:`run_ilvq_exchange`. Kept with its old behaviour:
    the caller's models are updated in place."""
    warnings.warn("neighbour_exchange is deprecated and will be removed in tinydtl 0.3: use "
                  "tinydtl.algorithms.ilvq_exchange.run_ilvq_exchange", DeprecationWarning, stacklevel=2)
    h = run_ilvq_exchange(models, graph, rounds=rounds, x_test=x_test, y_test=y_test, seed=seed)
    for mine, theirs in zip(models, h.weights):
        mine.__dict__.update(theirs.__dict__)
    return h
