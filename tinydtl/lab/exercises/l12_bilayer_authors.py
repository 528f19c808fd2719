"""Lesson 12's exercise check: extra rounds from two accuracy lists, the authors' own among the cases.

The check runs the student's function on its own cases, recognises the common wrong answers and says what to
fix, never crashes on malformed output, and refuses the package's own implementation.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core import history
from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.papers.bilayer import experiment, results

__all__ = ["check_extra_rounds", "reference_extra_rounds"]


# ----------------------------------------------------------------------------- exercise 1
def reference_extra_rounds(swarm_acc, cfl_acc, target, swarm_first=0, cfl_first=0):
    """First round with accuracy >= target in each list (entry k is round ``first + k``); their difference,
    or None when either list never reaches the target."""
    def first(acc, start):
        hit = [k for k, a in enumerate(acc) if a >= target]
        return start + hit[0] if hit else None

    a, b = first(swarm_acc, swarm_first), first(cfl_acc, cfl_first)
    return None if a is None or b is None else a - b


def _extra_cases():
    thirty = results.AUTHORS_LISTS["30 devices"]
    return [
        ("the swarm two rounds behind", ([0.1, 0.5, 0.8, 0.9], [0.1, 0.85, 0.9], 0.85, 0, 0), 2),
        ("a list that touches the target exactly", ([0.1, 0.7, 0.85, 0.9], [0.1, 0.85], 0.85, 0, 0), 1),
        ("a swarm that never reaches the target", ([0.1, 0.5, 0.7, 0.8], [0.1, 0.9], 0.85, 0, 0), None),
        ("a CFL run that never reaches the target", ([0.1, 0.9], [0.1, 0.6, 0.7], 0.85, 0, 0), None),
        ("a swarm faster than CFL", ([0.1, 0.9, 0.9], [0.1, 0.6, 0.88], 0.85, 0, 0), -1),
        ("a swarm whose accuracy dips after reaching the target", ([0.1, 0.86, 0.7, 0.9], [0.1, 0.5, 0.9], 0.85, 0, 0), -1),
        ("the authors' 30-device lists (their DFL list starts at round 1)",
         (thirty["DFL"], thirty["CFL"], 0.80, thirty["DFL first_round"], 0), 3),
    ]


def _extra_wrong(swarm, cfl, target, s0, c0):
    """The common wrong answers on one case, by name."""
    def first(acc, start, strict=False, last=False):
        hit = [k for k, a in enumerate(acc) if (a > target if strict else a >= target)]
        if not hit:
            return None
        return start + (hit[-1] if last else hit[0])

    def diff(a, b):
        return None if a is None or b is None else a - b

    return {
        "counts a round only when the accuracy is strictly above the target (reaching it means >=)":
            diff(first(swarm, s0, strict=True), first(cfl, c0, strict=True)),
        "ignores the round of each list's first entry (the authors' DFL list starts at round 1, their CFL "
        "list at a placeholder for round 0)": diff(first(swarm, 0), first(cfl, 0)),
        "takes the last crossing, not the first round at or above the target": diff(first(swarm, s0, last=True),
                                                                                    first(cfl, c0, last=True)),
    }


def check_extra_rounds(fn) -> Feedback:
    """Exercise 1: ``fn(swarm_acc, cfl_acc, target, swarm_first, cfl_first)`` -> extra rounds or None."""
    name = "extra rounds to a fixed target"
    with refuse_package(history.rounds_to_reach, history.History.rounds_to_reach, results.first_round,
                        results.authors_lists_table, experiment.extra_rounds,
                        why="find the first round at or above the target yourself"):
        for case, args, want in _extra_cases():
            got, fb = call_student(name, fn, *[list(a) if isinstance(a, list) else a for a in args])
            if fb is not None:
                return fb
            if want is None:
                if got is None:
                    continue
                return Feedback(name, False, [f"{case}: return None — a target never reached has no round count "
                                              f"(any number, like {got!r}, could pass a comparison by accident)"])
            if got is None:
                return Feedback(name, False, [f"{case}: both lists reach the target, expected a number, got None"])
            whole = isinstance(got, (int, np.integer)) or (isinstance(got, (float, np.floating)) and float(got).is_integer())
            if isinstance(got, (bool, np.bool_)) or not whole:
                return Feedback(name, False, [f"{case}: return a whole number of rounds, got {type(got).__name__} {got!r}"])
            got = int(got)
            if got == want:
                continue
            if got == abs(want) and want < 0:
                return Feedback(name, False, [f"{case}: the swarm was faster, so its extra rounds are negative "
                                              f"({want}); do not take the absolute value"])
            for wrong, value in _extra_wrong(*args).items():
                if value is not None and got == value:
                    return Feedback(name, False, [f"{case}: your function {wrong}."])
            return Feedback(name, False, [f"{case}: expected {want} extra rounds, got {got}"])
    return Feedback(name, True, [f"all {len(_extra_cases())} cases right, the authors' own lists included"])
