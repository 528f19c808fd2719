"""Old names kept for one release: a thin alias that warns and calls the new function."""

from __future__ import annotations

import functools
import warnings

__all__ = ["REMOVAL", "deprecated_alias", "renamed_keywords"]

REMOVAL = "tinydtl 0.3"


def deprecated_alias(old: str, new):
    """``new`` under its old name ``old``; every call raises a :class:`DeprecationWarning` naming the new one."""
    target = f"{new.__module__}.{new.__qualname__}"

    @functools.wraps(new)
    def alias(*args, **kwargs):
        warnings.warn(f"{old} is deprecated and will be removed in {REMOVAL}: use {target}", DeprecationWarning,
                      stacklevel=2)
        return new(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = f"Deprecated alias of :func:`{target}` (removed in {REMOVAL})."
    return alias


def renamed_keywords(**renamed):
    """Decorator: the function still takes its old keyword names (``old="new"``) for one release,
    with a :class:`DeprecationWarning`; passing both the old and the new name is a ``TypeError``."""

    def decorate(front_end):
        @functools.wraps(front_end)
        def wrapper(*args, **kwargs):
            for old, new in renamed.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{front_end.__name__}() got both {old!r} (the old name) and {new!r}")
                    warnings.warn(f"{front_end.__name__}({old}=...) is deprecated and will be removed in {REMOVAL}: "
                                  f"use {new}=...", DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return front_end(*args, **kwargs)

        return wrapper

    return decorate
