"""A whole ``tinydtl reproduce`` run: several lessons in order, a progress bar, Ctrl-C, the files.

:func:`check_run_outputs` refuses, before any kernel starts, an output folder where the run would
destroy something; :func:`run_all` runs the lessons and keeps the summary so far in
``results.partial.json``; :func:`write_report` writes ``results.json`` and ``report.md`` — or, for a
failed run over good results, ``results.failed.json`` and ``report.failed.md``
(:mod:`tinydtl.lab.reproduce.results`).
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path

from tinydtl.core.validation import check_int_seed
from tinydtl.lab.reproduce.machine import machine_info
from tinydtl.lab.reproduce.notebook import (
    NotebookRun,
    check_notebook_output,
    run_notebook,
)
from tinydtl.lab.reproduce.report import is_results_page, report_markdown
from tinydtl.lab.reproduce.results import (
    PARTIAL_NAME,
    RESULTS_NAME,
    is_results_summary,
    result_paths,
)
from tinydtl.runtime.files import (
    check_replaceable,
    write_json_atomic,
    write_text_atomic,
)
from tinydtl.runtime.processes import kernel_sessions, terminate_sessions

__all__ = ["Reproduction", "check_run_outputs", "run_all", "write_report"]


@dataclass
class Reproduction:
    """A whole ``tinydtl reproduce`` run: the notebooks that ran, and whether it was interrupted."""

    runs: list[NotebookRun]
    quick: bool
    seed: int | None = None
    interrupted: bool = False
    started: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.ok and r.claims_passed for r in self.runs)

    def to_dict(self) -> dict:
        return {
            "started": self.started,
            "seconds": round(self.seconds, 1),
            "quick": self.quick,
            "seed": self.seed,
            "interrupted": self.interrupted,
            "ok": self.ok,
            "machine": machine_info(),
            "notebooks": [r.to_dict() for r in self.runs],
        }


def check_run_outputs(notebooks, out_dir, *, name: str = "out_dir") -> None:
    """Refuse, before any kernel starts, an ``out_dir`` where the run would destroy a file: a file
    instead of a folder, a lesson's own folder, or a ``results.json``, ``report.md`` or executed
    notebook there that a run did not write (:func:`tinydtl.lab.reproduce.notebook.check_notebook_output`)."""
    out_dir = Path(out_dir)
    for path in notebooks:
        check_notebook_output(path, out_dir, name=name)
    for file, is_ours, kind in ((RESULTS_NAME, is_results_summary, "a tinydtl results file"),
                                (PARTIAL_NAME, is_results_summary, "a tinydtl results file"),
                                ("report.md", is_results_page, "a report tinydtl wrote")):
        check_replaceable(out_dir / file, is_ours=is_ours, kind=kind, name=f"{name} file")


def run_all(
    notebooks,
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int | None = None,
    progress: bool = True,
) -> Reproduction:
    """Run several notebooks in order, with a progress bar; the summary so far is rewritten to
    ``out_dir/results.partial.json`` after each (:func:`write_report` writes the final files).

    ``seed`` and ``out_dir`` are checked before the first kernel starts (:func:`check_run_outputs`).
    Ctrl-C stops after shutting down the running notebook's kernel; the returned
    :class:`Reproduction` keeps the finished notebooks and has ``interrupted=True``.
    """
    from tqdm.auto import tqdm

    notebooks = list(notebooks)
    if seed is not None:
        check_int_seed("seed", seed)
    check_run_outputs(notebooks, out_dir)
    rep = Reproduction(runs=[], quick=quick, seed=seed,
                       started=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    start = time.perf_counter()
    bar = tqdm(notebooks, desc="notebooks", unit="nb", disable=not progress)
    try:
        for path in bar:
            bar.set_postfix_str(Path(path).stem)
            run = run_notebook(path, out_dir, quick=quick, seed=seed)
            rep.runs.append(run)
            rep.seconds = time.perf_counter() - start
            if run.interrupted:
                rep.interrupted = True
                break
            write_json_atomic(Path(out_dir) / PARTIAL_NAME, rep.to_dict())
    except KeyboardInterrupt:
        rep.interrupted = True
        terminate_sessions(kernel_sessions())
    finally:
        bar.close()
    rep.seconds = time.perf_counter() - start
    return rep


def write_report(rep: Reproduction, out_dir: str | Path) -> tuple[Path, Path]:
    """Write the run's summary and ``report.md`` into ``out_dir`` (atomically); return both paths.

    They are ``results.json`` and ``report.md``, except when the run failed and ``out_dir`` holds the
    results of a run that was ok: then ``results.failed.json`` and ``report.failed.md``, and the good
    files stay. ``results.partial.json`` is removed. A ``results.json`` or ``report.md`` that a run
    did not write is never replaced (``FileExistsError``, before anything is written).
    """
    out_dir = Path(out_dir)
    summary = rep.to_dict()
    results, report = result_paths(out_dir, rep.ok)
    check_replaceable(results, is_ours=is_results_summary, kind="a tinydtl results file", name="out_dir file")
    check_replaceable(report, is_ours=is_results_page, kind="a report tinydtl wrote", name="out_dir file")
    write_json_atomic(results, summary)
    write_text_atomic(report, report_markdown(summary))
    (out_dir / PARTIAL_NAME).unlink(missing_ok=True)
    return results, report
