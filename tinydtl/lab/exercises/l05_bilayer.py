"""Lesson 05's exercise checks: one round of one-hop Cumulative FedAvg, and extra rounds from two lists.

Each check runs the student's function on its own cases, recognises the common wrong answers and says
what to fix, never crashes on malformed output, and refuses the package's own implementation.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core import history
from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.lab.lessons import l05_bilayer
from tinydtl.networks import transport
from tinydtl.papers.bilayer import experiment, results

__all__ = ["check_extra_rounds", "check_one_hop_round", "reference_extra_rounds", "reference_one_hop_round"]


# ----------------------------------------------------------------------------- exercise 1
def reference_one_hop_round(neighbours, models, counts):
    """Every device folds its own ``(n_i w_i, n_i)`` and each neighbour's into one running sum, then divides."""
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
    return {"a line of three devices": line, "a device without neighbours": lonely, "a star": star,
            "eight devices in range of each other": geo}


def _one_hop_wrong(neighbours, models, counts):
    """The common wrong answers, by name, on one case."""
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
    """Exercise 1: ``fn(neighbours, models, counts)`` -> the models after one round of one-hop Cumulative FedAvg."""
    name = "one round of one-hop Cumulative FedAvg"
    messages = []
    with refuse_package(transport.one_hop_average, l05_bilayer.one_hop_operator,
                        why="write the running sum yourself (a few lines of numpy)"):
        for case, (nbrs, models, counts) in _one_hop_cases().items():
            got, fb = call_student(name, fn, [list(map(int, x)) for x in nbrs], models.copy(), counts.copy())
            if fb is not None:
                return fb
            want = reference_one_hop_round(nbrs, models, counts)
            try:
                got = np.asarray(got, dtype=float)
            except (TypeError, ValueError):
                return Feedback(name, False, [f"{case}: return an array of numbers, got {type(got).__name__}"])
            if got.shape != want.shape:
                return Feedback(name, False, [f"{case}: return one model per device, shape {want.shape}, got {got.shape}"])
            if np.allclose(got, want, atol=1e-9):
                continue
            for wrong, value in _one_hop_wrong(nbrs, models, counts).items():
                if np.allclose(got, value, atol=1e-9, equal_nan=True):
                    return Feedback(name, False, [f"{case}: your round {wrong}."])
            worst = int(np.argmax(np.abs(got - want).max(axis=1)))
            messages.append(f"{case}: device {worst} should hold {np.round(want[worst], 4).tolist()}, "
                            f"yours holds {np.round(got[worst], 4).tolist()}")
            return Feedback(name, False, messages)
    return Feedback(name, True, [f"all {len(_one_hop_cases())} cases agree with the running-sum rule"])


# ----------------------------------------------------------------------------- exercise 2
def reference_extra_rounds(swarm_acc, cfl_acc, target, swarm_first=0, cfl_first=0):
    """First round with accuracy >= target in each list (entry k is round ``first + k``); their difference,
    or None when either list never reaches the target."""
    def first(acc, start):
        hit = [k for k, a in enumerate(acc) if a >= target]
        return start + hit[0] if hit else None

    a, b = first(swarm_acc, swarm_first), first(cfl_acc, cfl_first)
    return None if a is None or b is None else a - b


def _extra_cases():
    thirty = results.AUTHORS_LISTS["30 devices"]
    return [
        ("the swarm two rounds behind", ([0.1, 0.5, 0.8, 0.9], [0.1, 0.85, 0.9], 0.85, 0, 0), 2),
        ("a list that touches the target exactly", ([0.1, 0.7, 0.85, 0.9], [0.1, 0.85], 0.85, 0, 0), 1),
        ("a swarm that never reaches the target", ([0.1, 0.5, 0.7, 0.8], [0.1, 0.9], 0.85, 0, 0), None),
        ("a CFL run that never reaches the target", ([0.1, 0.9], [0.1, 0.6, 0.7], 0.85, 0, 0), None),
        ("a swarm faster than CFL", ([0.1, 0.9, 0.9], [0.1, 0.6, 0.88], 0.85, 0, 0), -1),
        ("a swarm whose accuracy dips after reaching the target", ([0.1, 0.86, 0.7, 0.9], [0.1, 0.5, 0.9], 0.85, 0, 0), -1),
        ("the authors' 30-device lists (their DFL list starts at round 1)",
         (thirty["DFL"], thirty["CFL"], 0.80, thirty["DFL first_round"], 0), 3),
    ]


def _extra_wrong(swarm, cfl, target, s0, c0):
    """The common wrong answers on one case, by name."""
    def first(acc, start, strict=False, last=False):
        hit = [k for k, a in enumerate(acc) if (a > target if strict else a >= target)]
        if not hit:
            return None
        return start + (hit[-1] if last else hit[0])

    def diff(a, b):
        return None if a is None or b is None else a - b

    return {
        "counts a round only when the accuracy is strictly above the target (reaching it means >=)":
            diff(first(swarm, s0, strict=True), first(cfl, c0, strict=True)),
        "ignores the round of each list's first entry (the authors' DFL list starts at round 1, their CFL "
        "list at a placeholder for round 0)": diff(first(swarm, 0), first(cfl, 0)),
        "takes the last crossing, not the first round at or above the target": diff(first(swarm, s0, last=True),
                                                                                    first(cfl, c0, last=True)),
    }


def check_extra_rounds(fn) -> Feedback:
    """Exercise 2: ``fn(swarm_acc, cfl_acc, target, swarm_first, cfl_first)`` -> extra rounds or None."""
    name = "extra rounds to a fixed target"
    with refuse_package(history.rounds_to_reach, history.History.rounds_to_reach, results.first_round,
                        results.authors_lists_table, experiment.extra_rounds,
                        why="find the first round at or above the target yourself"):
        for case, args, want in _extra_cases():
            got, fb = call_student(name, fn, *[list(a) if isinstance(a, list) else a for a in args])
            if fb is not None:
                return fb
            if want is None:
                if got is None:
                    continue
                return Feedback(name, False, [f"{case}: return None — a target never reached has no round count "
                                              f"(any number, like {got!r}, could pass a comparison by accident)"])
            if got is None:
                return Feedback(name, False, [f"{case}: both lists reach the target, expected a number, got None"])
            whole = isinstance(got, (int, np.integer)) or (isinstance(got, (float, np.floating)) and float(got).is_integer())
            if isinstance(got, (bool, np.bool_)) or not whole:
                return Feedback(name, False, [f"{case}: return a whole number of rounds, got {type(got).__name__} {got!r}"])
            got = int(got)
            if got == want:
                continue
            if got == abs(want) and want < 0:
                return Feedback(name, False, [f"{case}: the swarm was faster, so its extra rounds are negative "
                                              f"({want}); do not take the absolute value"])
            for wrong, value in _extra_wrong(*args).items():
                if value is not None and got == value:
                    return Feedback(name, False, [f"{case}: your function {wrong}."])
            return Feedback(name, False, [f"{case}: expected {want} extra rounds, got {got}"])
    return Feedback(name, True, [f"all {len(_extra_cases())} cases right, the authors' own lists included"])
