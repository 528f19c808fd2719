import json

import pytest

from tinydtl.claims import Claim, ClaimRecorder, load_results


@pytest.mark.parametrize(
    "op, measured, target, tol, passed",
    [
        (">=", 0.86, 0.85, 0.0, True),
        (">=", 0.84, 0.85, 0.0, False),
        (">=", 0.84, 0.85, 0.02, True),
        ("<=", 310, 300, 0, False),
        ("<=", 299, 300, 0, True),
        ("==", 1.8, 2.0, 0.25, True),
        ("==", 1.5, 2.0, 0.25, False),
    ],
)
def test_verdicts(op, measured, target, tol, passed):
    c = Claim("x", "src", "claim", measured, target, op, tol)
    assert c.passed is passed
    assert c.verdict == ("holds" if passed else "NOT MET")


def test_recorder_writes_and_reads_back(tmp_path):
    path = tmp_path / "r.json"
    rec = ClaimRecorder("02_demo", path=path, quick=True, seed=3)
    rec.check("acc", 0.9, claim="acc >= 85 %", source="survey", target=0.85)
    rec.check("acc", 0.8, claim="acc >= 85 %", source="survey", target=0.85)  # re-run replaces
    rec.metric("seconds", 1.5)
    data = json.loads(path.read_text())
    assert data["notebook"] == "02_demo" and data["quick"] is True and data["seed"] == 3
    assert len(data["claims"]) == 1 and data["claims"][0]["passed"] is False
    back = load_results(path)
    assert back["claims"][0].measured == 0.8 and back["metrics"] == {"seconds": 1.5}
    assert not rec.all_passed
    assert list(rec.table().columns) == ["source", "claim", "measured", "verdict"]


def test_recorder_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ClaimRecorder("x").check("a", 1.0, claim="c", source="s", target=0.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(op=">"), "op must be one of"),
        (dict(tolerance=-1.0), "tolerance must be >= 0"),
        (dict(target=float("nan")), "target must be a finite number"),
    ],
)
def test_bad_claims(kwargs, match):
    rec = ClaimRecorder("x")
    with pytest.raises(ValueError, match=match):
        rec.check("a", 1.0, claim="c", source="s", **{"target": 1.0, **kwargs})


def test_nan_measurement_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="measured must be a finite number"):
        ClaimRecorder("x").check("a", float("nan"), claim="c", source="s", target=0.5)
