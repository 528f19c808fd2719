"""A run's ``results.json``: what it must hold, and when it may replace the previous one.

``tinydtl reproduce`` gathers every lesson's claims into one summary (``started``, ``seconds``,
``quick``, ``seed``, ``interrupted``, ``ok``, ``machine``, ``notebooks``). While the run goes on, the
summary so far is rewritten after every lesson to ``results.partial.json`` (so a crash keeps the
finished lessons); at the end it becomes ``results.json`` and ``report.md``, with one exception:

**a failed run never replaces good results with less.** If the run failed (a lesson failed, a claim
is NOT MET, or it was interrupted) and the folder already holds the results of a run that was ``ok``,
the new summary goes to ``results.failed.json`` and ``report.failed.md`` and the good files stay.
"""

from __future__ import annotations

from pathlib import Path

from tinydtl.runtime.files import read_json_object

__all__ = [
    "RESULTS_NAME",
    "FAILED_NAME",
    "PARTIAL_NAME",
    "is_results_summary",
    "check_summary",
    "result_paths",
]

RESULTS_NAME = "results.json"
FAILED_NAME = "results.failed.json"
PARTIAL_NAME = "results.partial.json"
_REPORTS = {RESULTS_NAME: "report.md", FAILED_NAME: "report.failed.md"}

#: Keys every summary written by ``tinydtl reproduce`` has (how it is recognised).
SUMMARY_KEYS = frozenset({"started", "machine", "notebooks"})
_NOTEBOOK_KEYS = ("notebook", "ok", "seconds", "claims")


def is_results_summary(path) -> bool:
    """Whether ``path`` holds a run's summary written by ``tinydtl reproduce`` (recognised by its keys)."""
    data = read_json_object(path)
    return data is not None and SUMMARY_KEYS <= set(data) and isinstance(data["notebooks"], list)


def check_summary(summary, source="summary") -> dict:
    """``summary`` if it is a run's results (a dict with a ``notebooks`` list of lesson entries), else a
    ``ValueError`` naming ``source`` and what is missing. Returns ``summary``."""
    if isinstance(summary, dict) and isinstance(summary.get("notebook"), str) and "claims" in summary:
        raise ValueError(f"{source} is one lesson's ClaimRecorder record, not a run's results.json "
                         "(tinydtl reproduce writes that)")
    if not isinstance(summary, dict) or not isinstance(summary.get("notebooks"), list):
        got = type(summary).__name__ if not isinstance(summary, dict) else f"keys {sorted(summary)}"
        raise ValueError(f"{source} is not a tinydtl results.json: it needs a 'notebooks' list, got {got} "
                         "(tinydtl reproduce writes results.json)")
    for i, nb in enumerate(summary["notebooks"]):
        missing = [k for k in _NOTEBOOK_KEYS if not isinstance(nb, dict) or k not in nb]
        if missing:
            raise ValueError(f"{source}: notebooks[{i}] is not a lesson's entry (missing {', '.join(missing)})")
    return summary


def result_paths(out_dir, ok: bool) -> tuple[Path, Path]:
    """Where a run's ``results.json`` and ``report.md`` go: ``results.failed.json`` and
    ``report.failed.md`` when the run is not ``ok`` and ``out_dir`` holds the results of a run that was."""
    out_dir = Path(out_dir)
    previous = read_json_object(out_dir / RESULTS_NAME)
    keep = not ok and previous is not None and SUMMARY_KEYS <= set(previous) and previous.get("ok") is True
    name = FAILED_NAME if keep else RESULTS_NAME
    return out_dir / name, out_dir / _REPORTS[name]
