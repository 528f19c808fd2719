"""Headline numbers of a notebook run, each next to the published claim it reproduces.

Every benchmark notebook creates one :class:`ClaimRecorder` and calls :meth:`ClaimRecorder.check`
for each headline number. The recorder writes all of them to one JSON file per run (the
notebook's ``RESULTS_PATH`` parameter, injected by ``tinydtl reproduce`` and the tests), which is
what the tests and the reproduction report read. In an interactive session ``RESULTS_PATH`` is
``None`` and nothing is written; :meth:`ClaimRecorder.table` shows the verdicts.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Claim", "ClaimRecorder", "OPS", "load_results"]

#: Comparison operators a claim may use, with the tolerance's meaning.
OPS = {
    ">=": "measured >= target - tolerance",
    "<=": "measured <= target + tolerance",
    "==": "|measured - target| <= tolerance",
}


@dataclass(frozen=True)
class Claim:
    """One published claim and the number this run measured for it."""

    name: str
    source: str
    claim: str
    measured: float
    target: float
    op: str = ">="
    tolerance: float = 0.0
    unit: str = ""
    note: str = ""

    @property
    def passed(self) -> bool:
        m, t, tol = self.measured, self.target, self.tolerance
        if self.op == ">=":
            return m >= t - tol
        if self.op == "<=":
            return m <= t + tol
        return abs(m - t) <= tol

    @property
    def verdict(self) -> str:
        return "holds" if self.passed else "NOT MET"

    def describe_measured(self) -> str:
        """The measured value next to its target, e.g. ``0.912 (target >= 0.85)``."""
        tol = f" ± {self.tolerance:g}" if self.tolerance else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.measured:.4g}{unit} (target {self.op} {self.target:g}{tol}{unit})"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        d["verdict"] = self.verdict
        return d


@dataclass
class ClaimRecorder:
    """Collects a notebook's claims and writes them to ``path`` after every check.

    Parameters
    ----------
    notebook : str
        The notebook's name (its file stem, e.g. ``"02_ilvq_sphere"``).
    path : str or Path or None
        Where to write the JSON record; ``None`` writes nothing.
    quick : bool
        Whether the run used the notebook's QUICK settings (recorded with the results).
    seed : int
        The run's seed (recorded).
    """

    notebook: str
    path: str | Path | None = None
    quick: bool = False
    seed: int | None = None
    claims: list[Claim] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def check(
        self,
        name: str,
        measured,
        *,
        claim: str,
        source: str,
        target: float,
        op: str = ">=",
        tolerance: float = 0.0,
        unit: str = "",
        note: str = "",
    ) -> Claim:
        """Record ``measured`` against a published claim and return the verdict.

        ``op`` is one of ``">="``, ``"<="``, ``"=="`` (see :data:`OPS`). A claim under an existing
        ``name`` replaces it, so re-running a notebook cell does not duplicate rows.
        """
        if op not in OPS:
            raise ValueError(f"op must be one of {list(OPS)}, got {op!r}")
        for label, value in (("measured", measured), ("target", target), ("tolerance", tolerance)):
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"{label} must be a finite number, got {value!r} for claim {name!r}")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
        c = Claim(
            name=name,
            source=source,
            claim=claim,
            measured=float(measured),
            target=float(target),
            op=op,
            tolerance=float(tolerance),
            unit=unit,
            note=note,
        )
        self.claims = [old for old in self.claims if old.name != name] + [c]
        self.save()
        return c

    def metric(self, name: str, value) -> None:
        """Record a headline number that is not a claim (e.g. seconds, prototype count)."""
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
        self.metrics[name] = float(value)
        self.save()

    @property
    def all_passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "quick": bool(self.quick),
            "seed": self.seed,
            "claims": [c.to_dict() for c in self.claims],
            "metrics": dict(self.metrics),
        }

    def save(self) -> None:
        if self.path is None:
            return
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)

    def table(self):
        """The claims as a pandas DataFrame (source, claim, measured, verdict)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "source": c.source,
                    "claim": c.claim,
                    "measured": c.describe_measured(),
                    "verdict": c.verdict,
                }
                for c in self.claims
            ],
            columns=["source", "claim", "measured", "verdict"],
        )


def load_results(path: str | Path) -> dict:
    """Read a results file written by :class:`ClaimRecorder`, with each claim as a :class:`Claim`."""
    data = json.loads(Path(path).read_text())
    fields = Claim.__dataclass_fields__
    data["claims"] = [Claim(**{k: v for k, v in c.items() if k in fields}) for c in data["claims"]]
    return data
