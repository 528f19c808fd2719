"""Lesson 10's exercise checks (tinydtl.lab.exercises.l10_sweeps): the reference solutions pass, the stub and the
common mistakes get their own messages, malformed answers get feedback, never a traceback."""

import itertools
import statistics

import numpy as np

from tinydtl.lab.exercises.l10_sweeps import check_mean_table, check_sample_points


def stub(*args):
    raise NotImplementedError


def sample_points(grid, fixed, k, seed):
    every = [{**fixed, **dict(zip(grid, v))} for v in itertools.product(*grid.values())]
    pick = np.random.default_rng(seed).choice(len(every), size=min(k, len(every)), replace=False)
    return [every[i] for i in pick]


def test_ex1_reference_passes_and_mistakes_are_named():
    assert check_sample_points(sample_points).passed
    assert "not implemented" in str(check_sample_points(stub))

    def with_replacement(grid, fixed, k, seed):
        every = [{**fixed, **dict(zip(grid, v))} for v in itertools.product(*grid.values())]
        return [every[i] for i in np.random.default_rng(seed).integers(0, len(every), size=k)]

    def unseeded(grid, fixed, k, seed):
        return sample_points(grid, fixed, k, None)

    def no_fixed(grid, fixed, k, seed):
        return [{n: v for n, v in p.items() if n not in fixed} for p in sample_points(grid, fixed, k, seed)]

    def one_seed(grid, fixed, k, seed):
        return sample_points(grid, fixed, k, 0)

    def mutating(grid, fixed, k, seed):
        fixed["extra"] = 1
        return sample_points(grid, fixed, k, seed)

    assert "twice" in str(check_sample_points(with_replacement))
    assert "same seed" in str(check_sample_points(unseeded))
    assert "fixed values" in str(check_sample_points(no_fixed))
    assert "seed must drive" in str(check_sample_points(one_seed))
    assert "changed the grid" in str(check_sample_points(mutating))
    assert "list of points" in str(check_sample_points(lambda g, f, k, s: "points"))
    assert "expected" in str(check_sample_points(lambda g, f, k, s: sample_points(g, f, k, s)[:1]))


def mean_table(records, rows, cols, quantity):
    cells = {}
    for r in records:
        if r["status"] == "ok":
            p = r["parameters"]
            cells.setdefault((p[rows], p[cols]), []).append(r["metrics"][quantity])
    return {k: sum(v) / len(v) for k, v in cells.items()}


def test_ex2_reference_passes_and_mistakes_are_named():
    assert check_mean_table(mean_table).passed
    assert "not implemented" in str(check_mean_table(stub))

    def with_failed(records, rows, cols, q):
        return mean_table([{**r, "status": "ok"} for r in records if q in r["metrics"]], rows, cols, q)

    def swapped(records, rows, cols, q):
        return {(b, a): v for (a, b), v in mean_table(records, rows, cols, q).items()}

    def median(records, rows, cols, q):
        cells = {}
        for r in records:
            if r["status"] == "ok":
                cells.setdefault((r["parameters"][rows], r["parameters"][cols]), []).append(r["metrics"][q])
        return {k: statistics.median(v) for k, v in cells.items()}

    assert "failed point" in str(check_mean_table(with_failed))
    assert "other way round" in str(check_mean_table(swapped))
    assert "median" in str(check_mean_table(median))
    assert "every seed" in str(check_mean_table(lambda rec, r, c, q: mean_table(
        [x for x in rec if x["parameters"]["seed"] == 0], r, c, q)))
    assert not check_mean_table(lambda *a: [1, 2]).passed
    assert not check_mean_table(lambda *a: {"x": "y"}).passed
