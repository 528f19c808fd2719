"""Lesson 02 (ILVQ on the sphere): its widget driven through every control's range, its from-scratch ILVQ
against :mod:`tinydtl.learners.ilvq`, and prose that types no measured number (the exercise checks are tested in
``tests/test_exercises_02.py``).

The helpers (``lesson_widget``, ``settings``, ``drawn``, ``exercise_cell``) live in ``tests/support.py``.
"""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import drawn, exercise_cell, lesson_widget, settings  # noqa: E402

from tinydtl.lab.widgets import trial_values  # noqa: E402

STEM = "02_ilvq_sphere"
TITLE = re.compile(r"(\d+) samples, noise ([\d.]+), max_age (\d+), lambda_ (\d+):\n"
                   r"(\d+) prototypes, (\d+) edges, test acc ([\d.]+)")


def read_title(ax):
    m = TITLE.fullmatch(ax.get_title())
    assert m, f"unexpected title {ax.get_title()!r}"
    samples, noise, age, lam, protos, edges, acc = m.groups()
    return dict(samples=int(samples), noise=float(noise), max_age=int(age), lambda_=int(lam),
                prototypes=int(protos), edges=int(edges), accuracy=float(acc))


@pytest.fixture(scope="module")
def widget():
    return lesson_widget(STEM)


def test_widget_draws_the_model_it_names_at_every_extreme(widget):
    (fn, controls), ns = widget
    assert set(controls) == {"samples", "noise", "max_age", "lambda_"}
    assert controls["samples"].min >= 100 and controls["noise"].max < 0.5  # noise 0.5 would be pure guessing
    seen = {}
    for kwargs in settings(fn, controls):
        fig, (ax,) = drawn(fn, kwargs)
        t = read_title(ax)
        assert t["samples"] == kwargs["samples"] and t["max_age"] == kwargs["max_age"] and t["lambda_"] == kwargs["lambda_"]
        assert 0.0 <= t["accuracy"] <= 1.0
        assert 2 <= t["prototypes"] <= kwargs["samples"]
        legend = sum(int(re.search(r"\((\d+)\)", txt.get_text()).group(1)) for txt in ax.get_legend().get_texts())
        assert legend == t["prototypes"], (kwargs, legend, t)  # every prototype drawn, each class counted
        seen[tuple(sorted(kwargs.items()))] = t
    plt.close("all")
    default = {k: v.value for k, v in controls.items()}

    def at(**change):
        return seen[tuple(sorted({**default, **change}.items()))]

    lam, ages = trial_values(controls["lambda_"]), trial_values(controls["max_age"])
    # lambda_ is the strong knob: frequent denoising keeps far fewer prototypes than rare denoising
    assert at(lambda_=lam[0])["prototypes"] * 10 < at(lambda_=lam[-1])["prototypes"]
    # max_age acts within its range: at 1 the winner's edges are cut at once, so far fewer edges survive
    assert at(max_age=ages[0])["edges"] * 2 < at(max_age=ages[-1])["edges"]
    assert at(max_age=ages[0])["prototypes"] != at(max_age=ages[-1])["prototypes"]
    # the default model is the lesson's one-pass learner: accurate, and label noise costs accuracy
    assert at()["accuracy"] > 0.85
    noise = trial_values(controls["noise"])
    assert at(noise=noise[-1])["accuracy"] < at()["accuracy"] - 0.05


def test_threshold_example_is_what_the_from_scratch_rule_computes():
    ns = {}
    exec(exercise_cell(STEM, "# ILVQ from scratch"), ns)
    W = np.array([[0, 0, 0], [0.2, 0, 0], [0.4, 0, 0], [-0.1, 0, 0], [-0.5, 0, 0]], dtype=float)
    lab = np.array([1, 1, 1, 0, 0])
    A = -np.ones((5, 5))
    A[0, 1:] = A[1:, 0] = 0
    assert ns["threshold"](W, lab, A, 0) == pytest.approx(0.5)


@pytest.mark.parametrize("seed, noise, max_age, lambda_, denoise_c", [
    (7, 0.1, 2, 100, 0.7),   # edges age out and denoising fires several times
    (1, 0.0, 50, 150, 0.0),  # only isolated prototypes are denoised
    (4, 0.2, 5, 10**6, 0.5),  # no denoising at all
])
def test_from_scratch_ilvq_equals_the_package(seed, noise, max_age, lambda_, denoise_c):
    from tinydtl.data.datasets import make_sphere
    from tinydtl.learners.ilvq import ILVQ

    ns = {}
    exec(exercise_cell(STEM, "# ILVQ from scratch"), ns)
    X, y = make_sphere(500, noise=noise, seed=seed)
    W, lab, M, A = ns["ilvq_from_scratch"](X, y, max_age=max_age, lambda_=lambda_, denoise_c=denoise_c)
    pkg = ILVQ(max_age=max_age, lambda_=lambda_, denoise_c=denoise_c).partial_fit(X, y, classes=[0, 1])
    np.testing.assert_allclose(W, pkg.prototypes_, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(lab, pkg.prototype_labels_)
    np.testing.assert_array_equal(M, pkg.win_counts_)
    assert sorted(map(tuple, np.argwhere(np.triu(A >= 0, 1)).tolist())) == sorted(map(tuple, pkg.edges_.tolist()))
    assert np.all(A == A.T) and np.all(np.diag(A) == -1)  # an undirected graph without self-loops
    # not vacuous: the rules under test changed the model (versus never deleting an edge or a prototype)
    W_all, *_ = ns["ilvq_from_scratch"](X, y, max_age=10**9, lambda_=10**9)
    assert len(W) < len(W_all) or lambda_ > len(X)


def test_widget_default_is_the_headline_one_pass_learner(widget):
    """The notice after the widget says its default title shows section 3's one-pass learner (seed SEED)."""
    from tinydtl.learners.ilvq import ILVQ

    (fn, controls), ns = widget
    default = {k: v.value for k, v in controls.items()}
    assert default["samples"] == ns["N_TRAIN"] and default["noise"] == 0.0
    t = read_title(drawn(fn, default)[1][0])
    plt.close("all")
    headline = ILVQ(n_epochs=1, random_state=ns["SEED"]).fit(ns["X_train"], ns["y_train"])
    assert t["prototypes"] == headline.n_prototypes_ and t["edges"] == len(headline.edges_)
    assert t["accuracy"] == pytest.approx(headline.score(ns["X_test"], ns["y_test"]), abs=5e-4)


#: numbers lesson 02's prose may type: the survey's 85 %, the exercise's distances, definitions and parameters
TYPED_OK_02 = {
    ("85", "%"), ("50", "%"),  # the survey's claim; the floor of a balanced two-class problem
    ("0.2", ""), ("0.35", ""), ("0.4", ""), ("0.5", ""), ("0.7", ""),  # exercise 1's distances
    ("20", "%"), ("3", "×"),  # exercise 3's label noise; 3 coordinates per prototype
}


def test_prose_types_no_measured_numbers():
    import nbformat
    from support import NOTEBOOKS
    from test_lesson_widgets import TYPED

    nb = nbformat.read(NOTEBOOKS / f"{STEM}.ipynb", as_version=4)
    typed = []
    for c in nb.cells:
        if c.cell_type == "markdown":
            prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", c.source, flags=re.S)
            typed += [(m.group(0), prose[max(0, m.start() - 40):m.end()]) for m in TYPED.finditer(prose)
                      if (m.group(1) or m.group(3), m.group(2) or "") not in TYPED_OK_02]
    assert not typed, f"numbers typed into lesson 02's prose (print them from code): {typed}"
