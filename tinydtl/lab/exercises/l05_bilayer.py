"""Lesson 05's exercise checks: one round of one-hop Cumulative FedAvg with devices dropping out, and the
number of head groups the heads' own radio links leave.

Each check runs the student's function on its own cases, recognises the common wrong answers and says
what to fix, never crashes on malformed output, and refuses the package's own implementation.
"""

from __future__ import annotations

import numpy as np

from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.lab.lessons import l05_bilayer
from tinydtl.networks import topology, transport

__all__ = ["check_head_groups", "check_one_hop_round", "reference_head_groups", "reference_one_hop_round"]


# ----------------------------------------------------------------------------- exercise 1
def _live_lists(neighbours, alive):
    """The neighbour lists a round with dropouts really uses: a dropped device hears nobody, a live one only
    its live neighbours."""
    return [[j for j in nbrs if alive[j]] if alive[i] else [] for i, nbrs in enumerate(neighbours)]


def reference_one_hop_round(neighbours, models, counts, alive):
    """Every live device folds its own ``(n_i w_i, n_i)`` and each live neighbour's into one running sum, then
    divides; a dropped device neither sends nor updates (it keeps its model)."""
    return _full_round(_live_lists(neighbours, alive), models, counts)


def _full_round(neighbours, models, counts):
    models = np.asarray(models, float)
    out = np.empty_like(models)
    for i, nbrs in enumerate(neighbours):
        s, total = counts[i] * models[i], counts[i]
        for j in nbrs:
            s, total = s + counts[j] * models[j], total + counts[j]
        out[i] = s / total
    return out


def _one_hop_cases():
    rng = np.random.default_rng(5)
    line = ([[1], [0, 2], [1]], np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]), np.array([100.0, 400.0, 1500.0]))
    lonely = ([[1], [0], []], np.array([[1.0], [2.0], [7.0]]), np.array([10.0, 30.0, 20.0]))
    star = ([[1, 2, 3, 4], [0], [0], [0], [0]], rng.normal(size=(5, 3)), np.array([50.0, 10.0, 20.0, 30.0, 40.0]))
    pos = rng.uniform(0, 1, (8, 2))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    geo = ([list(np.flatnonzero((d[i] < 0.5) & (np.arange(8) != i))) for i in range(8)], rng.normal(size=(8, 4)),
           rng.integers(50, 500, 8).astype(float))
    return {"a line of three devices, all live": (*line, np.ones(3, bool)),
            "a line of three devices, the middle one dropped": (*line, np.array([True, False, True])),
            "a device without neighbours, all live": (*lonely, np.ones(3, bool)),
            "a star whose hub dropped out": (*star, np.array([False, True, True, True, True])),
            "a star with two leaves dropped": (*star, np.array([True, True, False, True, False])),
            "eight nearby devices, three dropped": (*geo, np.array([True, False, True, True, False, True, False, True]))}


def _one_hop_wrong(neighbours, models, counts, alive):
    """The common wrong answers, by name, on one case."""
    dropped_still_update = [[j for j in nbrs if alive[j]] for nbrs in neighbours]
    hears_dropped = [list(nbrs) if alive[i] else [] for i, nbrs in enumerate(neighbours)]
    out = {"ignores the dropouts (a dropped device neither trains nor communicates: it keeps its model and no one "
           "hears it)": _full_round(neighbours, models, counts),
           "lets a dropped device average its live neighbours' models (it is off for the round: it keeps its own)":
               _full_round(dropped_still_update, models, counts),
           "folds in the models of dropped neighbours (they send nothing this round)":
               _full_round(hears_dropped, models, counts)}
    return {**out, **_basic_wrong(_live_lists(neighbours, alive), models, counts)}


def _basic_wrong(neighbours, models, counts):
    models = np.asarray(models, float)
    n = len(models)
    A = np.zeros((n, n))
    for i, nbrs in enumerate(neighbours):
        A[i, list(nbrs)] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        no_self = (A * counts) @ models / (A @ counts)[:, None]
    unweighted = ((A + np.eye(n)) @ models) / (A + np.eye(n)).sum(axis=1)[:, None]
    sums = ((A + np.eye(n)) * counts) @ models
    sequential = models.copy()
    for i, nbrs in enumerate(neighbours):
        idx = [i, *nbrs]
        sequential[i] = (counts[idx, None] * sequential[idx]).sum(axis=0) / counts[idx].sum()
    deg = A.sum(axis=1)
    M = np.where(A > 0, 1.0 / (1.0 + np.maximum(deg[:, None], deg[None, :])), 0.0)
    M += np.diag(1.0 - M.sum(axis=1))
    return {
        "leaves the device's own model out of its sum (the running sum starts with its own (n_i w_i, n_i))": no_self,
        "averages without the sample counts (weight every model by the samples it was trained on)": unweighted,
        "returns the running sum without dividing it by the total count": sums,
        "updates the models in place while it loops, so later devices already see averaged models (every "
        "device sends the model it had at the start of the round: information moves one hop per round)": sequential,
        "uses gossip's Metropolis weights (Cumulative FedAvg weighs by sample counts)": M @ models,
    }


def check_one_hop_round(fn) -> Feedback:
    """Exercise 1: ``fn(neighbours, models, counts, alive)`` -> the models after one round of one-hop Cumulative
    FedAvg in which the devices with ``alive[i] == False`` dropped out."""
    name = "one round of one-hop Cumulative FedAvg with dropouts"
    messages = []
    with refuse_package(transport.one_hop_average, l05_bilayer.one_hop_operator,
                        why="write the running sum yourself (a few lines of numpy)"):
        for case, (nbrs, models, counts, alive) in _one_hop_cases().items():
            got, fb = call_student(name, fn, [list(map(int, x)) for x in nbrs], models.copy(), counts.copy(),
                                   alive.copy())
            if fb is not None:
                return fb
            want = reference_one_hop_round(nbrs, models, counts, alive)
            try:
                got = np.asarray(got, dtype=float)
            except (TypeError, ValueError):
                return Feedback(name, False, [f"{case}: return an array of numbers, got {type(got).__name__}"])
            if got.shape != want.shape:
                return Feedback(name, False, [f"{case}: return one model per device, shape {want.shape}, got {got.shape}"])
            if np.allclose(got, want, atol=1e-9):
                continue
            for wrong, value in _one_hop_wrong(nbrs, models, counts, alive).items():
                if np.allclose(got, value, atol=1e-9, equal_nan=True):
                    return Feedback(name, False, [f"{case}: your round {wrong}."])
            worst = int(np.argmax(np.abs(got - want).max(axis=1)))
            messages.append(f"{case}: device {worst} should hold {np.round(want[worst], 4).tolist()}, "
                            f"yours holds {np.round(got[worst], 4).tolist()}")
            return Feedback(name, False, messages)
    return Feedback(name, True, [f"all {len(_one_hop_cases())} cases agree with the running-sum rule"])


# ----------------------------------------------------------------------------- exercise 2
def reference_head_groups(head_positions, head_range):
    """Connected components of the graph on the heads that links two heads closer than ``head_range``."""
    pos = np.asarray(head_positions, float)
    n = len(pos)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    seen, groups = np.zeros(n, bool), 0
    for s in range(n):
        if seen[s]:
            continue
        groups += 1
        stack, seen[s] = [s], True
        while stack:
            i = stack.pop()
            for j in np.flatnonzero((d[i] < head_range) & ~seen):
                seen[j] = True
                stack.append(j)
    return groups


def _group_cases():
    rng = np.random.default_rng(11)
    return [
        ("three heads on a line 40 m apart, range 45 m", (np.array([[0, 0], [40, 0], [80, 0]]), 45.0)),
        ("the same line, range 35 m", (np.array([[0, 0], [40, 0], [80, 0]]), 35.0)),
        ("a chain: the two ends 80 m apart, each link 40 m, range 41 m",
         (np.array([[0, 0], [40, 0], [80, 0], [80, 40]]), 41.0)),
        ("two pairs far apart", (np.array([[0, 0], [10, 0], [90, 90], [95, 90]]), 20.0)),
        ("one head alone", (np.array([[50, 50]]), 30.0)),
        ("eight heads in a 100 m field, range 38 m", (rng.uniform(0, 100, (8, 2)), 38.0)),
        ("eight heads in a 100 m field, range 52 m", (rng.uniform(0, 100, (8, 2)), 52.0)),
    ]


def _group_wrong(pos, r):
    pos = np.asarray(pos, float)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    n = len(pos)
    return {"counts the heads without a link within range (isolated heads), not the groups — a chain of links "
            "joins heads that are not in range of each other": int(sum((d[i] < r).sum() == 1 for i in range(n))),
            "counts the links between heads, not the groups they form": int(((d < r).sum() - n) // 2),
            "counts the heads not in range of every other head, not the groups": int(((d < r).sum(axis=1) < n).sum())}


def check_head_groups(fn) -> Feedback:
    """Exercise 2: ``fn(head_positions, head_range)`` -> how many groups the heads' own links leave."""
    name = "head groups"
    with refuse_package(topology.components, topology.random_geometric, topology.geometric_adjacency,
                        topology.bilayer_graph, why="follow the links from head to head yourself"):
        for case, (pos, r) in _group_cases():
            got, fb = call_student(name, fn, pos.copy(), r)
            if fb is not None:
                return fb
            want = reference_head_groups(pos, r)
            if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
                return Feedback(name, False, [f"{case}: return the number of groups as an int, got "
                                              f"{type(got).__name__} {got!r}"])
            if int(got) == want:
                continue
            for wrong, value in _group_wrong(pos, r).items():
                if int(got) == value:
                    return Feedback(name, False, [f"{case}: your function {wrong}."])
            return Feedback(name, False, [f"{case}: expected {want} group(s), got {int(got)}"])
    return Feedback(name, True, [f"all {len(_group_cases())} cases right"])


