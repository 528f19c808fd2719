"""What every lesson shares: its results file, its "what to notice" checks, where its full run is.

* :func:`expect` — a "what to notice" sentence that states a direction or a size is checked against
  the run that printed it: ``expect(acc_iid > acc_skew, "the skewed split ends lower", iid=acc_iid,
  skew=acc_skew)`` raises :class:`NoticeError` (naming the sentence and the numbers) when the run says
  otherwise, in QUICK and in full mode alike, so no lesson can print a sentence its numbers contradict.
* :func:`results_path` — where a lesson writes its claims when run by hand (``build/lessons/``, never
  next to the notebooks, where it would show in the file browser and in ``git status``).
* :func:`full_run_note` — the sentence that tells a student where the full-scale numbers are.
"""

from __future__ import annotations

from pathlib import Path

from tinydtl.runtime.paths import repo_path

__all__ = ["NoticeError", "expect", "full_run_note", "results_path"]


class NoticeError(AssertionError):
    """A lesson's "what to notice" sentence is contradicted by the numbers of this run."""


def expect(condition, notice: str, **shown) -> None:
    """Check that the run supports ``notice``; raise :class:`NoticeError` with the numbers if not."""
    if not isinstance(notice, str) or not notice:
        raise TypeError("notice must be the sentence the lesson states (a non-empty string)")
    if not bool(condition):
        numbers = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v!r}" for k, v in shown.items())
        raise NoticeError(f"this run contradicts the lesson's sentence {notice!r}" + (f" ({numbers})" if numbers else ""))


def results_path(notebook: str, injected=None) -> Path:
    """``injected`` (papermill's ``RESULTS_PATH``) or ``build/lessons/<notebook>.results.json``."""
    if injected is not None:
        return Path(injected)
    return repo_path("build", "lessons", f"{notebook}.results.json")


def full_run_note(notebook: str, seconds: float | None = None) -> str:
    """Markdown telling a student that this is the student-scale run and where the full run's numbers are."""
    took = f" in about {seconds:.0f} s" if seconds else ""
    return (f"This run is the lesson's student scale (`QUICK = True`{took}). The full-scale numbers — more "
            f"data, rounds and seeds, the claims judged — are in `docs/results.md` (section `{notebook}`) and in "
            f"the book; rerun them with `uv run tinydtl reproduce {notebook.split('_')[0]}`.")
