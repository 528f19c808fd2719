"""Lesson 03 (federated MNIST): the widget at every control's extremes, the from-scratch FedAvg round
against the package, and the lesson module's band claims, tuning and server-step helpers.

Only the lesson's ``parameters``, ``setup`` and ``widget`` cells run (tests/support.py); the
from-scratch cell is executed from the notebook's own source. The exercise checks are tested in
tests/test_exercises_03.py.
"""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import drawn, exercise_cell, lesson_widget, settings  # noqa: E402

from tinydtl.core.traffic import payload_bytes  # noqa: E402
from tinydtl.lab.claims import ClaimRecorder  # noqa: E402
from tinydtl.lab.lessons import l03_federated_mnist as lesson  # noqa: E402
from tinydtl.lab.widgets import trial_values  # noqa: E402

STEM = "03_federated_mnist"


@pytest.fixture(scope="module")
def widget():
    return lesson_widget(STEM)


def test_widget_knobs_live_in_the_parameters_cell(widget):
    (fn, controls), ns = widget
    assert set(controls) == {"clients", "alpha", "local_epochs", "fraction"}
    source = exercise_cell(STEM, "import functools\n\nimport ipywidgets")
    assert "WIDGET_IMAGES" in source and "WIDGET_ROUNDS" in source
    assert not re.search(r"rounds=\d", source) and "n_sub" not in source  # no hidden knobs in the body


def _curve_and_upload(axes):
    curve = np.asarray(axes[1].get_lines()[0].get_ydata(), dtype=float)
    megabytes = float(re.search(r"([\d.]+) MB uploaded", axes[1].get_title()).group(1))
    return curve, megabytes


def test_widget_trains_at_every_extreme(widget):
    (fn, controls), ns = widget
    rounds = ns["WIDGET_ROUNDS"]
    for kwargs in settings(fn, controls, limit=20):  # one control at a time, plus both corners
        fig, axes = drawn(fn, kwargs)
        curve, megabytes = _curve_and_upload(axes)
        assert len(curve) == rounds, kwargs
        assert np.all(np.isfinite(curve)) and np.all((0 <= curve) & (curve <= 1)), kwargs
        trained = int(re.search(r", (\d+) clients", axes[0].get_title()).group(1))
        assert 1 <= trained <= kwargs["clients"], kwargs
        note = fig.get_suptitle()
        assert (trained < kwargs["clients"]) == ("only" in note), (kwargs, note)  # fewer clients: said in red
        per_round = max(1, round(kwargs["fraction"] * trained))
        assert megabytes == pytest.approx(rounds * per_round * payload_bytes(7850) / 1e6, abs=0.051), kwargs
        if kwargs["alpha"] >= 1 and kwargs["clients"] <= 10 and kwargs["fraction"] == 1:
            assert curve[-1] >= 0.8, kwargs  # mild skew, few clients: FedAvg learns within the rounds
    plt.close("all")


def test_tiny_alpha_with_most_clients_does_not_crash_and_says_why(widget):
    (fn, controls), ns = widget
    most, tiny = controls["clients"].max, min(trial_values(controls["alpha"]))
    assert most >= 20 and tiny <= 0.01  # a Dirichlet draw leaves clients empty here
    fig, axes = drawn(fn, {"clients": most, "alpha": tiny, "local_epochs": 1, "fraction": 1.0})
    note = fig.get_suptitle()
    fed = int(re.search(r"only (\d+) of (\d+) clients", note).group(1))
    assert f"of {most} clients" in note and 1 <= fed < most
    curve, _ = _curve_and_upload(axes)
    assert np.all(np.isfinite(curve)) and 0 < curve[-1] <= 1
    # and the split it fell back to really gives every one of those clients data
    parts, _ = lesson.widget_split(ns["y_w"], most, tiny, ns["SEED"])
    assert len(parts) == fed and min(len(p) for p in parts) >= 1
    plt.close("all")


def test_fraction_sets_the_upload_and_epochs_change_the_training(widget):
    (fn, controls), ns = widget
    ups = []
    for fraction in (controls["fraction"].min, controls["fraction"].max):
        _, axes = drawn(fn, {"clients": 20, "alpha": 1.0, "local_epochs": 1, "fraction": fraction})
        ups.append(_curve_and_upload(axes)[1])
    assert ups[1] == pytest.approx(10 * ups[0], rel=0.05)  # 2 of 20 clients vs all 20
    finals = []
    for epochs in (controls["local_epochs"].min, controls["local_epochs"].max):
        _, axes = drawn(fn, {"clients": 10, "alpha": 1.0, "local_epochs": epochs, "fraction": 1.0})
        finals.append(_curve_and_upload(axes)[0][0])
    assert finals[1] > finals[0]  # after round 1, five local epochs have gone further than one
    plt.close("all")


def test_from_scratch_round_equals_the_package(widget):
    """The notebook's own from-scratch cell (it asserts 1e-6 itself); here checked once more, and
    against the unweighted mean, which must NOT match."""
    _, ns = widget
    ns = dict(ns)
    exec(exercise_cell(STEM, "# From scratch: one FedAvg round"), ns)
    assert len(ns["parts_s"]) == ns["SCRATCH_CLIENTS"] and len(set(ns["n_k"].tolist())) > 1  # sizes differ
    assert ns["scratch_diff"] <= 1e-6
    np.testing.assert_allclose(ns["W1"], ns["W_pkg"], atol=1e-6)
    assert np.abs(ns["W_plain"] - ns["W_pkg"]).max() > 100 * max(ns["scratch_diff"], 1e-8)




# --- the lesson module: the band claims, fixed before the run -------------------------------------------
def made_up_grid(values):
    """A grid of setups with the given test accuracies: {(distribution, clients): accuracy}."""
    import pandas as pd

    return pd.DataFrame([{"distribution": d, "clients": n, "test": a, "test_sd": 0.0, "worst_seed": a, "validation": a}
                         for (d, n), a in values.items()])


BASE = {("IID", 10): 0.86, ("IID", 100): 0.84, ("Dirichlet α=0.1", 10): 0.83, ("Dirichlet α=0.1", 100): 0.83}


def band_claims(values, judged=True):
    claims = ClaimRecorder(STEM, path=None, quick=not judged, seed=0)
    head, spread, outside = lesson.record_band_claims(claims, made_up_grid(values), band=0.03, rounds=10,
                                                      judged=judged, scale="test scale")
    return head, spread, outside


def test_band_claims_are_two_sided_and_met_inside_the_band():
    head, spread, outside = band_claims(BASE)
    assert head.verdict == spread.verdict == "met" and outside == []
    assert head.op == spread.op == "==" and head.target == 0.85 and head.tolerance == 0.03
    assert "rounded to the nearest 5 points" in spread.tolerance_reason and "above the band" in spread.tolerance_reason


def test_above_the_band_is_a_miss_reported_as_an_explained_honest_negative():
    head, spread, outside = band_claims({**BASE, ("IID", 10): 0.91})  # ~85 % cannot be "at least 85 %"
    assert head.verdict == spread.verdict == "NOT MET (honest negative)" and not head.fails
    assert "91.00%" in head.honest_negative and "above" in head.honest_negative
    assert spread.measured == pytest.approx(0.91) and len(outside) == 1


def test_below_the_band_explained_by_skew_or_more_clients_is_an_honest_negative():
    _, spread, outside = band_claims({**BASE, ("Dirichlet α=0.1", 100): 0.74, ("IID", 100): 0.78})
    assert spread.verdict == "NOT MET (honest negative)" and not spread.fails
    assert "2 of 4 setups outside" in spread.honest_negative
    assert "strong label skew" in spread.honest_negative and "fewer local steps" in spread.honest_negative
    assert spread.measured == pytest.approx(0.74)  # the setup farthest from 85 %


def test_iid_with_the_fewest_clients_below_the_band_fails_the_run():
    head, spread, _ = band_claims({**BASE, ("IID", 10): 0.80})
    assert head.verdict == spread.verdict == "NOT MET" and head.fails and spread.fails
    assert "unexplained" in spread.note


def test_student_scale_shows_the_band_claims_without_judging_them():
    head, spread, _ = band_claims({**BASE, ("IID", 10): 0.80}, judged=False)
    assert head.verdict == spread.verdict == "not comparable" and not head.fails
    assert "student scale" in head.differs and head.honest_negative == ""


# --- the lesson module: server step, tuning protocol, paired gains -----------------------------------------
def test_momentum_step_multiple_follows_the_closed_form_and_the_effective_step():
    steps = lesson.momentum_step_multiple(0.9, 60)
    np.testing.assert_allclose(steps, (1 - 0.9 ** np.arange(1, 61)) / 0.1, rtol=1e-5)
    assert steps[-1] == pytest.approx(lesson.effective_step({"server_momentum": 0.9, "server_lr": 1.0}), rel=0.01)
    # FedAvgM's candidates cover exactly FedAvg's effective steps: a gap at one step is momentum, not step size
    steps_of = {f: sorted(lesson.effective_step(s) for s in c) for f, c in lesson.FAMILIES.items()}
    assert steps_of["FedAvg"] == pytest.approx(steps_of["FedAvgM"])
    assert [len(c) for c in lesson.FAMILIES.values()] == [6, 6, 6]  # every family tuned with the same budget
    with pytest.raises(ValueError, match="beta"):
        lesson.momentum_step_multiple(1.0, 5)


def test_tune_families_scores_on_validation_reuses_runs_and_runs_each_choice_on_every_seed():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(400, 12), dtype=np.uint8)
    y = (x[:, 0] > 127).astype(np.int64) + 2 * (x[:, 1] > 127)
    data = (x[:300], y[:300], x[300:350] / 255.0, y[300:350], x[350:], y[350:])
    parts = {s: lesson.SPLITS["IID"](y[:300], 3, s) for s in (0, 1)}
    done = {("FedAvg", "η_s = 1", s): lesson.run_setup(data, parts[s], 2, s) for s in (0, 1)}
    families = {"FedAvg": [{"server_lr": 1.0}, {"server_lr": 2.0}], "FedProx": [{"proximal_mu": 0.1}]}
    candidates, chosen, runs = lesson.tune_families(data, parts, families=families, rounds=2, tune_seed=0,
                                                    seeds=[0, 1], done=done)
    assert list(candidates["setting"]) == ["η_s = 1", "η_s = 2", "μ = 0.1"]
    assert runs[("FedAvg", "η_s = 1", 0)] is done[("FedAvg", "η_s = 1", 0)]  # reused, not rerun
    best = candidates[candidates["family"] == "FedAvg"].sort_values("validation").iloc[-1]["setting"]
    tuned = chosen[chosen["family"] == "FedAvg, tuned"]
    assert list(tuned["seed"]) == [0, 1] and set(tuned["setting"]) == {best}  # chosen on validation, run on every seed
    mean, noise, n = lesson.paired_gain(chosen, "FedAvg, tuned", "FedAvg, η_s = 1 (plain)")
    table = chosen.pivot(index="seed", columns="family", values="test")
    diff = 100 * (table["FedAvg, tuned"] - table["FedAvg, η_s = 1 (plain)"])
    assert n == 2 and mean == pytest.approx(diff.mean()) and noise == pytest.approx(2 * diff.std(ddof=1) / np.sqrt(2))


def test_variant_findings_need_three_seeds():
    import pandas as pd

    rows = [{"family": f, "setting": "x", "seed": s, "validation": 0.8, "test": 0.8 + 0.01 * k + 0.002 * s * k}
            for s in range(2) for k, f in enumerate(["FedAvg, η_s = 1 (plain)", "FedAvg, tuned", "FedAvgM, tuned",
                                                     "FedProx, tuned"])]
    claims = ClaimRecorder(STEM, path=None, quick=True, seed=0)
    gains, momentum, prox = lesson.record_variant_claims(claims, pd.DataFrame(rows), setup="s", rounds=3)
    assert momentum is None and prox is None and claims.claims == [] and gains["momentum"][2] == 2
    rows += [{**r, "seed": 2, "test": r["test"] + 0.003} for r in rows if r["seed"] == 1]
    gains, momentum, prox = lesson.record_variant_claims(claims, pd.DataFrame(rows), setup="s", rounds=3)
    assert momentum.kind == "finding" and momentum.noise > 0 and "3 seeds" in momentum.noise_reason
    assert momentum.measured == pytest.approx(gains["momentum"][0])
