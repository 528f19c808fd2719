"""Exercise checks of lesson 02 (ILVQ on the unit sphere).

* :func:`check_soinn_threshold` — ``soinn_threshold(W, A, i) -> float``: the similarity threshold of SOINN (Shen &
  Hasegawa 2006), where ILVQ's threshold comes from, read from the prototypes ``W`` and the edge-age matrix ``A``
  (−1 = no edge) of the lesson's from-scratch code — a variant of ILVQ's class-aware rule, not given in the lesson.
* :func:`check_ring_bytes` — ``ring_round_bytes(prototype_counts, n_features) -> int``: the bytes one round of
  prototype gossip on a ring sends, counted as the package counts them (float32 coordinates and a one-byte label
  per prototype, one unicast per neighbour).

Each check runs its own cases, names the common mistakes, never crashes on malformed answers, and refuses the
package's ILVQ learner (:class:`~tinydtl.learners.ilvq.ILVQ`) and its byte counters
(:func:`~tinydtl.algorithms.ilvq_exchange.prototype_bytes`, :func:`~tinydtl.core.traffic.payload_bytes`).
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydtl.algorithms.ilvq_exchange import prototype_bytes, run_ilvq_exchange
from tinydtl.core.traffic import payload_bytes
from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.learners.ilvq import ILVQ

__all__ = ["RING_CASES", "SOINN_CASES", "check_ring_bytes", "check_soinn_threshold", "soinn_case",
           "soinn_reference"]

#: (description, distances to i's graph neighbours, distances to the prototypes not joined to i, an edge of age 0?)
SOINN_CASES = (
    ("two neighbours, three other prototypes", [0.2, 0.5], [0.3, 0.9, 1.4], False),
    ("no neighbour at all", [], [0.7, 0.4, 1.1], False),
    ("one neighbour, freshly joined (edge age 0)", [0.6], [0.2, 0.9], True),
    ("neighbours farther than every other prototype", [0.8, 1.2, 1.0], [0.1, 0.5], False),
    ("four neighbours, one other prototype", [0.3, 0.35, 0.9, 0.6], [2.0], False),
)

#: (description, prototype counts per device, features) — the check's own cases
RING_CASES = (
    ("3 devices in 3-D", [10, 20, 30], 3),
    ("10 devices in 3-D", [12, 7, 9, 15, 11, 8, 10, 13, 9, 6], 3),
    ("4 devices with 5 features", [4, 4, 6, 2], 5),
    ("5 devices, one with an empty set", [0, 3, 5, 2, 7], 3),
)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and np.isfinite(float(x))


def soinn_case(neighbours, others, fresh=False):
    """The prototypes ``W`` (prototype 0 at the origin, the others on alternate sides of the x axis at the given
    distances), the edge ages ``A`` (prototype 0 joined to its neighbours; ``fresh``: the first edge has age 0) and
    ``i = 0``."""
    dists = list(neighbours) + list(others)
    W = np.zeros((1 + len(dists), 3))
    for j, d in enumerate(dists, start=1):
        W[j, j % 3] = d if j % 2 else -d  # on different axes, so the others are not each other's near points
    A = -np.ones((len(W), len(W)))
    for j in range(1, 1 + len(neighbours)):
        A[0, j] = A[j, 0] = 0 if (fresh and j == 1) else 2 + j
    return W, A, 0


def soinn_reference(neighbours, others) -> float:
    """SOINN's ``T_i``: the distance to the farthest graph neighbour; with no neighbour, to the nearest other prototype."""
    return float(max(neighbours)) if neighbours else float(min(others))


def _mean(xs):
    return float(np.mean(xs)) if xs else None


#: common wrong rules, as functions of (neighbour distances, non-neighbour distances); None where they do not apply
_SOINN_MISTAKES = (
    (lambda nb, other: (max(nb[1:]) if len(nb) > 1 else min(other)) if nb else None,
     "an edge of age 0 is an edge: a neighbour is any j with A[i, j] >= 0, not > 0"),
    (lambda nb, other: min(nb) if nb else None, "that is the nearest neighbour; SOINN's T is the distance to the "
                                                "FARTHEST graph neighbour"),
    (lambda nb, other: _mean(nb), "that is the mean neighbour distance (ILVQ's d_w, without the classes); SOINN's T "
                                  "is the distance to the farthest graph neighbour"),
    (lambda nb, other: None if nb else 0.0, "with no neighbour, leave prototype i itself out: T is the distance to "
                                            "the nearest OTHER prototype"),
    (lambda nb, other: None if nb else max(other), "with no neighbour, T is the distance to the NEAREST other "
                                                   "prototype, not the farthest"),
    (lambda nb, other: min(nb + other), "that is the nearest prototype of any kind; while i has graph neighbours, T "
                                        "is the distance to the farthest of them"),
    (lambda nb, other: max(nb + other), "prototypes not joined to i count only when i has no neighbour at all"),
)


def _close(a, b) -> bool:
    return b is not None and abs(a - b) <= 1e-9


def check_soinn_threshold(fn) -> Feedback:
    """Check ``fn(W, A, i)`` on :data:`SOINN_CASES` (fresh copies each call). A mistake is named when it gives the
    student's answer in every case the student gets wrong."""
    name = "soinn_threshold: SOINN's similarity threshold T_i"
    if not callable(fn):
        return Feedback(name, False, [f"give a function soinn_threshold(W, A, i), got {type(fn).__name__}"])
    answers = []
    with refuse_package(ILVQ.fit, ILVQ.partial_fit, ILVQ.learn_passes, why="read the graph yourself"):
        for what, nb, other, fresh in SOINN_CASES:
            W, A, i = soinn_case(nb, other, fresh)
            got, feedback = call_student(name, fn, W, A, i)
            if feedback is not None:
                if not nb:
                    feedback.messages.append(f"{what}: a prototype may have no edge at all")
                return feedback
            if not _is_number(got):
                return Feedback(name, False, [f"{what}: return T as one finite number, got {got!r}"])
            answers.append(float(got))
    wrong = [(case, got) for case, got in zip(SOINN_CASES, answers) if not _close(got, soinn_reference(*case[1:3]))]
    if not wrong:
        return Feedback(name, True, [f"your threshold follows SOINN's rule in all {len(SOINN_CASES)} cases"])
    for rule, message in _SOINN_MISTAKES:
        if all(_close(got, rule(list(nb), list(other))) for (_, nb, other, _), got in wrong):
            return Feedback(name, False, [f"{wrong[0][0][0]}: {message}"])
    (what, _, _, _), got = wrong[0]
    return Feedback(name, False, [f"{what}: T = {got:g} is not SOINN's value: find i's neighbours in A first, then "
                                  "take the distance to the farthest of them (no neighbour: the nearest other prototype)"])


def _ring_truth(counts, d):
    """Bytes of one ring round as the package counts them: each set to both neighbours, float32 coordinates and a
    one-byte label per prototype."""
    return sum(2 * prototype_bytes(int(c), d) for c in counts)


def _ring_mistakes(counts, d):
    n = int(sum(counts))
    return [
        (2 * n * d * 4, "the labels are missing: a prototype is absorbed as a labelled point, so its one-byte label "
                        "goes with its coordinates"),
        (n * (d * 4 + 1), "each device sends its set to BOTH ring neighbours, one unicast each (a set goes out twice)"),
        (2 * n * (d * 4 + 4), "a label is one byte (uint8), not four"),
        (2 * n * (d + 1), "a float32 coordinate is 4 bytes, not 1"),
        (2 * n * (d * 8 + 1), "the coordinates go as float32 (4 bytes each), not float64"),
        (2 * n, "that counts prototypes, not bytes: each has n_features float32 coordinates and a label"),
        (2 * n * 5, "each prototype has n_features coordinates of 4 bytes each, plus its label"),
    ]


def check_ring_bytes(fn) -> Feedback:
    """Check ``fn(prototype_counts, n_features)`` on :data:`RING_CASES` (the package's byte rule is refused while it runs)."""
    name = "ring_round_bytes: the bytes of one gossip round on a ring"
    if not callable(fn):
        return Feedback(name, False, [f"give a function ring_round_bytes(prototype_counts, n_features), got "
                                      f"{type(fn).__name__}"])
    with refuse_package(prototype_bytes, payload_bytes, run_ilvq_exchange, why="count the bytes yourself"):
        answers = []
        for what, counts, d in RING_CASES:
            got, feedback = call_student(name, fn, list(counts), d)
            if feedback is not None:
                return feedback
            if not _is_number(got) or not float(got).is_integer():
                return Feedback(name, False, [f"{what}: return a whole number of bytes, got {got!r}"])
            answers.append(int(got))
    for (what, counts, d), got in zip(RING_CASES, answers):
        true = _ring_truth(counts, d)
        if got == true:
            continue
        for wrong, message in _ring_mistakes(counts, d):
            if got == wrong != true:
                return Feedback(name, False, [f"{what}: {message}"])
        return Feedback(name, False, [f"{what}: {got:,} B is not what the ring sends: every device sends its whole set "
                                      "to each of its 2 neighbours, per prototype n_features float32 and a label byte"])
    return Feedback(name, True, [f"right in all {len(RING_CASES)} cases: 2 neighbours × prototypes × (features × 4 B + "
                                 "1 B), summed over the devices"])
