"""Microcontroller boards, read from ``data/boards.toml``: clock, memories, currents, radio, and their sources.

Every figure in the board file names the datasheet it comes from (``source``, ``energy_source``);
what the datasheet does not give as one citable number is left out (``None``), never guessed. A
:class:`Board` checks its own fields, so a board built in code obeys the same rules as one read from
the file, and :func:`load_boards` names the file and the board when one does not.

Functions that take a board accept a :class:`Board` or a board's name (:func:`as_board`), e.g.
``fits(p, "ESP32")``.
"""

from __future__ import annotations

import numbers
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from tinydtl.runtime.paths import repo_path

__all__ = ["BOARDS_FILE", "Board", "as_board", "load_boards"]

#: The shipped board file.
BOARDS_FILE = ("data", "boards.toml")

_REQUIRED = ("mcu", "core", "clock_hz", "sram_bytes", "flash_bytes", "source")
_POSITIVE_INTS = ("clock_hz", "sram_bytes", "flash_bytes")
_ENERGY_FIELDS = ("active_current_a_per_mhz", "active_current_a", "radio_tx_current_a", "radio_rx_current_a",
                  "radio_bitrate_bps", "supply_v")


@dataclass(frozen=True)
class Board:
    """A microcontroller board and where its figures come from.

    The energy fields are optional (``None``: the datasheet gives no single figure to cite):
    ``active_current_a_per_mhz`` or ``active_current_a`` (CPU run current, per MHz or at
    ``clock_hz``), ``radio_tx_current_a``/``radio_rx_current_a`` and the ``radio_bitrate_bps`` they
    are quoted at, the ``supply_v`` they are quoted at, and ``energy_source``.
    """

    name: str
    mcu: str
    core: str
    clock_hz: int
    sram_bytes: int
    flash_bytes: int
    source: str
    active_current_a_per_mhz: float | None = None
    active_current_a: float | None = None
    radio_tx_current_a: float | None = None
    radio_rx_current_a: float | None = None
    radio_bitrate_bps: int | None = None
    supply_v: float | None = None
    energy_source: str | None = None

    def __post_init__(self):
        for f in ("name", "mcu", "core", "source"):
            _check_text(f, getattr(self, f))
        for f in _POSITIVE_INTS:
            v = getattr(self, f)
            if not isinstance(v, numbers.Integral) or isinstance(v, (bool, np.bool_)) or v <= 0:
                raise ValueError(f"{f} must be a positive integer, got {v!r}")
        for f in _ENERGY_FIELDS:
            v = getattr(self, f)
            if v is not None and (not isinstance(v, numbers.Real) or isinstance(v, (bool, np.bool_))
                                  or not np.isfinite(v) or not v > 0):
                raise ValueError(f"{f} must be a positive number when given, got {v!r}")
        if self.energy_source is not None:
            _check_text("energy_source", self.energy_source)
        elif any(getattr(self, f) is not None for f in _ENERGY_FIELDS):
            raise ValueError("energy figures are given without an energy_source (where they come from)")

    @property
    def cpu_current_a(self) -> float | None:
        """CPU run current at ``clock_hz`` (A): the datasheet's figure at clock, else per-MHz × MHz."""
        if self.active_current_a is not None:
            return self.active_current_a
        if self.active_current_a_per_mhz is not None:
            return self.active_current_a_per_mhz * self.clock_hz / 1e6
        return None


def _check_text(name, value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"board file {path} is missing; restore it with `git checkout -- data/`")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a valid TOML file ({e})") from None
    tables = raw.get("boards", {})
    if not isinstance(tables, dict):
        raise ValueError(f"{path}: `boards` must be a table of [boards.\"<name>\"] tables, got {tables!r}")
    return tables


def load_boards(path: str | Path | None = None) -> dict[str, Board]:
    """Boards from ``data/boards.toml`` (or ``path``), by name.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file, the board and
    the field for anything malformed (TOML syntax, a missing or unknown field, a bad value).
    """
    path = Path(path) if path is not None else repo_path(*BOARDS_FILE)
    boards = {}
    for name, entry in _read_toml(path).items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: board {name!r} must be a table of fields, got {entry!r}")
        missing = [f for f in _REQUIRED if f not in entry]
        if missing:
            raise ValueError(f"{path}: board {name!r} lacks {', '.join(missing)}")
        unknown = set(entry) - ({f.name for f in fields(Board)} - {"name"})  # the name is the table's key
        if unknown:
            raise ValueError(f"{path}: board {name!r}: unknown field(s) {sorted(unknown)}")
        try:
            boards[name] = Board(name=name, **entry)
        except ValueError as e:
            raise ValueError(f"{path}: board {name!r}: {e}") from None
    if not boards:
        raise ValueError(f"{path} defines no [boards.*] table")
    return boards


def as_board(board) -> Board:
    """``board`` itself if it is a :class:`Board`, else the board of that name in ``data/boards.toml``.

    Raises ``ValueError`` listing the known names for an unknown name, ``TypeError`` for anything else.
    """
    if isinstance(board, Board):
        return board
    if isinstance(board, str):
        known = load_boards()
        if board not in known:
            raise ValueError(f"board {board!r} is not in {repo_path(*BOARDS_FILE)}; known boards: {', '.join(known)}")
        return known[board]
    raise TypeError(f"board must be a tinydtl.devices.Board or a board name (see load_boards()), "
                    f"got {type(board).__name__} {board!r}")
