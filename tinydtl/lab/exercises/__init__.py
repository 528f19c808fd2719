"""Exercise checks: what the student's cell calls, and the machinery every check shares.

A check runs the student's function on **its own cases** (never only the one the lesson shows),
**measures** rather than trusts (memory from the arrays an object really holds, :func:`measured_nbytes`),
returns :class:`Feedback` that says what is wrong and how to fix it (a specific message for each common
wrong answer), and never crashes (a missing implementation or an exception becomes feedback). An
exercise solved by calling the package's own implementation is refused: :func:`refuse_package` makes
those functions raise while the student's code runs. One module per lesson holds its checks
(``tinydtl.lab.exercises.l04_gossip`` ...).
"""

from __future__ import annotations

import contextlib
import math
import traceback
from dataclasses import dataclass, field

import numpy as np

__all__ = ["REFUSING", "Feedback", "PackageRefused", "call_student", "measured_nbytes", "read_attribute",
           "read_number", "refuse_package"]


class PackageRefused(RuntimeError):
    """The student's code called the package's own implementation of what the exercise asks for."""


@dataclass
class Feedback:
    check: str
    passed: bool
    messages: list[str] = field(default_factory=list)

    def __str__(self):
        head = f"{'✔' if self.passed else '✘'} {self.check}"
        return "\n".join([head] + [f"   - {m}" for m in self.messages])

    def _repr_pretty_(self, printer, cycle):  # IPython's plain-text display (papermill, a terminal)
        printer.text(str(self))

    def _repr_markdown_(self):
        return f"**{'✔' if self.passed else '✘'} {self.check}**\n\n" + "\n".join(f"- {m}" for m in self.messages)


def call_student(check, fn, *args):
    """Run student code; turn a missing implementation or a crash into feedback."""
    try:
        return fn(*args), None
    except PackageRefused as exc:
        return None, Feedback(check, False, [str(exc)])
    except NotImplementedError:
        return None, Feedback(check, False, ["not implemented yet: replace `raise NotImplementedError` with your code"])
    except Exception as exc:  # noqa: BLE001 - student code may raise anything
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return None, Feedback(check, False, [f"your code raised {type(exc).__name__}: {exc} (line {where.lineno}: `{where.line}`)"])


def read_attribute(check, obj, name):
    """Read ``obj.name`` (a property may run student code); a failure becomes feedback."""
    return call_student(check, getattr, obj, name)


def read_number(check, value, what, kind="a number"):
    """A student's answer as a finite float, or feedback saying what was wrong with it: ``(float, None)``
    or ``(None, Feedback)``. Booleans, strings, arrays, NaN and infinities are refused by name."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None, Feedback(check, False, [f"{what} must be {kind}, got {type(value).__name__} {value!r}"])
    if not math.isfinite(float(value)):
        return None, Feedback(check, False, [f"{what} must be finite, got {value!r}"])
    return float(value), None


def measured_nbytes(obj, _seen=None, _depth=0) -> int:
    """Bytes of every distinct numpy array reachable from ``obj`` (attributes, lists, tuples, dicts, sets).

    What an object really holds, whatever it reports about itself: a list of 20 stored models counts
    20 models. Views count their base array once.
    """
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > 20:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base is not obj:
            return measured_nbytes(base, seen, _depth + 1)
        return int(obj.nbytes)
    if isinstance(obj, (str, bytes, int, float, complex, bool, type(None), np.generic)):
        return 0
    if isinstance(obj, dict):
        return sum(measured_nbytes(v, seen, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(measured_nbytes(v, seen, _depth + 1) for v in obj)
    total = 0
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        total += measured_nbytes(vars(obj), seen, _depth + 1)
    for slot in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, slot):
            total += measured_nbytes(getattr(obj, slot), seen, _depth + 1)
    return total


#: what :func:`refuse_package` currently refuses and why (read by the stand-in code)
REFUSING: dict = {"names": (), "why": ""}


def _owner(fn):
    """The module or class that holds ``fn`` under its name (from its ``__qualname__``)."""
    import importlib

    owner = importlib.import_module(fn.__module__)
    for part in fn.__qualname__.split(".")[:-1]:
        owner = getattr(owner, part)
    return owner


def _refused_stand_in(*args, **kwargs):
    """Runs instead of a refused package function (no closure: it replaces the function's code)."""
    import tinydtl.lab.exercises as ex

    raise ex.PackageRefused(f"your code calls tinydtl's own {' / '.join(ex.REFUSING['names'])}: "
                            f"{ex.REFUSING['why']}")


@contextlib.contextmanager
def refuse_package(*functions, why: str = "the exercise asks for your own implementation"):
    """While the block runs, calling any of ``functions`` (the package's solutions) raises
    :class:`PackageRefused`, however the student imported them (their code object is swapped)."""
    saved, replaced = [], []
    REFUSING.update(names=tuple(f"{fn.__module__}.{fn.__qualname__}" for fn in functions), why=why)
    try:
        for fn in functions:
            if fn.__code__.co_freevars:  # a closure (e.g. a method using super()): replace it where it lives
                owner = _owner(fn)
                replaced.append((owner, fn.__name__, owner.__dict__[fn.__name__]))
                setattr(owner, fn.__name__, _refused_stand_in)
                continue
            saved.append((fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = _refused_stand_in.__code__, None, None
        yield
    finally:
        for fn, code, defaults, kwdefaults in saved:
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
        for owner, name, original in replaced:
            setattr(owner, name, original)
        REFUSING.update(names=(), why="")
