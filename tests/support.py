"""Helpers shared by the tests (imported as ``support``; pytest puts this folder on ``sys.path``)."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydtl.lab.widgets import recording, trial_values  # noqa: E402


#: Each lesson runs once per test session at student scale: ``stem -> record`` in the format of
#: ``tinydtl reproduce``'s results (``ok``, ``error``, ``claims``, ``metrics``, ``parameters``...). The
#: browser test (which runs first, alphabetically) fills it as it runs every lesson in JupyterLab;
#: tests/test_notebooks.py reads it and runs with papermill only the lessons not run yet (all of them
#: where there is no Chromium), so no lesson is run twice for the same checks.
LESSON_RUNS: dict[str, dict] = {}


def record_lesson_run(stem: str, *, ok: bool, error: str, results_file: Path, seconds: float) -> None:
    """Register a lesson run (by the browser) for the other tests."""
    import json

    data = json.loads(results_file.read_text()) if results_file.is_file() else {}
    LESSON_RUNS[stem] = {"notebook": stem, "ok": ok and bool(data), "error": error or ("" if data else "no results"),
                         "seconds": round(seconds, 2), "quick": data.get("quick"), "seed": data.get("seed"),
                         "parameters": data.get("parameters", {}), "claims": data.get("claims", []),
                         "metrics": data.get("metrics", {}), "source": "browser"}


def require(problem: str | None, what: str) -> None:
    """Skip with the reason when an optional tool is missing; under ``CI`` it must be there, so fail."""
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so {what} must run, but: {problem}")
        pytest.skip(f"{what} not available here: {problem}")


def softmax_step(W, b, X, y, lr):
    """One minibatch SGD step on mean cross-entropy, written out plainly (the reference the engines are checked against)."""
    logits = X @ W + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return W - lr * X.T @ p / len(y), b - lr * p.mean(axis=0)


# --- lesson widgets (issue 13): run a lesson's tagged cells, then drive its callback -------------

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TAGS = {"parameters", "setup", "widget"}


def lesson_widget(stem):
    """Run a lesson's tagged cells; return its recorded ``(fn, controls)`` and the namespace."""
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and TAGS & set(c.metadata.get("tags", []))]
    assert any("widget" in c.metadata.get("tags", []) for c in cells), f"{stem}: no cell tagged 'widget'"
    ns = {"__name__": f"lesson_{stem}"}
    with recording() as calls:
        for c in cells:
            src = "\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith("%"))
            exec(compile(src, f"{stem}:{c.id}", "exec"), ns)
    assert len(calls) == 1, f"{stem}: expected one interact() call, got {len(calls)}"
    return calls[0], ns


def settings(fn, controls, limit=None):
    """Each control at its extremes with the others at their defaults, plus the all-first and all-last
    corners (and the defaults): the edges where a widget breaks, without the whole product of values.
    A dropdown's every option counts as an extreme; a slider's are its min and max. (``limit`` is
    accepted for old callers and ignored.)"""
    names = list(controls)
    values = {k: trial_values(v) for k, v in controls.items()}
    extremes = {k: v if hasattr(controls[k], "options") or isinstance(controls[k], (list, dict)) else
                list(dict.fromkeys([v[0], v[-1]])) for k, v in values.items()}
    default = {k: (v.value if hasattr(v, "value") else values[k][0]) for k, v in controls.items()}
    out = [default] + [{**default, k: v} for k in names for v in extremes[k]]
    out += [{k: values[k][0] for k in names}, {k: values[k][-1] for k in names}]
    unique = []
    for s in out:
        if s not in unique:
            unique.append(s)
    return unique


def drawn(fn, kwargs):
    plt.close("all")
    fn(**kwargs)
    fig = plt.gcf()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes, f"{kwargs}: nothing drawn"
    return fig, axes


def exercise_cell(stem, first_line):
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(first_line)]
    return cell.source


