"""Where the repository's own folders are (data, notebooks, the device C sources): one owner."""

from __future__ import annotations

from pathlib import Path

__all__ = ["repo_root", "repo_path"]


def repo_root() -> Path:
    """The checkout that holds the package (``tinydtl/`` next to ``data/``, ``notebooks/``, ``mcu/``)."""
    return Path(__file__).resolve().parents[2]


def repo_path(*parts: str) -> Path:
    """A path inside the checkout, e.g. ``repo_path("data")``."""
    return repo_root().joinpath(*parts)
