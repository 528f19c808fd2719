"""The one record of a run: a per-round table, the same for every algorithm in the package.

Row ``round = 0`` is the **initial model**, before any communication (its bytes, messages and
seconds are 0); row ``r >= 1`` is the state after round ``r``. Every trainer records round 0 the same
way, so "rounds to reach a target" means the same thing everywhere: the first row whose accuracy is
``>= target`` (0 if the initial model already does), ``None`` if no row does.

Standard columns (``NaN`` where a run has nothing to report, e.g. accuracy without test data):

=================  ===========================================================================
``round``          0, 1, 2, ...
``accuracy``       test accuracy of the evaluated model (global model, or the mean device)
``loss``           test cross-entropy of the same model (``NaN`` for models without one)
``bytes_up``       payload bytes sent in the round towards servers/heads (or to neighbours)
``bytes_down``     payload bytes sent in the round from servers/heads back to devices
``messages``       transmissions in the round (one sender, one receiver: see :mod:`~tinydtl.core.traffic`)
``live_devices``   devices that took part (not dropped out)
``seconds``        wall time of the round's training and communication (evaluation excluded)
=================  ===========================================================================

:func:`~tinydtl.core.simulation.simulate` adds ``cpu_seconds`` (CPU time of the round in this process).
Algorithms may add columns (e.g. ``train_loss``, ``device_accuracy``, ``consensus_distance``).
Columns are read with :meth:`History.column` (``initial=False`` drops row 0), :meth:`History.last`,
:meth:`History.cumulative` or as a table with :meth:`History.to_frame`: one way, one meaning.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from tinydtl.core.validation import check_number

__all__ = ["STANDARD_COLUMNS", "History", "rounds_to_reach"]

#: attribute names of tinydtl 0.1 -> column (deprecated views of rounds 1..R)
LEGACY_ATTRIBUTES = {"test_accuracy": "accuracy", "test_loss": "loss", "alive": "live_devices",
                     "clients": "participants"}

STANDARD_COLUMNS = ("round", "accuracy", "loss", "bytes_up", "bytes_down", "messages", "live_devices", "seconds")


@dataclass
class History:
    """Per-round table of a run (row 0 = the initial model). See the module docstring for the columns.

    Attributes
    ----------
    algorithm : str
        What ran (e.g. ``"fedavg/numpy"``, ``"dpsgd"``).
    config : dict
        The settings it ran with.
    weights
        The final model (algorithm-specific; e.g. ``(W, b)`` for the softmax learner), or ``None``.
    """

    algorithm: str = ""
    config: dict = field(default_factory=dict)
    weights: object = None
    _columns: dict = field(default_factory=lambda: {c: [] for c in STANDARD_COLUMNS}, repr=False)

    # ------------------------------------------------------------------ writing
    def record(self, round: int, **values) -> None:
        """Append the row of ``round`` (must be the next one: 0, 1, 2, ...); unknown keys add columns."""
        if not isinstance(round, (int, np.integer)) or isinstance(round, bool) or round != len(self):
            raise ValueError(f"round must be the next row ({len(self)}), got {round!r}")
        n = len(self)
        for name in values:
            if name not in self._columns:
                self._columns[name] = [math.nan] * n
        row = {"round": int(round), **values}
        for name, col in self._columns.items():
            v = row.get(name, math.nan)
            if v is None:
                v = math.nan
            col.append(v.item() if isinstance(v, np.generic) else v)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._columns["round"])

    @property
    def rounds(self) -> int:
        """Rounds run (rows after round 0)."""
        return max(len(self) - 1, 0)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def column(self, name: str, *, initial: bool = True) -> list:
        """The values of column ``name``, one per row; ``initial=False`` drops row 0."""
        if name not in self._columns:
            raise KeyError(f"no column {name!r}; columns are {self.columns}")
        col = list(self._columns[name])
        return col if initial else col[1:]

    def last(self, name: str):
        """The newest value of column ``name`` (no copy of the column: cheap in a per-round controller)."""
        if name not in self._columns:
            raise KeyError(f"no column {name!r}; columns are {self.columns}")
        if not self._columns[name]:
            raise IndexError(f"column {name!r} has no rows yet")
        return self._columns[name][-1]

    def cumulative(self, name: str) -> np.ndarray:
        """Running total of a per-round column (e.g. bytes), one value per row."""
        return np.cumsum(np.nan_to_num(np.asarray(self.column(name), dtype=float)))

    def rounds_to_reach(self, target: float, column: str = "accuracy"):
        """First round whose ``column`` is ``>= target`` (0 = the initial model); ``None`` if never."""
        check_number("target", target, low=-np.inf)
        values = np.asarray(self.column(column), dtype=float)
        hit = np.flatnonzero(values >= target)
        return int(self._columns["round"][hit[0]]) if hit.size else None

    def __getattr__(self, name):
        # only called when normal lookup fails: the old per-round lists (rounds 1..R), one release more
        if name.startswith("_"):
            raise AttributeError(name)
        cols = self.__dict__.get("_columns", {})
        key = LEGACY_ATTRIBUTES.get(name, name)
        if key in cols:
            warnings.warn(f"History.{name} (rounds 1..R) is deprecated and will be removed in tinydtl 0.3: use "
                          f"History.column({key!r}, initial=False), or column({key!r}) with row 0",
                          DeprecationWarning, stacklevel=2)
            return list(cols[key][1:])
        raise AttributeError(f"History has no attribute or column {name!r}")

    def to_frame(self, *, initial: bool = True):
        """The table as a pandas DataFrame indexed by ``round``."""
        import pandas as pd

        df = pd.DataFrame({c: v for c, v in self._columns.items()}).set_index("round")
        return df if initial else df.iloc[1:]


def rounds_to_reach(accuracy, target: float):
    """Rounds needed to reach ``target``; ``None`` if never.

    With a :class:`History`: :meth:`History.rounds_to_reach` (0 = the initial model already does).
    With a plain sequence of per-round values *after* rounds 1, 2, ... (e.g. ``h.column("accuracy", initial=False)``):
    the 1-based round of the first value ``>= target`` — the same round number as the table's.
    """
    if isinstance(accuracy, History):
        return accuracy.rounds_to_reach(target)
    check_number("target", target, low=-np.inf)
    acc = np.asarray(accuracy, dtype=float)
    if acc.ndim != 1:
        raise ValueError(f"accuracy must be a 1-D sequence of per-round values, got shape {acc.shape}")
    hit = np.flatnonzero(acc >= target)
    return int(hit[0]) + 1 if hit.size else None
