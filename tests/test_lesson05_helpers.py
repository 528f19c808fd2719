"""Lesson 05's helpers (tinydtl.lab.lessons.l05_*): the rules its claims follow, fixed before the run, and the
bookkeeping that records them — exercised here on small made-up numbers, so a claim the full run alone records
cannot break unseen."""

import numpy as np
import pandas as pd

from tinydtl.lab.claims import ClaimRecorder
from tinydtl.lab.lessons import l05_authors as authors_lab
from tinydtl.lab.lessons import l05_bilayer as lab
from tinydtl.papers.bilayer import NOT_REPRODUCED


def test_why_not_paper_names_an_honest_negative_only_by_its_rule():
    assert lab.why_not_paper(1.8, 1.0) == ""  # within the band: met, no reason needed
    assert lab.why_not_paper(0.0, 1.0).startswith("faster than the paper")
    assert lab.why_not_paper(None, 1.0) == ""  # never reached and nothing explains it: a plain NOT MET
    assert lab.why_not_paper(5.0, 1.0, without=4.0, setting="x") == ""  # switching it back does not help
    assert "only because of one of the authors' settings, 'x'" in lab.why_not_paper(None, 1.0, without=0.0, setting="x")


def test_culprit_is_the_step_that_adds_the_most_extra_rounds():
    summary = [{"setting": "a", "extra rounds (mean)": 0.0}, {"setting": "b", "extra rounds (mean)": 0.67},
               {"setting": "c", "extra rounds (mean)": None}, {"setting": "d", "extra rounds (mean)": None}]
    assert authors_lab.culprit(summary)[0] == "c"
    assert authors_lab.culprit([{"setting": "a", "extra rounds (mean)": 0.0}]) == (None, 0.0)


def test_stable_range_and_the_formatting_rules():
    sweep = pd.DataFrame({"rounds": [np.nan, 10, 10, 5, 5, 6]}, index=[15, 20, 30, 40, 50, 60])
    assert lab.stable_range(sweep) == 40.0
    assert lab.stable_range(pd.DataFrame({"rounds": [3, np.nan]}, index=[15, 60])) is None
    assert lab.mean_se([1, 2, 3]) == (2.0, float(np.std([1, 2, 3], ddof=1) / np.sqrt(3)))
    assert lab.mean_se([1, None]) == (None, None) and lab.mean_se([2]) == (2.0, None)
    assert lab.rounds_list([0, None, np.nan]) == "0, never reached, never reached"
    assert lab.times(None, 2.0).startswith("n/a") and lab.times(4.0, 2.0) == "2.0×"


def test_every_claim_the_full_run_records_can_be_recorded():
    claims = ClaimRecorder("05_test", path=None, quick=False, seed=0)
    table = pd.DataFrame({"MB": {"CFL (server)": 1.0, "bilayer": 4.0, "D-PSGD": 100.0}})
    lab.record_iid_claims(claims, [1, 2, 2], table, target=0.85, band=1.0, min_seeds=3)
    per_seed = [{"α": a, "seed": s, "CFL": 0.9, "bilayer": 0.89 - 0.01 * k - 0.001 * s, "loss (points)": 1 + k + 0.1 * s,
                 "loss (% of CFL)": 1.1 + k + 0.1 * s, "CFL rounds": 4, "bilayer rounds": 5 + k}
                for k, a in enumerate((10.0, 0.5, 0.1)) for s in range(3)]
    alphas = lab.alpha_summary(per_seed)
    assert alphas.loc[0.5, "extra rounds"] == 2 and alphas.loc[0.5, "SE (%)"] > 0
    lab.record_alpha_claims(claims, alphas, per_seed, loss_bound=8.0, seeds=3)
    sweep = lab.range_summary([{"range (m)": r, "seed": s, "radio components": 1, "head groups": g, "bilayer round gap": 0.0,
                                "unreachable members": 0, "rounds": n, "final acc": 0.9}
                               for r, g, n in ((15, 5, None), (30, 3, 6), (45, 2, 5), (60, 1, 5)) for s in range(3)])
    assert lab.split_but_fast(sweep) == [30.0, 45.0] and np.isnan(sweep.loc[15, "rounds"])
    lab.record_range_claim(claims, sweep, lab.stable_range(sweep), seeds=3)
    rows = [{"step": s, "CFL rounds": 4, "swarm final": f} for s, f in ((6, 0.89), (6, 0.88), (7, 0.889), (7, 0.881))]
    summary = [{"extra rounds (mean)": None, "extra rounds per seed": [None, None]}]
    out = authors_lab.authors_outcome(summary, {"extra rounds (mean)": 0.0}, rows, budget=10, last=(6, 7))
    assert out["at least"] == 7 and out["undo"] == 0.0 and abs(out["loss"]) < 1e-9 and out["loss se"] > 0
    authors_lab.record_authors_claims(claims, out, setting="each device initialises its own head", not_reproduced=NOT_REPRODUCED,
                              target=0.9, band=1.0, bound=1.0, budget=10, seeds=2)
    by_name = {c.name: c for c in claims.claims}
    assert by_name["iid_extra_rounds_vs_cfl"].verdict == "met"
    assert by_name["alpha05_relative_loss_softmax"].passed and by_name["skew_costs_accuracy"].passed
    assert by_name["range_where_convergence_stabilises"].passed  # stable from 30 m, two longer ranges above it
    assert by_name["authors_config_extra_rounds_vs_cfl"].verdict == "NOT MET (honest negative)"
    assert by_name["moving_at_authors_speed_loss_points"].kind == "sanity" and by_name["moving_at_authors_speed_loss_points"].passed
    assert "at least 7" in authors_lab.authors_text(out, setting="x", judged=True, min_seeds=3)


def test_lesson12_moving_helpers():
    from tinydtl.lab.lessons import l12_bilayer_authors as lab12
    from tinydtl.papers.bilayer import AUTHORS

    assert lab12.links_kept(AUTHORS.replace(speed=0.0), 5, 0)[0] == 1.0
    (slow, density), (fast, _) = (lab12.links_kept(AUTHORS.replace(speed=v), 8, 0) for v in (1.0, 10.0))
    assert 1.0 >= slow > fast and 0 < density < 1
    table = lab12.moving_summary([0.9, 0.92, 0.91], {10.0: [0.89, 0.91, 0.91]}, {10.0: [(0.3, 0.5), (0.4, 0.5), (0.35, 0.5)]})
    assert abs(table.loc[10.0, "loss vs standing still (points)"] - 2 / 3) < 1e-9 and table.loc[10.0, "SE"] > 0
    claims = ClaimRecorder("12_test", path=None, quick=False, seed=0)
    lab12.record_fast_moving_claim(claims, table, speed=10.0, bound=1.0, budget=8, seeds=3, differs="x", n_devices=60)
    (claim,) = claims.claims
    # at the authors' range the test is near-vacuous: a sanity check whose note gives the density and neighbours
    assert claim.kind == "sanity" and claim.passed
    assert "near-vacuous" in claim.note and "link density 0.50" in claim.note and "about 30 of the other 59" in claim.note
