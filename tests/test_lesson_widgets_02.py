"""Lesson 02 (ILVQ on the sphere), issue 13: its widget driven through every control's range, its
exercise checks, and its from-scratch ILVQ against :mod:`tinydtl.learners.ilvq`.

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


def test_threshold_check_accepts_the_rule_and_names_the_mistakes(capsys):
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 1"), ns)
    assert "fill in" in capsys.readouterr().out  # unanswered: feedback, no crash
    ns["check_threshold"](0.5)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="nearest other-class neighbour BEYOND d_w"):
        ns["check_threshold"](0.1)
    with pytest.raises(AssertionError, match="that is d_w, the mean same-class distance"):
        ns["check_threshold"](0.3)
    with pytest.raises(AssertionError, match="same-class MEAN"):
        ns["check_threshold"](0.4)
    with pytest.raises(AssertionError, match="not the rule's value"):
        ns["check_threshold"](0.7)


@pytest.mark.parametrize("answer", [0.5, 1 / 2, np.float64(0.5), np.float32(0.5), np.array(0.5)])
def test_threshold_check_accepts_the_right_answer_in_any_numeric_type(answer, capsys):
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 1"), ns)
    capsys.readouterr()
    ns["check_threshold"](answer)
    assert capsys.readouterr().out.startswith("correct: ")


@pytest.mark.parametrize("answer, feedback", [
    ("0.5", "is a str, not a number"),           # even the right value, typed as text
    ("half", "is a str, not a number"),
    (b"0.5", "is a bytes, not a number"),
    (True, "is a bool, not a number"),
    ([0.5], "is not a number"),
    ({"T_0": 0.5}, "is not a number"),
    (0.5 + 0j, "is not a number"),
    (float("nan"), "not a finite number"),
    (float("inf"), "not a finite number"),
    (-0.5, "not the rule's value"),
    (0.5000001, "not the rule's value"),
    (0, "not the rule's value"),
    (1, "not the rule's value"),
])
def test_threshold_check_rejects_wrong_answers_and_types_with_feedback(answer, feedback, capsys):
    """Wrong values and wrong types alike raise an AssertionError that says what is wrong, never a
    TypeError from inside the check, and never print 'correct'."""
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 1"), ns)
    capsys.readouterr()
    with pytest.raises(AssertionError, match=re.escape(feedback)):
        ns["check_threshold"](answer)
    assert "correct" not in capsys.readouterr().out


def test_threshold_exercise_answer_is_what_the_from_scratch_rule_computes():
    ns = {}
    exec(exercise_cell(STEM, "# ILVQ from scratch"), ns)
    W = np.array([[0, 0, 0], [0.2, 0, 0], [0.4, 0, 0], [-0.1, 0, 0], [-0.5, 0, 0]], dtype=float)
    lab = np.array([1, 1, 1, 0, 0])
    A = -np.ones((5, 5))
    A[0, 1:] = A[1:, 0] = 0
    assert ns["threshold"](W, lab, A, 0) == pytest.approx(0.5)


def test_round_bytes_check_measures_the_ring(capsys):
    from tinydtl.algorithms.ilvq_exchange import run_ilvq_exchange, train_devices
    from tinydtl.data.datasets import make_sphere
    from tinydtl.data.partition import iid

    X, y = make_sphere(400, seed=3)
    parts = iid(y, 4, seed=0)
    devices = train_devices(X, y, parts, n_epochs=1, seed=0)
    before = sum(m.n_prototypes_ for m in devices)
    history = run_ilvq_exchange(devices, nx.cycle_graph(4), rounds=1, x_test=X, y_test=y, seed=0)
    truth = 2 * before * 3 * 4  # each device sends its set to both ring neighbours, 3 float32 coordinates each
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 4"), ns)  # unanswered: needs no lesson state, prints feedback
    assert "fill in" in capsys.readouterr().out
    ns["check_round_bytes"](truth, history, 4)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="BOTH neighbours"):
        ns["check_round_bytes"](truth // 2, history, 4)
    with pytest.raises(AssertionError, match="4 bytes"):
        ns["check_round_bytes"](truth // 4, history, 4)
    with pytest.raises(AssertionError, match="counts prototypes, not bytes"):
        ns["check_round_bytes"](truth // 12, history, 4)
    ns["check_round_bytes"](float(truth), history, 4)  # the same count as a float or numpy integer is right too
    ns["check_round_bytes"](np.int64(truth), history, 4)
    assert capsys.readouterr().out.count("correct") == 2
    for wrong, feedback in [(str(truth), "is a str, not a number"), (True, "is a bool, not a number"),
                            ([truth], "is not a number"), (float("nan"), "not a finite number"),
                            (truth + 12, "is not what the ring sent")]:
        with pytest.raises(AssertionError, match=re.escape(feedback)):
            ns["check_round_bytes"](wrong, history, 4)
    # a wrong count gets the formula in symbols, never this run's answer or its mean prototype count
    with pytest.raises(AssertionError) as wrong_count:
        ns["check_round_bytes"](truth + 12, history, 4)
    feedback = str(wrong_count.value)
    assert "N_DEVICES × 2 × P̄ × 3 coordinates × 4 B" in feedback
    mean_prototypes = history.column("prototypes")[0]
    assert f"{mean_prototypes:.1f}" not in feedback and f"{truth:,}" not in feedback and str(truth) not in feedback
    assert "4 devices" not in feedback


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
