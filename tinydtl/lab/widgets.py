"""Live controls in a notebook, and a quiet fallback when the notebook runs headless.

``tinydtl reproduce`` and the tests set ``TINYDTL_HEADLESS=1`` for the kernels they start. There,
:func:`interact` calls the function once with its default arguments, so the cell still runs and draws
its figure, without ipywidgets' comm and Output-widget traffic (which now and then lost an execute
reply under papermill and left the run waiting on an idle kernel). In a live notebook it is
``ipywidgets.interact``.

Tests drive a lesson's widget through its whole range: inside :func:`recording`, :func:`interact`
records ``(fn, controls)`` instead of calling anything, and :func:`trial_values` lists the values
worth trying for one control (a slider's min, default and max; every option of a choice).
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
import os

__all__ = ["interact", "headless", "recording", "trial_values"]

_RECORDED: list | None = None  # set by recording(): interact() appends (fn, controls) here


def headless() -> bool:
    return bool(os.environ.get("TINYDTL_HEADLESS"))


def _default(control):
    if hasattr(control, "value"):
        return control.value
    if isinstance(control, (list, tuple)) and control:
        return control[0]
    return control


def interact(fn, **controls):
    """``ipywidgets.interact(fn, **controls)``; headless: ``fn(**defaults)`` (the function's own defaults first).

    Inside :func:`recording` nothing is called: ``(fn, controls)`` is recorded for a test to drive."""
    if _RECORDED is not None:
        _RECORDED.append((fn, controls))
        return None
    if headless():
        params = inspect.signature(fn).parameters
        kwargs = {}
        for name, control in controls.items():
            default = params[name].default if name in params else inspect.Parameter.empty
            kwargs[name] = default if default is not inspect.Parameter.empty else _default(control)
        return fn(**kwargs)
    import ipywidgets

    return ipywidgets.interact(fn, **controls)


@contextlib.contextmanager
def recording():
    """Record :func:`interact` calls instead of running them; yields the list of ``(fn, controls)``.

    >>> with recording() as calls:
    ...     interact(lambda n=1: n, n=[1, 2])
    >>> fn, controls = calls[0]
    """
    global _RECORDED
    previous, _RECORDED = _RECORDED, []
    try:
        yield _RECORDED
    finally:
        _RECORDED = previous


def trial_values(control) -> list:
    """Values a test should give one control, read as ``ipywidgets.interact`` reads it: a slider's ``min``,
    ``value`` and ``max``; every option of a dropdown, selection slider or list; both states of a checkbox
    (a widget or a plain ``bool``); ``min``, middle and ``max`` of interact's ``(min, max[, step])`` tuple
    shorthand (a tuple of non-numbers is a dropdown); a fixed value as itself."""
    if isinstance(control, bool) or isinstance(getattr(control, "value", None), bool) and not hasattr(control, "options"):
        value = control if isinstance(control, bool) else control.value
        return [value, not value]
    if hasattr(control, "options"):
        opts = control.options
        values = list(opts.values()) if isinstance(opts, dict) else [o[1] if isinstance(o, tuple) else o for o in opts]
        return values
    if hasattr(control, "base") and hasattr(control, "min") and hasattr(control, "max"):
        # FloatLogSlider: min and max are exponents of ``base``; the values are base ** min … base ** max
        return list(dict.fromkeys([control.base ** control.min, control.value, control.base ** control.max]))
    if hasattr(control, "min") and hasattr(control, "max"):
        return list(dict.fromkeys([control.min, control.value, control.max]))
    if isinstance(control, dict):
        return list(control.values())
    if (isinstance(control, tuple) and len(control) in (2, 3)
            and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in control)):
        return _tuple_slider_values(control)
    if isinstance(control, (list, tuple)):
        return [o[1] if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str) else o for o in control]
    return [control]


def _tuple_slider_values(abbrev: tuple) -> list:
    """``min``, middle and ``max`` of interact's ``(min, max[, step])`` shorthand (ints stay ints, the middle
    on the step grid as ipywidgets puts its default value)."""
    lo, hi = abbrev[0], abbrev[1]
    if hi < lo:
        raise ValueError(f"interact's (min, max) shorthand needs min <= max, got {abbrev!r}")
    if all(isinstance(x, numbers.Integral) for x in abbrev):
        step = abbrev[2] if len(abbrev) == 3 else 1
        mid = lo + ((hi - lo) // 2 // step) * step
    else:
        step = abbrev[2] if len(abbrev) == 3 else None
        mid = (lo + hi) / 2 if not step else lo + round(((hi - lo) / 2) / step) * step
    return list(dict.fromkeys([lo, mid, hi]))
