"""A sweep's files: one record per point, the manifest, and the results table built from the records.

A point's record — parameters, status, claims, metrics or error, seconds, host and process — is
written to ``OUT/points/<key>.json`` atomically (:mod:`tinydtl.runtime.files`), so a record on disk
is always complete and an interrupted sweep resumes from the records it finds. ``OUT/sweep.json``
(the manifest: target, grid, fixed values) marks the folder as a sweep's: a folder holding results
files without it is someone else's, and :func:`prepare_out` refuses to write there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from pathlib import Path

from tinydtl.lab.sweep.grid import RESULT_COLUMNS, SweepError, SweepTarget
from tinydtl.runtime.files import read_json_object, write_json_atomic

__all__ = [
    "OUTPUT_FILES",
    "read_record",
    "write_record",
    "records_table",
    "error_text",
    "failed_task_record",
    "function_results",
    "is_sweep_manifest",
    "prepare_out",
]

#: The files a sweep writes into its output folder besides ``sweep.json`` and ``points/``.
OUTPUT_FILES = ("results.parquet", "results.csv", "summary.png")

_SCALARS = (bool, int, float, str)


def write_record(path, data) -> Path:
    """Sweep records: atomic JSON, keys sorted, NaN allowed."""
    return write_json_atomic(path, data, allow_nan=True, sort_keys=True)


def read_record(path) -> dict | None:
    """A point's record, or ``None`` if there is none (a complete file is guaranteed by the atomic write)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_sweep_manifest(path) -> bool:
    """Whether ``path`` is a ``sweep.json`` a sweep wrote (recognised by its keys)."""
    data = read_json_object(path)
    return data is not None and {"target", "kind", "grid", "fixed"} <= set(data)


def prepare_out(out, manifest: dict) -> Path:
    """Make ``out`` a sweep's output folder and write its manifest; refuse a folder that is not one.

    Raises :class:`SweepError` (before anything is written) if ``out`` is a file, holds a
    ``sweep.json`` a sweep did not write, or holds results files without a sweep's ``sweep.json``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepError(f"out {out} is a file; give a folder for the sweep's output")
    manifest_path = out / "sweep.json"
    if manifest_path.exists() and not is_sweep_manifest(manifest_path):
        raise SweepError(f"{manifest_path} was not written by a tinydtl sweep; refusing to replace it "
                         "(choose another --out)")
    if not manifest_path.exists():
        for name in (*OUTPUT_FILES, "points"):
            if (out / name).exists():
                raise SweepError(f"{out / name} exists but was not written by a tinydtl sweep (no sweep.json "
                                 f"in {out}); refusing to replace it (choose another --out)")
    (out / "points").mkdir(parents=True, exist_ok=True)
    write_record(manifest_path, manifest)
    return out


# ----------------------------------------------------------------------------- a point's results


def _claim_dict(item) -> dict:
    from tinydtl.lab.claims import Claim

    if isinstance(item, Claim):
        return item.to_dict()
    if isinstance(item, dict):
        fields = {f.name for f in dataclasses.fields(Claim)}
        return Claim(**{k: v for k, v in item.items() if k in fields}).to_dict()
    raise TypeError(f"a claim must be a tinydtl.lab.claims.Claim or a dict of its fields, got {item!r}")


def _finite(name, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise TypeError(f"metric {name!r} must be a finite number, got {value!r}")
    return float(value)


def function_results(result) -> tuple[list, dict]:
    """Claims and metrics from a point function's return value (``{name: number}`` or
    ``{"claims": [...], "metrics": {...}}``); bools, NaN and inf are not metrics."""
    if not isinstance(result, dict):
        raise TypeError(
            f"a sweep function must return a dict of metrics (or claims/metrics), got {type(result).__name__}"
        )
    if set(result) <= {"claims", "metrics"} and result:
        claims = [_claim_dict(c) for c in result.get("claims", [])]
        metrics = {k: _finite(k, v) for k, v in result.get("metrics", {}).items()}
    else:
        claims = []
        metrics = {k: _finite(k, v) for k, v in result.items()}
    return claims, metrics


def failed_task_record(target: SweepTarget, parameters, key, exc) -> dict:
    """The record of a point whose Dask task did not finish (e.g. its worker died too often)."""
    return {
        "point": key, "target": target.name, "kind": target.kind, "parameters": parameters,
        "status": "failed", "claims": [], "metrics": {}, "output": None, "host": None, "pid": None,
        "seconds": None, "cpu_seconds": None,
        "error": {"notebook": target.name if target.kind == "lesson" else None,
                  "function": target.name if target.kind == "function" else None, "cell": None,
                  "exception": f"the task did not finish on the cluster: {type(exc).__name__}: {exc}"},
    }


# ----------------------------------------------------------------------------- the table


def error_text(error) -> str:
    """A record's error in one line: where (notebook, function, cell), then the exception."""
    if not error:
        return ""
    where = []
    if error.get("notebook"):
        where.append(f"notebook {error['notebook']}")
    if error.get("function"):
        where.append(f"function {error['function']}")
    if error.get("cell") is not None:
        where.append(f"cell index {error['cell']}")
    return (", ".join(where) + ": " if where else "") + str(error.get("exception", ""))


def _column_value(value):
    return value if value is None or isinstance(value, _SCALARS) else json.dumps(value, sort_keys=True)


def _record_rows(rec: dict, names) -> list[dict]:
    base = {n: _column_value(rec["parameters"].get(n)) for n in names}
    base.update(point=rec["point"], status=rec["status"], error=error_text(rec.get("error")),
                seconds=rec.get("seconds"))
    empty = dict(quantity=None, kind=None, value=None, claim_target=None, op=None, tolerance=None,
                 passed=None, unit=None)
    if rec["status"] != "ok":
        return [{**base, **empty}]
    rows = [{**base, **empty, "quantity": c["name"], "kind": "claim", "value": c["measured"],
             "claim_target": c["target"], "op": c["op"], "tolerance": c["tolerance"],
             "passed": bool(c["passed"]), "unit": c.get("unit", "")} for c in rec.get("claims", [])]
    rows += [{**base, **empty, "quantity": name, "kind": "metric", "value": value}
             for name, value in rec.get("metrics", {}).items()]
    return rows or [{**base, **empty}]


def records_table(records: list[dict], parameter_names=None):
    """One row per point and claim (metrics are rows with ``kind="metric"``), parameters as columns.

    A failed point is one row with ``status="failed"`` and its ``error``; its partial claims are not
    results and are left out.
    """
    import pandas as pd

    names = list(parameter_names) if parameter_names is not None else sorted(
        {n for r in records for n in r["parameters"]}
    )
    rows = [row for rec in records for row in _record_rows(rec, names)]
    table = pd.DataFrame(rows, columns=names + list(RESULT_COLUMNS))
    for col in ("value", "claim_target", "tolerance", "seconds"):
        table[col] = table[col].astype(float)
    table["passed"] = table["passed"].astype("boolean")
    return table
