"""Parameter sweeps on Dask: one lesson or package function run over a grid of parameters.

``tinydtl sweep TARGET --grid grid.toml`` and :func:`run_sweep` expand a grid, check it against the
target's parameters *before anything runs*, and run every point as a Dask task: on a
``LocalCluster`` with one single-threaded worker process per core by default (listening on
127.0.0.1 only, dashboard included), or on any running Dask scheduler (a lab cluster, Dask Gateway)
given by its address. The engine is Dask's, not a home-made pool: its scheduler places the tasks,
re-runs the task of a worker that dies and serves the dashboard.

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
skipped when the sweep runs again; failed points are run again. ``OUT/sweep.json`` marks the folder
as a sweep's: a folder holding results files without it is refused (nothing a user made is replaced).

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

The parts: :mod:`~tinydtl.lab.sweep.grid` (targets, grids, keys), :mod:`~tinydtl.lab.sweep.run`
(points on Dask), :mod:`~tinydtl.lab.sweep.records` (records, folder, table),
:mod:`~tinydtl.lab.sweep.tff_guard`, :mod:`~tinydtl.lab.sweep.plots`, and
:mod:`~tinydtl.lab.sweep.points` (package functions shaped as points, e.g. ``fedavg_mnist``).
"""

from tinydtl.lab.reproduce.machine import available_cores
from tinydtl.lab.sweep.grid import (
    RESULT_COLUMNS,
    GridError,
    Parameter,
    SweepError,
    SweepTarget,
    expand_grid,
    load_grid,
    point_key,
    resolve_target,
    validate_grid,
)
from tinydtl.lab.sweep.plots import plot_summary
from tinydtl.lab.sweep.records import read_record, records_table
from tinydtl.lab.sweep.run import (
    LOOPBACK_DASHBOARD,
    SweepResult,
    local_cluster,
    run_point,
    run_sweep,
)
from tinydtl.lab.sweep.tff_guard import TFF_REFUSED, refuse_tff

__all__ = [
    "SweepError",
    "GridError",
    "Parameter",
    "SweepTarget",
    "SweepResult",
    "RESULT_COLUMNS",
    "TFF_REFUSED",
    "LOOPBACK_DASHBOARD",
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
    "local_cluster",
    "run_sweep",
]
