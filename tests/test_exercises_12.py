"""Lesson 12's exercise check: the reference passes, the stub gets feedback, common wrong answers get their
own message, the package's implementation is refused, and malformed answers never crash the check."""

from support import exercise_cell

from tinydtl.core.history import rounds_to_reach
from tinydtl.lab.exercises.l12_bilayer_authors import check_extra_rounds, reference_extra_rounds


def stub(*args):
    raise NotImplementedError


def test_extra_rounds_check():
    assert check_extra_rounds(reference_extra_rounds).passed
    assert check_extra_rounds(lambda *a: None if (e := reference_extra_rounds(*a)) is None else float(e)).passed
    assert "not implemented yet" in check_extra_rounds(stub).messages[0]

    def first(acc, start, t, strict=False):
        return next((start + k for k, a in enumerate(acc) if (a > t if strict else a >= t)), None)

    def strict(s, c, t, s0=0, c0=0):
        a, b = first(s, s0, t, True), first(c, c0, t, True)
        return None if a is None or b is None else a - b

    def no_offsets(s, c, t, s0=0, c0=0):
        a, b = first(s, 0, t), first(c, 0, t)
        return None if a is None or b is None else a - b

    def a_number_when_never(s, c, t, s0=0, c0=0):
        return (first(s, s0, t) or len(s)) - (first(c, c0, t) or len(c))

    def absolute(s, c, t, s0=0, c0=0):
        e = reference_extra_rounds(s, c, t, s0, c0)
        return None if e is None else abs(e)

    def halves(s, c, t, s0=0, c0=0):
        e = reference_extra_rounds(s, c, t, s0, c0)
        return None if e is None else e + 0.5

    for wrong, words in ((strict, "strictly above"), (no_offsets, "first entry"), (a_number_when_never, "return None"),
                         (absolute, "negative"), (halves, "whole number")):
        fb = check_extra_rounds(wrong)
        assert not fb.passed and words in fb.messages[0], (wrong.__name__, fb.messages)

    def package(s, c, t, s0=0, c0=0):
        a, b = rounds_to_reach(s[1:], t), rounds_to_reach(c[1:], t)
        return None if a is None or b is None else a - b

    fb = check_extra_rounds(package)
    assert not fb.passed and "tinydtl's own" in fb.messages[0]
    for malformed in (lambda *a: "two", lambda *a: [1], lambda *a: 1 / 0):
        fb = check_extra_rounds(malformed)
        assert not fb.passed and fb.messages


def test_the_lessons_exercise_cell_only_calls_the_check():
    cell = exercise_cell("12_bilayer_authors", "# Exercise 1")
    assert "check_extra_rounds(extra_rounds)" in cell and "raise NotImplementedError" in cell
    assert "assert" not in cell and "reference" not in cell
