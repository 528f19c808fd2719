"""Parameter checks shared by the modules: a clear error naming the parameter and its allowed range."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_int", "check_number"]


def check_int(name, value, low):
    """``value`` must be an integer (not a bool) ``>= low``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_number(name, value, *, low, high=np.inf, low_open=False, integer=False):
    """``value`` must be a finite number (an integer if ``integer``) in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        lo = f"({low}" if low_open else f"[{low}"
        hi = "∞)" if high == np.inf else f"{high}]"
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {what} in {lo}, {hi}, got {value!r}")
