"""Execute the lesson notebooks with papermill and report *claim vs measured*.

This is the one code path behind ``tinydtl reproduce`` and the notebook tests: each notebook is
run headless with its ``parameters`` cell overridden (``QUICK``, ``RESULTS_PATH`` and optionally
``SEED``), its :class:`~tinydtl.claims.ClaimRecorder` writes the headline numbers to
``RESULTS_PATH``, and the runner gathers them into ``results.json`` and ``report.md``.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .claims import Claim, load_results
from .processes import no_stray_processes

__all__ = [
    "NotebookRun",
    "default_notebook_dir",
    "discover_notebooks",
    "select_notebooks",
    "run_notebook",
    "run_all",
    "write_report",
]

_NOTEBOOK_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")


def default_notebook_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "notebooks"


def discover_notebooks(directory: str | Path | None = None) -> list[Path]:
    """The numbered lessons ``NN_name.ipynb`` in ``directory``, in order."""
    directory = Path(directory) if directory is not None else default_notebook_dir()
    if not directory.is_dir():
        raise FileNotFoundError(f"notebook directory {directory} does not exist")
    return sorted(p for p in directory.iterdir() if _NOTEBOOK_RE.match(p.name))


def select_notebooks(names, directory: str | Path | None = None) -> list[Path]:
    """Pick notebooks by full stem (``02_ilvq_sphere``), number (``02``) or name (``ilvq_sphere``)."""
    available = discover_notebooks(directory)
    if not names:
        return available
    chosen = []
    for name in names:
        key = Path(name).stem
        hits = [p for p in available if key in (p.stem, p.stem[:2], p.stem[3:])]
        if not hits:
            listing = ", ".join(p.stem for p in available) or "none"
            raise ValueError(f"no notebook matches {name!r}; available: {listing}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


@dataclass
class NotebookRun:
    """What happened when one notebook ran."""

    notebook: str
    output: str
    seconds: float
    ok: bool
    error: str = ""
    failed_cell: int | None = None
    claims: list[Claim] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def claims_passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "output": self.output,
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "error": self.error,
            "failed_cell": self.failed_cell,
            "claims": [c.to_dict() for c in self.claims],
            "metrics": self.metrics,
        }


def _describe_failure(exc) -> tuple[str, int | None]:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        cell = exc.exec_count if exc.exec_count is not None else exc.cell_index
        return f"cell {cell} (index {exc.cell_index}) raised {exc.ename}: {exc.evalue}", exc.cell_index
    return f"{type(exc).__name__}: {exc}", None


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
    """
    import papermill as pm

    path = Path(path).resolve()
    out_dir = Path(out_dir).resolve()
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
    os.environ["TINYDTL_HEADLESS"] = "1"  # tinydtl.widgets.interact: no live widgets in a batch run
    start = time.perf_counter()
    ok, error, failed_cell = True, "", None
    with no_stray_processes():
        try:
            pm.execute_notebook(
                str(path),
                str(output),
                parameters=params,
                kernel_name=kernel_name,
                cwd=str(path.parent),
                progress_bar=False,
                log_output=False,
                execution_timeout=cell_timeout,
            )
        except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
            ok = False
            error, failed_cell = _describe_failure(exc)
    run = NotebookRun(
        notebook=path.stem,
        output=str(output),
        seconds=time.perf_counter() - start,
        ok=ok,
        error=error,
        failed_cell=failed_cell,
    )
    if results_path.is_file():
        data = load_results(results_path)
        run.claims, run.metrics = data["claims"], data["metrics"]
    elif ok:
        run.ok = False
        run.error = f"the notebook recorded no results (no ClaimRecorder wrote {results_path.name})"
    return run


def run_all(
    notebooks,
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int | None = None,
    progress: bool = True,
) -> list[NotebookRun]:
    """Run several notebooks in order, with a progress bar."""
    from tqdm.auto import tqdm

    runs = []
    bar = tqdm(list(notebooks), desc="notebooks", unit="nb", disable=not progress)
    for path in bar:
        bar.set_postfix_str(Path(path).stem)
        runs.append(run_notebook(path, out_dir, quick=quick, seed=seed))
    bar.close()
    return runs


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_markdown(runs: list[NotebookRun], *, quick: bool) -> str:
    lines = [
        "# tinydtl reproduction report",
        "",
        f"Mode: {'QUICK (small settings)' if quick else 'full'}.",
        "",
        "| notebook | source | claim | measured | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        for c in run.claims:
            lines.append(
                f"| {run.notebook} | {_md_cell(c.source)} | {_md_cell(c.claim)} | "
                f"{_md_cell(c.describe_measured())} | {c.verdict} |"
            )
        if not run.ok:
            lines.append(f"| {run.notebook} | | notebook failed | {_md_cell(run.error)} | FAILED |")
    lines += ["", "| notebook | seconds | status |", "| --- | --- | --- |"]
    for run in runs:
        status = "ok" if run.ok else "failed"
        lines.append(f"| {run.notebook} | {run.seconds:.1f} | {status} |")
    return "\n".join(lines) + "\n"


def write_report(runs: list[NotebookRun], out_dir: str | Path, *, quick: bool) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.md`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "quick": quick,
        "ok": all(r.ok and r.claims_passed for r in runs),
        "notebooks": [r.to_dict() for r in runs],
    }
    results = out_dir / "results.json"
    results.write_text(json.dumps(summary, indent=2))
    report = out_dir / "report.md"
    report.write_text(report_markdown(runs, quick=quick))
    return results, report
