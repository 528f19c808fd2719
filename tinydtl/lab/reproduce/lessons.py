"""Which lessons there are: the numbered notebooks ``NN_name.ipynb`` of a folder, picked by name."""

from __future__ import annotations

import re
from pathlib import Path

from tinydtl.runtime.paths import repo_path

__all__ = ["NOTEBOOK_RE", "default_notebook_dir", "discover_notebooks", "select_notebooks"]

#: A lesson's file name: two digits, an underscore, a name.
NOTEBOOK_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")


def default_notebook_dir() -> Path:
    """The suite's own ``notebooks/`` folder."""
    return repo_path("notebooks")


def discover_notebooks(directory: str | Path | None = None) -> list[Path]:
    """The numbered lessons ``NN_name.ipynb`` in ``directory``, in order."""
    directory = Path(directory) if directory is not None else default_notebook_dir()
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        raise FileNotFoundError(f"notebook directory {directory} {what}")
    return sorted(p for p in directory.iterdir() if NOTEBOOK_RE.match(p.name))


def select_notebooks(names, directory: str | Path | None = None) -> list[Path]:
    """Pick notebooks by full stem (``02_ilvq_sphere``), number (``02``) or name (``ilvq_sphere``)."""
    available = discover_notebooks(directory)
    if not names:
        return available
    chosen = []
    for name in names:
        key = Path(name).stem
        hits = [p for p in available if key in (p.stem, p.stem[:2], p.stem[3:])]
        if not hits:
            listing = ", ".join(p.stem for p in available) or "none"
            raise ValueError(f"no notebook matches {name!r}; available: {listing}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen
