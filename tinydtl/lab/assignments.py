"""Check functions for the coursework assignments: specific feedback, never a crash.

Each ``check_*`` takes the student's function or class, runs it on its own cases with known answers
(never only the case the notebook shows) and returns :class:`Feedback` — what is wrong and how to fix
it, not only "incorrect". The checks measure rather than trust: an aggregator's memory is measured from
the arrays the object really holds (:func:`measured_nbytes`), not read from its own ``nbytes``. The
cases include ones that separate the common wrong answers (a signed second eigenvalue instead of its
modulus, indices outside the data, a store-all aggregator). A missing implementation
(``raise NotImplementedError`` anywhere, also inside a property) or any exception becomes feedback too;
a check never crashes. :class:`Grader` records the verdicts in the same results file the lessons use.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["Feedback", "Grader", "check_metropolis", "check_consensus_rate", "check_cumulative_fedavg",
           "check_partitioner", "check_breaks_fedavg", "measured_nbytes"]


from tinydtl.lab.exercises import Feedback, measured_nbytes  # noqa: E402  (the shared check machinery)
from tinydtl.lab.exercises import call_student as _call  # noqa: E402
from tinydtl.lab.exercises import read_attribute as _attribute  # noqa: E402


# ----------------------------------------------------------------------------- assignment 1
def _cases():
    import networkx as nx

    from tinydtl.networks.topology import line, random_geometric, ring, star

    return {
        "ring of 6": ring(6),
        "star of 5": star(5),
        "path of 4": line(4),
        # bipartite: W's most negative eigenvalue (-0.5) has a larger modulus than its second largest (0.25)
        "complete bipartite K3,3": nx.complete_bipartite_graph(3, 3),
        "random geometric (30)": random_geometric(30, 0.35, seed=1),
    }


def check_metropolis(fn) -> Feedback:
    """``fn(G) -> W`` (n × n array): the Metropolis–Hastings mixing matrix of graph ``G``."""
    from tinydtl.networks.gossip import metropolis_weights

    name = "Metropolis–Hastings weights"
    for case, G in _cases().items():
        W, fb = _call(name, fn, G)
        if fb:
            return fb
        n = G.number_of_nodes()
        try:
            W = np.asarray(W.toarray() if hasattr(W, "toarray") else W, dtype=float)
        except (TypeError, ValueError):
            return Feedback(name, False, [f"{case}: expected an {n}×{n} array of numbers, got {type(W).__name__}"])
        if W.shape != (n, n):
            return Feedback(name, False, [f"{case}: expected an {n}×{n} matrix, got shape {W.shape}"])
        ref = metropolis_weights(G).toarray()
        msgs = []
        if not np.allclose(W, W.T):
            msgs.append(f"{case}: W is not symmetric (W[i,j] must equal W[j,i]: both ends use max(d_i, d_j))")
        rows = W.sum(axis=1)
        bad = np.flatnonzero(np.abs(rows - 1) > 1e-9)
        if bad.size:
            msgs.append(f"{case}: row {bad[0]} sums to {rows[bad[0]]:.4f}; set W[i,i] = 1 - (sum of the row's off-diagonal weights)")
        A = ref > 0
        np.fill_diagonal(A, True)
        if np.any(np.abs(W[~A]) > 1e-12):
            i, j = np.argwhere((np.abs(W) > 1e-12) & ~A)[0]
            msgs.append(f"{case}: W[{i},{j}] = {W[i, j]:.4f} but devices {i} and {j} are not linked: it must be 0")
        off = A & ~np.eye(n, dtype=bool)
        wrong = np.argwhere(off & (np.abs(W - ref) > 1e-9))
        if wrong.size:
            i, j = wrong[0]
            di, dj = G.degree(int(i)), G.degree(int(j))
            msgs.append(f"{case}: W[{i},{j}] = {W[i, j]:.4f} but devices {i} and {j} have degrees {di} and {dj}: "
                        f"the weight is 1/(1 + max(d_i, d_j)) = {1 / (1 + max(di, dj)):.4f}")
        if msgs:
            return Feedback(name, False, msgs)
    return Feedback(name, True, ["correct on a ring, a star, a path, a complete bipartite graph and a random geometric graph"])


def check_consensus_rate(fn, G=None) -> Feedback:
    """``fn(G) -> float``: the per-round factor by which consensus error shrinks (|λ₂(W)|, Metropolis W).

    Checked on the assignment's own graphs (and on ``G`` if given), among them a bipartite graph where the
    signed second-largest eigenvalue (0.25) differs from the second-largest modulus (0.5).
    """
    from tinydtl.networks.gossip import metropolis_weights

    name = "predicted consensus rate"
    cases = dict(_cases())
    if G is not None:
        cases["your graph"] = G
    for case, graph in cases.items():
        predicted, fb = _call(name, fn, graph)
        if fb:
            return fb
        ev = np.sort(np.linalg.eigvalsh(metropolis_weights(graph).toarray()))
        true = float(max(abs(ev[0]), abs(ev[-2])))
        try:
            value = float(predicted)
        except (TypeError, ValueError):
            return Feedback(name, False, [f"{case}: expected a number, got {type(predicted).__name__}"])
        if abs(value - true) <= 1e-6:
            continue
        hint = ""
        if abs(value - (1 - true)) <= 1e-6:
            hint = " — that is the spectral gap 1 - |λ₂|; the rate is |λ₂| itself"
        elif abs(value - 1) <= 1e-9:
            hint = " — 1 is the eigenvalue of the consensus vector; take the second-largest modulus"
        elif abs(value - ev[-2]) <= 1e-6:
            hint = (f" — {ev[-2]:.4f} is the second-largest eigenvalue, but the most negative one, {ev[0]:.4f}, "
                    f"has the larger modulus: take max(|λ_min|, |λ_2|)")
        return Feedback(name, False, [f"{case}: {value:.6f} is not |λ₂(W)| = {true:.6f}, the second-largest "
                                      f"eigenvalue modulus{hint}"])
    return Feedback(name, True, [f"|λ₂(W)| correct on {len(cases)} graphs, including a bipartite one where the most "
                                 "negative eigenvalue sets the rate"])


# ----------------------------------------------------------------------------- assignment 2
def check_cumulative_fedavg(cls) -> Feedback:
    """``cls()`` with ``add(weights, n)``, ``result()`` and ``nbytes``: Cumulative FedAvg.

    The weighted average is checked against the exact one; the memory is *measured* from the arrays the
    object holds after 1 and after 20 models (:func:`measured_nbytes`), and compared with what its own
    ``nbytes`` reports.
    """
    name = "Cumulative FedAvg"
    rng = np.random.default_rng(0)
    models = [[rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)] for _ in range(20)]
    counts = rng.integers(1, 50, size=20)
    agg, fb = _call(name, cls)
    if fb:
        return fb
    held = []
    for m, c in zip(models, counts):
        _, fb = _call(name, agg.add, [a.copy() for a in m], int(c))
        if fb:
            return fb
        held.append(measured_nbytes(agg))
    reported, fb = _attribute(name, agg, "nbytes")
    if fb:
        return fb
    out, fb = _call(name, agg.result)
    if fb:
        return fb
    msgs = []
    expected = [sum(c * m[i] for m, c in zip(models, counts)) / counts.sum() for i in range(2)]
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        return Feedback(name, False, [f"result() must return one array per layer (2 here), got {type(out).__name__}"])
    unweighted = [np.mean([m[i] for m in models], axis=0) for i in range(2)]
    for i, (o, e) in enumerate(zip(out, expected)):
        try:
            o = np.asarray(o, dtype=float)
        except (TypeError, ValueError):
            msgs.append(f"layer {i}: expected an array of numbers, got {type(o).__name__}")
            continue
        if o.shape != e.shape:
            msgs.append(f"layer {i}: shape {o.shape}, expected {e.shape}")
        elif not np.allclose(o, e, atol=1e-4):
            if np.allclose(o, unweighted[i], atol=1e-4):
                msgs.append(f"layer {i}: you averaged without weights; weight each model by its sample count n")
            elif np.allclose(o, e * counts.sum(), rtol=1e-4):
                msgs.append(f"layer {i}: that is the running sum; divide by the total weight Σn in result()")
            else:
                msgs.append(f"layer {i}: largest error {np.abs(o - e).max():.3g} against the weighted average")
    one_model = sum(a.nbytes for a in models[0])
    if held[-1] > max(held[0], one_model) * 1.5:
        msgs.append(f"memory grows with the number of models: the object holds {held[0]} B of arrays after 1 model "
                    f"and {held[-1]} B after 20 (measured, not reported): keep one running sum, not a list of models")
    try:
        reported_ok = abs(float(reported) - held[-1]) <= max(64, 0.05 * held[-1])
    except (TypeError, ValueError):
        reported_ok = False
    if not reported_ok:
        msgs.append(f"`nbytes` reports {reported!r} but the object holds {held[-1]} B of arrays: report what it holds "
                    "(sum the .nbytes of your arrays)")
    if msgs:
        return Feedback(name, False, msgs)
    return Feedback(name, True, [f"weighted average correct; memory measured constant at {held[-1]} B while a store-all "
                                 f"aggregator would hold {20 * one_model} B"])


# ----------------------------------------------------------------------------- assignment 3
def _check_one_partition(fn, y, n_clients, case) -> Feedback:
    name = "partitioner"
    y = np.asarray(y)
    parts, fb = _call(name, fn, y, n_clients, 0)
    if fb:
        return fb
    msgs = []
    if not isinstance(parts, (list, tuple)) or len(parts) != n_clients:
        return Feedback(name, False, [f"expected a list of {n_clients} index arrays, got {type(parts).__name__}"
                                      + (f" of length {len(parts)}" if hasattr(parts, '__len__') else "")])
    arrays = []
    for k, p in enumerate(parts):
        try:
            a = np.asarray(p)
        except (TypeError, ValueError):
            return Feedback(name, False, [f"client {k}: expected an array of sample indices, got {type(p).__name__}"])
        if a.size and (a.ndim != 1 or not np.issubdtype(a.dtype, np.integer)):
            return Feedback(name, False, [f"client {k}: indices must be a 1-D array of integers, got dtype {a.dtype} "
                                          f"and shape {a.shape} (use np.asarray(idx, dtype=int))"])
        arrays.append(a.astype(np.int64).ravel())
    allidx = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    if allidx.size and (allidx.min() < 0 or allidx.max() >= len(y)):
        bad = allidx[(allidx < 0) | (allidx >= len(y))][0]
        return Feedback(name, False, [f"index {int(bad)} is outside the data: indices must lie in 0..{len(y) - 1} "
                                      "(negative indices count from the end in numpy, which silently duplicates samples)"])
    counts = np.bincount(allidx, minlength=len(y)) if allidx.size else np.zeros(len(y), int)
    if (counts == 0).any():
        msgs.append(f"{int((counts == 0).sum())} samples are given to no client (e.g. sample {int(np.flatnonzero(counts == 0)[0])})")
    if (counts > 1).any():
        msgs.append(f"{int((counts > 1).sum())} samples are given to more than one client (e.g. sample {int(np.flatnonzero(counts > 1)[0])})")
    empty = [k for k, p in enumerate(parts) if len(p) == 0]
    if empty:
        msgs.append(f"clients {empty} received no data")
    again, fb = _call(name, fn, y, n_clients, 0)
    if fb is None and not all(np.array_equal(np.sort(np.asarray(a)), np.sort(np.asarray(b))) for a, b in zip(parts, again)):
        msgs.append("two calls with the same seed gave different splits: use np.random.default_rng(seed)")
    if msgs:
        return Feedback(name, False, [f"{case}: {m}" for m in msgs])
    return Feedback(name, True, [])


def check_partitioner(fn, y, n_clients=10) -> Feedback:
    """``fn(y, n_clients, seed) -> list of index arrays``: a valid partition.

    Checked on the notebook's labels and on the check's own case (997 labels of unequal classes over 7
    clients), so a split hard-coded for one data set does not pass.
    """
    own = np.random.default_rng(5).choice(10, size=997, p=np.linspace(1, 3, 10) / np.linspace(1, 3, 10).sum())
    for case, labels, k in (("your labels", np.asarray(y), n_clients), ("997 labels over 7 clients", own, 7)):
        fb = _check_one_partition(fn, labels, k, case)
        if not fb.passed:
            return fb
    return Feedback("partitioner", True, ["every sample used exactly once, no empty client, same seed same split "
                                          "(on your labels and on 997 labels over 7 clients)"])


def check_breaks_fedavg(fn, x, y, x_test, y_test, *, n_clients=10, rounds=5, margin=0.05) -> Feedback:
    """FedAvg on the student's partition must lose at least ``margin`` accuracy against IID."""
    from tinydtl.algorithms.fedavg import run_fedavg
    from tinydtl.data.partition import iid

    name = "breaking FedAvg"
    first = check_partitioner(fn, y, n_clients)
    if not first.passed:
        return Feedback(name, False, ["fix the partitioner first:"] + first.messages)
    parts, _ = _call(name, fn, np.asarray(y), n_clients, 0)
    base = run_fedavg(x, y, iid(y, n_clients, seed=0), x_test=x_test, y_test=y_test, rounds=rounds).test_accuracy[-1]
    mine = run_fedavg(x, y, [np.asarray(p, dtype=int) for p in parts], x_test=x_test, y_test=y_test, rounds=rounds).test_accuracy[-1]
    if base - mine >= margin:
        return Feedback(name, True, [f"IID {base:.3f} → yours {mine:.3f}: FedAvg lost {100 * (base - mine):.1f} points"])
    return Feedback(name, False, [f"IID {base:.3f}, yours {mine:.3f}: only {100 * (base - mine):.1f} points lost "
                                  f"(need {100 * margin:.0f}). Give each client fewer classes (label skew)"])


class Grader:
    """Collects feedback and writes it to ``path`` (the results-file schema of the lessons)."""

    def __init__(self, assignment: str, path=None):
        self.assignment, self.path, self.results = assignment, path, {}

    def record(self, fb: Feedback) -> Feedback:
        self.results[fb.check] = fb
        if self.path is not None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.path).write_text(json.dumps({
                "notebook": self.assignment, "quick": True, "seed": 0, "claims": [],
                "metrics": {k: float(v.passed) for k, v in self.results.items()},
                "feedback": {k: v.messages for k, v in self.results.items()},
            }, indent=2))
        return fb

    @property
    def score(self) -> str:
        return f"{sum(f.passed for f in self.results.values())} / {len(self.results)} checks pass"
