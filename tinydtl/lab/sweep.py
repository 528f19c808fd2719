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
  runner as ``tinydtl reproduce`` (:func:`tinydtl.lab.reproduce.run_notebook`); its results are the
  claims and metrics its :class:`~tinydtl.lab.claims.ClaimRecorder` wrote; or
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
:func:`tinydtl.runtime.processes.no_stray_processes`, which terminates the ``worker_binary`` it started.

**Output.** ``OUT/results.parquet`` and ``OUT/results.csv``: one row per point and claim (metrics
are rows too, ``kind="metric"``; a failed point is one row with its ``error``), the point's
parameters as columns; ``OUT/summary.png``: a heat map of one quantity over two grid axes
(:func:`plot_summary`, averaged over the other axes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.abc
import json
import math
import numbers
import os
import socket
import sys
import tempfile
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tinydtl.lab.claims import write_json_atomic
from tinydtl.lab.sweep_grid import (
    RESULT_COLUMNS,
    GridError,
    Parameter,
    SweepTarget,
    expand_grid,
    load_grid,
    point_key,
    resolve_target,
    validate_grid,
)

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
    "read_record",
    "records_table",
    "plot_summary",
    "run_sweep",
]

#: The error a sweep point gets when it imports TensorFlow Federated without ``allow_tff``.
TFF_REFUSED = (
    "TensorFlow Federated is not started inside sweep workers unless asked: each start leaves a "
    "~2.5 GB worker_binary per worker process. Pass allow_tff=True (tinydtl sweep --allow-tff), "
    "preferably with fewer workers, or sweep the numpy engine."
)

_SCALARS = (bool, int, float, str)


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
    from tinydtl.lab.claims import Claim

    if isinstance(item, Claim):
        return item.to_dict()
    if isinstance(item, dict):
        fields = {f.name for f in dataclasses.fields(Claim)}
        return Claim(**{k: v for k, v in item.items() if k in fields}).to_dict()
    raise TypeError(f"a claim must be a tinydtl.lab.claims.Claim or a dict of its fields, got {item!r}")


def _finite(name, value) -> float:
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"metric {name!r} must be a finite number, got {value!r}")
    return float(value)


def _function_results(result) -> tuple[list, dict]:
    """Claims and metrics from a point function's return value."""
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


def run_point(target: SweepTarget, parameters: dict, key: str, out_dir: str, allow_tff: bool = False) -> dict:
    """Run one point and return its record (a JSON-able dict). Runs on a Dask worker.

    The point's own failure (the function raises, a notebook cell raises) is caught and recorded;
    anything else propagates, so Dask can retry the task.
    """
    from tinydtl.runtime.processes import no_stray_processes

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
    start, cpu_start = time.perf_counter(), time.process_time()
    with guard:
        if target.kind == "lesson":
            from tinydtl.lab.reproduce import run_notebook

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
    record["cpu_seconds"] = time.process_time() - cpu_start  # this worker process's CPU time, all threads
    return record


# ----------------------------------------------------------------------------- records and the table


def _write_record(path, data) -> Path:
    """Sweep records: atomic JSON (:func:`tinydtl.lab.claims.write_json_atomic`), keys sorted, NaN allowed."""
    return write_json_atomic(path, data, allow_nan=True, sort_keys=True)


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
    from tinydtl.lab.plots import plot_heatmap

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
        "seconds": None, "cpu_seconds": None,
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
    _write_record(out / "sweep.json", {"target": spec.name, "kind": spec.kind, "grid": grid, "fixed": fixed})
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
                _write_record(point_dir / f"{k}.json", rec)
                records[k] = rec
                bar.update(1)
                if rec["status"] != "ok":
                    failed = sum(r is not None and r["status"] != "ok" for r in records.values())
                    bar.set_postfix_str(f"{failed} failed")
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
