"""Checks of lesson 09's exercises (Globe2Train): G2T-D's encoded size, the data G2T ships, time to a target.

Each check runs the student's function on its own cases, names the common wrong answers, never
crashes on malformed answers, and refuses the package's own implementation
(:func:`tinydtl.lab.exercises.refuse_package`).
"""

from __future__ import annotations

import math

import numpy as np

from tinydtl.core.history import History, rounds_to_reach
from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.papers.globe2train import EncodedVector, encode, problem_data_bytes, sample_bytes
from tinydtl.papers.globe2train.fleet import pair_sizes

__all__ = ["check_encoded_bytes", "check_g2t_data_bytes", "check_time_to_target"]


def _number(check, value, what):
    """``value`` as a finite float, or Feedback saying what was wrong with it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None, Feedback(check, False, [f"{what} must be a number of bytes, got {type(value).__name__} {value!r}"])
    if not math.isfinite(float(value)):
        return None, Feedback(check, False, [f"{what} must be a finite number, got {value!r}"])
    return float(value), None


# ----------------------------------------------------------------------------- exercise 1: encoded size
ENCODE_CASES = [  # (what it is, weights)
    ("10 weights, 3 non-zero", np.array([0, 1.5, 0, 0, -2, 0, 0, 0, 0.25, 0], dtype=np.float32)),
    ("785 MNIST-sized weights, half zero", np.where(np.arange(785) % 2 == 0, 0.5, 0.0).astype(np.float32)),
    ("785 weights, none zero", np.linspace(0.1, 1.0, 785, dtype=np.float32)),
    ("300 zeros", np.zeros(300, dtype=np.float32)),
    ("70,000 weights, 5 non-zero", np.zeros(70_000, dtype=np.float32)),
    ("256 weights, all non-zero", np.ones(256, dtype=np.float32)),
    ("257 weights, all non-zero", np.ones(257, dtype=np.float32)),
]
ENCODE_CASES[4][1][[0, 7, 300, 65_536, 69_999]] = 1.0


def _encode_mistakes(w):
    n, nnz = len(w), int(np.count_nonzero(w))
    return [
        (4 * n, "that is the dense size, 4 bytes per weight: encoding keeps only the non-zero weights"),
        (8 + 4 * n, "that is a header plus every weight dense: zeros are not sent at all"),
        (nnz * (_index_bytes(n) + 4), "the 8-byte header (problem id and number of non-zeros) is missing"),
        (8 + nnz * 4, "each non-zero needs its index as well as its float32 value"),
        (8 + nnz * (2 + 4), "the index takes the smallest unsigned type that holds the length: 1 byte up to "
                            "256 weights, 2 up to 65,536, else 4"),
        (8 + nnz * (4 + 4), "the index takes the smallest unsigned type that holds the length: 1 byte up to "
                            "256 weights, 2 up to 65,536, else 4 (not always 4)"),
        (8 + nnz * (8 + 4), "an index is an unsigned integer of 1, 2 or 4 bytes, not a 64-bit Python int"),
        (8 + (n - nnz) * (_index_bytes(n) + 4), "that counts the zeros; encode keeps the NON-zero weights"),
    ]


def _index_bytes(n):
    return 1 if n <= 1 << 8 else 2 if n <= 1 << 16 else 4


def check_encoded_bytes(student_fn) -> Feedback:
    """Exercise 1: ``student_fn(weights) -> bytes`` of G2T-D's encoding of one classifier's weights."""
    check = "Exercise 1: encoded_bytes"
    answers = [encode(w).nbytes for _, w in ENCODE_CASES]  # before the package is refused
    with refuse_package(encode, EncodedVector.nbytes.fget,
                        why="compute the size from the rule (header, then index and value of each non-zero)"):
        for (what, w), right in zip(ENCODE_CASES, answers):
            got, fb = call_student(check, student_fn, w.copy())
            if fb:
                return fb
            got, fb = _number(check, got, f"encoded_bytes of {what}")
            if fb:
                return fb
            if got == right:
                continue
            for wrong, why in _encode_mistakes(w):
                if wrong is not None and why and got == wrong:
                    return Feedback(check, False, [f"{what}: you returned {got:,.0f} B; {why}."])
            return Feedback(check, False, [f"{what}: you returned {got:,.0f} B, which is not the encoded size; "
                                           "count 8 header bytes, then per non-zero weight its index and its value"])
    return Feedback(check, True, [f"all {len(ENCODE_CASES)} cases right (from 10 to 70,000 weights). Now try "
                                  "23 weights with more and more zeros against the dense 4 bytes per weight."])


# ----------------------------------------------------------------------------- exercise 2: data shipped
DATA_CASES = [  # (what it is, labels, n_features, feature_bytes)
    ("3 classes of 2, 3 and 5 samples, 4 float32 features", np.repeat([0, 1, 2], [2, 3, 5]), 4, 4),
    ("MNIST-like: 10 classes of 100 images, 784 uint8 pixels", np.repeat(np.arange(10), 100), 784, 1),
    ("5 unbalanced classes, 22 float32 features", np.repeat(np.arange(5), [1, 9, 4, 4, 30]), 22, 4),
    ("2 classes, 1 feature of 1 byte", np.array([0, 1, 1, 0, 1]), 1, 1),
]


def _data_mistakes(y, d, fb):
    n, K = len(y), int(y.max()) + 1
    s = d * fb + 1
    return [
        (n * s, "that is the training set shipped once; G2T ships every binary problem its two classes, so each "
                "sample travels once per problem it belongs to"),
        (n * s * K, "each sample belongs to the K − 1 problems that pair its class with another, not to K"),
        (n * s * K * (K - 1) / 2, "not every problem gets every sample: problem (i, j) gets only classes i and j"),
        (n * s * (K - 1) / 2, "a sample of class i is in every problem (i, ·): K − 1 of them, not (K − 1)/2"),
        ((K - 1) * n * d * fb, "each sample also carries its 1-byte label"),
        ((K - 1) * n * (d * 4 + 1) if fb != 4 else None, "use the given bytes per feature value (feature_bytes), "
                                                         "not always 4"),
    ]


def check_g2t_data_bytes(student_fn) -> Feedback:
    """Exercise 2: ``student_fn(y, n_features, feature_bytes) -> bytes`` G2T ships for all its problems."""
    check = "Exercise 2: g2t_data_bytes"
    answers = [int(problem_data_bytes(y, np.column_stack(np.triu_indices(int(y.max()) + 1, 1)), d, fb).sum())
               for _, y, d, fb in DATA_CASES]  # before the package is refused
    with refuse_package(problem_data_bytes, sample_bytes, pair_sizes,
                        why="count the bytes from the decomposition yourself"):
        for (what, y, d, fb), right in zip(DATA_CASES, answers):
            got, feedback = call_student(check, student_fn, y.copy(), d, fb)
            if feedback:
                return feedback
            got, feedback = _number(check, got, f"g2t_data_bytes for {what}")
            if feedback:
                return feedback
            if got == right:
                continue
            for wrong, why in _data_mistakes(y, d, fb):
                if wrong is not None and math.isclose(got, wrong):
                    return Feedback(check, False, [f"{what}: you returned {got:,.0f} B; {why}."])
            return Feedback(check, False, [f"{what}: you returned {got:,.0f} B; add up, over every pair (i, j), the "
                                           "samples of classes i and j times the bytes of one sample"])
    return Feedback(check, True, [f"all {len(DATA_CASES)} cases right. How many times does G2T ship the training "
                                  "set for 95 classes, and what does a synchronous-SGD device receive instead?"])


# ----------------------------------------------------------------------------- exercise 3: time to a target
TIME_CASES = [  # (what it is, times, accuracies, target)
    ("a noisy curve (reaches, dips, peaks, dips)", [0, 1, 2, 3, 4], [0.3, 0.91, 0.85, 0.97, 0.95], 0.9),
    ("a rising curve", [0, 10, 20, 30, 40], [0.1, 0.5, 0.8, 0.85, 0.9], 0.8),
    ("a curve that reaches the target exactly", [0, 5, 9], [0.2, 0.7, 0.75], 0.75),
    ("rows without an evaluation (NaN)", [0, 2, 4, 6], [0.1, math.nan, 0.95, math.nan], 0.9),
    ("a curve that never gets there", [0, 10, 20], [0.2, 0.5, 0.6], 0.9),
    ("the initial model already there", [0, 3], [0.99, 0.99], 0.5),
]


def _time_mistakes(times, acc, target):
    a = np.asarray(acc, dtype=float)
    strict = np.flatnonzero(a > target)
    hit = np.flatnonzero(a >= target)
    out = [(times[-1], "that is the last time, not the first one at which the target is reached"),
           (times[int(np.nanargmax(a))], "that is the time of the best accuracy; the target is reached at the FIRST "
                                         "row whose accuracy is at least the target")]
    if strict.size and hit.size and strict[0] != hit[0]:
        out.append((times[strict[0]], "'reaches the target' means accuracy >= target, not > target"))
    if hit.size and hit[0] > 0:
        out.append((times[hit[0] - 1], "that is the row before the target is reached"))
    return out


def check_time_to_target(student_fn) -> Feedback:
    """Exercise 3: ``student_fn(times, accuracies, target) -> time`` of the first row at or above ``target``,
    ``None`` if never (NaN rows have no evaluation)."""
    check = "Exercise 3: time_to_target"
    with refuse_package(rounds_to_reach, History.rounds_to_reach, why="write the scan yourself"):
        for what, times, acc, target in TIME_CASES:
            got, feedback = call_student(check, student_fn, list(times), list(acc), target)
            if feedback:
                return feedback
            hit = np.flatnonzero(np.asarray(acc, dtype=float) >= target)
            right = times[hit[0]] if hit.size else None
            if right is None:
                if got is None:
                    continue
                return Feedback(check, False, [f"{what}: you returned {got!r}; a curve that never reaches the target "
                                               "has no time to it: return None (not 0, inf, NaN or the last time)"])
            if got is None:
                return Feedback(check, False, [f"{what}: you returned None, but the curve reaches the target"])
            got, feedback = _number(check, got, f"time_to_target for {what}")
            if feedback:
                return feedback
            if got == right:
                continue
            for wrong, why in _time_mistakes(times, acc, target):
                if got == wrong:
                    return Feedback(check, False, [f"{what}: you returned {got:g}; {why}."])
            return Feedback(check, False, [f"{what}: you returned {got:g}; return the time of the first row whose "
                                           "accuracy is at least the target"])
    return Feedback(check, True, [f"all {len(TIME_CASES)} cases right, the never-reached one included."])
