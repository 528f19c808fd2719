"""Lesson 07's bookkeeping (tinydtl.lab.lessons.l07_adaptive_tau): the near-optimal and paired claims can fail and
follow the noise rule, the summary reads the runs right, the real-mode replay and cost reading hold, and the
lesson's prose types no measured number."""

import numpy as np
import pandas as pd
import pytest

import tinydtl.lab.lessons.l07_adaptive_tau as l07
import tinydtl.papers.adaptive_tau as ad
from tinydtl.lab.claims import ClaimRecorder

CASE = l07.CASE_NAMES[1]


def lesson07_claims(adaptive_by_seed, fixed_by_seed, taus=(1, 10, 100), val=None):
    """The lesson's summary and claims on made-up final losses (one case, one row of fixed-τ losses per seed)."""
    seeds = list(range(len(adaptive_by_seed)))
    rows = [dict(case=1, tau="adaptive", seed=s, loss=a, val_loss=a, accuracy=0.9, rounds=20 + s)
            for s, a in zip(seeds, adaptive_by_seed)]
    rows += [dict(case=1, tau=t, seed=s, loss=loss, val_loss=(val or {}).get(t, loss), accuracy=0.9, rounds=10)
             for s, fixed in zip(seeds, fixed_by_seed) for t, loss in zip(taus, fixed)]
    runs = pd.DataFrame(rows)
    adaptive_taus = {(1, s): np.array([1, 4 + s, 30]) for s in seeds}
    _, summary = l07.summarize(runs, adaptive_taus, [1], seeds)
    claims = ClaimRecorder("07_adaptive_tau")
    table = l07.record_comparison_claims(claims, runs, summary, [1], seeds, n_train=100, taus=taus)
    return {c.name: c for c in claims.claims}, summary.loc[CASE], table.loc[CASE]


def paired_verdicts(adaptive_by_seed, fixed_by_seed):
    named, _, table = lesson07_claims(adaptive_by_seed, fixed_by_seed)
    claim = named["case1_adaptive_beats_median"]
    assert table["verdict (median)"] == claim.verdict and table["adaptive − median"] == pytest.approx(claim.measured)
    return claim, table


def test_noise_rule_is_symmetric_and_a_resolved_miss_still_fails():
    fixed = [(0.30, 0.20, 0.25)] * 3  # each seed's median fixed τ: 0.25
    for sign in (1, -1):  # per-seed differences 0.001, 0.003, 0.002 (a miss) and their mirror image (a win)
        claim, table = paired_verdicts([0.25 + sign * d for d in (0.001, 0.003, 0.002)], fixed)
        assert claim.noise == pytest.approx(2 * 0.001 / np.sqrt(3)) == pytest.approx(table["2·SE (median)"])
        assert "over 3 seeds" in claim.noise_reason and "paired" in claim.noise_reason
        assert claim.measured == pytest.approx(sign * 0.002)
        assert claim.verdict == ("NOT MET" if sign > 0 else "met") and claim.fails == (sign > 0)
    for sign in (1, -1):  # noisy seeds, same mean: inside 2·SE on either side → undecided
        claim, _ = paired_verdicts([0.25 + sign * d for d in (-0.004, 0.006, 0.004)], fixed)
        assert claim.noise > abs(claim.measured) and claim.verdict == "undecided (within noise)" and not claim.fails


@pytest.mark.parametrize("n_seeds", [1, 2])
def test_below_three_seeds_the_paired_claims_are_shown_but_not_judged(n_seeds):
    for adaptive in (0.20, 0.30):  # a clear win and a clear miss alike: no verdict, no claim
        named, _, table = lesson07_claims([adaptive] * n_seeds, [(0.30, 0.20, 0.25)] * n_seeds)
        assert not named
        assert table["verdict (median)"] == table["verdict (best)"] == l07.NOT_JUDGED and np.isnan(table["2·SE (best)"])
        assert table["adaptive − median"] == pytest.approx(adaptive - 0.25)
        assert table["adaptive − best"] == pytest.approx(adaptive - 0.20)


def test_near_optimal_claim_is_against_the_fixed_tau_chosen_on_validation_and_can_fail():
    fixed = [(0.30, 0.20, 0.25)] * 3  # test losses; τ = 10 is best on test
    val = {1: 0.31, 10: 0.24, 100: 0.22}  # ... but validation picks τ = 100 (test loss 0.25), worst τ = 1
    for per_seed, verdict in (((0.24, 0.241, 0.239), "met"), ((0.26, 0.261, 0.259), "NOT MET (honest negative)"),
                              ((0.245, 0.255, 0.25), "undecided (within noise)")):
        named, row, table = lesson07_claims(list(per_seed), fixed, val=val)
        claim = named["case1_adaptive_near_best"]
        assert row["best fixed τ"] == 100 and row["worst fixed τ"] == 1 and row["best loss"] == pytest.approx(0.25)
        assert claim.kind == "reproduction" and claim.target == 0.0 and "chosen on validation" in claim.claim
        assert claim.measured == pytest.approx(np.mean(per_seed) - 0.25) == pytest.approx(table["adaptive − best"])
        assert claim.verdict == verdict and not claim.fails, (per_seed, claim.verdict)
        assert "validation" in claim.differs and "maximize the learning accuracy" in claim.differs
        # the chosen τ (100) is above adaptive's median τ (5 in lesson07_claims): a resolved miss is explained
        # place in range: descriptive, between the validation-chosen best (0.25) and worst (0.30)
        assert row["place in range (0 best, 1 worst)"] == pytest.approx((np.mean(per_seed) - 0.25) / 0.05)


def test_a_resolved_miss_is_an_honest_negative_only_when_adaptive_undershoots_the_chosen_tau():
    fixed = [(0.30, 0.20, 0.25)] * 3
    miss = [0.26, 0.261, 0.259]
    over = lesson07_claims(miss, fixed, val={1: 0.31, 10: 0.24, 100: 0.22})[0]["case1_adaptive_near_best"]
    assert over.verdict == "NOT MET (honest negative)" and not over.fails and "stays below" in over.honest_negative
    # validation picks τ = 1, below adaptive's median τ (5): adaptive's τ is too large, unexplained → fails
    under = lesson07_claims([0.31, 0.311, 0.309], fixed, val={1: 0.2, 10: 0.24, 100: 0.22})[0]["case1_adaptive_near_best"]
    assert under.verdict == "NOT MET" and under.fails
    assert l07.undershoot_reason(10, 10.0) == "" and "median τ 4" in l07.undershoot_reason(100, 4.0)
    # the reason names no cause, and says when the rule cannot fail (chosen τ at the cap)
    assert "not established" in over.honest_negative and "cannot fail" in over.honest_negative
    assert "cannot fail" not in l07.undershoot_reason(50, 4.0) and "sampling noise" not in l07.undershoot_reason(50, 4.0)


def test_summary_shows_each_case_median_adaptive_tau_and_rounds():
    _, row, _ = lesson07_claims([0.22, 0.22, 0.22], [(0.30, 0.20, 0.25)] * 3)
    assert row["median adaptive τ"] == np.median([1, 4, 30, 1, 5, 30, 1, 6, 30])  # every round of every seed
    assert row["rounds"] == pytest.approx(21)  # the adaptive runs' rounds, mean over seeds
    assert row["best fixed τ"] == 10 and row["best loss"] == pytest.approx(0.20) and row["worst loss"] == pytest.approx(0.30)
    assert row["adaptive − best"] == pytest.approx(0.02)


def small_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=600) > 0, 1.0, -1.0)
    return X, y, np.array_split(np.arange(600), 5)


def test_compare_taus_runs_every_case_tau_and_seed_and_evaluates_the_returned_model():
    X, y, parts = small_problem()

    def run(case, tau, seed):
        return ad.run_adaptive_tau(X, y, parts, x_test=X[:50], y_test=y[:50], tau=tau, budget=2.0, batch_size=20, seed=seed)

    runs, taus = l07.compare_taus(run, [1, 3], [1, 5], [0, 1], evaluate=lambda h: l07.final_metrics(h, X, y),
                                  validate=lambda h: l07.final_metrics(h, X[:100], y[:100]))
    assert len(runs) == 2 * 3 * 2 and set(taus) == {(1, 0), (1, 1), (3, 0), (3, 1)}
    h = run(3, 5, 1)
    row = runs[(runs.case == 3) & (runs.tau == 5) & (runs.seed == 1)].iloc[0]
    assert row.loss == pytest.approx(ad.SmoothSVM(8).evaluate(h.weights, X, y)[0]) and row.rounds == h.rounds
    assert row.val_loss == pytest.approx(ad.SmoothSVM(8).evaluate(h.weights, X[:100], y[:100])[0])


def test_replay_recomputes_every_tau_before_the_budget_rule():
    X, y, parts = small_problem()
    h = ad.run_adaptive_tau(X, y, parts, x_test=X, y_test=y, budget=6.0, batch_size=20, seed=0)
    picked, recomputed = l07.replay_taus(h, eta=0.01, phi=0.025, budget=6.0)
    assert len(picked) == h.rounds - 1 and picked.max() > 1
    np.testing.assert_array_equal(picked[:-2], recomputed[:-2])
    assert np.all(picked[-2:] <= recomputed[-2:])  # the budget rule only ever shortens


def test_cost_reading_separates_the_costs_from_the_estimates():
    X, y, parts = small_problem()
    sim = ad.run_adaptive_tau(X, y, parts, x_test=X, y_test=y, budget=6.0, batch_size=20, seed=0)
    r = l07.cost_reading(sim, sim, eta=0.01, phi=0.025, real_budget=15.0, sim_budget=15.0)
    assert r["authors_b_over_c"] == pytest.approx(0.131604348 / 0.013015156)
    e = r["estimates"]
    expected = ad.optimal_tau(e["beta"], e["delta"], e["rho"], 0.01, 0.025, r["c"], r["b"], 15.0, 10)
    assert r["tau_measured_costs"] == expected
    text = l07.describe_costs(r)
    assert f"b/c = {r['b_over_c']:.1f}" in text and "the costs alone make τ*" in text


def test_place_in_range():
    assert l07.place_in_range(0.2, 0.2, 0.3) == 0 and l07.place_in_range(0.3, 0.2, 0.3) == 1
    assert l07.place_in_range(0.19, 0.2, 0.2) == 0 and np.isinf(l07.place_in_range(0.21, 0.2, 0.2))


#: numbers lesson 07's prose may type: parameters, the papers' numbers, definitions (anything measured is printed)
TYPED_OK_07 = {
    ("0.01", ""), ("0.025", ""), ("0.1", ""), ("15", "s"), ("0.25", ""),  # η, φ, λ, the budget R, the quarter
    ("0.0130", ""), ("0.0069", ""), ("0.1316", ""), ("0.0539", ""),  # the authors' measured costs (their code)
    ("0.5", "s"), ("1", "s"), ("1", "round"),  # exercise and widget settings; a τ = 1 round (a definition)
}


def test_prose_types_no_measured_numbers():
    import nbformat
    from support import NOTEBOOKS
    from test_lesson_widgets import TYPED

    import re

    nb = nbformat.read(NOTEBOOKS / "07_adaptive_tau.ipynb", as_version=4)
    typed = []
    for c in nb.cells:
        if c.cell_type == "markdown":
            prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", c.source, flags=re.S)
            typed += [(m.group(0), prose[max(0, m.start() - 40):m.end()]) for m in TYPED.finditer(prose)
                      if (m.group(1) or m.group(3), m.group(2) or "") not in TYPED_OK_07]
    assert not typed, f"numbers typed into lesson 07's prose (print them from code): {typed}"


def test_comparison_reading_says_where_adaptive_loses_and_checks_case_1():
    import pandas as pd

    from tinydtl.lab.lesson import NoticeError

    summary = pd.DataFrame({"median adaptive τ": [26.0, 9.0, 26.0]}, index=[l07.CASE_NAMES[k] for k in (1, 2, 3)])
    text = l07.comparison_reading({1: (0.0024, 0.0008), 2: (-0.001, 0.0036), 3: (0.0016, 0.002)}, summary, [1, 2, 3], 3)
    assert "case(s): 1\n" in text and "± 0.0008" in text
    with pytest.raises(NoticeError):  # case 1 within noise: the section's sentence would be false
        l07.comparison_reading({1: (0.0005, 0.0008), 2: (0.0, 0.001), 3: (0.0, 0.001)}, summary, [1, 2, 3], 3)
    one_seed = l07.comparison_reading({1: (0.0005, float("nan"))}, summary, [1], 1)
    assert "not judged" in one_seed and "±" not in one_seed
