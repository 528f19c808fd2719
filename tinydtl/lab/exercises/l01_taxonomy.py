"""Lesson 01's exercise checks: the bytes of a quantised update, and the bytes of one epoch of split learning.

Each check runs the student's function on its own cases, names the common mistakes, never crashes on a
malformed answer, and refuses the package's own byte counts as a solution.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydtl.algorithms.split import run_split_learning, split_bytes_per_epoch
from tinydtl.core.compression import Compressor, quantize
from tinydtl.core.traffic import payload_bytes
from tinydtl.lab.exercises import Feedback, call_student, refuse_package

__all__ = ["check_quantized_bytes", "check_split_bytes"]

QUANT = "Exercise 1: the bytes of a quantised update"
SPLIT = "Exercise 2: the bytes of one epoch of split learning"


def _as_count(check, got, label):
    """The answer as a number of bytes, or feedback saying why it is not one."""
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (numbers.Real, np.number)):
        return None, Feedback(check, False, [f"{label}: return a number of bytes (an int), got {type(got).__name__} {got!r}"])
    value = float(got)
    if not math.isfinite(value):
        return None, Feedback(check, False, [f"{label}: return a finite number of bytes, got {got!r}"])
    return value, None


def _first_mistake(value, mistakes):
    return next((message for wrong, message in mistakes if value == wrong), None)


def check_quantized_bytes(fn) -> Feedback:
    """``fn(n, bits)``: the bytes one update of ``n`` entries quantised to ``bits`` bits puts on the wire —
    ``ceil(n·bits / 8)`` bytes of level indices plus ``lo`` and ``hi`` (two float32)."""
    cases = [(10, 3), (7, 5), (7850, 4), (7850, 8), (1, 1), (1000, 2)]  # the first ones tell the mistakes apart
    with refuse_package(quantize, Compressor.__call__, why="count the bytes yourself from the quantiser's definition"):
        for n, bits in cases:
            label = f"n = {n:,} entries at {bits} bit(s)"
            got, feedback = call_student(QUANT, fn, n, bits)
            if feedback:
                return feedback
            value, feedback = _as_count(QUANT, got, label)
            if feedback:
                return feedback
            want = math.ceil(n * bits / 8) + 2 * payload_bytes(1)
            if value == want:
                continue
            message = _first_mistake(value, [
                (math.ceil(n * bits / 8), "that counts only the level indices: the receiver also needs lo and hi "
                                          "(two float32, 8 bytes) to turn them back into numbers"),
                (n * bits / 8, "that counts only the level indices, and not in whole bytes: add lo and hi (8 bytes) "
                               "and round the bits up to whole bytes"),
                (n * bits / 8 + 8, "round up: a byte that holds only part of the last index still goes on the wire"),
                (n * bits // 8 + 8, "round up, not down: the last, partly filled byte is sent too"),
                (n * bits + 8, "that counts bits as bytes: b bits per entry are b/8 bytes"),
                (n * bits, "that counts bits as bytes (b bits per entry are b/8 bytes), and leaves out lo and hi"),
                (payload_bytes(n), "that is the float32 update (4 bytes per entry), not the quantised one"),
                (math.ceil(n * bits / 8) + 16, "lo and hi are float32: 4 bytes each, 8 in all"),
                (n * math.ceil(bits / 8) + 8, "the indices are packed: n·b bits in all, rounded up once to whole bytes, "
                                              "not one whole byte per entry"),
            ]) or "not the bytes on the wire: n entries of b bits each, rounded up to whole bytes, plus lo and hi"
            return Feedback(QUANT, False, [f"{label}: {value:g} B — {message}"])
    return Feedback(QUANT, True, [f"⌈n·b/8⌉ + 8 bytes on all {len(cases)} cases; for the softmax learner at 4 bits that "
                                  f"is {math.ceil(7850 * 4 / 8) + 8:,} B against float32's {payload_bytes(7850):,} B"])


def check_split_bytes(fn) -> Feedback:
    """``fn(n_samples, hidden, n_devices, n_features)``: the bytes one epoch of split learning moves over every
    link — activations up and their gradients down (float32), one label byte per sample, and the
    ``n_devices - 1`` hand-overs of layer 1 (``n_features·hidden + hidden`` float32)."""
    cases = [(6000, 32, 10, 784), (100, 8, 1, 20), (1000, 16, 4, 50), (5, 3, 2, 7)]
    with refuse_package(split_bytes_per_epoch, run_split_learning, why="count the bytes yourself, message by message"):
        for n, h, k, f in cases:
            label = f"n = {n:,} samples, h = {h}, {k} device(s), {f} features"
            got, feedback = call_student(SPLIT, fn, n, h, k, f)
            if feedback:
                return feedback
            value, feedback = _as_count(SPLIT, got, label)
            if feedback:
                return feedback
            act, labels, layer1 = payload_bytes(n * h), n, payload_bytes(f * h + h)
            want = 2 * act + labels + (k - 1) * layer1
            if value == want:
                continue
            message = _first_mistake(value, [
                (2 * act + (k - 1) * layer1, "the labels are missing: the server computes the loss, so each device "
                                             "sends one label byte per sample (and the server learns every label)"),
                (2 * act + 4 * labels + (k - 1) * layer1, "a label is sent as one byte (uint8), not as a float32"),
                (2 * act + labels, "the hand-overs are missing: the devices train in turn, and each passes layer 1 "
                                   "to the next (n_devices - 1 hand-overs of F·h + h float32)"),
                (2 * act + labels + k * layer1, "n_devices - 1 hand-overs, not n_devices: the first device starts "
                                                "from its own initial layer 1"),
                (act + labels + (k - 1) * layer1, "only one direction: the gradients of the activations come back, "
                                                  "as many float32 as went up"),
                (2 * act + labels + (k - 1) * payload_bytes(f * h), "layer 1 has a bias too: F·h + h float32 per hand-over"),
                (2 * n * h + labels + (k - 1) * (f * h + h), "count bytes, not numbers: a float32 is 4 bytes"),
            ]) or "not the bytes of one epoch: 2·n·h float32 + n label bytes + (n_devices - 1)·(F·h + h) float32"
            return Feedback(SPLIT, False, [f"{label}: {value:g} B — {message}"])
    return Feedback(SPLIT, True, [f"every byte of an epoch on all {len(cases)} cases; 6,000 images, h = 32 and 10 "
                                  f"devices move {split_bytes_per_epoch(6000, 32, n_devices=10):,} B per epoch"])
