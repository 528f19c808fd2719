"""Keep TensorFlow Federated out of sweep workers unless a sweep asks for it.

TFF starts a C++ ``worker_binary`` of ≈2.5 GB per process; with one Dask worker per core that would
exhaust a laptop. :func:`refuse_tff` makes ``import tensorflow_federated`` fail with
:data:`TFF_REFUSED`: in this process through an import hook (a finder first on ``sys.meta_path``),
and in the processes it starts meanwhile (papermill kernels) through a stub package put first on
``PYTHONPATH`` whose ``__init__`` raises the same error.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
import tempfile
import threading
from pathlib import Path

from tinydtl.runtime.files import write_text_atomic

__all__ = ["TFF_REFUSED", "refuse_tff"]

#: The error a sweep point gets when it imports TensorFlow Federated without ``allow_tff``.
TFF_REFUSED = (
    "TensorFlow Federated is not started inside sweep workers unless asked: each start leaves a "
    "~2.5 GB worker_binary per worker process. Pass allow_tff=True (tinydtl sweep --allow-tff), "
    "preferably with fewer workers, or sweep the numpy engine."
)


class _RefuseTFFImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow_federated" or name.startswith("tensorflow_federated."):
            raise ImportError(TFF_REFUSED)
        return None


def _tff_stub_dir() -> Path:
    """A folder holding a ``tensorflow_federated`` package whose import raises :data:`TFF_REFUSED`.

    One per user, reused (a worker killed mid-point cannot clean up after itself), written atomically.
    """
    stub = Path(tempfile.gettempdir(), f"tinydtl-no-tff-{os.getuid()}")
    init = stub / "tensorflow_federated" / "__init__.py"
    text = f"raise ImportError({TFF_REFUSED!r})\n"
    if not init.is_file() or init.read_text() != text:
        write_text_atomic(init, text)
    return stub


_REFUSAL_LOCK = threading.Lock()
_REFUSAL = {"count": 0, "stub": None, "old_path": None, "finder": None}


@contextlib.contextmanager
def refuse_tff():
    """Make ``import tensorflow_federated`` fail with :data:`TFF_REFUSED`, here and in child kernels.

    In this process through an import hook; in processes started meanwhile (papermill kernels)
    through a stub package put first on ``PYTHONPATH``. Neither can stop a TFF already imported.
    Re-entrant and thread-safe (points on a multi-threaded worker share one refusal).
    """
    with _REFUSAL_LOCK:
        if _REFUSAL["count"] == 0:
            stub = _tff_stub_dir()
            old = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = str(stub) + (os.pathsep + old if old else "")
            finder = _RefuseTFFImport()
            sys.meta_path.insert(0, finder)
            _REFUSAL.update(stub=stub, old_path=old, finder=finder)
        _REFUSAL["count"] += 1
    try:
        yield
    finally:
        with _REFUSAL_LOCK:
            _REFUSAL["count"] -= 1
            if _REFUSAL["count"] == 0:
                sys.meta_path.remove(_REFUSAL["finder"])
                if _REFUSAL["old_path"] is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = _REFUSAL["old_path"]
                _REFUSAL.update(stub=None, old_path=None, finder=None)
