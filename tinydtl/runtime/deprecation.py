"""Old names kept for one release: a thin alias that warns and calls the new function."""

from __future__ import annotations

import functools
import warnings

__all__ = ["REMOVAL", "deprecated_alias"]

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
