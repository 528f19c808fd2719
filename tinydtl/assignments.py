"""Check functions for the coursework assignments: specific feedback, never a crash.

Each ``check_*`` takes the student's function or class, runs it on cases with known answers and
returns :class:`Feedback` — what is wrong and how to fix it, not only "incorrect". A missing
implementation (``raise NotImplementedError``) or any exception becomes feedback too.
:class:`Grader` records the verdicts in the same results file the lessons use.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Feedback", "Grader", "check_metropolis", "check_consensus_rate", "check_cumulative_fedavg",
           "check_partitioner", "check_breaks_fedavg"]


@dataclass
class Feedback:
    check: str
    passed: bool
    messages: list[str] = field(default_factory=list)

    def __str__(self):
        head = f"{'✔' if self.passed else '✘'} {self.check}"
        return "\n".join([head] + [f"   - {m}" for m in self.messages])

    def _repr_markdown_(self):
        return f"**{'✔' if self.passed else '✘'} {self.check}**\n\n" + "\n".join(f"- {m}" for m in self.messages)


def _call(check, fn, *args):
    """Run student code; turn a missing implementation or a crash into feedback."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, Feedback(check, False, ["not implemented yet: replace `raise NotImplementedError` with your code"])
    except Exception as exc:  # noqa: BLE001 - student code may raise anything
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return None, Feedback(check, False, [f"your code raised {type(exc).__name__}: {exc} (line {where.lineno}: `{where.line}`)"])


# ----------------------------------------------------------------------------- assignment 1
def _cases():
    from .topology import line, random_geometric, ring, star

    return {"ring of 6": ring(6), "star of 5": star(5), "path of 4": line(4), "random geometric (30)": random_geometric(30, 0.35, seed=1)}


def check_metropolis(fn) -> Feedback:
    """``fn(G) -> W`` (n × n array): the Metropolis–Hastings mixing matrix of graph ``G``."""
    from .gossip import metropolis_weights

    name = "Metropolis–Hastings weights"
    for case, G in _cases().items():
        W, fb = _call(name, fn, G)
        if fb:
            return fb
        n = G.number_of_nodes()
        W = np.asarray(W.toarray() if hasattr(W, "toarray") else W, dtype=float)
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
    return Feedback(name, True, ["correct on a ring, a star, a path and a random geometric graph"])


def check_consensus_rate(fn, G) -> Feedback:
    """``fn(G) -> float``: the per-round factor by which consensus error shrinks on ``G`` (|λ₂(W)|)."""
    from .gossip import metropolis_weights, slem

    name = "predicted consensus rate"
    predicted, fb = _call(name, fn, G)
    if fb:
        return fb
    true = slem(metropolis_weights(G))
    try:
        value = float(predicted)
    except (TypeError, ValueError):
        return Feedback(name, False, [f"expected a number, got {type(predicted).__name__}"])
    if abs(value - true) <= 1e-6:
        return Feedback(name, True, [f"|λ₂(W)| = {true:.6f}: the error shrinks by this factor each round"])
    hint = ""
    if abs(value - (1 - true)) <= 1e-6:
        hint = " — that is the spectral gap 1 - |λ₂|; the rate is |λ₂| itself"
    elif abs(value - 1) <= 1e-9:
        hint = " — 1 is the eigenvalue of the consensus vector; take the second-largest modulus"
    return Feedback(name, False, [f"{value:.6f} is not |λ₂(W)| = the second-largest eigenvalue modulus{hint}"])


# ----------------------------------------------------------------------------- assignment 2
def check_cumulative_fedavg(cls) -> Feedback:
    """``cls()`` with ``add(weights, n)``, ``result()`` and ``nbytes``: Cumulative FedAvg."""
    name = "Cumulative FedAvg"
    rng = np.random.default_rng(0)
    models = [[rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)] for _ in range(20)]
    counts = rng.integers(1, 50, size=20)
    agg, fb = _call(name, cls)
    if fb:
        return fb
    sizes = []
    for m, c in zip(models, counts):
        _, fb = _call(name, agg.add, m, c)
        if fb:
            return fb
        sizes.append(getattr(agg, "nbytes", None))
    out, fb = _call(name, agg.result)
    if fb:
        return fb
    msgs = []
    expected = [sum(c * m[i] for m, c in zip(models, counts)) / counts.sum() for i in range(2)]
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        return Feedback(name, False, [f"result() must return one array per layer (2 here), got {type(out).__name__}"])
    unweighted = [np.mean([m[i] for m in models], axis=0) for i in range(2)]
    for i, (o, e) in enumerate(zip(out, expected)):
        if np.shape(o) != e.shape:
            msgs.append(f"layer {i}: shape {np.shape(o)}, expected {e.shape}")
        elif not np.allclose(o, e, atol=1e-4):
            if np.allclose(o, unweighted[i], atol=1e-4):
                msgs.append(f"layer {i}: you averaged without weights; weight each model by its sample count n")
            elif np.allclose(o, e * counts.sum(), rtol=1e-4):
                msgs.append(f"layer {i}: that is the running sum; divide by the total weight Σn in result()")
            else:
                msgs.append(f"layer {i}: largest error {np.abs(np.asarray(o) - e).max():.3g} against the weighted average")
    if None in sizes:
        msgs.append("no `nbytes` attribute: report the bytes your aggregator holds")
    elif sizes[-1] > sizes[0]:
        msgs.append(f"memory grows with the number of models ({sizes[0]} B after 1, {sizes[-1]} B after 20): "
                    "keep one running sum, not a list of models")
    if msgs:
        return Feedback(name, False, msgs)
    return Feedback(name, True, [f"weighted average correct; memory constant at {sizes[-1]} B while a store-all "
                                 f"aggregator would hold {20 * sum(a.nbytes for a in models[0])} B"])


# ----------------------------------------------------------------------------- assignment 3
def check_partitioner(fn, y, n_clients=10) -> Feedback:
    """``fn(y, n_clients, seed) -> list of index arrays``: a valid partition."""
    name = "partitioner"
    y = np.asarray(y)
    parts, fb = _call(name, fn, y, n_clients, 0)
    if fb:
        return fb
    msgs = []
    if not isinstance(parts, (list, tuple)) or len(parts) != n_clients:
        return Feedback(name, False, [f"expected a list of {n_clients} index arrays, got {type(parts).__name__}"
                                      + (f" of length {len(parts)}" if hasattr(parts, '__len__') else "")])
    allidx = np.concatenate([np.asarray(p, dtype=int).ravel() for p in parts])
    counts = np.bincount(allidx, minlength=len(y)) if allidx.size else np.zeros(len(y), int)
    if (counts == 0).any():
        msgs.append(f"{int((counts == 0).sum())} samples are given to no client (e.g. sample {int(np.flatnonzero(counts == 0)[0])})")
    if (counts > 1).any():
        msgs.append(f"{int((counts > 1).sum())} samples are given to more than one client (e.g. sample {int(np.flatnonzero(counts > 1)[0])})")
    empty = [k for k, p in enumerate(parts) if len(p) == 0]
    if empty:
        msgs.append(f"clients {empty} received no data")
    again, fb = _call(name, fn, y, n_clients, 0)
    if fb is None and not all(np.array_equal(np.sort(a), np.sort(b)) for a, b in zip(parts, again)):
        msgs.append("two calls with the same seed gave different splits: use np.random.default_rng(seed)")
    if msgs:
        return Feedback(name, False, msgs)
    return Feedback(name, True, ["every sample used exactly once, no empty client, same seed same split"])


def check_breaks_fedavg(fn, x, y, x_test, y_test, *, n_clients=10, rounds=5, margin=0.05) -> Feedback:
    """FedAvg on the student's partition must lose at least ``margin`` accuracy against IID."""
    from .federated import fedavg
    from .partition import iid

    name = "breaking FedAvg"
    first = check_partitioner(fn, y, n_clients)
    if not first.passed:
        return Feedback(name, False, ["fix the partitioner first:"] + first.messages)
    parts, _ = _call(name, fn, np.asarray(y), n_clients, 0)
    base = fedavg(x, y, iid(y, n_clients, seed=0), x_test=x_test, y_test=y_test, rounds=rounds).test_accuracy[-1]
    mine = fedavg(x, y, [np.asarray(p, dtype=int) for p in parts], x_test=x_test, y_test=y_test, rounds=rounds).test_accuracy[-1]
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
