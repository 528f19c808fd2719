"""Run one lesson notebook headless with papermill and collect the claims it recorded.

The notebook's ``parameters`` cell is overridden (``QUICK``, ``RESULTS_PATH``, optionally ``SEED`` and
any other value); its :class:`~tinydtl.lab.claims.ClaimRecorder` writes the claims to ``RESULTS_PATH``,
which :func:`run_notebook` reads back into a :class:`NotebookRun`. A notebook that raises is a
failed run naming the cell, not an exception.

Ctrl-C: the notebook runs in a worker thread, so papermill's event loop cannot swallow the signal;
the main thread gets ``KeyboardInterrupt`` and stops the kernel's whole session (the kernel and
what it started, e.g. TensorFlow Federated's ``worker_binary``;
:func:`tinydtl.runtime.processes.terminate_sessions`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinydtl.core.validation import check_int_seed
from tinydtl.lab.claims import Claim, is_claim_record, load_results
from tinydtl.runtime.files import check_replaceable, read_json_object
from tinydtl.runtime.processes import (
    kernel_sessions,
    no_stray_processes,
    terminate_sessions,
)

__all__ = ["INTERRUPT_GRACE", "NotebookRun", "run_notebook", "check_notebook_output", "is_executed_notebook",
           "describe_failure"]

#: Seconds to wait for a notebook's worker thread to notice its kernel is gone after Ctrl-C.
INTERRUPT_GRACE = 5.0


@dataclass
class NotebookRun:
    """What happened when one notebook ran."""

    notebook: str
    output: str
    seconds: float
    ok: bool
    error: str = ""
    failed_cell: int | None = None
    interrupted: bool = False
    quick: bool | None = None
    seed: int | None = None
    parameters: dict = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def claims_passed(self) -> bool:
        """No claim fails (honest negatives and non-comparable claims do not fail)."""
        return not any(c.fails for c in self.claims)

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "output": self.output,
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "interrupted": self.interrupted,
            "error": self.error,
            "failed_cell": self.failed_cell,
            "quick": self.quick,
            "seed": self.seed,
            "parameters": self.parameters,
            "claims": [c.to_dict() for c in self.claims],
            "metrics": self.metrics,
        }


def describe_failure(exc) -> tuple[str, int | None]:
    """A one-line description of a notebook's failure, and the index of the failing cell (if a cell)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        cell = exc.exec_count if exc.exec_count is not None else exc.cell_index
        return f"cell {cell} (index {exc.cell_index}) raised {exc.ename}: {exc.evalue}", exc.cell_index
    return f"{type(exc).__name__}: {exc}", None


def is_executed_notebook(path) -> bool:
    """Whether ``path`` is a notebook papermill wrote (its metadata has a ``papermill`` section)."""
    data = read_json_object(path)
    return data is not None and "papermill" in (data.get("metadata") or {})


def check_notebook_output(path, out_dir, *, name: str = "out_dir") -> None:
    """Refuse, before a kernel starts, an output folder where running ``path`` would destroy a file.

    ``out_dir`` must be a folder (or not exist yet) other than the lesson's own folder (the executed
    copy has the lesson's name), and the files a run writes there (``NAME.ipynb``,
    ``NAME.results.json``) must be missing or earlier outputs of a run.
    """
    path, out_dir = Path(path).resolve(), Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{name} {out_dir} is a file; give a folder for the executed notebooks")
    if out_dir == path.parent:
        raise ValueError(f"{name} {out_dir} is the lesson's own folder: the executed copy would replace "
                         f"{path.name}; give another folder (e.g. build/)")
    check_replaceable(out_dir / path.name, is_ours=is_executed_notebook, kind="a notebook papermill executed",
                      name=f"{name} file")
    check_replaceable(out_dir / f"{path.stem}.results.json", is_ours=is_claim_record,
                      kind="a ClaimRecorder record", name=f"{name} file")


def _execute(path: Path, output: Path, params: dict, kernel_name: str, cell_timeout) -> tuple[dict, bool]:
    """papermill in a worker thread; returns ``({"exc": ...} or {}, interrupted)``."""
    outcome: dict = {}

    def execute():
        import papermill as pm

        try:
            pm.execute_notebook(str(path), str(output), parameters=params, kernel_name=kernel_name,
                                cwd=str(path.parent), progress_bar=False, log_output=False,
                                execution_timeout=cell_timeout)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, not raised
            outcome["exc"] = exc

    interrupted = False
    with no_stray_processes():
        # In a worker thread nbclient cannot install its own SIGINT handler (which only schedules a
        # kernel shutdown and lets the run go on); the main thread gets KeyboardInterrupt instead.
        worker = threading.Thread(target=execute, name=f"papermill {path.stem}", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            interrupted = True
            terminate_sessions(kernel_sessions())
            worker.join(INTERRUPT_GRACE)
    return outcome, interrupted


def run_notebook(
    path: str | Path,
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int | None = None,
    kernel_name: str = "python3",
    cell_timeout: int | None = 600,
    parameters: dict | None = None,
) -> NotebookRun:
    """Execute one notebook into ``out_dir`` and collect its recorded claims.

    A notebook that raises is reported (``ok=False``, with the failing cell), not re-raised.
    ``cell_timeout`` (seconds; the longest cell of a full run takes under 3 min) turns a hung kernel
    into a failure naming the notebook instead of a run that never ends.
    Any TFF worker process started during the run is terminated afterwards.
    Ctrl-C (KeyboardInterrupt in the main thread) terminates the kernel's session and returns a run
    with ``interrupted=True`` within a few seconds.
    ``seed`` (an integer >= 0) and ``out_dir`` (:func:`check_notebook_output`) are checked before a
    kernel starts.
    """
    if seed is not None:
        check_int_seed("seed", seed)
    check_notebook_output(path, out_dir)
    path, out_dir = Path(path).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    results_path = out_dir / f"{path.stem}.results.json"
    results_path.unlink(missing_ok=True)
    params = {"QUICK": bool(quick), "RESULTS_PATH": str(results_path)}
    if seed is not None:
        params["SEED"] = int(seed)
    params.update(parameters or {})
    # kernels inherit the environment: keep TensorFlow's C++ start-up chatter out of the report
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TINYDTL_HEADLESS"] = "1"  # tinydtl.lab.widgets.interact: no live widgets in a batch run
    start = time.perf_counter()
    outcome, interrupted = _execute(path, output, params, kernel_name, cell_timeout)
    run = NotebookRun(notebook=path.stem, output=str(output), seconds=time.perf_counter() - start, ok=True)
    if interrupted:
        run.ok, run.interrupted, run.error = False, True, "interrupted (Ctrl-C): the kernel was shut down"
    elif "exc" in outcome:
        run.ok = False
        run.error, run.failed_cell = describe_failure(outcome["exc"])
    if results_path.is_file():
        data = load_results(results_path)
        run.claims, run.metrics = data["claims"], data["metrics"]
        run.parameters, run.quick, run.seed = data["parameters"], data.get("quick"), data.get("seed")
    elif run.ok:
        run.ok = False
        run.error = f"the notebook recorded no results (no ClaimRecorder wrote {results_path.name})"
    return run
