"""Markdown of a run's results: ``report.md`` after every run and the committed ``docs/results.md``.

One table per kind of claim (reproductions with source, place and what differs; findings; sanity
checks), the tolerances fixed before the run, the lessons that did not finish, then every lesson's
run time, seeds and parameters. The committed page is regenerated from a full run's
``results.json``, never typed; it is only written over a page this module wrote, and a run of some
lessons does not replace the page of all of them unless forced.
"""

from __future__ import annotations

from pathlib import Path

from tinydtl.lab.claims import KINDS, Claim
from tinydtl.lab.reproduce.results import check_summary
from tinydtl.runtime.files import check_replaceable, write_text_atomic

__all__ = ["DOCS_TITLE", "REPORT_TITLE", "DOCS_INTRO", "report_markdown", "write_docs", "is_results_page",
           "page_lessons", "check_docs_target"]

REPORT_TITLE = "tinydtl reproduction report"
DOCS_TITLE = "tinydtl: measured results"
_RUN_TIMES = "## Run times and parameters"

DOCS_INTRO = (
    "Generated from the `results.json` of a full `uv run tinydtl reproduce` by `{command}`; do not edit "
    "by hand (regenerate after a full run). The README links here instead of repeating numbers; the "
    "lessons' run times below are the measured ones."
)

VERDICT_LEGEND = (
    "- verdicts: **met**; **NOT MET** (fails the run); **NOT MET (honest negative)** (a reproduction expected "
    "or accepted not to hold, with the reason; does not fail the run); **undecided (within noise)** (the "
    "measurement is within the run's own noise band, e.g. 2 paired standard errors over seeds, of the "
    "target's edge on either side: neither a win nor a miss is called; does not fail the run); **not comparable** (the source's "
    "experiment differs too much to call it a reproduction; shown with what the number would give)"
)


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _claim_dicts(summary: dict):
    for nb in summary["notebooks"]:
        for c in nb["claims"]:
            yield nb["notebook"], c if isinstance(c, dict) else c.to_dict()


def _measured(c: dict) -> str:
    claim = Claim(**{k: v for k, v in c.items() if k in Claim.__dataclass_fields__})
    return claim.describe_measured()


def _verdict(c: dict) -> str:
    v = c["verdict"]
    if c.get("honest_negative") and v.startswith("NOT MET"):
        v += f": {c['honest_negative']}"
    if v.startswith("undecided"):
        v += f" ({c.get('noise_reason') or 'noise band'}: ±{c.get('noise', 0):.2g})"
    if c.get("verdict") == "not comparable":
        v += " (would be met)" if c.get("passed") else " (would not be met)"
    return v


def _seeds(nb: dict) -> str:
    params = nb.get("parameters") or {}
    for key in ("SEEDS", "seeds"):
        if params.get(key) is not None:
            seeds = params[key]
            return ", ".join(map(str, seeds)) if isinstance(seeds, list) else str(seeds)
    return "" if nb.get("seed") is None else str(nb["seed"])


def _parameters(nb: dict) -> str:
    params = {k: v for k, v in (nb.get("parameters") or {}).items() if k not in ("QUICK", "SEED", "RESULTS_PATH")}
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _status(nb: dict) -> str:
    return "INTERRUPTED" if nb.get("interrupted") else ("ok" if nb["ok"] else "FAILED")


def _header(summary: dict, title: str, intro: str) -> list[str]:
    mode = "QUICK (small settings)" if summary.get("quick") else "full"
    machine = summary.get("machine") or {}
    seed = summary.get("seed") if summary.get("seed") is not None else "none (each lesson its own SEED)"
    lines = [f"# {title}", ""] + ([intro, ""] if intro else [])
    if summary.get("interrupted"):
        lines += ["**Run interrupted (Ctrl-C)**: the notebooks below finished before the interrupt; the rest did not run.", ""]
    return lines + [
        f"- mode: {mode}; seed override: {seed}",
        f"- started: {summary.get('started') or 'unknown'}; total run time {summary.get('seconds', 0):.0f} s",
        f"- machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('memory_gb', '?')} GB RAM, "
        f"{machine.get('os', '?')}, Python {machine.get('python', '?')}",
        VERDICT_LEGEND,
        "",
    ]


def _claim_tables(claims: list) -> list[str]:
    by_kind = {k: [(nb, c) for nb, c in claims if (c.get("kind") or "reproduction") == k] for k in KINDS}
    lines = ["## Reproductions of published numbers", ""]
    if by_kind["reproduction"]:
        lines += _table(
            ("lesson", "claim", "source", "where", "what differs", "measured", "verdict"),
            [(nb, c["claim"], c["source"], c.get("where") or "(not stated)", c.get("differs") or "(not stated)",
              _measured(c), _verdict(c)) for nb, c in by_kind["reproduction"]],
        )
    else:
        lines.append("(none)")
    for kind, heading in (("finding", "Findings of this suite"), ("sanity", "Sanity checks (definitions, closed forms)")):
        lines += ["", f"## {heading}", ""]
        if by_kind[kind]:
            lines += _table(("lesson", "claim", "basis", "measured", "verdict"),
                            [(nb, c["claim"], c["source"], _measured(c), _verdict(c)) for nb, c in by_kind[kind]])
        else:
            lines.append("(none)")
    return lines


def _student_scale(bench: dict) -> list[str]:
    """The table of ``benchmarks/bench_lessons.py --out``: each lesson's Run All at its defaults."""
    budget_s, budget_gib = bench.get("budget_s", 90), bench.get("budget_gib", 2)
    machine = bench.get("machine", {})
    lines = ["", "## Lessons at student scale (Run All with the defaults)", "",
             f"Measured by `uv run python benchmarks/bench_lessons.py --out …` (papermill, nothing injected but "
             f"the results path; peak = resident memory of the kernel and all its children, TensorFlow's "
             f"workers included) on {machine.get('cpus', '?')} CPUs at load {machine.get('load', float('nan')):.1f}; "
             f"budgets {budget_s:g} s and {budget_gib:g} GiB.", ""]
    rows = [(r["lesson"], f"{r['seconds']:.0f}", f"{r['peak_gib']:.2f}",
             "yes" if r["seconds"] <= budget_s and r["peak_gib"] <= budget_gib and not r.get("error") else
             f"no{': ' + r['error'] if r.get('error') else ''}") for r in bench.get("lessons", [])]
    return lines + _table(("lesson", "seconds", "peak GiB", "within budget"), rows)


def report_markdown(summary: dict, *, title: str = REPORT_TITLE, intro: str = "", bench: dict | None = None) -> str:
    """Markdown for a ``results.json`` summary: one table per claim kind, then failures and run times.

    Raises ``ValueError`` if ``summary`` is not a run's results
    (:func:`tinydtl.lab.reproduce.results.check_summary`).
    """
    check_summary(summary)
    claims = list(_claim_dicts(summary))
    lines = _header(summary, title, intro) + _claim_tables(claims)
    tolerances = [(nb, c) for nb, c in claims if c.get("tolerance")]
    if tolerances:
        lines += ["", "## Tolerances (fixed before the run)", ""]
        lines += _table(("lesson", "claim", "band", "why"),
                        [(nb, c["name"], f"{c['op']} {c['target']:g} within {c['tolerance']:g}", c.get("tolerance_reason") or "(not stated)")
                         for nb, c in tolerances])
    failed = [nb for nb in summary["notebooks"] if not nb["ok"]]
    if failed:
        lines += ["", "## Notebooks that did not finish", ""]
        lines += _table(("lesson", "status", "what happened"), [(nb["notebook"], _status(nb), nb.get("error", "")) for nb in failed])
    if bench:
        lines += _student_scale(bench)
    lines += ["", _RUN_TIMES, ""]
    lines += _table(("lesson", "seconds", "status", "seeds", "parameters"),
                    [(nb["notebook"], f"{nb['seconds']:.0f}", _status(nb), _seeds(nb), _parameters(nb))
                     for nb in summary["notebooks"]])
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the committed page


def page_lessons(text: str) -> list[str]:
    """The lessons of a page :func:`report_markdown` wrote (the first column of its run-times table)."""
    _, _, times = text.partition(_RUN_TIMES)
    rows = [line for line in times.splitlines() if line.startswith("| ")][2:]  # after header and rule
    return [row[2:].split(" | ", 1)[0] for row in rows]


def is_results_page(path) -> bool:
    """Whether ``path`` is a page :func:`report_markdown` wrote (``report.md`` or ``docs/results.md``)."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline().rstrip("\n")
            return first in (f"# {REPORT_TITLE}", f"# {DOCS_TITLE}") and _RUN_TIMES in f.read(2**22)
    except (OSError, UnicodeDecodeError):
        return False


def check_docs_target(path, lessons, *, force: bool = False, name: str = "path") -> Path:
    """Refuse to write the page of ``lessons`` to ``path`` if ``path`` is not a page tinydtl wrote, or
    (unless ``force``) if it is the page of lessons this run does not have (a partial run over a full page)."""
    path = check_replaceable(path, is_ours=is_results_page, kind="a page tinydtl wrote", name=name)
    if path.exists() and not force:
        on_page = page_lessons(path.read_text(encoding="utf-8"))
        dropped = [n for n in on_page if n not in set(lessons)]
        if dropped:
            raise ValueError(f"{name} {path} is the page of {len(on_page)} lessons; this run of {len(lessons)} "
                             f"would drop {', '.join(dropped)} from it; write it anyway with --force (force=True)")
    return path


def write_docs(summary: dict, path: str | Path, *, command: str = "uv run tinydtl report build/results.json",
               force: bool = False, bench: dict | None = None) -> Path:
    """Write the committed ``docs/results.md`` from a results summary (a ``results.json``'s content).

    Only over a page tinydtl wrote, and (unless ``force``) not over the page of lessons ``summary``
    does not have: a ``FileExistsError`` / ``IsADirectoryError`` / ``ValueError`` otherwise
    (:func:`check_docs_target`), before anything is written.
    """
    check_summary(summary)
    check_docs_target(path, [nb["notebook"] for nb in summary["notebooks"]], force=force)
    text = report_markdown(summary, title=DOCS_TITLE, intro=DOCS_INTRO.format(command=command), bench=bench)
    return write_text_atomic(Path(path), text)
