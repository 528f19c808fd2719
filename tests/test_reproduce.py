"""The reproduction runner and CLI on small synthetic notebooks (a kernel start each, ~3 s)."""

import json

import nbformat
import pytest

from tinydtl.cli import main
from tinydtl.reproduce import discover_notebooks, select_notebooks


def write_notebook(path, body, params="QUICK = False\nSEED = 0\nRESULTS_PATH = None"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(src) for src in body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


RECORD = (
    "from tinydtl.claims import ClaimRecorder\n"
    "claims = ClaimRecorder('{name}', path=RESULTS_PATH, quick=QUICK, seed=SEED)\n"
    "claims.check('value', {value}, claim='value >= 1', source='test', target=1.0)"
)


@pytest.fixture
def nbdir(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "10_good.ipynb", [RECORD.format(name="10_good", value="1.0 + QUICK")])
    write_notebook(d / "11_broken.ipynb", ["x = 1", "raise ValueError('deliberately broken')"])
    write_notebook(d / "12_unmet.ipynb", [RECORD.format(name="12_unmet", value=0.5)])
    (d / "notes.ipynb").write_text("{}")  # not a numbered lesson: ignored
    return d


def test_discover_and_select(nbdir):
    assert [p.stem for p in discover_notebooks(nbdir)] == ["10_good", "11_broken", "12_unmet"]
    assert [p.stem for p in select_notebooks(["11", "good", "12_unmet"], nbdir)] == [
        "11_broken",
        "10_good",
        "12_unmet",
    ]
    with pytest.raises(ValueError, match="no notebook matches 'nope'; available: 10_good, 11_broken"):
        select_notebooks(["nope"], nbdir)


def test_good_notebook_passes_with_injected_parameters(nbdir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", "good", "--quick", "--out", str(out), "--notebooks", str(nbdir), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "value >= 1" in printed and "holds" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["ok"] and results["quick"]
    (claim,) = results["notebooks"][0]["claims"]
    assert claim["measured"] == 2.0  # QUICK=True was injected: 1.0 + True
    assert (out / "report.md").read_text().count("| 10_good |") == 2
    assert (out / "10_good.ipynb").is_file()


def test_broken_notebook_fails_naming_notebook_and_cell(nbdir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["reproduce", "good", "broken", "--out", str(out), "--notebooks", str(nbdir), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED: notebook 11_broken" in err
    assert "ValueError: deliberately broken" in err and "cell" in err
    results = json.loads((out / "results.json").read_text())
    broken = results["notebooks"][1]
    assert broken["ok"] is False and broken["failed_cell"] is not None
    assert results["notebooks"][0]["ok"] is True  # the good one still ran and reported
    assert "FAILED" in (out / "report.md").read_text()


def test_unmet_claim_exits_nonzero(nbdir, tmp_path, capsys):
    code = main(["reproduce", "12", "--out", str(tmp_path / "o"), "--notebooks", str(nbdir), "--no-progress"])
    assert code == 1
    assert "NOT MET: 12_unmet: claim value" in capsys.readouterr().err


def test_unknown_name_exits_2(nbdir, tmp_path, capsys):
    assert main(["reproduce", "zzz", "--out", str(tmp_path), "--notebooks", str(nbdir)]) == 2
    assert "no notebook matches 'zzz'" in capsys.readouterr().err


def test_notebook_without_results_is_a_failure(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "20_silent.ipynb", ["x = 1"])
    assert main(["reproduce", "--out", str(tmp_path / "o"), "--notebooks", str(d), "--no-progress"]) == 1


def test_a_hung_cell_fails_with_the_notebook_named(tmp_path):
    from tinydtl.reproduce import run_notebook

    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "30_hangs.ipynb", ["import time\ntime.sleep(60)"])
    run = run_notebook(d / "30_hangs.ipynb", tmp_path / "out", cell_timeout=3)
    assert not run.ok and run.seconds < 45
    assert "Timeout" in run.error or "timed out" in run.error.lower()
