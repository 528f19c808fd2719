"""Lesson 09's exercise checks: the reference solution passes, the stub and the common wrong answers get their
own messages, malformed answers get feedback (never a traceback), the package's implementation is refused."""

import math

import numpy as np
import pytest

from tinydtl.lab.exercises.l09_globe2train import check_encoded_bytes, check_g2t_data_bytes, check_time_to_target


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 1
def encoded_bytes(w):
    n, nnz = len(w), int(np.count_nonzero(w))
    index = 1 if n <= 256 else 2 if n <= 65_536 else 4
    return 8 + nnz * (index + 4)


def test_ex1_reference_passes_and_stub_gets_a_hint():
    assert check_encoded_bytes(encoded_bytes).passed
    fb = check_encoded_bytes(stub)
    assert not fb.passed and "not implemented" in str(fb)


@pytest.mark.parametrize("wrong, message", [
    (lambda w: 4 * len(w), "dense size"),
    (lambda w: int(np.count_nonzero(w)) * ((1 if len(w) <= 256 else 2 if len(w) <= 65_536 else 4) + 4), "header"),
    (lambda w: 8 + int(np.count_nonzero(w)) * 4, "its index as well"),
    (lambda w: 8 + int(np.count_nonzero(w)) * 6, "smallest unsigned type"),
    (lambda w: 8 + int(np.count_nonzero(w)) * 8, "not always 4"),
    (lambda w: 8 + (len(w) - int(np.count_nonzero(w))) * ((1 if len(w) <= 256 else 2 if len(w) <= 65_536 else 4) + 4),
     "counts the zeros"),
    (lambda w: 7, "not the encoded size"),
])
def test_ex1_names_each_common_mistake(wrong, message):
    fb = check_encoded_bytes(wrong)
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", ["12", None, [8], math.nan, True])
def test_ex1_malformed_answers_get_feedback(answer):
    fb = check_encoded_bytes(lambda w: answer)
    assert not fb.passed and "must be" in str(fb), str(fb)


def test_ex1_refuses_the_package():
    from tinydtl.papers.globe2train import encode

    fb = check_encoded_bytes(lambda w: encode(w).nbytes)
    assert not fb.passed and "tinydtl's own" in str(fb)
    assert encode(np.ones(3)).nbytes == 8 + 3 * 5  # restored afterwards


# ----------------------------------------------------------------------------- exercise 2
def g2t_data_bytes(y, n_features, feature_bytes):
    counts = np.bincount(y)
    K = len(counts)
    return sum((counts[i] + counts[j]) * (n_features * feature_bytes + 1) for i in range(K) for j in range(i + 1, K))


def test_ex2_reference_passes_and_stub_gets_a_hint():
    assert check_g2t_data_bytes(g2t_data_bytes).passed
    assert "not implemented" in str(check_g2t_data_bytes(stub))


@pytest.mark.parametrize("wrong, message", [
    (lambda y, d, fb: len(y) * (d * fb + 1), "shipped once"),
    (lambda y, d, fb: len(y) * (d * fb + 1) * (y.max() + 1), "not to K"),
    (lambda y, d, fb: y.max() * len(y) * d * fb, "label"),
    (lambda y, d, fb: y.max() * len(y) * (d * 4 + 1), "not always 4"),
    (lambda y, d, fb: 1.0, "add up"),
])
def test_ex2_names_each_common_mistake(wrong, message):
    fb = check_g2t_data_bytes(wrong)
    assert not fb.passed and message in str(fb), str(fb)


def test_ex2_refuses_the_package_and_survives_malformed_answers():
    from tinydtl.papers.globe2train import class_pairs, problem_data_bytes

    fb = check_g2t_data_bytes(lambda y, d, f: int(problem_data_bytes(y, class_pairs(int(y.max()) + 1), d, f).sum()))
    assert not fb.passed and "tinydtl's own" in str(fb)
    for answer in ("many", None, np.array([1, 2]), math.inf):
        assert not check_g2t_data_bytes(lambda y, d, f, a=answer: a).passed


# ----------------------------------------------------------------------------- exercise 3
def time_to_target(times, accuracies, target):
    for t, a in zip(times, accuracies):
        if a >= target:
            return t
    return None


def test_ex3_reference_passes_and_stub_gets_a_hint():
    assert check_time_to_target(time_to_target).passed
    assert "not implemented" in str(check_time_to_target(stub))


@pytest.mark.parametrize("wrong, message", [
    (lambda t, a, target: t[-1], "last time"),
    (lambda t, a, target: t[int(np.nanargmax(a))], "best accuracy"),
    (lambda t, a, target: next((x for x, v in zip(t, a) if v > target), None), "not > target"),
    (lambda t, a, target: next((x for x, v in zip(t, a) if v >= target), math.inf), "return None"),
    (lambda t, a, target: None, "reaches the target"),
])
def test_ex3_names_each_common_mistake(wrong, message):
    fb = check_time_to_target(wrong)
    assert not fb.passed and message in str(fb), str(fb)


def test_ex3_refuses_the_package_and_survives_malformed_answers():
    from tinydtl.core.history import rounds_to_reach

    fb = check_time_to_target(lambda t, a, target: rounds_to_reach(a, target))
    assert not fb.passed and "tinydtl's own" in str(fb)
    assert rounds_to_reach([0.1, 0.9], 0.5) == 2  # restored
    for answer in ("soon", [1], True):
        fb = check_time_to_target(lambda t, a, target, x=answer: x)
        assert not fb.passed, answer
