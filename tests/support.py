"""Helpers shared by the tests (imported as ``support``; pytest puts this folder on ``sys.path``)."""

import itertools
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydtl.lab.widgets import recording, trial_values  # noqa: E402


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


def settings(fn, controls, limit=80):
    """Every combination of trial values if there are at most ``limit``; else one control at a time
    (others at their defaults) plus the all-first and all-last corners."""
    names = list(controls)
    values = {k: trial_values(v) for k, v in controls.items()}
    product = list(itertools.product(*values.values()))
    if len(product) <= limit:
        return [dict(zip(names, p)) for p in product]
    default = {k: (v.value if hasattr(v, "value") else values[k][0]) for k, v in controls.items()}
    out = [{**default, k: v} for k in names for v in values[k]]
    return out + [{k: values[k][0] for k in names}, {k: values[k][-1] for k in names}]


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


