"""What every lesson shares: its results file, its "what to notice" checks, where its full run is.

* :func:`expect` — a "what to notice" sentence that states a direction or a size is checked against
  the run that printed it: ``expect(acc_iid > acc_skew, "the skewed split ends lower", iid=acc_iid,
  skew=acc_skew)`` raises :class:`NoticeError` (naming the sentence and the numbers) when the run says
  otherwise, in QUICK and in full mode alike, so no lesson can print a sentence its numbers contradict.
* :func:`results_path` — where a lesson writes its claims when run by hand (``build/lessons/``, never
  next to the notebooks, where it would show in the file browser and in ``git status``).
* :func:`full_run_note` — the sentence that says at which scale a run is and where the full-scale numbers are.
"""

from __future__ import annotations

from pathlib import Path

from tinydtl.runtime.paths import repo_path

__all__ = ["NoticeError", "expect", "full_run_note", "number_list", "results_path"]


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


def number_list(values) -> str:
    """``1, 5, 10`` as written; a run of three or more consecutive integers as ``1 to 20``."""
    values = [int(v) for v in values]
    if len(values) > 2 and values == list(range(values[0], values[0] + len(values))):
        return f"{values[0]} to {values[-1]}"
    return ", ".join(map(str, values))


def full_run_note(notebook: str, seconds: float | None = None, *, quick: bool = True, scale: str | None = None,
                  full_scale: str | None = None) -> str:
    """Markdown saying at which scale this run is, from ``quick`` (the lesson's ``QUICK``).

    ``scale`` describes this run (built from the lesson's effective parameters, so it is true of the run);
    ``full_scale`` what the full run adds, quoted in the student-scale note only.
    """
    took = f" in about {seconds:.0f} s" if seconds else ""
    this = f"{took}: {scale}" if scale else took
    if not quick:
        return (f"*This is the lesson's full-scale run (`QUICK = False`{this}): the claims in the appendix are "
                f"judged at this scale.*")
    more = full_scale or "more data, rounds and seeds, the claims judged"
    return (f"*This run is the lesson's student scale (`QUICK = True`{this}). The full-scale numbers — {more} — "
            f"are on the book's claims page (`docs/results.md`, section `{notebook}`); to run them yourself, set "
            f"`QUICK = False` in the first code cell.*")
