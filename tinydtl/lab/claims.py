"""Headline numbers of a notebook run, each checked against a claim that can fail.

Every lesson creates one :class:`ClaimRecorder` and records each headline number as one of three
**kinds** of claim:

``reproduction``
    a number published elsewhere: the ``source`` (paper), ``where`` in it (page, figure, table or
    ``"abstract"``) and what ``differs`` between the source's experiment and ours (task, model, data,
    criterion). When the comparison is not like for like, ``comparable=False`` and the verdict is
    *not comparable*. A reproduction that is expected (or accepted after looking) not to hold may be
    marked ``honest_negative="why"``: it is reported as NOT MET with the reason and does not fail CI.
``finding``
    a result of this suite itself (e.g. "TFF's FedProx has the opposite sign"; a project target).
``sanity``
    a definition or closed form the code must satisfy (e.g. 784 × 10 + 10 = 7,850 parameters).

Rules that make a claim able to fail:

* the comparison operator is one of :data:`OPS`; anything else is a ``ValueError``;
* target and tolerance are fixed *before* the run and written in the claim; a non-zero tolerance
  needs ``tolerance_reason`` (why that band, e.g. what "~85 %" is taken to mean);
* a measurement that is ``None``, NaN or infinite means the target was **never reached**: the
  verdict is NOT MET whatever the operator (an infinite "rounds to target" never passes ``<=`` nor
  ``>=``).
* a claim compared across seeds may carry the run's own ``noise`` band (e.g. two standard errors of
  the per-seed paired difference, with ``noise_reason``). A measurement within ``noise`` of the
  target's edge, **on either side**, gets the verdict *undecided (within noise)*: neither a win nor a
  miss is called from a difference the seeds cannot resolve. It does not fail the run, and the report
  prints the band next to the number.

The recorder writes everything, with the ``parameters`` the lesson ran with, to one JSON file per
run (the notebook's ``RESULTS_PATH`` parameter, injected by ``tinydtl reproduce`` and the tests);
the write is atomic, so a reader never sees half a file, and it replaces only an earlier record of a
recorder (an unrelated file at that path is a :class:`FileExistsError`). With ``RESULTS_PATH = None``
(an interactive session) nothing is written and :meth:`ClaimRecorder.table` shows the verdicts.

Numbers are numbers: ``True`` is not 1 here. A bool as ``measured``, ``target``, ``tolerance``,
``noise`` or a metric is a ``TypeError``; a :class:`Claim` checks its fields when it is made.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tinydtl.runtime.files import check_replaceable, read_json_object, write_json_atomic

__all__ = [
    "Claim",
    "ClaimRecorder",
    "KINDS",
    "OPS",
    "VERDICTS",
    "is_claim_record",
    "jsonable",
    "load_results",
    "write_json_atomic",
]

#: Comparison operators a claim may use, with the tolerance's meaning.
OPS = {
    ">=": "measured >= target - tolerance",
    ">": "measured > target - tolerance",
    "<=": "measured <= target + tolerance",
    "<": "measured < target + tolerance",
    "==": "|measured - target| <= tolerance",
}

#: The kinds of claim, in the order the report shows them.
KINDS = {
    "reproduction": "a published number (source, where in it, what differs)",
    "finding": "a result of this suite (not published elsewhere)",
    "sanity": "a definition or closed form the code must satisfy",
}

#: Every verdict a claim can get. Only ``NOT MET`` fails a run.
VERDICTS = ("met", "NOT MET", "NOT MET (honest negative)", "undecided (within noise)", "not comparable")


def _finite(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _is_number(x) -> bool:
    """A real number that is not a bool (numpy's bool is not a ``numbers.Real``)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_claim_fields(name, op, kind, measured, target, tolerance, noise) -> None:
    """The rules every claim obeys, whoever makes it (the recorder, a results file, a sweep point)."""
    where = f" for claim {name!r}"
    if op not in OPS:
        raise ValueError(f"op must be one of {list(OPS)}, got {op!r}{where}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}{where}")
    if measured is not None and not _is_number(measured):
        raise TypeError(f"measured must be a real number or None (never reached), got {type(measured).__name__} "
                        f"{measured!r}{where}")
    for label, value, rule in (("target", target, ""), ("tolerance", tolerance, " >= 0"), ("noise", noise, " >= 0")):
        if not _is_number(value):
            raise TypeError(f"{label} must be a finite number{rule}, got {type(value).__name__} {value!r}{where}")
        if not math.isfinite(value):
            raise ValueError(f"{label} must be a finite number{rule}, got {value!r}{where}")
        if rule and value < 0:
            raise ValueError(f"{label} must be >= 0, got {value!r}{where}")


@dataclass(frozen=True)
class Claim:
    """One claim and the number this run measured for it.

    ``measured`` is ``None`` when the target was never reached (the verdict is then NOT MET).
    """

    name: str
    source: str
    claim: str
    measured: float | None
    target: float
    op: str = ">="
    tolerance: float = 0.0
    unit: str = ""
    note: str = ""
    kind: str | None = None
    where: str = ""
    differs: str = ""
    tolerance_reason: str = ""
    comparable: bool = True
    honest_negative: str = ""
    noise: float = 0.0
    noise_reason: str = ""

    def __post_init__(self):
        _check_claim_fields(self.name, self.op, self.kind, self.measured, self.target, self.tolerance, self.noise)

    @property
    def reached(self) -> bool:
        """Whether there is a measurement at all (``False``: the target was never reached)."""
        return self.measured is not None and _finite(self.measured)

    @property
    def passed(self) -> bool:
        """Whether the measured number satisfies the comparison (never, if it was never reached)."""
        if not self.reached:
            return False
        m, t, tol = float(self.measured), self.target, self.tolerance
        if self.op == ">=":
            return m >= t - tol
        if self.op == ">":
            return m > t - tol
        if self.op == "<=":
            return m <= t + tol
        if self.op == "<":
            return m < t + tol
        if self.op == "==":
            return abs(m - t) <= tol
        raise ValueError(f"op must be one of {list(OPS)}, got {self.op!r}")

    @property
    def edge(self) -> float:
        """The value where the verdict flips between met and NOT MET (target moved by the tolerance)."""
        if self.op in (">=", ">"):
            return self.target - self.tolerance
        if self.op in ("<=", "<"):
            return self.target + self.tolerance
        return self.target

    @property
    def within_noise(self) -> bool:
        """Whether the measurement is within the run's ``noise`` band of the edge, on either side."""
        if not (self.noise and self.reached):
            return False
        distance = abs(float(self.measured) - self.edge)
        if self.op == "==":
            distance = abs(distance - self.tolerance)
        return distance <= self.noise

    @property
    def verdict(self) -> str:
        """``met``, ``NOT MET``, ``NOT MET (honest negative)``, ``undecided (within noise)`` or
        ``not comparable``."""
        if not self.comparable:
            return "not comparable"
        if self.within_noise:
            return "undecided (within noise)"
        if self.passed:
            return "met"
        if self.honest_negative:
            return "NOT MET (honest negative)"
        return "NOT MET"

    @property
    def fails(self) -> bool:
        """Whether this claim fails the run (NOT MET and not marked as an honest negative result)."""
        return self.verdict == "NOT MET"

    def describe_target(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if not self.tolerance:
            return f"{self.op} {self.target:g}{unit}"
        sign = {">=": "-", ">": "-", "<=": "+", "<": "+", "==": "±"}[self.op]
        return f"{self.op} {self.target:g} {sign} {self.tolerance:g}{unit}"

    def describe_measured(self) -> str:
        """The measured value next to its target, e.g. ``0.912 (target >= 0.85)``."""
        unit = f" {self.unit}" if self.unit else ""
        value = f"{self.measured:.4g}{unit}" if self.reached else "never reached"
        noise = f"; noise ±{self.noise:.2g}{unit}" if self.noise else ""
        return f"{value} (target {self.describe_target()}{noise})"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["measured"] = float(self.measured) if self.reached else None
        d["passed"] = self.passed
        d["verdict"] = self.verdict
        d["fails"] = self.fails
        return d


def jsonable(value):
    """``value`` as plain JSON data (numpy scalars and arrays, tuples, paths, non-finite floats → None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


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
    parameters : dict, optional
        The effective values of the lesson's parameters (after QUICK defaults were applied); recorded
        under ``"parameters"`` so that every results file says what it ran with.
    """

    notebook: str
    path: str | Path | None = None
    quick: bool = False
    seed: int | None = None
    parameters: dict = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        self.parameters = jsonable(dict(self.parameters or {}))
        if self.path is not None:
            check_replaceable(self.path, is_ours=is_claim_record, kind="a ClaimRecorder record")
        self.save()

    def record_parameters(self, **values) -> None:
        """Record (or update) the effective parameter values this run uses."""
        self.parameters.update(jsonable(values))
        self.save()

    def check(
        self,
        name: str,
        measured,
        *,
        claim: str,
        target: float,
        kind: str | None = None,
        source: str = "",
        where: str = "",
        differs: str = "",
        op: str = ">=",
        tolerance: float = 0.0,
        tolerance_reason: str = "",
        unit: str = "",
        note: str = "",
        comparable: bool = True,
        honest_negative: str = "",
        noise: float = 0.0,
        noise_reason: str = "",
    ) -> Claim:
        """Record ``measured`` against a claim and return it with its verdict.

        ``measured`` may be ``None`` (or NaN/inf): the target was never reached, the verdict is NOT MET.
        ``noise`` (>= 0, with ``noise_reason``) is the run's own noise band for the measurement; within it
        of the target's edge, on either side, the verdict is *undecided (within noise)*.
        A claim under an existing ``name`` replaces it, so re-running a cell does not duplicate rows.
        Prefer :meth:`reproduction`, :meth:`finding` and :meth:`sanity`, which name the kind.
        """
        if kind is None:
            warnings.warn(
                f"claim {name!r} has no kind; assuming 'reproduction' (give kind= one of {list(KINDS)})",
                FutureWarning,
                stacklevel=2,
            )
        c = Claim(name=name, source=source, claim=claim, measured=measured, target=target, op=op,
                  tolerance=tolerance, unit=unit, note=note, kind=kind, where=where, differs=differs,
                  tolerance_reason=tolerance_reason, comparable=bool(comparable), honest_negative=honest_negative,
                  noise=noise, noise_reason=noise_reason)  # checks op, kind and the numbers
        if noise and not noise_reason.strip():
            raise ValueError(f"claim {name!r}: a noise band of {noise:g} needs noise_reason (how it was measured, "
                             "e.g. '2 standard errors of the paired per-seed difference over 3 seeds')")
        if kind is not None:
            self._check_kind_fields(name, kind, source, where, differs, tolerance, tolerance_reason,
                                    comparable, honest_negative)
        c = replace(c, measured=None if measured is None else float(measured), target=float(target),
                    tolerance=float(tolerance), noise=float(noise))
        self.claims = [old for old in self.claims if old.name != name] + [c]
        self.save()
        return c

    @staticmethod
    def _check_kind_fields(name, kind, source, where, differs, tolerance, tolerance_reason, comparable,
                           honest_negative):
        if tolerance and not tolerance_reason.strip():
            raise ValueError(
                f"claim {name!r}: a tolerance of {tolerance:g} needs tolerance_reason (why that band; "
                "fixed before the run)"
            )
        if kind == "reproduction":
            for label, value in (("source", source), ("where", where), ("differs", differs)):
                if not str(value).strip():
                    raise ValueError(
                        f"reproduction claim {name!r} needs {label} (source: the paper; where: page, figure, "
                        "table or 'abstract'; differs: what is not the same as in the source, or 'nothing')"
                    )
        else:
            if honest_negative:
                raise ValueError(f"claim {name!r}: only a reproduction can be an honest negative result")
            if not comparable:
                raise ValueError(f"claim {name!r}: only a reproduction can be 'not comparable'")
        if not comparable and differs.strip().lower() in ("", "nothing"):
            raise ValueError(f"claim {name!r} is not comparable: say in differs= what differs")

    def reproduction(self, name, measured, *, claim, source, where, differs, target, **kw) -> Claim:
        """A published number: ``source`` (paper), ``where`` (page/figure/table or "abstract"), ``differs``."""
        return self.check(name, measured, claim=claim, target=target, kind="reproduction", source=source,
                          where=where, differs=differs, **kw)

    def finding(self, name, measured, *, claim, target, source="tinydtl", **kw) -> Claim:
        """A result of this suite (not a published number)."""
        return self.check(name, measured, claim=claim, target=target, kind="finding", source=source, **kw)

    def sanity(self, name, measured, *, claim, target, source="definition", **kw) -> Claim:
        """A definition or closed form the code must satisfy."""
        return self.check(name, measured, claim=claim, target=target, kind="sanity", source=source, **kw)

    def metric(self, name: str, value) -> None:
        """Record a headline number that is not a claim (e.g. seconds, prototype count)."""
        if not _is_number(value):
            raise TypeError(f"metric {name!r} must be a finite number, got {value!r} ({type(value).__name__})")
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
        self.metrics[name] = float(value)
        self.save()

    @property
    def all_passed(self) -> bool:
        """Whether no claim fails (honest negatives and non-comparable claims do not fail)."""
        return not any(c.fails for c in self.claims)

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "quick": bool(self.quick),
            "seed": self.seed,
            "parameters": dict(self.parameters),
            "claims": [c.to_dict() for c in self.claims],
            "metrics": dict(self.metrics),
        }

    def save(self) -> None:
        if self.path is not None:
            write_json_atomic(self.path, self.to_dict())

    def table(self):
        """The claims as a pandas DataFrame (kind, source, claim, measured, verdict), displayed with every
        sentence whole (never cut with "…", whatever ``display.max_colwidth`` says)."""
        import pandas as pd

        class ClaimsTable(pd.DataFrame):
            def _repr_html_(self):
                with pd.option_context("display.max_colwidth", None):
                    return super()._repr_html_()

            def __repr__(self):  # plain text (a terminal, papermill's text output): every column, whole
                with pd.option_context("display.max_colwidth", None, "display.max_columns", None,
                                       "display.width", None):
                    return super().__repr__()

        return ClaimsTable(
            [
                {
                    "kind": c.kind or "reproduction?",
                    "source": ", ".join(s for s in (c.source, c.where) if s),
                    "claim": c.claim,
                    "differs": c.differs,
                    "measured": c.describe_measured(),
                    "verdict": c.verdict,
                }
                for c in self.claims
            ],
            columns=["kind", "source", "claim", "differs", "measured", "verdict"],
        )


def is_claim_record(path) -> bool:
    """Whether ``path`` holds a lesson's results record — one a :class:`ClaimRecorder` (or an
    assignment's grader) wrote, recognised by its keys ``notebook``, ``claims`` and ``metrics``."""
    data = read_json_object(path)
    return (data is not None and {"notebook", "claims", "metrics"} <= set(data)
            and isinstance(data["notebook"], str) and isinstance(data["claims"], list))


def load_results(path: str | Path) -> dict:
    """Read a results file written by :class:`ClaimRecorder`, with each claim as a :class:`Claim`."""
    data = json.loads(Path(path).read_text())
    fields = Claim.__dataclass_fields__
    data["claims"] = [Claim(**{k: v for k, v in c.items() if k in fields}) for c in data.get("claims", [])]
    data.setdefault("metrics", {})
    data.setdefault("parameters", {})
    return data
