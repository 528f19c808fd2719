"""What the coursework's autograded test cells share: a failed check that shows only its message.

The coursework (``coursework/source``, graded with nbgrader) keeps every check in **hidden tests**:
nbgrader strips them from the student's copy and puts them back when it grades. A test cell fails
when it raises, and IPython would print the traceback with the source lines around the failing line —
in a hidden test, that is the check's own code (its cases, the expected answer) in the student's
feedback. :class:`CheckFailed` is shown as its message alone (IPython's ``_render_traceback_`` hook),
so the feedback says what is wrong and how to fix it, and nothing else.

Nothing here knows an answer: the checks live in the hidden tests, and the machinery they use
(:class:`~tinydtl.lab.exercises.Feedback`, :func:`~tinydtl.lab.exercises.call_student`,
:func:`~tinydtl.lab.exercises.measured_nbytes`, :func:`~tinydtl.lab.exercises.refuse_package`) only
runs the student's code, measures and reports.
"""

from __future__ import annotations

import sys

from tinydtl.lab.exercises import Feedback

__all__ = ["CheckFailed", "grade", "require"]


class CheckFailed(AssertionError):
    """A failed check; in a notebook its "traceback" is its message, without a line of the test's code."""

    def _render_traceback_(self):
        return [f"\x1b[0;31mCheck failed\x1b[0m {line}" if k == 0 else line
                for k, line in enumerate(str(self).splitlines() or [""])]


def require(feedback: Feedback) -> Feedback:
    """Print a passed check's feedback; raise :class:`CheckFailed` with the messages of a failed one."""
    if not isinstance(feedback, Feedback):
        raise TypeError(f"feedback must be a tinydtl.lab.exercises.Feedback, got {type(feedback).__name__}")
    if not feedback.passed:
        raise CheckFailed(str(feedback))
    print(feedback)
    return feedback


def grade(check, *names: str, namespace: dict | None = None) -> Feedback:
    """Run ``check`` on the student's objects called ``names`` and :func:`require` its verdict.

    The objects are looked up in ``namespace`` (default: the calling cell's globals, the notebook's
    namespace), so a name the student removed or never defined is a failed check that says so, not a
    ``NameError`` whose traceback would show the test's line. An exception inside the check itself
    (the student's code is run through :func:`~tinydtl.lab.exercises.call_student`, which turns its
    errors into feedback) becomes a failed check too: a test cell shows a message, never its source.
    """
    ns = sys._getframe(1).f_globals if namespace is None else namespace
    missing = [n for n in names if n not in ns]
    if missing:
        raise CheckFailed(f"✘ `{missing[0]}` is not defined: run the cell that defines it (and keep its name)")
    try:
        feedback = check(*(ns[n] for n in names))
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the cell shows a message, not its code
        raise CheckFailed(f"✘ your work could not be checked: {type(exc).__name__}: {exc}") from None
    if not isinstance(feedback, Feedback):
        raise CheckFailed(f"✘ your work could not be checked: the check returned {type(feedback).__name__}, "
                          "which must be a tinydtl.lab.exercises.Feedback")
    return require(feedback)
