"""Lesson 01's exercise checks (tinydtl.lab.exercises.l01_taxonomy): the reference solution passes, the
stub gets feedback, each common wrong answer gets its own message, malformed answers never crash the
check, and the package's own byte counts are refused."""

import math

import numpy as np
import pytest
from support import exercise_cell

from tinydtl.algorithms.split import split_bytes_per_epoch
from tinydtl.core.compression import quantize
from tinydtl.lab.exercises.l01_taxonomy import check_quantized_bytes, check_split_bytes

STEM = "01_survey_taxonomy"


def stub(*args):
    raise NotImplementedError


# --- exercise 1: the bytes of a quantised update -----------------------------------------------------------
def test_quantized_reference_passes_in_any_integer_form():
    assert check_quantized_bytes(lambda n, b: math.ceil(n * b / 8) + 8).passed
    assert check_quantized_bytes(lambda n, b: np.int64((n * b + 7) // 8 + 8)).passed
    assert check_quantized_bytes(lambda n, b: float(-(-n * b // 8) + 8)).passed


def test_quantized_stub_in_the_notebook_gets_feedback_not_a_crash():
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 1"), ns)
    fb = ns["check_quantized_bytes"](ns["my_quantized_bytes"])
    assert not fb.passed and "not implemented yet" in str(fb)
    assert not check_quantized_bytes(stub).passed


@pytest.mark.parametrize("answer, message", [
    (lambda n, b: math.ceil(n * b / 8), "lo and hi"),
    (lambda n, b: n * b / 8, "not in whole bytes"),
    (lambda n, b: n * b // 8 + 8, "round up, not down"),
    (lambda n, b: n * b + 8, "bits as bytes"),
    (lambda n, b: n * b, "leaves out lo and hi"),
    (lambda n, b: 4 * n, "float32 update"),
    (lambda n, b: math.ceil(n * b / 8) + 16, "4 bytes each"),
    (lambda n, b: n * math.ceil(b / 8) + 8, "packed"),
    (lambda n, b: math.ceil(n * b / 8) + 9, "not the bytes on the wire"),
    (lambda n, b: "3935 bytes", "return a number of bytes"),
    (lambda n, b: None, "return a number of bytes"),
    (lambda n, b: True, "return a number of bytes"),
    (lambda n, b: float("nan"), "finite"),
    (lambda n, b: [n], "return a number of bytes"),
    (lambda n, b: n / 0, "ZeroDivisionError"),
])
def test_quantized_names_each_common_mistake(answer, message):
    fb = check_quantized_bytes(answer)
    assert not fb.passed and message in str(fb), fb


def test_quantized_refuses_the_package():
    fb = check_quantized_bytes(lambda n, b: quantize(np.zeros(n, np.float32), b)[1])
    assert not fb.passed and "tinydtl's own" in str(fb), fb
    assert quantize(np.zeros(10, np.float32), 4)[1] == 13  # restored afterwards


# --- exercise 2: the bytes of one epoch of split learning ---------------------------------------------------
def reference(n, h, k, f):
    return 2 * 4 * n * h + n + (k - 1) * 4 * (f * h + h)


def test_split_reference_passes():
    fb = check_split_bytes(reference)
    assert fb.passed, fb


def test_split_stub_in_the_notebook_gets_feedback_not_a_crash():
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 2"), ns)
    fb = ns["check_split_bytes"](ns["my_split_bytes"])
    assert not fb.passed and "not implemented yet" in str(fb)


@pytest.mark.parametrize("answer, message", [
    (lambda n, h, k, f: reference(n, h, k, f) - n, "labels are missing"),
    (lambda n, h, k, f: reference(n, h, k, f) + 3 * n, "one byte (uint8)"),
    (lambda n, h, k, f: 8 * n * h + n, "hand-overs are missing"),
    (lambda n, h, k, f: reference(n, h, k, f) + 4 * (f * h + h), "not n_devices"),
    (lambda n, h, k, f: reference(n, h, k, f) - 4 * n * h, "only one direction"),
    (lambda n, h, k, f: reference(n, h, k, f) - (k - 1) * 4 * h, "bias"),
    (lambda n, h, k, f: 2 * n * h + n + (k - 1) * (f * h + h), "float32 is 4 bytes"),
    (lambda n, h, k, f: reference(n, h, k, f) + 1, "not the bytes of one epoch"),
    (lambda n, h, k, f: {"bytes": 1}, "return a number of bytes"),
    (lambda n, h, k, f: float("inf"), "finite"),
    (lambda n, h, k, f: undefined_name, "NameError"),  # noqa: F821
])
def test_split_names_each_common_mistake(answer, message):
    fb = check_split_bytes(answer)
    assert not fb.passed and message in str(fb), fb


def test_split_refuses_the_package():
    fb = check_split_bytes(lambda n, h, k, f: split_bytes_per_epoch(n, h, n_features=f, n_devices=k))
    assert not fb.passed and "tinydtl's own" in str(fb), fb
    assert split_bytes_per_epoch(10, 2, n_features=3, n_devices=2) == reference(10, 2, 2, 3)  # restored
