"""Lesson 02's exercise checks (tinydtl.lab.exercises.l02_ilvq): the reference solution passes, the stub gets
feedback, the common wrong answers get their own message, and the package's learner and byte rule are refused."""

import networkx as nx
import numpy as np
import pytest

from tinydtl.lab.exercises import Feedback
from tinydtl.lab.exercises.l02_ilvq import (
    RING_CASES,
    THRESHOLD_CASES,
    check_ring_bytes,
    check_threshold,
    reference_threshold,
)


def text(feedback: Feedback) -> str:
    assert isinstance(feedback, Feedback)
    return " ".join(feedback.messages)


def stub(*args):
    raise NotImplementedError


# ------------------------------------------------------------------------------------------- threshold
def threshold_from_distances(same, other):
    if not same:
        return min(other)
    d_w = sum(same) / len(same)
    beyond = [d for d in other if d > d_w]
    return min(beyond) if beyond else d_w


def test_threshold_reference_passes_and_stub_gets_feedback():
    assert check_threshold(threshold_from_distances).passed
    assert "not implemented yet" in text(check_threshold(stub))


def test_threshold_cases_follow_the_learner():
    """The check's reference is the package's rule: T_i of a prototype in a hand-built graph."""
    from tinydtl.learners.ilvq import ILVQ

    for _, same, other in THRESHOLD_CASES:
        W = [[0.0, 0, 0]] + [[d, 0, 0] for d in same] + [[-d, 0, 0] for d in other]
        labels = [1] + [1] * len(same) + [0] * len(other)
        m = ILVQ.from_prototypes(np.array(W), np.array(labels), np.array([0, 1]))
        for j in range(1, len(W)):  # connect prototype 0 to every other one
            m._adj[0][j] = m._adj[j][0] = 0
        assert m._threshold(0) == pytest.approx(reference_threshold(same, other))
    assert reference_threshold([0.2, 0.4], [0.1, 0.5]) == pytest.approx(0.5)  # the lesson's worked example


@pytest.mark.parametrize("wrong, message", [
    (lambda same, other: min(other) if other else sum(same) / len(same), "nearest other-class neighbour"),
    (lambda same, other: sum(same) / len(same) if same else min(other), "that is d_w"),
    (lambda same, other: max(same) if same else min(other), "same-class mean"),
    (lambda same, other: min(same + other), "any class"),
    (lambda same, other: (min([d for d in other if d >= sum(same) / len(same)], default=sum(same) / len(same))
                          if same else min(other)), "strictly farther"),
    (lambda same, other: min(d for d in other if d > sum(same) / len(same)), "may have no same-class or no other"),
    (lambda same, other: "0.5", "one finite number"),
    (lambda same, other: float("nan"), "one finite number"),
    (lambda same, other: [0.5], "one finite number"),
    (lambda same, other: 0.7, "not the rule's value"),
])
def test_threshold_names_the_mistake(wrong, message):
    fb = check_threshold(wrong)
    assert not fb.passed and message in text(fb), text(fb)


def test_threshold_refuses_the_learner():
    from tinydtl.learners.ilvq import ILVQ

    def via_learner(same, other):
        ILVQ().partial_fit(np.zeros((2, 3)), [0, 1], classes=[0, 1])
        return 0.5

    fb = check_threshold(via_learner)
    assert not fb.passed and "tinydtl's own" in text(fb)
    assert ILVQ().partial_fit(np.zeros((2, 3)), [0, 1], classes=[0, 1]).n_prototypes_ == 2  # restored afterwards


# ------------------------------------------------------------------------------------------ ring bytes
def ring_round_bytes(prototype_counts, n_features):
    return sum(2 * c * n_features * 4 for c in prototype_counts)


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
    (lambda counts, d: ring_round_bytes(counts, d) // 4, "4 bytes, not 1"),
    (lambda counts, d: ring_round_bytes(counts, d) * 2, "not float64"),
    (lambda counts, d: 2 * sum(counts), "counts prototypes, not bytes"),
    (lambda counts, d: 8 * sum(counts), "n_features coordinates"),
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
    assert prototype_bytes(2, 3) == 24 and payload_bytes(6) == 24  # restored afterwards
