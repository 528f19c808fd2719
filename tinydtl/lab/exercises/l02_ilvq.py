"""Exercise checks of lesson 02 (ILVQ on the unit sphere).

* :func:`check_threshold` — ``threshold_from_distances(same, other) -> float``: ILVQ's adaptive threshold ``T_i``
  of a prototype from the distances to its same-class and other-class graph neighbours (Xu, Shen & Zhao 2012).
* :func:`check_ring_bytes` — ``ring_round_bytes(prototype_counts, n_features) -> int``: the bytes one round of
  prototype gossip on a ring sends, counted as the package counts them (float32 coordinates, one unicast per
  neighbour).

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

__all__ = ["RING_CASES", "THRESHOLD_CASES", "check_ring_bytes", "check_threshold", "reference_threshold"]

#: (description, same-class distances, other-class distances) — the check's own cases
THRESHOLD_CASES = (
    ("two of each class (the lesson's example)", [0.2, 0.4], [0.1, 0.5]),
    ("only same-class neighbours", [0.2, 0.4], []),
    ("only other-class neighbours", [], [0.3, 0.7]),
    ("no other-class neighbour beyond d_w", [0.2, 0.4], [0.1, 0.25]),
    ("an other-class neighbour exactly at d_w", [0.25, 0.75], [0.5, 1.0]),
    ("one same-class neighbour, three others", [1.0], [0.5, 2.0, 1.5]),
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


def reference_threshold(same, other) -> float:
    """``T``: the nearest other-class distance strictly beyond the mean same-class distance ``d_w`` (else ``d_w``);
    with no same-class neighbour, the nearest other-class distance."""
    if not same:
        return float(min(other))
    d_w = float(np.mean(same))
    beyond = [d for d in other if d > d_w]
    return float(min(beyond)) if beyond else d_w


def _mean(xs):
    return float(np.mean(xs)) if xs else None


#: common wrong rules: (what it returns for one case, or None where it does not apply; the message)
_THRESHOLD_MISTAKES = (
    (lambda same, other: (min([d for d in other if d >= _mean(same)], default=_mean(same)) if same else None),
     "an other-class neighbour at exactly d_w does not count: it must lie strictly farther than d_w"),
    (lambda same, other: min(other) if other else None,
     "that is the nearest other-class neighbour; T is the nearest other-class neighbour farther than d_w (the mean "
     "same-class distance)"),
    (lambda same, other: _mean(same), "that is d_w, the mean same-class distance; it is T only when no other-class "
                                      "neighbour lies beyond it"),
    (lambda same, other: max(same) if same else None, "that is the farthest same-class neighbour; the rule uses the "
                                                      "same-class mean d_w"),
    (lambda same, other: min(list(same) + list(other)), "that is the nearest neighbour of any class; T looks at the "
                                                        "classes"),
)


def _close(a, b) -> bool:
    return b is not None and abs(a - b) <= 1e-12


def check_threshold(fn) -> Feedback:
    """Check ``fn(same, other)`` (two lists of distances, at most one of them empty) on :data:`THRESHOLD_CASES`.
    A mistake is named when it gives the student's answer in every case the student gets wrong."""
    name = "threshold_from_distances: ILVQ's threshold T_i"
    if not callable(fn):
        return Feedback(name, False, [f"give a function threshold_from_distances(same, other), got {type(fn).__name__}"])
    answers = []
    with refuse_package(ILVQ.fit, ILVQ.partial_fit, ILVQ.learn_passes, why="apply the rule to the distances yourself"):
        for what, same, other in THRESHOLD_CASES:
            got, feedback = call_student(name, fn, list(same), list(other))
            if feedback is not None:
                if not same or not other:
                    feedback.messages.append(f"{what}: a prototype may have no same-class or no other-class neighbour")
                return feedback
            if not _is_number(got):
                return Feedback(name, False, [f"{what}: return T as one finite number, got {got!r}"])
            answers.append(float(got))
    wrong = [(case, got) for case, got in zip(THRESHOLD_CASES, answers) if not _close(got, reference_threshold(*case[1:]))]
    if not wrong:
        return Feedback(name, True, [f"your threshold follows the rule in all {len(THRESHOLD_CASES)} cases"])
    for rule, message in _THRESHOLD_MISTAKES:
        if all(_close(got, rule(same, other)) for (_, same, other), got in wrong):
            return Feedback(name, False, [f"{wrong[0][0][0]}: {message}"])
    (what, _, _), got = wrong[0]
    return Feedback(name, False, [f"{what}: T = {got:g} is not the rule's value: compute d_w first, then take the "
                                  "nearest other-class neighbour farther than d_w"])


def _ring_truth(counts, d):
    """Bytes of one ring round as the package counts them: each set to both neighbours, float32 coordinates."""
    return sum(2 * prototype_bytes(int(c), d) for c in counts)


def _ring_mistakes(counts, d):
    n = int(sum(counts))
    return [
        (n * d * 4, "each device sends its set to BOTH ring neighbours, one unicast each (a set goes out twice)"),
        (2 * n * d, "a float32 coordinate is 4 bytes, not 1"),
        (2 * n * d * 8, "the sets go as float32 (4 bytes a coordinate), not float64"),
        (2 * n, "that counts prototypes, not bytes: each has n_features float32 coordinates of 4 bytes"),
        (2 * n * 4, "each prototype has n_features coordinates, 4 bytes each"),
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
                                      "to each of its 2 neighbours, n_prototypes × n_features float32 coordinates"])
    return Feedback(name, True, [f"right in all {len(RING_CASES)} cases: 2 neighbours × prototypes × features × 4 B, "
                                 "summed over the devices"])
