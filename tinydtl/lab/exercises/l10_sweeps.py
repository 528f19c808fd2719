"""Checks of lesson 10's exercises (sweeps): a seeded random search over a grid, the heat map's numbers.

Each check runs the student's function on its own grids and records, names the common mistakes and
turns malformed answers into feedback (never a traceback).
"""

from __future__ import annotations

import itertools
import math

from tinydtl.lab.exercises import Feedback, call_student

__all__ = ["check_mean_table", "check_sample_points"]

GRID = {"clients": [5, 10, 20], "alpha": [0.1, 1.0], "seed": [0, 1]}
FIXED = {"rounds": 3}


def _product(grid, fixed):
    return [{**fixed, **dict(zip(grid, values))} for values in itertools.product(*grid.values())]


def _key(point):
    return tuple(sorted(point.items()))


def _check_sample(check, got, grid, fixed, k):
    """Feedback if ``got`` is not a valid sample of ``k`` points of the grid, else None."""
    if not isinstance(got, list) or not all(isinstance(p, dict) for p in got):
        return Feedback(check, False, [f"return a list of points, each a dict of parameter values; got "
                                       f"{type(got).__name__}"])
    every = {_key(p) for p in _product(grid, fixed)}
    want = min(k, len(every))
    missing_fixed = [p for p in got if any(p.get(n) != v for n, v in fixed.items())]
    if missing_fixed:
        return Feedback(check, False, [f"every point carries the fixed values {fixed} as well; "
                                       f"{missing_fixed[0]} does not"])
    outside = [p for p in got if _key(p) not in every]
    if outside:
        return Feedback(check, False, [f"{outside[0]} is not a point of the grid: one value of each parameter, "
                                       "from its list"])
    if len({_key(p) for p in got}) < len(got):
        return Feedback(check, False, ["the sample holds the same point twice: draw the points without "
                                       "replacement (e.g. rng.choice(n, size=k, replace=False) over the product)"])
    if len(got) != want:
        return Feedback(check, False, [f"asked for {k} points of a {len(every)}-point grid, you returned "
                                       f"{len(got)}; expected {want}" + (" (all of them)" if k >= len(every) else "")])
    return None


def check_sample_points(student_fn) -> Feedback:
    """Exercise 1: ``student_fn(grid, fixed, k, seed) -> list of k distinct grid points`` (random search)."""
    check = "Exercise 1: sample_points"
    cases = [(GRID, FIXED, 4, 0), (GRID, FIXED, 4, 1), (GRID, {}, 12, 0), (GRID, FIXED, 50, 3),
             ({"lr": [0.01, 0.1]}, {"epochs": 1}, 1, 7)]
    samples = {}
    for grid, fixed, k, seed in cases:
        grid_copy, fixed_copy = {n: list(v) for n, v in grid.items()}, dict(fixed)
        got, fb = call_student(check, student_fn, grid_copy, fixed_copy, k, seed)
        if fb:
            return fb
        if grid_copy != grid or fixed_copy != fixed:
            return Feedback(check, False, ["your function changed the grid or the fixed values it was given; "
                                           "leave the caller's dicts as they are"])
        fb = _check_sample(check, got, grid, fixed, k)
        if fb:
            return fb
        again, fb = call_student(check, student_fn, {n: list(v) for n, v in grid.items()}, dict(fixed), k, seed)
        if fb:
            return fb
        if not isinstance(again, list) or [_key(p) for p in again] != [_key(p) for p in got]:
            return Feedback(check, False, ["the same seed gave a different sample: draw from "
                                           "np.random.default_rng(seed), so a sweep can be repeated"])
        samples[(len(grid), k, seed)] = {_key(p) for p in got}
    if samples[(3, 4, 0)] == samples[(3, 4, 1)]:
        return Feedback(check, False, ["seeds 0 and 1 gave the same 4 points: the seed must drive the draw"])
    return Feedback(check, True, ["right on every grid. How many points of the lesson's full grid would a random "
                                  "search of a quarter of them save, and what could it miss?"])


# ----------------------------------------------------------------------------- exercise 2: the heat map
def _records():
    recs = []
    for n, (c, a, s) in enumerate(itertools.product([5, 20], [0.1, 1.0], [0, 1, 2])):
        acc = 0.9 - 0.001 * c - 0.2 * (a == 0.1) + 0.01 * s ** 2  # mean and median differ
        recs.append({"parameters": {"clients": c, "alpha": a, "seed": s, "rounds": 2}, "status": "ok",
                     "metrics": {"final_accuracy": acc, "megabytes": (1.0 + n) ** 2}})
    recs.append({"parameters": {"clients": 20, "alpha": 1.0, "seed": 3, "rounds": 2}, "status": "failed",
                 "metrics": {}, "error": {"exception": "ValueError: a client got no data"}})
    recs.append({"parameters": {"clients": 5, "alpha": 0.1, "seed": 4, "rounds": 2}, "status": "failed",
                 "metrics": {"final_accuracy": 0.0}, "error": {"exception": "killed mid-run"}})
    return recs


def _means(records, rows, cols, quantity, keep=lambda r: r["status"] == "ok", how=None):
    cells = {}
    for r in records:
        if keep(r) and quantity in r.get("metrics", {}):
            cells.setdefault((r["parameters"][rows], r["parameters"][cols]), []).append(r["metrics"][quantity])
    how = how or (lambda v: sum(v) / len(v))
    return {k: how(v) for k, v in cells.items()}


def _close(a, b):
    return set(a) == set(b) and all(math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-12) for k in a)


def check_mean_table(student_fn) -> Feedback:
    """Exercise 2: ``student_fn(records, rows, cols, quantity) -> {(row value, col value): mean}`` over the
    finished (``status == "ok"``) points, averaged over every other parameter."""
    check = "Exercise 2: mean_table"
    import statistics

    records = _records()
    for rows, cols, quantity in (("clients", "alpha", "final_accuracy"), ("alpha", "clients", "megabytes")):
        got, fb = call_student(check, student_fn, [dict(r) for r in records], rows, cols, quantity)
        if fb:
            return fb
        if not isinstance(got, dict):
            return Feedback(check, False, [f"return a dict {{(row value, col value): mean}}, got {type(got).__name__}"])
        try:
            got = {tuple(k): float(v) for k, v in got.items()}
        except (TypeError, ValueError):
            return Feedback(check, False, ["keys must be (row value, col value) pairs and values numbers"])
        right = _means(records, rows, cols, quantity)
        if _close(got, right):
            continue
        wrongs = [
            (_means(records, rows, cols, quantity, keep=lambda r: True),
             "a failed point is not a result: keep only the records whose status is 'ok'"),
            ({(b, a): v for (a, b), v in right.items()}, f"the keys are (row value, col value): ({rows}, {cols}), not "
                                                         "the other way round"),
            (_means(records, rows, cols, quantity, how=statistics.median), "the heat map shows the mean over the "
                                                                           "other parameters, not the median"),
            (_means(records, rows, cols, quantity, keep=lambda r: r["status"] == "ok" and r["parameters"]["seed"] == 0),
             "average over every seed (and every other parameter), not only the first"),
        ]
        for wrong, why in wrongs:
            if _close(got, wrong):
                return Feedback(check, False, [f"rows={rows!r}, cols={cols!r}: {why}."])
        return Feedback(check, False, [f"rows={rows!r}, cols={cols!r}: not the mean of {quantity!r} per cell; group the "
                                       "finished points by their two values and average"])
    return Feedback(check, True, ["right, failed points left out. Compare with the heat map of section 3."])
