"""Lesson 00 (the index): the lessons, their prerequisites and run times, the coursework.

The table is data, not prose: every lesson's title, what it teaches and what it builds on are in
:data:`LESSONS`; whether the notebook exists is read from disk (a planned lesson is listed without a
link until its notebook lands), and the run times are read from the measurements, never typed:

* **student scale** (``QUICK = True``, what "Run All" does when a student opens a lesson):
  ``benchmarks/bench_lessons.py --out`` writes them; the index reads ``build/bench_lessons.json`` (a
  local measurement) if present, else ``docs/bench_lessons.json`` (the committed one);
* **full scale** (``uv run tinydtl reproduce``): the run-time table of ``docs/results.md``, which a
  full run generates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LESSONS", "Lesson", "coursework_assignments", "full_seconds", "lesson_table", "markdown_table",
           "student_seconds"]


@dataclass(frozen=True)
class Lesson:
    number: str
    title: str
    teaches: str
    needs: tuple = ()


LESSONS = (
    Lesson("01", "survey taxonomy", "the field's axes — federated vs decentralised, topologies (swarms, split "
           "learning), data/model/hybrid partitioning, robust aggregation, compression — each with a running example"),
    Lesson("02", "ILVQ on the unit sphere", "the survey's first benchmark: a prototype learner that grows from a "
           "stream; merging prototypes across devices"),
    Lesson("03", "federated MNIST", "the survey's second benchmark in TensorFlow Federated and its numpy twin; where "
           "\"~85 % across all setups\" holds and how to fix it", ("02",)),
    Lesson("04", "gossip and the spectral gap", "averaging without a server; the spectral gap predicts the speed"),
    Lesson("05", "bilayer gossip GD-PSGD", "DK-means clusters, Cumulative FedAvg, head-to-head gossip; the paper's "
           "claims against centralised FL", ("03", "04")),
    Lesson("06", "will it fit?", "SRAM and flash accounting for on-device training on eight boards; an emulated "
           "Cortex-M4F", ("03",)),
    Lesson("07", "adaptive aggregation frequency", "how often edge nodes should aggregate under a resource budget; "
           "real processes over sockets", ("03",)),
    Lesson("08", "RockNet", "MiniRocket from scratch; a time-series classifier trained across tiny devices by "
           "exchanging partial logits; memory, latency and energy per device", ("06",)),
    Lesson("09", "Globe2Train", "one-vs-one decomposition over IoT devices; G2T against synchronous and "
           "asynchronous SGD to one target accuracy, every byte counted; what G2T gives up", ("03", "06")),
    Lesson("10", "sweeps on Dask", "a lesson or function over a parameter grid on Dask, from a laptop to a cluster; "
           "resume and failures", ("03",)),
    Lesson("11", "privacy and security", "differentially private FedAvg (clipping and Gaussian noise), secure "
           "aggregation (masks that cancel in the sum), gradient inversion (an image recovered from a shared "
           "gradient)", ("03",)),
    Lesson("12", "the bilayer paper under its authors' configuration", "the authors' simulator read at a pinned commit; "
           "an ablation that finds which of their settings makes the extra rounds; robustness to moving where the "
           "links change", ("05",)),
)


def full_seconds(results_md: Path) -> dict:
    """``{lesson stem: seconds}`` from the run-time table of a ``docs/results.md`` page ({} if there is none)."""
    if not results_md.is_file():
        return {}
    _, _, times = results_md.read_text(encoding="utf-8").partition("## Run times and parameters")
    out = {}
    for line in times.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0][:2].isdigit():
            try:
                out[cells[0]] = float(cells[1])
            except ValueError:
                pass
    return out


def student_seconds(*paths: Path) -> tuple[dict, Path | None]:
    """``({lesson stem: (seconds, peak GiB)}, file)`` from the first bench JSON that exists (``bench_lessons.py --out``)."""
    for path in paths:
        if path.is_file():
            rows = json.loads(path.read_text(encoding="utf-8")).get("lessons", [])
            return {r["lesson"]: (r["seconds"], r["peak_gib"]) for r in rows if not r.get("error")}, path
    return {}, None


def coursework_assignments(root: Path) -> tuple[list, str]:
    """The coursework's assignments and where they are: nbgrader's ``coursework/source/<assignment>/``, else the
    older ``notebooks/assignments/*.ipynb``."""
    source = root / "coursework" / "source"
    if source.is_dir():
        return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")), "coursework/source"
    old = root / "notebooks" / "assignments"
    return sorted(p.stem for p in old.glob("*.ipynb")), "notebooks/assignments"


def lesson_table(notebooks: Path, results_md: Path, bench: tuple):
    """The path through the suite: one row per lesson (on disk or planned), with links and run times."""
    import pandas as pd

    on_disk = {p.stem[:2]: p.name for p in notebooks.glob("[0-9][0-9]_*.ipynb")}
    full = full_seconds(results_md)
    student, _ = bench
    rows = []
    for lesson in LESSONS:
        name = on_disk.get(lesson.number)
        stem = name[:-6] if name else None
        quick = student.get(stem)
        rows.append({"lesson": f"[{lesson.number} · {lesson.title}]({name})" if name else
                     f"{lesson.number} · {lesson.title} (notebook not in this checkout yet)",
                     "what you learn": lesson.teaches, "builds on": ", ".join(lesson.needs) or "—",
                     "student scale (s)": f"{quick[0]:.0f}" if quick else "not measured",
                     "full scale (s)": f"{full[stem]:.0f}" if stem in full else "not measured"})
    return pd.DataFrame(rows)


def markdown_table(df) -> str:
    """A DataFrame as a Markdown table (links stay links when displayed with ``IPython.display.Markdown``)."""
    cells = [[str(v).replace("|", "\\|") for v in row] for row in df.itertuples(index=False)]
    head = "| " + " | ".join(df.columns) + " |\n| " + " | ".join("---" for _ in df.columns) + " |\n"
    return head + "\n".join("| " + " | ".join(row) + " |" for row in cells)
