"""Lesson 02's exercise checks (tinydtl.lab.exercises.l02_ilvq): the reference solution passes, the stub gets
feedback, the common wrong answers get their own message, and the package's learner and byte rule are refused."""

import networkx as nx
import numpy as np
import pytest

from tinydtl.lab.exercises import Feedback
from tinydtl.lab.exercises.l02_ilvq import (
    RING_CASES,
    SOINN_CASES,
    check_ring_bytes,
    check_soinn_threshold,
    soinn_case,
    soinn_reference,
)


def text(feedback: Feedback) -> str:
    assert isinstance(feedback, Feedback)
    return " ".join(feedback.messages)


def stub(*args):
    raise NotImplementedError


# ------------------------------------------------------------------------------------ SOINN's threshold
def soinn_threshold(W, A, i):
    d = np.linalg.norm(W - W[i], axis=1)
    nb = np.flatnonzero(A[i] >= 0)
    if nb.size:
        return d[nb].max()
    d[i] = np.inf
    return d.min()


def test_soinn_reference_passes_and_stub_gets_feedback():
    assert check_soinn_threshold(soinn_threshold).passed
    assert "not implemented yet" in text(check_soinn_threshold(stub))


def test_soinn_cases_put_the_distances_where_they_say():
    for _, nb, other, fresh in SOINN_CASES:
        W, A, i = soinn_case(nb, other, fresh)
        d = np.linalg.norm(W - W[i], axis=1)
        assert sorted(d[A[i] >= 0]) == pytest.approx(sorted(nb))
        assert soinn_threshold(W, A, i) == pytest.approx(soinn_reference(nb, other))


def _rule(f):
    """A wrong answer written on distances: neighbours (A >= 0) and the other prototypes."""
    def answer(W, A, i):
        d = np.linalg.norm(W - W[i], axis=1)
        nb = [float(x) for j, x in enumerate(d) if j != i and A[i, j] >= 0]
        other = [float(x) for j, x in enumerate(d) if j != i and A[i, j] < 0]
        return f(nb, other)
    return answer


@pytest.mark.parametrize("wrong, message", [
    (lambda W, A, i: soinn_threshold(W, np.where(A > 0, A, -1), i), "age 0 is an edge"),
    (_rule(lambda nb, other: min(nb) if nb else min(other)), "FARTHEST"),
    (_rule(lambda nb, other: sum(nb) / len(nb) if nb else min(other)), "mean neighbour distance"),
    (_rule(lambda nb, other: max(nb) if nb else 0.0), "leave prototype i itself out"),
    (_rule(lambda nb, other: max(nb) if nb else max(other)), "NEAREST other"),
    (_rule(lambda nb, other: min(nb + other)), "any kind"),
    (_rule(lambda nb, other: max(nb + other)), "count only when"),
    (lambda W, A, i: "0.5", "one finite number"),
    (lambda W, A, i: float("nan"), "one finite number"),
    (lambda W, A, i: [0.5], "one finite number"),
    (lambda W, A, i: 0.77, "not SOINN's value"),
    (lambda W, A, i: W[np.flatnonzero(A[i] >= 0)[0]].sum() * 0 + max(np.linalg.norm(W[A[i] >= 0], axis=1)), "no edge"),
])
def test_soinn_names_the_mistake(wrong, message):
    fb = check_soinn_threshold(wrong)
    assert not fb.passed and message in text(fb), text(fb)


def test_soinn_refuses_the_learner():
    from tinydtl.learners.ilvq import ILVQ

    def via_learner(W, A, i):
        ILVQ().partial_fit(np.zeros((2, 3)), [0, 1], classes=[0, 1])
        return 0.5

    fb = check_soinn_threshold(via_learner)
    assert not fb.passed and "tinydtl's own" in text(fb)
    assert ILVQ().partial_fit(np.zeros((2, 3)), [0, 1], classes=[0, 1]).n_prototypes_ == 2  # restored afterwards


# ------------------------------------------------------------------------------------------ ring bytes
def ring_round_bytes(prototype_counts, n_features):
    return sum(2 * c * (n_features * 4 + 1) for c in prototype_counts)


def test_ring_reference_passes_and_stub_gets_feedback():
    assert check_ring_bytes(ring_round_bytes).passed
    assert "not implemented yet" in text(check_ring_bytes(stub))


def test_ring_reference_is_what_the_exchange_measures():
    from tinydtl.algorithms.ilvq_exchange import run_ilvq_exchange, train_devices
    from tinydtl.data.datasets import make_sphere
    from tinydtl.data.partition import iid

    X, y = make_sphere(400, seed=3)
    devices = train_devices(X, y, iid(y, 4, seed=0), n_epochs=1, seed=0)
    history = run_ilvq_exchange(devices, nx.cycle_graph(4), rounds=1, x_test=X, y_test=y, seed=0)
    assert history.column("bytes_up")[1] == ring_round_bytes([m.n_prototypes_ for m in devices], 3)


@pytest.mark.parametrize("wrong, message", [
    (lambda counts, d: ring_round_bytes(counts, d) // 2, "BOTH ring neighbours"),
    (lambda counts, d: 2 * sum(counts) * d * 4, "labels are missing"),
    (lambda counts, d: 2 * sum(counts) * (d * 4 + 4), "one byte (uint8)"),
    (lambda counts, d: 2 * sum(counts) * (d + 1), "4 bytes, not 1"),
    (lambda counts, d: 2 * sum(counts) * (d * 8 + 1), "not float64"),
    (lambda counts, d: 2 * sum(counts), "counts prototypes, not bytes"),
    (lambda counts, d: 10 * sum(counts), "n_features coordinates"),
    (lambda counts, d: ring_round_bytes(counts, d) + 12, "is not what the ring sends"),
    (lambda counts, d: str(ring_round_bytes(counts, d)), "whole number of bytes"),
    (lambda counts, d: ring_round_bytes(counts, d) + 0.5, "whole number of bytes"),
    (lambda counts, d: counts[99], "IndexError"),
])
def test_ring_names_the_mistake(wrong, message):
    fb = check_ring_bytes(wrong)
    assert not fb.passed and message in text(fb), text(fb)


def test_ring_feedback_gives_no_case_answer():
    fb = check_ring_bytes(lambda counts, d: ring_round_bytes(counts, d) + 12)
    for _, counts, d in RING_CASES:
        assert f"{ring_round_bytes(counts, d):,}" not in text(fb)


def test_ring_refuses_the_byte_rule():
    from tinydtl.algorithms.ilvq_exchange import prototype_bytes
    from tinydtl.core.traffic import payload_bytes

    for cheat in (lambda counts, d: sum(2 * prototype_bytes(c, d) for c in counts),
                  lambda counts, d: sum(2 * payload_bytes(c * d) for c in counts)):
        fb = check_ring_bytes(cheat)
        assert not fb.passed and "tinydtl's own" in text(fb)
    assert prototype_bytes(2, 3) == 26 and payload_bytes(6) == 24  # restored afterwards
