"""Parameter sweeps on Dask: one lesson or package function run over a grid of parameters.

``tinydtl sweep TARGET --grid grid.toml`` and :func:`run_sweep` expand a grid, check it against the
target's parameters *before anything runs*, and run every point as a Dask task: on a
``LocalCluster`` with one single-threaded worker process per core by default, or on any running
Dask scheduler (a lab cluster, Dask Gateway) given by its address. The engine is Dask's, not a
home-made pool: its scheduler places the tasks, re-runs the task of a worker that dies and serves
the dashboard.

A **target** is either

* a lesson (``"03"``, ``"federated_mnist"``, ``"03_federated_mnist"`` or a path to an ``.ipynb``),
  run through papermill with the point's values injected into its ``parameters`` cell by the same
  runner as ``tinydtl reproduce`` (:func:`tinydtl.reproduce.run_notebook`); its results are the
  claims and metrics its :class:`~tinydtl.claims.ClaimRecorder` wrote; or
* a package function ``"module:function"`` (or, from Python, the function itself) that takes the
  point's values as keyword arguments and returns a dict: either ``{name: number}`` (metrics), or
  ``{"claims": [Claim or claim dict, ...], "metrics": {name: number}}``.

The **grid file** is TOML::

    [grid]              # parameter -> list of values; every combination is one point
    clients = [5, 20]
    alpha = [0.1, 1.0]
    seed = [0, 1, 2]

    [fixed]             # parameter -> one value, the same for every point
    rounds = 3

Every name must be a parameter of the target (the lesson's ``parameters`` cell as
``papermill.inspect_notebook`` reads it, or the function's signature), every value of the type of
the parameter's default (an int where a float is expected is accepted and stored as a float), and
the grid must hold at least one value per name; a :class:`GridError` names the offending parameter.

**Resumable, atomic.** A point is keyed by a hash of its target and parameters (stable JSON, sorted
keys, :func:`point_key`). Its record — parameters, status, claims, metrics or error, seconds,
host and process — is written to ``OUT/points/<key>.json`` through a temporary file and
``os.replace``, so a record on disk is always complete. Points whose record says ``"ok"`` are
skipped when the sweep runs again; failed points are run again.

**Failures.** A point that raises (the function, or a notebook cell) is recorded with its error
(notebook and cell, or function, and the exception) and the sweep goes on. A worker process that
dies (killed, out of memory) has its task re-run on another worker by the Dask scheduler (up to
``distributed.scheduler.allowed-failures`` times, then the point is recorded as failed); a task
that raises for another reason (e.g. the record cannot be serialised) is retried ``retries`` times.

**TensorFlow Federated** starts a C++ ``worker_binary`` of ≈2.5 GB per process; with one worker per
core that would exhaust a laptop. So a sweep refuses to import ``tensorflow_federated`` inside its
workers (in the worker and in notebook kernels it starts) unless ``allow_tff=True``
(``--allow-tff``), and then every point is wrapped in
:func:`tinydtl.processes.no_stray_processes`, which terminates the ``worker_binary`` it started.

**Output.** ``OUT/results.parquet`` and ``OUT/results.csv``: one row per point and claim (metrics
are rows too, ``kind="metric"``; a failed point is one row with its ``error``), the point's
parameters as columns; ``OUT/summary.png``: a heat map of one quantity over two grid axes
(:func:`plot_summary`, averaged over the other axes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import importlib
import importlib.abc
import inspect
import itertools
import json
import math
import numbers
import os
import socket
import sys
import tempfile
import threading
import time
import tomllib
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = [
    "GridError",
    "Parameter",
    "SweepTarget",
    "SweepResult",
    "RESULT_COLUMNS",
    "TFF_REFUSED",
    "available_cores",
    "load_grid",
    "resolve_target",
    "validate_grid",
    "expand_grid",
    "point_key",
    "run_point",
    "refuse_tff",
    "write_json_atomic",
    "read_record",
    "records_table",
    "plot_summary",
    "run_sweep",
]

#: Columns of the results table besides the point's parameters (a parameter may not use these names).
RESULT_COLUMNS = (
    "point", "status", "error", "quantity", "kind", "value", "claim_target", "op", "tolerance",
    "passed", "unit", "seconds",
)

#: The error a sweep point gets when it imports TensorFlow Federated without ``allow_tff``.
TFF_REFUSED = (
    "TensorFlow Federated is not started inside sweep workers unless asked: each start leaves a "
    "~2.5 GB worker_binary per worker process. Pass allow_tff=True (tinydtl sweep --allow-tff), "
    "preferably with fewer workers, or sweep the numpy engine."
)

_GRID_TABLES = ("grid", "fixed")
_SCALARS = (bool, int, float, str)


class GridError(ValueError):
    """A grid that cannot run: unknown parameter, empty grid, wrong type, unreadable file."""


# ----------------------------------------------------------------------------- targets


_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class Parameter:
    """One parameter of a target: its default (``inspect.Parameter.empty`` if required) and type."""

    name: str
    default: Any = _MISSING
    types: tuple | None = None  # accepted value types; None = not checked
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclass(frozen=True)
class SweepTarget:
    """What a sweep runs: a lesson notebook (``kind="lesson"``) or a function (``kind="function"``)."""

    kind: str
    name: str
    parameters: dict
    path: str | None = None
    function: Callable | None = None
    accepts_any: bool = False  # a function with **kwargs takes any name

    def describe(self) -> str:
        return f"lesson {self.name}" if self.kind == "lesson" else f"function {self.name}"


_TYPE_NAMES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "list": (list,),
               "dict": (dict,)}


def _types_of(default, annotation=None):
    """Accepted value types, from the default's type or else a simple annotation (``int | None``)."""
    if default is not _MISSING and default is not None:
        if isinstance(default, bool):
            return (bool,)
        if isinstance(default, numbers.Integral):
            return (int,)
        if isinstance(default, numbers.Real):
            return (int, float)
        if isinstance(default, str):
            return (str,)
        if isinstance(default, (list, tuple)):
            return (list,)
        if isinstance(default, dict):
            return (dict,)
        return None
    if annotation in (None, _MISSING):
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = text.replace("typing.", "").replace(" ", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1]
    parts = [p for p in text.split("|") if p not in ("None", "NoneType")]
    if len(parts) == 1 and parts[0] in _TYPE_NAMES:
        return _TYPE_NAMES[parts[0]]
    return None


def _function_target(fn, name) -> SweepTarget:
    params, accepts_any = {}, False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            accepts_any = True
        elif p.kind is p.VAR_POSITIONAL or p.kind is p.POSITIONAL_ONLY:
            if p.default is _MISSING and p.kind is p.POSITIONAL_ONLY:
                raise GridError(f"function {name} has a required positional-only parameter {p.name!r}; "
                                "a sweep passes parameters by keyword")
        else:
            params[p.name] = Parameter(p.name, p.default, _types_of(p.default, p.annotation))
    return SweepTarget("function", name, params, function=fn, accepts_any=accepts_any)


def _notebook_target(path: Path) -> SweepTarget:
    import ast

    import papermill as pm

    try:
        found = pm.inspect_notebook(str(path))
    except Exception as exc:  # noqa: BLE001 - unreadable JSON, no kernelspec, ...
        raise GridError(f"cannot read the parameters of notebook {path}: {type(exc).__name__}: {exc}") from exc
    if not found:
        raise GridError(f"notebook {path.name} has no cell tagged 'parameters', so nothing can be swept")
    params = {}
    for name, info in found.items():
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            default = None  # an expression: its type is not known before the run
        annotation = info.get("inferred_type_name")
        params[name] = Parameter(name, default, _types_of(default, annotation), info.get("help", ""))
    return SweepTarget("lesson", path.stem, params, path=str(path.resolve()))


def resolve_target(target, notebooks=None) -> SweepTarget:
    """The lesson or function ``target`` names, with its parameters.

    ``target`` is a callable, ``"module:function"``, a path to an ``.ipynb`` file, or a lesson name
    as ``tinydtl reproduce`` takes it (``"03"``, ``"federated_mnist"``) looked up in ``notebooks``.
    """
    if callable(target):
        name = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
        return _function_target(target, name)
    if not isinstance(target, (str, os.PathLike)) or not str(target):
        raise GridError(f"target must be a lesson name, a notebook path or 'module:function', got {target!r}")
    text = str(target)
    if text.endswith(".ipynb") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise GridError(f"notebook {path} does not exist")
        return _notebook_target(path)
    if ":" in text:
        module_name, _, attr = text.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise GridError(f"cannot import module {module_name!r} of target {text!r}: {exc}") from exc
        fn = module
        for part in attr.split("."):
            fn = getattr(fn, part, None)
        if not callable(fn):
            raise GridError(f"module {module_name} has no function {attr!r} (target {text!r})")
        return _function_target(fn, text)
    from .reproduce import select_notebooks

    try:
        paths = select_notebooks([text], notebooks)
    except (ValueError, FileNotFoundError) as exc:
        raise GridError(f"target {text!r}: {exc}; or name a function as 'module:function'") from exc
    if len(paths) != 1:
        raise GridError(f"target {text!r} matches several lessons: {', '.join(p.stem for p in paths)}")
    return _notebook_target(paths[0])


# ----------------------------------------------------------------------------- grids


def load_grid(path) -> tuple[dict, dict]:
    """Read a TOML grid file: ``([grid] table, [fixed] table)``. Only those two tables are allowed."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise GridError(f"grid file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"grid file {path} is not valid TOML: {exc}") from None
    loose = sorted(k for k, v in data.items() if k not in _GRID_TABLES and not isinstance(v, dict))
    if loose:
        raise GridError(f"grid file {path}: {loose[0]!r} is outside [grid] and [fixed]; put swept parameters "
                        "under [grid] as lists, single values under [fixed]")
    extra = sorted(set(data) - set(_GRID_TABLES))
    if extra:
        raise GridError(
            f"grid file {path} may hold only the tables [grid] and [fixed], found {', '.join(extra)} "
            "(put swept parameters under [grid] as lists, single values under [fixed])"
        )
    if "grid" not in data:
        raise GridError(f"grid file {path} has no [grid] table (e.g. [grid] followed by SEED = [0, 1, 2])")
    for table in _GRID_TABLES:
        if table in data and not isinstance(data[table], dict):
            raise GridError(f"grid file {path}: {table} must be a table [{table}], got {data[table]!r}")
    return data["grid"], data.get("fixed", {})


def _check_value(target: SweepTarget, table: str, name: str, value):
    """Return ``value`` in its parameter's type (int -> float for float parameters), or raise GridError."""
    where = f"{table} parameter {name!r}"
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise GridError(f"{where}: value {value!r} cannot be stored as JSON (use numbers, strings, "
                        "booleans or lists of them; no dates, nan or inf)") from None
    spec = target.parameters.get(name)
    if spec is None or spec.types is None:
        return value
    is_bool = isinstance(value, bool)
    ok = isinstance(value, spec.types) and (bool in spec.types or not is_bool)
    if not ok:
        kind = " or ".join(t.__name__ for t in spec.types)
        default = "required" if spec.required else f"default {spec.default!r}"
        raise GridError(f"{where}: value {value!r} is a {type(value).__name__}, but {target.describe()} "
                        f"expects {kind} ({default})")
    if spec.types == (int, float):
        return float(value)
    return value


def validate_grid(target: SweepTarget, grid, fixed=None, *, reserved=()) -> tuple[dict, dict]:
    """Check ``grid`` and ``fixed`` against ``target``'s parameters; return them with values normalised.

    Raises :class:`GridError` naming the parameter: an empty grid, a grid entry that is not a
    non-empty list without repeats, a name the target does not have (with the closest names), a
    value of the wrong type, a name in both tables, a required function parameter left out, or a
    name in ``reserved`` (parameters the sweep sets itself) or :data:`RESULT_COLUMNS`.
    """
    fixed = {} if fixed is None else fixed
    if not isinstance(grid, dict) or not isinstance(fixed, dict):
        raise GridError("grid and fixed must map parameter names to values")
    if not grid:
        raise GridError("the grid is empty: [grid] must map at least one parameter to a list of values, "
                        "e.g. SEED = [0, 1, 2]")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise GridError(f"parameter {both[0]!r} is in both [grid] and [fixed]; keep it in one")
    known = sorted(target.parameters)
    for table, names in (("grid", grid), ("fixed", fixed)):
        for name in names:
            if name in reserved:
                raise GridError(f"{table} parameter {name!r} is set by the sweep itself; remove it")
            if name in RESULT_COLUMNS:
                raise GridError(f"{table} parameter {name!r} clashes with a results column "
                                f"({', '.join(RESULT_COLUMNS)})")
            if name not in target.parameters and not target.accepts_any:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise GridError(f"unknown {table} parameter {name!r} for {target.describe()}{hint} "
                                f"Its parameters are: {', '.join(known) or 'none'}")
    out_grid = {}
    for name, values in grid.items():
        if not isinstance(values, list):
            raise GridError(f"grid parameter {name!r} must be a list of values (e.g. {name} = [{values!r}]), "
                            f"got {values!r}; put single values under [fixed]")
        if not values:
            raise GridError(f"grid parameter {name!r} has no values: give at least one")
        normalised = [_check_value(target, "grid", name, v) for v in values]
        seen = [json.dumps(v, sort_keys=True) for v in normalised]
        if len(set(seen)) != len(seen):
            raise GridError(f"grid parameter {name!r} repeats a value: {values!r}")
        out_grid[name] = normalised
    out_fixed = {name: _check_value(target, "fixed", name, v) for name, v in fixed.items()}
    missing = [p.name for p in target.parameters.values()
               if p.required and p.name not in out_grid and p.name not in out_fixed]
    if missing:
        raise GridError(f"{target.describe()} needs parameter {missing[0]!r}: add it to [grid] or [fixed]")
    return out_grid, out_fixed


def expand_grid(grid: dict, fixed=None) -> list[dict]:
    """Every combination of the grid's values (in the grid's order; last name varies fastest), plus ``fixed``."""
    names = list(grid)
    return [{**(fixed or {}), **dict(zip(names, values))} for values in itertools.product(*grid.values())]


def point_key(target_name: str, parameters: dict) -> str:
    """A point's key: the first 16 hex digits of SHA-256 over stable JSON of target and parameters."""
    blob = json.dumps({"target": target_name, "parameters": parameters}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- one point (on a worker)


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
        init.parent.mkdir(parents=True, exist_ok=True)
        _replace_atomic(init, lambda p: p.write_text(text))
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


def _claim_dict(item) -> dict:
    from .claims import Claim

    if isinstance(item, Claim):
        return item.to_dict()
    if isinstance(item, dict):
        fields = {f.name for f in dataclasses.fields(Claim)}
        return Claim(**{k: v for k, v in item.items() if k in fields}).to_dict()
    raise TypeError(f"a claim must be a tinydtl.claims.Claim or a dict of its fields, got {item!r}")


def _finite(name, value) -> float:
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"metric {name!r} must be a finite number, got {value!r}")
    return float(value)


def _function_results(result) -> tuple[list, dict]:
    """Claims and metrics from a point function's return value."""
    if not isinstance(result, dict):
        raise TypeError(f"a sweep function must return a dict of metrics (or claims/metrics), got {type(result).__name__}")
    if set(result) <= {"claims", "metrics"} and result:
        claims = [_claim_dict(c) for c in result.get("claims", [])]
        metrics = {k: _finite(k, v) for k, v in result.get("metrics", {}).items()}
    else:
        claims = []
        metrics = {k: _finite(k, v) for k, v in result.items()}
    return claims, metrics


def run_point(target: SweepTarget, parameters: dict, key: str, out_dir: str, allow_tff: bool = False) -> dict:
    """Run one point and return its record (a JSON-able dict). Runs on a Dask worker.

    The point's own failure (the function raises, a notebook cell raises) is caught and recorded;
    anything else propagates, so Dask can retry the task.
    """
    from .processes import no_stray_processes

    record = {
        "point": key,
        "target": target.name,
        "kind": target.kind,
        "parameters": parameters,
        "status": "ok",
        "error": None,
        "claims": [],
        "metrics": {},
        "output": None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    guard = no_stray_processes() if allow_tff else refuse_tff()
    start = time.perf_counter()
    with guard:
        if target.kind == "lesson":
            from .reproduce import run_notebook

            run = run_notebook(
                target.path, Path(out_dir) / key, quick=bool(parameters.get("QUICK", False)),
                parameters=parameters,
            )
            record["output"] = run.output
            if run.ok:
                record["claims"] = [c.to_dict() for c in run.claims]
                record["metrics"] = dict(run.metrics)
            else:
                record["status"] = "failed"
                record["error"] = {"notebook": run.notebook, "cell": run.failed_cell, "exception": run.error}
        else:
            try:
                result = target.function(**parameters)
                record["claims"], record["metrics"] = _function_results(result)
            except Exception as exc:  # noqa: BLE001 - the point's failure is its result
                record["status"] = "failed"
                record["error"] = {
                    "function": target.name,
                    "cell": None,
                    "exception": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
    record["seconds"] = time.perf_counter() - start
    return record


# ----------------------------------------------------------------------------- records and the table


def write_json_atomic(path, data) -> Path:
    """Write ``data`` as JSON to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def _replace_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


def read_record(path) -> dict | None:
    """A point's record, or ``None`` if there is none (a complete file is guaranteed by the atomic write)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _error_text(error) -> str:
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


def records_table(records: list[dict], parameter_names=None):
    """One row per point and claim (metrics are rows with ``kind="metric"``), parameters as columns.

    A failed point is one row with ``status="failed"`` and its ``error``; its partial claims are not
    results and are left out.
    """
    import pandas as pd

    names = list(parameter_names) if parameter_names is not None else sorted(
        {n for r in records for n in r["parameters"]}
    )
    rows = []
    for rec in records:
        base = {n: _column_value(rec["parameters"].get(n)) for n in names}
        base.update(point=rec["point"], status=rec["status"], error=_error_text(rec.get("error")),
                    seconds=rec.get("seconds"))
        empty = dict(quantity=None, kind=None, value=None, claim_target=None, op=None, tolerance=None,
                     passed=None, unit=None)
        if rec["status"] != "ok":
            rows.append({**base, **empty})
            continue
        for c in rec.get("claims", []):
            rows.append({**base, **empty, "quantity": c["name"], "kind": "claim", "value": c["measured"],
                         "claim_target": c["target"], "op": c["op"], "tolerance": c["tolerance"],
                         "passed": bool(c["passed"]), "unit": c.get("unit", "")})
        for name, value in rec.get("metrics", {}).items():
            rows.append({**base, **empty, "quantity": name, "kind": "metric", "value": value})
        if not rec.get("claims") and not rec.get("metrics"):
            rows.append({**base, **empty})
    columns = names + list(RESULT_COLUMNS)
    table = pd.DataFrame(rows, columns=columns)
    for col in ("value", "claim_target", "tolerance", "seconds"):
        table[col] = table[col].astype(float)
    table["passed"] = table["passed"].astype("boolean")
    return table


def plot_summary(table, grid: dict, *, value=None, rows=None, cols=None, ax=None):
    """Heat map of ``value`` (a claim or metric name) over two grid axes, averaged over the others.

    Defaults: the first quantity in the table, and the two grid parameters with the most values
    (``rows`` the first of them in grid order). With one varying parameter it draws a line.
    Returns the Axes, or ``None`` if no point finished or nothing varies.
    """
    from .plots import plot_heatmap

    ok = table[(table["status"] == "ok") & table["quantity"].notna()]
    if ok.empty:
        return None
    value = value or ok["quantity"].iloc[0]
    if value not in set(ok["quantity"]):
        raise ValueError(f"value must be one of the recorded quantities {sorted(set(ok['quantity']))}, got {value!r}")
    axes = [n for n in grid if len(grid[n]) > 1]
    for label, name in (("rows", rows), ("cols", cols)):
        if name is not None and name not in grid:
            raise ValueError(f"{label} must be a grid parameter ({', '.join(grid)}), got {name!r}")
    if rows is None and cols is None:
        ranked = sorted(axes, key=lambda n: -len(grid[n]))[:2]  # the two longest axes, in grid order
        rows, cols = (sorted(ranked, key=list(grid).index) + [None, None])[:2]
    elif rows is None or cols is None:
        given = rows or cols
        rest = sorted((n for n in axes if n != given), key=lambda n: -len(grid[n]))
        other = rest[0] if rest else None
        rows, cols = (given, other) if rows else (other, given)
    if rows is None and cols is not None:  # one axis: a line over it
        rows, cols = cols, None
    data = ok[ok["quantity"] == value]
    others = [n for n in axes if n not in (rows, cols)]
    note = f" (mean over {', '.join(others)})" if others else ""
    if rows is None:
        return None
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(5.5, 4), layout="constrained").subplots()
    if cols is None:
        line = data.groupby(rows, sort=True)["value"].mean()
        ax.plot([str(i) for i in line.index], line.values, marker="o")
        ax.set_xlabel(rows)
        ax.set_ylabel(value)
        ax.set_title(f"{value}{note}", fontsize=9)
        return ax
    means = data.groupby([rows, cols], sort=True)["value"].mean().rename(value).reset_index()
    return plot_heatmap(means, rows=rows, cols=cols, value=value, ax=ax, title=f"{value}{note}")


# ----------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    """What a sweep did: the table, its files, and which points ran, were skipped or failed."""

    target: str
    out: Path
    table: Any
    records: list = field(default_factory=list)
    ran: int = 0
    skipped: int = 0
    dashboard_link: str | None = None
    plot: Path | None = None

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        n = len(self.records)
        text = (f"{n} points of {self.target}: {self.ran} ran, {self.skipped} already done, "
                f"{len(self.failed)} failed; results in {self.out / 'results.parquet'}")
        for rec in self.failed:
            text += f"\n  FAILED point {rec['point']} {json.dumps(rec['parameters'])}: {_error_text(rec['error'])}"
        return text


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask), the default number of local workers."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _dask_client(scheduler, workers, n_tasks):
    """A ``distributed.Client``: on a new LocalCluster (closed afterwards) or on ``scheduler``."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler is None:
        n = min(workers or available_cores(), n_tasks)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield client
    elif isinstance(scheduler, Client):
        yield scheduler
    else:
        address = getattr(scheduler, "scheduler_address", scheduler)  # a Cluster object (e.g. Dask Gateway)
        with Client(address) as client:
            yield client


def _failed_task_record(target, parameters, key, exc) -> dict:
    return {
        "point": key, "target": target.name, "kind": target.kind, "parameters": parameters,
        "status": "failed", "claims": [], "metrics": {}, "output": None, "host": None, "pid": None,
        "seconds": None,
        "error": {"notebook": target.name if target.kind == "lesson" else None,
                  "function": target.name if target.kind == "function" else None, "cell": None,
                  "exception": f"the task did not finish on the cluster: {type(exc).__name__}: {exc}"},
    }


def run_sweep(
    target,
    grid,
    *,
    fixed=None,
    out="build/sweep",
    scheduler=None,
    workers: int | None = None,
    retries: int = 2,
    allow_tff: bool = False,
    progress: bool = True,
    notebooks=None,
    value: str | None = None,
    rows: str | None = None,
    cols: str | None = None,
) -> SweepResult:
    """Run ``target`` at every point of ``grid`` on Dask and collect the results.

    Parameters
    ----------
    target
        A lesson name or notebook path, ``"module:function"``, or a function (see the module docs).
    grid, fixed
        ``{name: [values]}`` and ``{name: value}``, or ``grid`` a path to a TOML grid file (then
        ``fixed`` must be ``None``; the file's ``[fixed]`` table is used).
    out
        Output folder: ``points/`` (one record per point), ``results.parquet``, ``results.csv``,
        ``summary.png``, ``sweep.json`` (what was asked).
    scheduler
        ``None`` for a new ``LocalCluster`` (``workers`` single-threaded processes, default one per
        core; never more than there are points to run), else a scheduler address
        (``"tcp://host:8786"``), a cluster object with ``scheduler_address`` (Dask Gateway's
        ``gateway.new_cluster()``) or a ``distributed.Client``.
    retries
        Dask retries of a task that raised outside the point's own code.
    allow_tff
        Let points start TensorFlow Federated (see the module docs).
    progress
        A tqdm bar over the points, and the dashboard link printed.
    value, rows, cols
        What :func:`plot_summary` draws into ``summary.png``.

    Returns
    -------
    SweepResult
        ``.table`` (the results table), ``.records``, ``.ran``, ``.skipped``, ``.failed``.

    Raises
    ------
    GridError
        Before anything runs, if the grid does not fit the target.
    """
    if isinstance(grid, (str, os.PathLike)):
        if fixed is not None:
            raise GridError("pass fixed values inside the grid file's [fixed] table, not as fixed=")
        grid, fixed = load_grid(grid)
    if workers is not None:
        if scheduler is not None:
            raise GridError("workers sizes the local cluster only; size a running cluster with its own "
                            "tools (e.g. cluster.scale(N) or cluster.adapt())")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise GridError(f"workers must be an integer >= 1, got {workers!r}")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise GridError(f"retries must be an integer >= 0, got {retries!r}")
    for label, name in (("rows", rows), ("cols", cols)):
        if name is not None and name not in grid:
            raise GridError(f"{label} must be a grid parameter ({', '.join(grid)}), got {name!r}")
    spec = resolve_target(target, notebooks)
    reserved = ("RESULTS_PATH",) if spec.kind == "lesson" else ()
    grid, fixed = validate_grid(spec, grid, fixed, reserved=reserved)
    points = expand_grid(grid, fixed)
    keys = [point_key(spec.name, p) for p in points]

    out = Path(out)
    point_dir = out / "points"
    point_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "sweep.json", {"target": spec.name, "kind": spec.kind, "grid": grid, "fixed": fixed})
    records = {k: read_record(point_dir / f"{k}.json") for k in keys}
    todo = [(k, p) for k, p in zip(keys, points) if not (records[k] and records[k]["status"] == "ok")]

    link = None
    if todo:
        from distributed import as_completed
        from tqdm.auto import tqdm

        with _dask_client(scheduler, workers, len(todo)) as client:
            link = client.dashboard_link
            if progress:
                print(f"Dask dashboard: {link}", flush=True)
            futures = {
                client.submit(run_point, spec, p, k, str(point_dir), allow_tff,
                              key=f"tinydtl-sweep-{k}", retries=retries): (k, p)
                for k, p in todo
            }
            bar = tqdm(total=len(futures), desc=f"sweep {spec.name}", unit="point", disable=not progress)
            for future in as_completed(futures):
                k, p = futures[future]
                try:
                    rec = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated deaths
                    rec = _failed_task_record(spec, p, k, exc)
                write_json_atomic(point_dir / f"{k}.json", rec)
                records[k] = rec
                bar.update(1)
                if rec["status"] != "ok":
                    bar.set_postfix_str(f"{sum(r is not None and r['status'] != 'ok' for r in records.values())} failed")
            bar.close()
            for future in futures:
                future.release()

    ordered = [records[k] for k in keys]
    table = records_table(ordered, parameter_names=list(grid) + [n for n in fixed if n not in grid])
    _replace_atomic(out / "results.parquet", lambda p: table.to_parquet(p, index=False))
    _replace_atomic(out / "results.csv", lambda p: table.to_csv(p, index=False))
    plot_path = None
    try:
        ax = plot_summary(table, grid, value=value, rows=rows, cols=cols)
    except ValueError as exc:  # e.g. a value name no point recorded: the results stand, the plot does not
        warnings.warn(f"no summary plot: {exc}", stacklevel=2)
        ax = None
    if ax is not None:
        plot_path = _replace_atomic(out / "summary.png", lambda p: ax.figure.savefig(p, dpi=120, format="png"))
    return SweepResult(
        target=spec.name, out=out, table=table, records=ordered, ran=len(todo), skipped=len(points) - len(todo),
        dashboard_link=link, plot=plot_path,
    )
