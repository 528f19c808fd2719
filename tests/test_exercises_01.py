"""Lesson 01's exercise checks (tinydtl.lab.exercises.l01_taxonomy): the reference solution passes, the
stub gets feedback, each common wrong answer gets its own message, malformed answers never crash the
check, and the package's own byte counts are refused."""

import math

import numpy as np
import pytest
from support import exercise_cell

from tinydtl.algorithms.split import split_bytes_per_epoch
from tinydtl.core.compression import quantize
from tinydtl.lab.exercises.l01_taxonomy import check_chunked_bytes, check_split_bytes

STEM = "01_survey_taxonomy"


def stub(*args):
    raise NotImplementedError


# --- exercise 1: the bytes of a quantised update sent in chunks ---------------------------------------------
def chunked(n, b, c, range_bytes=2):
    return sum(math.ceil(min(c, n - s) * b / 8) + 2 * range_bytes for s in range(0, n, c))


def test_chunked_reference_passes_in_any_integer_form():
    assert check_chunked_bytes(chunked).passed
    assert check_chunked_bytes(lambda n, b, c: np.int64(chunked(n, b, c))).passed
    assert check_chunked_bytes(lambda n, b, c: float(chunked(n, b, c))).passed


def test_chunked_stub_in_the_notebook_gets_feedback_not_a_crash():
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 1"), ns)
    fb = ns["check_chunked_bytes"](ns["my_chunked_bytes"])
    assert not fb.passed and "not implemented yet" in str(fb)
    assert not check_chunked_bytes(stub).passed


@pytest.mark.parametrize("answer, message", [
    (lambda n, b, c: math.ceil(n * b / 8) + 8, "section 5a's count"),
    (lambda n, b, c: math.ceil(n * b / 8) + 4, "one range for the whole update"),
    (lambda n, b, c: chunked(n, b, c, range_bytes=4), "float16"),
    (lambda n, b, c: math.ceil(n * b / 8) + 4 * math.ceil(n / c), "on their own"),
    (lambda n, b, c: (n // c) * (math.ceil(c * b / 8) + 4), "shorter chunk is sent too"),
    (lambda n, b, c: math.ceil(n / c) * (math.ceil(c * b / 8) + 4), "what is left"),
    (lambda n, b, c: 4 * n, "float32 update"),
    (lambda n, b, c: chunked(n, b, c) + 5, "not the bytes on the wire"),
    (lambda n, b, c: "3935 bytes", "return a number of bytes"),
    (lambda n, b, c: None, "return a number of bytes"),
    (lambda n, b, c: True, "return a number of bytes"),
    (lambda n, b, c: float("nan"), "finite"),
    (lambda n, b, c: n / 0, "ZeroDivisionError"),
])
def test_chunked_names_each_common_mistake(answer, message):
    fb = check_chunked_bytes(answer)
    assert not fb.passed and message in str(fb), fb


def test_chunked_refuses_the_package():
    fb = check_chunked_bytes(lambda n, b, c: sum(quantize(np.zeros(min(c, n - s), np.float32), b)[1] - 4
                                                 for s in range(0, n, c)))
    assert not fb.passed and "tinydtl's own" in str(fb), fb
    assert quantize(np.zeros(10, np.float32), 4)[1] == 13  # restored afterwards


# --- exercise 2: the bytes of split learning with two layers on the device ----------------------------------
def reference(n, f, h1, h2, k, e):
    handovers = 0 if k == 1 else e * k - 1  # k - 1 in the first epoch, k in every later one
    return e * (2 * 4 * n * h2 + n) + handovers * 4 * (f * h1 + h1 + h1 * h2 + h2)


def test_split_reference_passes():
    fb = check_split_bytes(reference)
    assert fb.passed, fb


def test_split_stub_in_the_notebook_gets_feedback_not_a_crash():
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 2"), ns)
    fb = ns["check_split_bytes"](ns["my_split_bytes"])
    assert not fb.passed and "not implemented yet" in str(fb)


def layers(f, h1, h2):
    return 4 * (f * h1 + h1 + h1 * h2 + h2)


@pytest.mark.parametrize("answer, message", [
    (lambda n, f, h1, h2, k, e: e * (8 * n * h2 + n) + (0 if k == 1 else e * (k - 1)) * layers(f, h1, h2),
     "n_devices hand-overs per epoch after the first"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) + layers(f, h1, h2), "its own initial layers"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) - e * 8 * n * (h2 - h1), "after the second layer"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) - (0 if k == 1 else e * k - 1) * 4 * (h1 * h2 + h2),
     "both are handed over"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) - e * n, "labels are missing"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) + 3 * e * n, "one byte (uint8)"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) - e * 4 * n * h2, "only one direction"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) - (0 if k == 1 else e * k - 1) * 4 * (h1 + h2), "bias"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, 1), "count every epoch"),
    (lambda n, f, h1, h2, k, e: reference(n, f, h1, h2, k, e) + 1, "not the bytes"),
    (lambda n, f, h1, h2, k, e: {"bytes": 1}, "return a number of bytes"),
    (lambda n, f, h1, h2, k, e: float("inf"), "finite"),
    (lambda n, f, h1, h2, k, e: undefined_name, "NameError"),  # noqa: F821
])
def test_split_names_each_common_mistake(answer, message):
    fb = check_split_bytes(answer)
    assert not fb.passed and message in str(fb), fb


def test_split_refuses_the_package():
    fb = check_split_bytes(lambda n, f, h1, h2, k, e: e * split_bytes_per_epoch(n, h1, n_features=f, n_devices=k))
    assert not fb.passed and "tinydtl's own" in str(fb), fb
    # restored afterwards; the first epoch hands layer 1 over k - 1 times, every later one k times
    assert split_bytes_per_epoch(10, 2, n_features=3, n_devices=2, first=True) == 2 * 4 * 10 * 2 + 10 + 1 * 4 * 8
    assert split_bytes_per_epoch(10, 2, n_features=3, n_devices=2) == 2 * 4 * 10 * 2 + 10 + 2 * 4 * 8
