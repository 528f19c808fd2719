"""Live controls in a notebook, and a quiet fallback when the notebook runs headless.

``tinydtl reproduce`` and the tests set ``TINYDTL_HEADLESS=1`` for the kernels they start. There,
:func:`interact` calls the function once with its default arguments, so the cell still runs and draws
its figure, without ipywidgets' comm and Output-widget traffic (which now and then lost an execute
reply under papermill and left the run waiting on an idle kernel). In a live notebook it is
``ipywidgets.interact``.
"""

from __future__ import annotations

import inspect
import os

__all__ = ["interact", "headless"]


def headless() -> bool:
    return bool(os.environ.get("TINYDTL_HEADLESS"))


def _default(control):
    if hasattr(control, "value"):
        return control.value
    if isinstance(control, (list, tuple)) and control:
        return control[0]
    return control


def interact(fn, **controls):
    """``ipywidgets.interact(fn, **controls)``; headless: ``fn(**defaults)`` (the function's own defaults first)."""
    if headless():
        params = inspect.signature(fn).parameters
        kwargs = {}
        for name, control in controls.items():
            default = params[name].default if name in params else inspect.Parameter.empty
            kwargs[name] = default if default is not inspect.Parameter.empty else _default(control)
        return fn(**kwargs)
    import ipywidgets

    return ipywidgets.interact(fn, **controls)
