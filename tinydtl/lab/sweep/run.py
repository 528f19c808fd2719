"""Running a sweep on Dask: one point on a worker (:func:`run_point`), every point (:func:`run_sweep`).

The engine is Dask's, not a home-made pool: its scheduler places the tasks, re-runs the task of a
worker that dies and serves the dashboard. By default a :func:`local_cluster` starts with one
single-threaded worker process per core, listening on 127.0.0.1 only (scheduler, workers and
dashboard: nothing is reachable from another machine unless a dashboard address is asked for).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinydtl.core.validation import check_number
from tinydtl.lab.reproduce.machine import available_cores
from tinydtl.lab.sweep.grid import (
    GridError,
    SweepError,
    SweepTarget,
    expand_grid,
    load_grid,
    point_key,
    resolve_target,
    validate_grid,
)
from tinydtl.lab.sweep.plots import plot_summary
from tinydtl.lab.sweep.records import (
    error_text,
    failed_task_record,
    function_results,
    prepare_out,
    read_record,
    records_table,
    write_record,
)
from tinydtl.lab.sweep.tff_guard import refuse_tff
from tinydtl.runtime.files import write_atomic

__all__ = ["LOOPBACK_DASHBOARD", "SweepResult", "local_cluster", "run_point", "run_sweep"]

#: Where a local cluster's dashboard listens unless told otherwise: this machine only, any free port.
LOOPBACK_DASHBOARD = "127.0.0.1:0"


# ----------------------------------------------------------------------------- one point (on a worker)


def _run_lesson(target: SweepTarget, parameters: dict, key: str, out_dir: str, record: dict) -> None:
    from tinydtl.lab.reproduce.notebook import run_notebook

    run = run_notebook(target.path, Path(out_dir) / key, quick=bool(parameters.get("QUICK", False)),
                       parameters=parameters)
    record["output"] = run.output
    if run.ok:
        record["claims"] = [c.to_dict() for c in run.claims]
        record["metrics"] = dict(run.metrics)
    else:
        record["status"] = "failed"
        record["error"] = {"notebook": run.notebook, "cell": run.failed_cell, "exception": run.error}


def _run_function(target: SweepTarget, parameters: dict, record: dict) -> None:
    try:
        record["claims"], record["metrics"] = function_results(target.function(**parameters))
    except Exception as exc:  # noqa: BLE001 - the point's failure is its result
        record["status"] = "failed"
        record["error"] = {"function": target.name, "cell": None, "exception": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc()}


def run_point(target: SweepTarget, parameters: dict, key: str, out_dir: str, allow_tff: bool = False) -> dict:
    """Run one point and return its record (a JSON-able dict). Runs on a Dask worker.

    The point's own failure (the function raises, a notebook cell raises) is caught and recorded;
    anything else propagates, so Dask can retry the task.
    """
    from tinydtl.runtime.processes import no_stray_processes

    record = {"point": key, "target": target.name, "kind": target.kind, "parameters": parameters, "status": "ok",
              "error": None, "claims": [], "metrics": {}, "output": None, "host": socket.gethostname(),
              "pid": os.getpid()}
    guard = no_stray_processes() if allow_tff else refuse_tff()
    start, cpu_start = time.perf_counter(), time.process_time()
    with guard:
        if target.kind == "lesson":
            _run_lesson(target, parameters, key, out_dir, record)
        else:
            _run_function(target, parameters, record)
    record["seconds"] = time.perf_counter() - start
    record["cpu_seconds"] = time.process_time() - cpu_start  # this worker process's CPU time, all threads
    return record


# ----------------------------------------------------------------------------- the cluster


@contextlib.contextmanager
def local_cluster(workers: int | None = None, *, dashboard_address: str | None = LOOPBACK_DASHBOARD):
    """A Dask ``LocalCluster`` on this machine, closed afterwards: ``workers`` single-threaded worker
    processes (default one per core), scheduler and workers on 127.0.0.1.

    ``dashboard_address`` is where the dashboard listens: this machine only by default; ``":8787"``
    (every interface, no authentication) only when you mean to share it; ``None`` for no dashboard.
    """
    import logging

    from distributed import LocalCluster

    if workers is not None:
        check_number("workers", workers, low=1, integer=True)
    n = workers or available_cores()
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=dashboard_address, silence_logs=logging.ERROR) as cluster:
        yield cluster


@contextlib.contextmanager
def _dask_client(scheduler, workers, n_tasks, dashboard_address):
    """A ``distributed.Client``: on a new local cluster (closed afterwards) or on ``scheduler``."""
    from distributed import Client

    if scheduler is None:
        with local_cluster(min(workers or available_cores(), n_tasks), dashboard_address=dashboard_address) as cluster, \
                Client(cluster) as client:
            yield client
    elif isinstance(scheduler, Client):
        yield scheduler
    else:
        address = getattr(scheduler, "scheduler_address", scheduler)  # a Cluster object (e.g. Dask Gateway)
        try:
            client = Client(address)
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"cannot connect to the Dask scheduler {address}: {exc}") from None
        with client:
            yield client


def _check_scheduler(scheduler) -> None:
    """``scheduler`` is None, a Client, a cluster object, or an address with a port (checked, not contacted)."""
    if scheduler is None or hasattr(scheduler, "scheduler_address"):
        return
    from distributed import Client
    from distributed.comm import parse_address, parse_host_port

    if isinstance(scheduler, Client):
        return
    hint = "a Dask scheduler address such as 'tcp://host:8786', a cluster object or a distributed.Client"
    if not isinstance(scheduler, str):
        raise SweepError(f"scheduler must be {hint}, got {type(scheduler).__name__} {scheduler!r}")
    try:
        protocol, location = parse_address(scheduler)
        if protocol in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError:
        raise SweepError(f"scheduler must be {hint}, got {scheduler!r}") from None


def _run_points(spec, todo, records, point_dir, *, client, retries, allow_tff, progress) -> None:
    """Submit the points still to do, and write each record as it arrives (failed tasks included)."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = {client.submit(run_point, spec, p, k, str(point_dir), allow_tff, key=f"tinydtl-sweep-{k}",
                             retries=retries): (k, p) for k, p in todo}
    bar = tqdm(total=len(futures), desc=f"sweep {spec.name}", unit="point", disable=not progress, leave=False)
    for future in as_completed(futures):
        k, p = futures[future]
        try:
            rec = future.result()
        except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker after repeated deaths
            rec = failed_task_record(spec, p, k, exc)
        write_record(point_dir / f"{k}.json", rec)
        records[k] = rec
        bar.update(1)
        if rec["status"] != "ok":
            bar.set_postfix_str(f"{sum(r is not None and r['status'] != 'ok' for r in records.values())} failed")
    bar.close()
    for future in futures:
        future.release()


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
            text += f"\n  FAILED point {rec['point']} {json.dumps(rec['parameters'])}: {error_text(rec['error'])}"
        return text


def _check_options(grid, fixed, *, scheduler, workers, retries, rows, cols, dashboard_address) -> tuple[dict, dict]:
    """The grid and fixed values (read from the file if ``grid`` is a path), after checking every option."""
    if isinstance(grid, (str, os.PathLike)):
        if fixed is not None:
            raise GridError("pass fixed values inside the grid file's [fixed] table, not as fixed=")
        grid, fixed = load_grid(grid)
    _check_scheduler(scheduler)
    if workers is not None:
        if scheduler is not None:
            raise GridError("workers sizes the local cluster only; size a running cluster with its own "
                            "tools (e.g. cluster.scale(N) or cluster.adapt())")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise GridError(f"workers must be an integer >= 1, got {workers!r}")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise GridError(f"retries must be an integer >= 0, got {retries!r}")
    if dashboard_address is not None and not isinstance(dashboard_address, str):
        raise TypeError(f"dashboard_address must be a string such as {LOOPBACK_DASHBOARD!r} or ':8787' "
                        f"(or None for no dashboard), got {type(dashboard_address).__name__} {dashboard_address!r}")
    for label, name in (("rows", rows), ("cols", cols)):
        if name is not None and name not in grid:
            raise GridError(f"{label} must be a grid parameter ({', '.join(grid)}), got {name!r}")
    return grid, fixed


def _write_outputs(out: Path, table, grid, *, value, rows, cols) -> Path | None:
    """``results.parquet``, ``results.csv`` and (if there is something to draw) ``summary.png``."""
    write_atomic(out / "results.parquet", lambda p: table.to_parquet(p, index=False))
    write_atomic(out / "results.csv", lambda p: table.to_csv(p, index=False))
    try:
        ax = plot_summary(table, grid, value=value, rows=rows, cols=cols)
    except ValueError as exc:  # e.g. a value name no point recorded: the results stand, the plot does not
        warnings.warn(f"no summary plot: {exc}", stacklevel=3)
        return None
    if ax is None:
        return None
    return write_atomic(out / "summary.png", lambda p: ax.figure.savefig(p, dpi=120, format="png"))


def run_sweep(target, grid, *, fixed=None, out="build/sweep", scheduler=None, workers: int | None = None,
              retries: int = 2, allow_tff: bool = False, progress: bool = True, notebooks=None,
              value: str | None = None, rows: str | None = None, cols: str | None = None,
              dashboard_address: str | None = LOOPBACK_DASHBOARD) -> SweepResult:
    """Run ``target`` at every point of ``grid`` on Dask and collect the results.

    Parameters
    ----------
    target
        A lesson name or notebook path, ``"module:function"``, or a function (see :mod:`tinydtl.lab.sweep`).
    grid, fixed
        ``{name: [values]}`` and ``{name: value}``, or ``grid`` a path to a TOML grid file (its
        ``[fixed]`` table is used; ``fixed`` must be ``None``).
    out
        Output folder: ``points/``, ``results.parquet``, ``results.csv``, ``summary.png``,
        ``sweep.json``; a folder holding results files that no sweep wrote is refused.
    scheduler
        ``None`` for a new :func:`local_cluster` of ``workers`` processes (default one per core, never
        more than points to run), else a scheduler address (``"tcp://host:8786"``), a cluster object
        with ``scheduler_address`` (Dask Gateway) or a ``distributed.Client``.
    retries
        Dask retries of a task that raised outside the point's own code.
    allow_tff
        Let points start TensorFlow Federated (:mod:`tinydtl.lab.sweep.tff_guard`).
    progress, value, rows, cols, dashboard_address
        A tqdm bar and the dashboard link printed; what ``summary.png`` draws
        (:func:`~tinydtl.lab.sweep.plots.plot_summary`); where a local dashboard listens (127.0.0.1).

    Returns
    -------
    SweepResult
        ``.table`` (the results table), ``.records``, ``.ran``, ``.skipped``, ``.failed``.

    Raises
    ------
    SweepError
        Before anything runs: a grid that does not fit (:class:`GridError`), a bad option or ``out``.
    """
    grid, fixed = _check_options(grid, fixed, scheduler=scheduler, workers=workers, retries=retries, rows=rows,
                                 cols=cols, dashboard_address=dashboard_address)
    spec = resolve_target(target, notebooks)
    grid, fixed = validate_grid(spec, grid, fixed, reserved=("RESULTS_PATH",) if spec.kind == "lesson" else ())
    points = expand_grid(grid, fixed)
    keys = [point_key(spec.name, p) for p in points]
    out = prepare_out(out, {"target": spec.name, "kind": spec.kind, "grid": grid, "fixed": fixed})
    point_dir = out / "points"
    records = {k: read_record(point_dir / f"{k}.json") for k in keys}
    todo = [(k, p) for k, p in zip(keys, points) if not (records[k] and records[k]["status"] == "ok")]
    link = None
    if todo:
        with _dask_client(scheduler, workers, len(todo), dashboard_address) as client:
            link = client.dashboard_link
            if progress:
                print(f"Dask dashboard: {link}", flush=True)
            _run_points(spec, todo, records, point_dir, client=client, retries=retries, allow_tff=allow_tff,
                        progress=progress)
    ordered = [records[k] for k in keys]
    table = records_table(ordered, parameter_names=list(grid) + [n for n in fixed if n not in grid])
    plot = _write_outputs(out, table, grid, value=value, rows=rows, cols=cols)
    return SweepResult(target=spec.name, out=out, table=table, records=ordered, ran=len(todo),
                       skipped=len(points) - len(todo), dashboard_link=link, plot=plot)
