import json
import math

import pytest

from tinydtl.lab.claims import KINDS, OPS, Claim, ClaimRecorder, load_results

REPRO = dict(source="Survey", where="abstract", differs="nothing")


@pytest.mark.parametrize(
    "op, measured, target, tol, passed",
    [
        (">=", 0.86, 0.85, 0.0, True),
        (">=", 0.84, 0.85, 0.0, False),
        (">=", 0.84, 0.85, 0.02, True),
        (">", 0.0, 0.0, 0.0, False),
        (">", 0.1, 0.0, 0.0, True),
        ("<=", 310, 300, 0, False),
        ("<=", 299, 300, 0, True),
        ("<", 300, 300, 0, False),
        ("==", 1.8, 2.0, 0.25, True),
        ("==", 1.5, 2.0, 0.25, False),
    ],
)
def test_verdicts(op, measured, target, tol, passed):
    c = Claim("x", "src", "claim", measured, target, op, tol, kind="finding")
    assert c.passed is passed
    assert c.verdict == ("met" if passed else "NOT MET")
    assert c.fails is (not passed)


# ---------------------------------------------------------------- fake measurements that must fail


@pytest.mark.parametrize("never", [None, float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("op", list(OPS))
def test_a_target_never_reached_is_not_met_whatever_the_operator(never, op):
    rec = ClaimRecorder("x")
    c = rec.finding("rounds_to_target", never, claim="reaches 85 % within 30 rounds", target=30, op=op)
    assert not c.reached and not c.passed and c.verdict == "NOT MET" and c.fails
    assert "never reached" in c.describe_measured()
    assert c.to_dict()["measured"] is None  # valid JSON, not NaN / Infinity
    assert not rec.all_passed


def test_below_the_band_fails():
    rec = ClaimRecorder("x")
    band = dict(claim="~85 %, read as >= 83 % (2 points below the survey's '~')", target=0.85, op=">=",
                tolerance=0.02, tolerance_reason="'~85 %' read as 85 ± 2 points, fixed before the run", **REPRO)
    assert rec.reproduction("worst_seed", 0.8299, **band).verdict == "NOT MET"
    assert rec.reproduction("worst_seed", 0.8300, **band).verdict == "met"
    assert rec.reproduction("too_far", 0.86, **{**band, "op": "=="}).verdict == "met"
    assert rec.reproduction("too_far", 0.88, **{**band, "op": "=="}).verdict == "NOT MET"


def test_wrong_sign_fails():
    rec = ClaimRecorder("x")
    kw = dict(claim="error feedback improves on plain top-k (gain > 0 points)", target=0.0, op=">", unit="pp")
    assert rec.finding("ef_gain", -0.4, **kw).fails
    assert rec.finding("ef_gain", 0.0, **kw).fails  # no gain is not a gain
    assert not rec.finding("ef_gain", 3.1, **kw).fails


def test_honest_negative_is_reported_but_does_not_fail():
    rec = ClaimRecorder("x")
    c = rec.reproduction("loss", 12.0, claim="< 8 % loss", target=8.0, op="<=",
                         honest_negative="softmax head on MNIST instead of MCUNet on CIFAR-10", **REPRO)
    assert not c.passed and c.verdict == "NOT MET (honest negative)" and not c.fails and rec.all_passed
    ok = rec.reproduction("loss", 5.0, claim="< 8 % loss", target=8.0, op="<=", honest_negative="why", **REPRO)
    assert ok.verdict == "met"


NOISE = dict(claim="adaptive tau ends no worse than the median fixed tau", target=0.0, op="<=",
             noise_reason="2 standard errors of the paired per-seed difference over 3 seeds", **REPRO)


@pytest.mark.parametrize(
    "measured, verdict",
    [
        (0.0021, "undecided (within noise)"),   # a miss the seeds cannot resolve
        (-0.0021, "undecided (within noise)"),  # a win the seeds cannot resolve: symmetric, not "met"
        (0.0059, "undecided (within noise)"),   # the band's edge is inside
        (0.0060, "NOT MET"),                    # a miss beyond the band fails
        (-0.0060, "met"),                       # a win beyond the band is met
    ],
)
def test_the_noise_band_is_symmetric_around_the_target(measured, verdict):
    c = ClaimRecorder("x").reproduction("case3", measured, noise=0.0059, **NOISE)
    assert c.verdict == verdict
    assert c.fails is (verdict == "NOT MET")
    assert "noise ±0.0059" in c.describe_measured()


def test_the_noise_band_is_measured_from_the_edge_of_the_tolerance():
    kw = {**NOISE, "target": 0.85, "op": ">=", "tolerance": 0.02, "tolerance_reason": "read as 85 ± 2 points"}
    rec = ClaimRecorder("x")
    assert rec.reproduction("a", 0.835, noise=0.01, **kw).verdict == "undecided (within noise)"
    assert rec.reproduction("a", 0.845, noise=0.01, **kw).verdict == "met"
    assert rec.reproduction("a", 0.815, noise=0.01, **kw).verdict == "NOT MET"
    eq = {**kw, "op": "=="}
    assert rec.reproduction("a", 0.87, noise=0.005, **eq).verdict == "undecided (within noise)"  # |0.02 - 0.02| = 0
    assert rec.reproduction("a", 0.85, noise=0.005, **eq).verdict == "met"


def test_a_never_reached_target_is_not_met_whatever_the_noise():
    c = ClaimRecorder("x").reproduction("case3", None, noise=1.0, **NOISE)
    assert c.verdict == "NOT MET" and c.fails


@pytest.mark.parametrize("noise, reason, match", [(-0.1, "r", "noise must be >= 0"),
                                                  (float("nan"), "r", "noise must be a finite number"),
                                                  (0.01, " ", "needs noise_reason")])
def test_a_bad_noise_band_is_rejected(noise, reason, match):
    with pytest.raises(ValueError, match=match):
        ClaimRecorder("x").reproduction("a", 0.0, noise=noise, **{**NOISE, "noise_reason": reason})


def test_the_report_prints_the_undecided_verdict_with_its_band():
    from tinydtl.lab.reproduce import report_markdown

    rec = ClaimRecorder("07_x")
    rec.reproduction("case3", 0.0021, noise=0.0059, **NOISE)
    md = report_markdown({"notebooks": [{"ok": True, "seconds": 1.0, **rec.to_dict()}], "quick": False})
    assert "undecided (within noise) (2 standard errors of the paired per-seed difference over 3 seeds: ±0.0059)" in md
    assert "| NOT MET |" not in md


def test_not_comparable_is_neither_met_nor_failed():
    rec = ClaimRecorder("x")
    c = rec.reproduction("extra_rounds", 0.0, claim="~1.8 extra rounds", target=1.8, op="<=", comparable=False,
                         source="paper", where="Fig. 4", differs="criterion: mean device vs global model")
    assert c.verdict == "not comparable" and not c.fails and c.passed
    with pytest.raises(ValueError, match="say in differs= what differs"):
        rec.reproduction("x", 0.0, claim="c", target=1.0, comparable=False, source="p", where="w", differs="nothing")


@pytest.mark.parametrize("op", [">>", "=", "!=", "in", None])
def test_unknown_operator_is_rejected_naming_the_allowed_ones(op):
    with pytest.raises(ValueError, match=r"op must be one of \['>=', '>', '<=', '<', '=='\]"):
        ClaimRecorder("x").finding("a", 1.0, claim="c", target=1.0, op=op)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r: r.check("a", 1.0, claim="c", target=1.0, kind="anecdote"), "kind must be one of"),
        (lambda r: r.reproduction("a", 1.0, claim="c", target=1.0, source="p", where="", differs="x"), "needs where"),
        (lambda r: r.reproduction("a", 1.0, claim="c", target=1.0, source="p", where="abstract", differs=" "), "needs differs"),
        (lambda r: r.finding("a", 1.0, claim="c", target=1.0, tolerance=0.1), "needs tolerance_reason"),
        (lambda r: r.finding("a", 1.0, claim="c", target=1.0, honest_negative="x"), "only a reproduction"),
        (lambda r: r.sanity("a", 1.0, claim="c", target=1.0, comparable=False), "only a reproduction"),
        (lambda r: r.finding("a", 1.0, claim="c", target=1.0, tolerance=-1.0, tolerance_reason="x"), "tolerance must be >= 0"),
        (lambda r: r.finding("a", 1.0, claim="c", target=float("nan")), "target must be a finite number"),
        (lambda r: r.finding("a", 1.0, claim="c", target=float("inf")), "target must be a finite number"),
    ],
)
def test_bad_claims(call, match):
    with pytest.raises(ValueError, match=match):
        call(ClaimRecorder("x"))


def test_non_numeric_measurement_is_a_type_error():
    with pytest.raises(TypeError, match="measured must be a real number or None"):
        ClaimRecorder("x").finding("a", "0.9", claim="c", target=0.5)


def test_claim_without_kind_still_works_with_a_warning():
    with pytest.warns(FutureWarning, match="has no kind"):
        c = ClaimRecorder("x").check("a", 1.0, claim="c", source="s", target=0.0)
    assert c.kind is None and c.verdict == "met"


def test_recorder_writes_parameters_and_reads_back(tmp_path):
    import numpy as np

    path = tmp_path / "r.json"
    rec = ClaimRecorder("02_demo", path=path, quick=True, seed=3,
                        parameters=dict(ROUNDS=np.int64(5), SEEDS=(0, 1, 2), LR=np.float32(0.5)))
    assert json.loads(path.read_text())["parameters"] == {"ROUNDS": 5, "SEEDS": [0, 1, 2], "LR": 0.5}
    rec.record_parameters(N=np.arange(2))
    rec.reproduction("acc", 0.9, claim="acc >= 85 %", target=0.85, **REPRO)
    rec.reproduction("acc", 0.8, claim="acc >= 85 %", target=0.85, **REPRO)  # re-run replaces
    rec.sanity("params", 7850, claim="7,850", target=7850, op="==")
    rec.metric("seconds", 1.5)
    data = json.loads(path.read_text())
    assert data["notebook"] == "02_demo" and data["quick"] is True and data["seed"] == 3
    assert data["parameters"]["N"] == [0, 1]
    assert [c["name"] for c in data["claims"]] == ["acc", "params"]
    assert data["claims"][0]["verdict"] == "NOT MET" and data["claims"][0]["kind"] == "reproduction"
    back = load_results(path)
    assert back["claims"][0].measured == 0.8 and back["metrics"] == {"seconds": 1.5}
    assert back["claims"][1].kind == "sanity" and back["claims"][1].passed
    assert not rec.all_passed
    assert list(rec.table().columns) == ["kind", "source", "claim", "differs", "measured", "verdict"]
    assert not list(tmp_path.glob("*.tmp"))


def test_recorder_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ClaimRecorder("x").finding("a", 1.0, claim="c", target=0.0)
    assert list(tmp_path.iterdir()) == []


def test_kinds_are_the_three_the_report_knows():
    assert list(KINDS) == ["reproduction", "finding", "sanity"]
    assert math.isclose(Claim("a", "s", "c", 0.5, 0.5, "==", kind="sanity").target, 0.5)


def test_the_claims_table_shows_sentences_whole():
    import pandas as pd

    rec = ClaimRecorder("x")
    long = "a claim sentence long enough to be cut by pandas' default column width of fifty characters, ending HERE"
    rec.finding("a", 1.0, claim=long, target=0.0)
    with pd.option_context("display.max_colwidth", 50):
        table = rec.table()
        assert "ending HERE" in table._repr_html_() and "ending HERE" in repr(table)
    assert list(table["verdict"]) == ["met"]
