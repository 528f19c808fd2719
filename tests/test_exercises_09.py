"""Lesson 09's exercise checks: the reference solution passes, the stub and the common wrong answers get their
own messages, malformed answers get feedback (never a traceback), the package's implementation is refused."""

import math

import numpy as np
import pytest

from tinydtl.lab.exercises.l09_globe2train import check_bitmap_bytes, check_cached_data_bytes, check_time_to_target


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 1
def bitmap_bytes(w):
    return 8 + -(-len(w) // 8) + 4 * int(np.count_nonzero(w))


def index_bytes(n):
    return 1 if n <= 256 else 2 if n <= 65_536 else 4


def test_ex1_reference_passes_and_stub_gets_a_hint():
    assert check_bitmap_bytes(bitmap_bytes).passed
    fb = check_bitmap_bytes(stub)
    assert not fb.passed and "not implemented" in str(fb)


@pytest.mark.parametrize("wrong, message", [
    (lambda w: 8 + int(np.count_nonzero(w)) * (index_bytes(len(w)) + 4), "index encoding"),
    (lambda w: 4 * len(w), "dense size"),
    (lambda w: -(-len(w) // 8) + 4 * int(np.count_nonzero(w)), "header is missing"),
    (lambda w: 8 + len(w) // 8 + 4 * int(np.count_nonzero(w)), "round up"),
    (lambda w: 8 + len(w) + 4 * int(np.count_nonzero(w)), "one BIT"),
    (lambda w: 8 + 4 * int(np.count_nonzero(w)), "bitmap itself is missing"),
    (lambda w: 8 + -(-len(w) // 8) + 4 * (len(w) - int(np.count_nonzero(w))), "counts the zeros"),
    (lambda w: 7, "not the bitmap format's size"),
])
def test_ex1_names_each_common_mistake(wrong, message):
    fb = check_bitmap_bytes(wrong)
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", ["12", None, [8], math.nan, True])
def test_ex1_malformed_answers_get_feedback(answer):
    fb = check_bitmap_bytes(lambda w: answer)
    assert not fb.passed and "must be" in str(fb), str(fb)


def test_ex1_refuses_the_package():
    from tinydtl.papers.globe2train import encode

    fb = check_bitmap_bytes(lambda w: encode(w).nbytes)
    assert not fb.passed and "tinydtl's own" in str(fb)
    assert encode(np.ones(3)).nbytes == 8 + 3 * 5  # restored afterwards


# ----------------------------------------------------------------------------- exercise 2
def cached_data_bytes(y, devices, n_features, feature_bytes):
    counts = np.bincount(y)
    return sum(int(counts[sorted({c for p in probs for c in p})].sum()) for probs in devices) * (n_features * feature_bytes + 1)


def per_problem(y, devices, d, fb):
    counts = np.bincount(y)
    return sum(int(counts[i] + counts[j]) for probs in devices for i, j in probs) * (d * fb + 1)


def test_ex2_reference_passes_and_stub_gets_a_hint():
    assert check_cached_data_bytes(cached_data_bytes).passed
    assert "not implemented" in str(check_cached_data_bytes(stub))


@pytest.mark.parametrize("wrong, message", [
    (per_problem, "downloads a sample once"),
    (lambda y, devs, d, fb: len(y) * (d * fb + 1), "cache is per device"),
    (lambda y, devs, d, fb: cached_data_bytes(y, devs, d, fb) // (d * fb + 1) * d * fb, "label"),
    (lambda y, devs, d, fb: cached_data_bytes(y, devs, d, 4), "not always 4"),
    (lambda y, devs, d, fb: 1.0, "count their samples once"),
])
def test_ex2_names_each_common_mistake(wrong, message):
    fb = check_cached_data_bytes(wrong)
    assert not fb.passed and message in str(fb), str(fb)


def test_ex2_refuses_the_package_and_survives_malformed_answers():
    from tinydtl.papers.globe2train import problem_data_bytes

    def package(y, devs, d, f):
        return sum(int(problem_data_bytes(y, np.array(p).reshape(-1, 2), d, f).sum()) for p in devs if p)

    fb = check_cached_data_bytes(package)
    assert not fb.passed and "tinydtl's own" in str(fb)
    for answer in ("many", None, np.array([1, 2]), math.inf):
        assert not check_cached_data_bytes(lambda y, devs, d, f, a=answer: a).passed


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
