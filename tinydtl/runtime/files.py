"""Writing files so that nothing is ever half-written, and nothing a user made is replaced.

**Atomic writes.** A reader (another process, a crash, a Ctrl-C) must never see half a file. So every
file the suite writes goes first to a temporary file *in the same folder* (``.NAME.PID.THREAD.tmp``;
the same file system, so the rename is atomic) and is then renamed over the target with
:func:`os.replace`. Until the rename the old file is untouched; if anything fails, the temporary file
is removed and the old file stays as it was. :func:`write_atomic` takes any writer (``to_parquet``,
``savefig``); :func:`write_text_atomic` and :func:`write_json_atomic` are the two everyday cases.

**Only our own files are replaced.** Before the suite writes over an existing file it asks whether
the file is its own output of the same kind (a results JSON recognised by its keys, a page by its
title): :func:`check_replaceable` raises :class:`FileExistsError` otherwise, naming the path, so that
a mistyped ``--out`` cannot destroy a user's file.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

__all__ = ["write_atomic", "write_text_atomic", "write_json_atomic", "read_json_object", "check_replaceable"]

#: Files larger than this are never taken for one of the suite's small JSON or Markdown outputs.
RECOGNISE_MAX_BYTES = 64 * 2**20


def write_atomic(path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then rename it to ``path`` atomically.

    The folder is created if needed. If ``write`` or the rename fails (any exception, Ctrl-C
    included), the temporary file is removed, ``path`` keeps its old content, and the error propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path, data, *, allow_nan: bool = False, sort_keys: bool = False) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically.

    The data are serialised before any file is touched, so data that cannot be stored as JSON
    (``TypeError``, or ``ValueError`` for NaN without ``allow_nan``) leave no file behind.
    """
    text = json.dumps(data, indent=2, allow_nan=allow_nan, sort_keys=sort_keys)
    return write_text_atomic(path, text)


def read_json_object(path) -> dict | None:
    """The JSON object in ``path``, or ``None`` if it is missing, too large, unreadable, or not a JSON object."""
    path = Path(path)
    try:
        if path.stat().st_size > RECOGNISE_MAX_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_replaceable(path, *, is_ours: Callable[[Path], bool], kind: str, name: str = "path") -> Path:
    """Refuse to write over ``path`` unless it is missing or ``is_ours(path)`` (the tool's own output).

    Parameters
    ----------
    path
        The file about to be written.
    is_ours
        Recognises the tool's own output of this kind (e.g. a results JSON by its keys).
    kind
        What the file should be, for the message (``"a ClaimRecorder record"``).
    name
        The parameter or option that gave ``path`` (``"path"``, ``"--out"``).

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    FileExistsError
        ``path`` is a file that is not ``kind``.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{name} {path} is a folder; give the path of a file")
    if path.exists() and not is_ours(path):
        raise FileExistsError(f"{name} {path} is not {kind}; refusing to replace it "
                              "(choose another path, or move the file away first)")
    return path
