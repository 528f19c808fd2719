"""Checks of lesson 09's exercises (Globe2Train): a bitmap alternative to G2T-D's
encoding, the data G2T ships when devices keep what they received, time to a target.

Each check runs the student's function on its own cases, names the common wrong answers, never
crashes on malformed answers, and refuses the package's own implementation
(:func:`tinydtl.lab.exercises.refuse_package`).
"""

from __future__ import annotations

import math

import numpy as np

from tinydtl.core.history import History, rounds_to_reach
from tinydtl.lab.exercises import Feedback, call_student, read_number, refuse_package
from tinydtl.papers.globe2train import EncodedVector, encode, problem_data_bytes, sample_bytes
from tinydtl.papers.globe2train.fleet import pair_sizes

__all__ = ["check_bitmap_bytes", "check_cached_data_bytes", "check_time_to_target"]


# ----------------------------------------------------------------------------- exercise 1: a bitmap encoding
ENCODE_CASES = [  # (what it is, weights)
    ("10 weights, 3 non-zero", np.array([0, 1.5, 0, 0, -2, 0, 0, 0, 0.25, 0], dtype=np.float32)),
    ("785 MNIST-sized weights, half zero", np.where(np.arange(785) % 2 == 0, 0.5, 0.0).astype(np.float32)),
    ("785 weights, none zero", np.linspace(0.1, 1.0, 785, dtype=np.float32)),
    ("300 zeros", np.zeros(300, dtype=np.float32)),
    ("70,000 weights, 5 non-zero", np.zeros(70_000, dtype=np.float32)),
    ("16 weights, all non-zero", np.ones(16, dtype=np.float32)),
    ("23 weights, 7 zero", np.where(np.arange(23) < 7, 0.0, 1.0).astype(np.float32)),
]
ENCODE_CASES[4][1][[0, 7, 300, 65_536, 69_999]] = 1.0


def _index_bytes(n):
    return 1 if n <= 1 << 8 else 2 if n <= 1 << 16 else 4


def _bitmap_mistakes(w):
    n, nnz = len(w), int(np.count_nonzero(w))
    bitmap = -(-n // 8)
    return [
        (8 + nnz * (_index_bytes(n) + 4), "that is G2T-D's index encoding (an index per non-zero); the bitmap replaces "
                                          "the indices by one bit per weight"),
        (4 * n, "that is the dense size, 4 bytes per weight: the bitmap format sends only the non-zero values"),
        (bitmap + 4 * nnz, "the 8-byte header is missing"),
        (8 + n // 8 + 4 * nnz if n % 8 else None, "n // 8 drops the last, partly filled byte of the bitmap: round up"),
        (8 + n + 4 * nnz, "that counts one BYTE per weight in the bitmap; it needs one BIT"),
        (8 + 4 * nnz, "the bitmap itself is missing: the receiver must learn where the non-zeros go"),
        (8 + bitmap + 4 * n, "that sends every value; only the non-zero ones follow the bitmap"),
        (8 + bitmap + 4 * (n - nnz), "that counts the zeros; the values sent are the NON-zero ones"),
    ]


def check_bitmap_bytes(student_fn) -> Feedback:
    """Exercise 1: ``student_fn(weights) -> bytes`` of the bitmap encoding of one classifier's weights:
    an 8-byte header, one bit per weight (rounded up to whole bytes), then a float32 per non-zero weight."""
    check = "Exercise 1: bitmap_bytes"
    answers = [8 + -(-len(w) // 8) + 4 * int(np.count_nonzero(w)) for _, w in ENCODE_CASES]
    with refuse_package(encode, EncodedVector.nbytes.fget, why="count the bitmap format's bytes yourself"):
        for (what, w), right in zip(ENCODE_CASES, answers):
            got, fb = call_student(check, student_fn, w.copy())
            if fb:
                return fb
            got, fb = read_number(check, got, f"bitmap_bytes of {what}", kind="a number of bytes")
            if fb:
                return fb
            if got == right:
                continue
            for wrong, why in _bitmap_mistakes(w):
                if wrong is not None and got == wrong:
                    return Feedback(check, False, [f"{what}: you returned {got:,.0f} B; {why}."])
            return Feedback(check, False, [f"{what}: you returned {got:,.0f} B, which is not the bitmap format's size; "
                                           "count the header, the bitmap in whole bytes and the non-zero values"])
    return Feedback(check, True, [f"all {len(ENCODE_CASES)} cases right (from 10 to 70,000 weights). Now compare it "
                                  "with the index encoding and with dense, as the share of zeros grows."])


# ----------------------------------------------------------------------------- exercise 2: data with a cache
DATA_CASES = [  # (what it is, labels, problems per device, n_features, feature_bytes)
    ("3 classes of 2, 3 and 5 samples, all 3 problems on one device, 4 float32 features",
     np.repeat([0, 1, 2], [2, 3, 5]), [[(0, 1), (0, 2), (1, 2)]], 4, 4),
    ("3 classes, one problem per device", np.repeat([0, 1, 2], [2, 3, 5]), [[(0, 1)], [(0, 2)], [(1, 2)]], 4, 4),
    ("MNIST-like: 10 classes of 100, 45 problems round-robin over 6 devices, 784 uint8 pixels",
     np.repeat(np.arange(10), 100), [[p for k, p in enumerate((i, j) for i in range(10) for j in range(i + 1, 10))
                                      if k % 6 == dev] for dev in range(6)], 784, 1),
    ("5 unbalanced classes, 2 devices, one idle", np.repeat(np.arange(5), [1, 9, 4, 4, 30]),
     [[(0, 1), (1, 2), (3, 4)], []], 22, 4),
    ("2 classes, 2 devices with the same problem", np.array([0, 1, 1, 0, 1]), [[(0, 1)], [(0, 1)]], 1, 1),
]


def _cached_answer(y, devices, d, fb):
    counts = np.bincount(y)
    return sum(int(counts[sorted({c for p in probs for c in p})].sum()) for probs in devices) * (d * fb + 1)


def _cached_mistakes(y, devices, d, fb):
    counts, s = np.bincount(y), d * fb + 1
    per_problem = sum(int(counts[i] + counts[j]) for probs in devices for i, j in probs)
    every_class = sorted({c for probs in devices for p in probs for c in p})
    right = _cached_answer(y, devices, d, fb)
    return [
        (per_problem * s, "that ships each problem its samples again: a device that keeps what it received downloads "
                          "a sample once, however many of its problems use it"),
        (int(counts[every_class].sum()) * s, "that ships each sample once in all; the cache is per device, so two "
                                             "devices that need the same class each download it"),
        (right // s * d * fb, "each sample also carries its 1-byte label"),
        (right // s * (d * 4 + 1) if fb != 4 else None, "use the given bytes per feature value (feature_bytes), not "
                                                        "always 4"),
        (sum(len({c for p in probs for c in p}) for probs in devices) * s, "that counts classes, not the samples "
                                                                           "in them"),
    ]


def check_cached_data_bytes(student_fn) -> Feedback:
    """Exercise 2: ``student_fn(y, devices, n_features, feature_bytes) -> bytes``: every device downloads each
    sample its problems need once (it keeps what it received); ``devices[k]`` lists device k's (i, j) problems."""
    check = "Exercise 2: cached_data_bytes"
    with refuse_package(problem_data_bytes, sample_bytes, pair_sizes, why="count the bytes yourself"):
        for what, y, devices, d, fb in DATA_CASES:
            right = _cached_answer(y, devices, d, fb)
            got, feedback = call_student(check, student_fn, y.copy(), [list(p) for p in devices], d, fb)
            if feedback:
                return feedback
            got, feedback = read_number(check, got, f"cached_data_bytes for {what}", kind="a number of bytes")
            if feedback:
                return feedback
            if got == right:
                continue
            for wrong, why in _cached_mistakes(y, devices, d, fb):
                if wrong is not None and math.isclose(got, wrong):
                    return Feedback(check, False, [f"{what}: you returned {got:,.0f} B; {why}."])
            return Feedback(check, False, [f"{what}: you returned {got:,.0f} B; per device, take the classes its "
                                           "problems use, and count their samples once, times the bytes of a sample"])
    return Feedback(check, True, [f"all {len(DATA_CASES)} cases right. How many times does the training set still "
                                  "travel with 6 devices and 45 problems, and with 3 devices and the paper's 4,465?"])


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
            got, feedback = read_number(check, got, f"time_to_target for {what}", kind="a time (a number)")
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
