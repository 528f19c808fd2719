"""Lesson 01's exercise checks: the bytes of a quantised update sent in chunks, and the bytes of split learning
with two layers on the device side over several epochs — variants of what the lesson counts, not given in it.

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

__all__ = ["check_chunked_bytes", "check_split_bytes", "chunked_bytes", "deep_split_bytes"]

QUANT = "Exercise 1: the bytes of a quantised update sent in chunks"
SPLIT = "Exercise 2: the bytes of split learning with two layers on the device"


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


def chunked_bytes(n: int, bits: int, chunk: int, range_bytes: int = 2) -> int:
    """The reference: ``n`` entries cut into chunks of ``chunk`` (the last may be shorter), each chunk with its own
    ``lo`` and ``hi`` (``range_bytes`` each: float16) and its level indices packed to whole bytes on their own."""
    full, rest = divmod(n, chunk)
    sizes = [chunk] * full + ([rest] if rest else [])
    return sum(math.ceil(m * bits / 8) + 2 * range_bytes for m in sizes)


def check_chunked_bytes(fn) -> Feedback:
    """``fn(n, bits, chunk)``: the bytes an update of ``n`` entries puts on the wire when it is quantised in chunks
    of ``chunk`` entries, each chunk with its own range sent as two float16 and its indices packed on their own."""
    cases = [(10, 5, 4), (7850, 4, 1000), (7850, 8, 7850), (1, 1, 3), (100, 3, 10), (33, 2, 8)]
    with refuse_package(quantize, Compressor.__call__, why="count the bytes yourself from the quantiser's definition"):
        for n, bits, chunk in cases:
            label = f"n = {n:,} entries at {bits} bit(s) in chunks of {chunk:,}"
            got, feedback = call_student(QUANT, fn, n, bits, chunk)
            if feedback:
                return feedback
            value, feedback = _as_count(QUANT, got, label)
            if feedback:
                return feedback
            want = chunked_bytes(n, bits, chunk)
            if value == want:
                continue
            chunks = math.ceil(n / chunk)
            message = _first_mistake(value, [
                (math.ceil(n * bits / 8) + 8, "that is section 5a's count (one range, two float32): here every chunk "
                                              "has its own range, sent as two float16"),
                (math.ceil(n * bits / 8) + 4, "one range for the whole update: every chunk has its own lo and hi"),
                (chunked_bytes(n, bits, chunk, range_bytes=4), "lo and hi are float16 here: 2 bytes each, 4 per chunk"),
                (math.ceil(n * bits / 8) + 4 * chunks, "each chunk's indices are packed to whole bytes on their own: "
                                                       "round up per chunk, not once for the whole update"),
                ((n // chunk) * (math.ceil(chunk * bits / 8) + 4), "the last, shorter chunk is sent too"),
                (chunks * (math.ceil(chunk * bits / 8) + 4), "the last chunk holds only what is left of the update: "
                                                             "count its own entries, not a full chunk's"),
                (n * bits + 4 * chunks, "that counts bits as bytes: b bits per entry are b/8 bytes"),
                (n * math.ceil(bits / 8) + 4 * chunks, "the indices are packed: a chunk's m·b bits rounded up once to "
                                                       "whole bytes, not one whole byte per entry"),
                (payload_bytes(n), "that is the float32 update (4 bytes per entry), not the quantised one"),
            ]) or "not the bytes on the wire: per chunk, its entries' bits rounded up to whole bytes, plus its range"
            return Feedback(QUANT, False, [f"{label}: {value:g} B — {message}"])
    return Feedback(QUANT, True, [f"every chunk counted on all {len(cases)} cases; the softmax learner's 7,850 entries at "
                                  f"4 bits in chunks of 1,000 take {chunked_bytes(7850, 4, 1000):,} B against float32's "
                                  f"{payload_bytes(7850):,} B"])


def deep_split_bytes(n, features, h1, h2, devices, epochs, *, wrap=True, label_bytes=1, bias=True, one_way=False,
                     cut=None, both_layers=True) -> int:
    """The reference: the device side is ``features → h1 → h2`` (both layers with a bias), the server ``h2 → C``;
    per epoch activations (``n·h2`` float32) and labels up, their gradients down; the device layers handed over
    ``devices - 1`` times in the first epoch and ``devices`` times in every later one (none with one device).
    The keywords build the common mistakes (``cut``: the activations' width; ``both_layers=False``: layer 1 only)."""
    traffic = (1 if one_way else 2) * payload_bytes(n * (h2 if cut is None else cut)) + label_bytes * n
    layers = features * h1 + (h1 if bias else 0) + ((h1 * h2 + (h2 if bias else 0)) if both_layers else 0)
    handovers = 0 if devices == 1 else (epochs * devices - 1 if wrap else epochs * (devices - 1))
    return epochs * traffic + handovers * payload_bytes(layers)


def check_split_bytes(fn) -> Feedback:
    """``fn(n_samples, n_features, hidden1, hidden2, n_devices, epochs)``: the bytes ``epochs`` epochs of split
    learning move over every link when each device holds the first two layers ``F → h1 → h2``."""
    cases = [(1000, 50, 16, 8, 4, 3), (6000, 784, 32, 16, 10, 2), (100, 20, 8, 4, 1, 2), (5, 7, 3, 2, 2, 1)]
    with refuse_package(split_bytes_per_epoch, run_split_learning, why="count the bytes yourself, message by message"):
        for n, f, h1, h2, k, e in cases:
            label = f"n = {n:,}, F = {f}, h1 = {h1}, h2 = {h2}, {k} device(s), {e} epoch(s)"
            got, feedback = call_student(SPLIT, fn, n, f, h1, h2, k, e)
            if feedback:
                return feedback
            value, feedback = _as_count(SPLIT, got, label)
            if feedback:
                return feedback
            want = deep_split_bytes(n, f, h1, h2, k, e)
            if value == want:
                continue
            args = (n, f, h1, h2, k, e)
            message = _first_mistake(value, [
                (deep_split_bytes(*args, wrap=False), "from the second epoch on the first device must first receive the "
                                                      "last device's layers: n_devices hand-overs per epoch after the first"),
                (deep_split_bytes(*args) + payload_bytes(f * h1 + h1 * h2 + h1 + h2),
                 "the first device starts the first epoch from its own initial layers: n_devices - 1 hand-overs then"),
                (deep_split_bytes(*args, cut=h1), "the cut is after the second layer: the activations sent have h2 "
                                                  "entries per sample"),
                (deep_split_bytes(*args, both_layers=False), "the device holds two layers: both are handed over "
                                                             "(F·h1 + h1 + h1·h2 + h2 float32)"),
                (deep_split_bytes(*args, label_bytes=0), "the labels are missing: the server computes the loss, so each "
                                                         "device sends one label byte per sample"),
                (deep_split_bytes(*args, label_bytes=4), "a label is sent as one byte (uint8), not as a float32"),
                (deep_split_bytes(*args, one_way=True), "only one direction: the gradients of the activations come "
                                                        "back, as many float32 as went up"),
                (deep_split_bytes(*args, bias=False), "each layer has a bias too: h1 + h2 more float32 per hand-over"),
                (deep_split_bytes(n, f, h1, h2, k, 1), "count every epoch: the function is asked for `epochs` of them"),
            ]) or ("not the bytes: per epoch 2·n·h2 float32 and n label bytes, plus every hand-over of the device's "
                   "two layers")
            return Feedback(SPLIT, False, [f"{label}: {value:g} B — {message}"])
    return Feedback(SPLIT, True, [f"every byte of every epoch on all {len(cases)} cases; 6,000 images, F = 784, h1 = 32, "
                                  f"h2 = 16, 10 devices and 2 epochs move {deep_split_bytes(6000, 784, 32, 16, 10, 2):,} B"])
