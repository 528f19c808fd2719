"""Lesson 05's exercise checks: the reference passes, the stub gets feedback, common wrong answers get their
own message, the package's implementation is refused, and malformed answers never crash the check."""

import numpy as np
import scipy.sparse as sp
from support import exercise_cell

from tinydtl.lab.exercises.l05_bilayer import (
    check_head_groups,
    check_one_hop_round,
    reference_head_groups,
    reference_one_hop_round,
)
from tinydtl.networks.transport import one_hop_average


def stub(*args):
    raise NotImplementedError


def live(nbrs, alive):
    return [[j for j in n if alive[j]] if alive[i] else [] for i, n in enumerate(nbrs)]


def full(nbrs, models, counts):
    return np.array([(counts[i] * models[i] + sum(counts[j] * models[j] for j in n)) / (counts[i] + sum(counts[j] for j in n))
                     for i, n in enumerate(nbrs)])


def test_one_hop_round_check():
    assert check_one_hop_round(reference_one_hop_round).passed
    fb = check_one_hop_round(stub)
    assert not fb.passed and "not implemented yet" in fb.messages[0]

    def unweighted(nbrs, models, counts, alive):
        return np.array([np.mean([models[i]] + [models[j] for j in n], axis=0) for i, n in enumerate(live(nbrs, alive))])

    def without_self(nbrs, models, counts, alive):
        return np.array([sum(counts[j] * models[j] for j in n) / sum(counts[j] for j in n) if n else models[i]
                         for i, n in enumerate(live(nbrs, alive))])

    def in_place(nbrs, models, counts, alive):
        for i, n in enumerate(live(nbrs, alive)):
            idx = [i, *n]
            models[i] = (counts[idx, None] * models[idx]).sum(axis=0) / counts[idx].sum()
        return models

    def undivided(nbrs, models, counts, alive):
        return np.array([counts[i] * models[i] + sum(counts[j] * models[j] for j in n)
                         for i, n in enumerate(live(nbrs, alive))])

    def no_dropouts(nbrs, models, counts, alive):
        return full(nbrs, models, counts)

    def dropped_still_update(nbrs, models, counts, alive):
        return full([[j for j in n if alive[j]] for n in nbrs], models, counts)

    def hears_dropped(nbrs, models, counts, alive):
        return full([list(n) if alive[i] else [] for i, n in enumerate(nbrs)], models, counts)

    for wrong, words in ((unweighted, "without the sample counts"), (without_self, "own model out"),
                         (in_place, "in place"), (undivided, "without dividing"), (no_dropouts, "ignores the dropouts"),
                         (dropped_still_update, "dropped device average"), (hears_dropped, "dropped neighbours")):
        fb = check_one_hop_round(wrong)
        assert not fb.passed and words in fb.messages[0], (wrong.__name__, fb.messages)

    def package(nbrs, models, counts, alive):
        A = np.zeros((len(models), len(models)))
        for i, n in enumerate(live(nbrs, alive)):
            A[i, n] = 1.0
        return one_hop_average(sp.csr_matrix(A), models, counts)[0]

    fb = check_one_hop_round(package)
    assert not fb.passed and "tinydtl's own" in fb.messages[0]
    for malformed in (lambda *a: "models", lambda *a: np.zeros(3), lambda *a: None, lambda *a: 1 / 0):
        fb = check_one_hop_round(malformed)
        assert not fb.passed and fb.messages


def test_head_groups_check():
    assert check_head_groups(reference_head_groups).passed
    assert "not implemented yet" in check_head_groups(stub).messages[0]

    def dist(pos):
        pos = np.asarray(pos, float)
        return np.linalg.norm(pos[:, None] - pos[None], axis=2)

    def isolated(pos, r):
        d = dist(pos)
        return int(sum((d[i] < r).sum() == 1 for i in range(len(d))))

    def links(pos, r):
        d = dist(pos)
        return int(((d < r).sum() - len(d)) // 2)

    def as_float(pos, r):
        return float(reference_head_groups(pos, r))

    for wrong, words in ((isolated, "isolated heads"), (links, "counts the links"), (as_float, "as an int")):
        fb = check_head_groups(wrong)
        assert not fb.passed and words in fb.messages[0], (wrong.__name__, fb.messages)

    from tinydtl.networks.topology import components, random_geometric

    def package(pos, r):
        return len(components(random_geometric(len(pos), r, positions=np.asarray(pos, float))))

    fb = check_head_groups(package)
    assert not fb.passed and "tinydtl's own" in fb.messages[0]
    for malformed in (lambda *a: "two", lambda *a: None, lambda *a: 1 / 0):
        fb = check_head_groups(malformed)
        assert not fb.passed and fb.messages


def test_the_lessons_exercise_cells_only_call_the_checks():
    for first_line, check in (("# Exercise 1", "check_one_hop_round(one_hop_round)"),
                              ("# Exercise 2", "check_head_groups(head_groups)")):
        cell = exercise_cell("05_bilayer_gossip", first_line)
        assert check in cell and "raise NotImplementedError" in cell
        assert "assert" not in cell and "reference" not in cell
