"""The reproduction runner and CLI on small synthetic notebooks (a kernel start each, ~3 s)."""

import json

import nbformat
import pytest

from tinydtl.lab.cli import main
from tinydtl.lab.reproduce import discover_notebooks, select_notebooks


def write_notebook(path, body, params="QUICK = False\nSEED = 0\nRESULTS_PATH = None"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(src) for src in body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


RECORD = (
    "from tinydtl.lab.claims import ClaimRecorder\n"
    "claims = ClaimRecorder('{name}', path=RESULTS_PATH, quick=QUICK, seed=SEED)\n"
    "claims.reproduction('value', {value}, claim='value >= 1', source='test paper', where='Table 1', differs='nothing', target=1.0)"
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
    assert "value >= 1" in printed and "met" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["ok"] and results["quick"]
    (claim,) = results["notebooks"][0]["claims"]
    assert claim["measured"] == 2.0  # QUICK=True was injected: 1.0 + True
    report = (out / "report.md").read_text()
    assert report.count("| 10_good |") == 2  # one claim row, one run-time row
    assert "| 10_good | value >= 1 | test paper | Table 1 | nothing |" in report
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
    from tinydtl.lab.reproduce import run_notebook

    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "30_hangs.ipynb", ["import time\ntime.sleep(60)"])
    run = run_notebook(d / "30_hangs.ipynb", tmp_path / "out", cell_timeout=3)
    assert not run.ok and run.seconds < 45
    assert "Timeout" in run.error or "timed out" in run.error.lower()


KINDS_BODY = """
from tinydtl.lab.claims import ClaimRecorder
ROUNDS = ROUNDS or (2 if QUICK else 7)
claims = ClaimRecorder('{name}', path=RESULTS_PATH, quick=QUICK, seed=SEED, parameters=dict(ROUNDS=ROUNDS, SEEDS=[SEED, SEED + 1]))
claims.reproduction('paper', 0.9, claim='accuracy >= 85 %', source='A paper', where='Fig. 2', differs='MNIST, not CIFAR', target=0.85)
claims.reproduction('neg', 12.0, claim='loss < 8 points', source='A paper', where='abstract', differs='model', target=8, op='<=',
                    honest_negative='our head is linear')
claims.reproduction('apples', 0.0, claim='1.8 extra rounds', source='B paper', where='Sec. 5', differs='criterion', target=1.8,
                    op='<=', comparable=False)
claims.finding('sign', 1.0, claim='the sign is flipped', target=0, op='>')
claims.sanity('params', 7850, claim='784 x 10 + 10 parameters', target=7850, op='==')
"""


def test_report_has_one_table_per_kind_and_records_parameters(tmp_path, capsys):
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "50_kinds.ipynb", [KINDS_BODY.format(name="50_kinds")],
                   params="QUICK = False\nSEED = 0\nRESULTS_PATH = None\nROUNDS = None")
    out = tmp_path / "out"
    assert main(["reproduce", "--quick", "--seed", "4", "--out", str(out), "--notebooks", str(d), "--no-progress"]) == 0
    assert "honest negative (not a failure): 50_kinds: claim neg" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    nb = results["notebooks"][0]
    assert nb["parameters"] == {"ROUNDS": 2, "SEEDS": [4, 5]} and nb["seed"] == 4 and nb["quick"] is True
    assert nb["seconds"] > 0 and results["machine"]["cores"] >= 1 and results["interrupted"] is False
    verdicts = {c["name"]: c["verdict"] for c in nb["claims"]}
    assert verdicts == {"paper": "met", "neg": "NOT MET (honest negative)", "apples": "not comparable",
                        "sign": "met", "params": "met"}
    report = (out / "report.md").read_text()
    sections = report.split("## ")
    repro = next(s for s in sections if s.startswith("Reproductions"))
    assert "A paper | Fig. 2 | MNIST, not CIFAR" in repro and "NOT MET (honest negative): our head is linear" in repro
    assert "not comparable (would be met)" in repro and "the sign is flipped" not in repro
    assert "the sign is flipped" in next(s for s in sections if s.startswith("Findings"))
    assert "784 x 10 + 10" in next(s for s in sections if s.startswith("Sanity"))
    assert "| 50_kinds |" in next(s for s in sections if s.startswith("Run times")) and "4, 5" in report

    # the committed results page is generated from results.json, not typed; QUICK runs are refused
    docs = tmp_path / "docs" / "results.md"
    assert main(["report", str(out / "results.json"), "--out", str(docs)]) == 2
    assert not docs.exists()
    assert main(["report", str(out / "results.json"), "--out", str(docs), "--force"]) == 0
    page = docs.read_text()
    assert "do not edit by hand" in page and "started:" in page and "cores" in page and "Run times" in page


def test_injected_parameters_stick(tmp_path):
    from tinydtl.lab.reproduce import run_notebook

    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "51_params.ipynb", [KINDS_BODY.format(name="51_params")],
                   params="QUICK = False\nSEED = 0\nRESULTS_PATH = None\nROUNDS = None")
    run = run_notebook(d / "51_params.ipynb", tmp_path / "out", quick=True, parameters={"ROUNDS": 11})
    assert run.ok and run.parameters["ROUNDS"] == 11  # QUICK's default (2) did not overwrite it


SLEEPER = """
import os, shutil, subprocess, time
from pathlib import Path
from tinydtl.lab.claims import ClaimRecorder
claims = ClaimRecorder('41_sleeps', path=RESULTS_PATH, quick=QUICK, seed=SEED)
claims.finding('started', 1.0, claim='the lesson started', target=1.0, op='==')
# stand-in for TensorFlow Federated's worker_binary: a child of the kernel that outlives it
fake = Path(MARKER).parent / 'worker_binary'
shutil.copy('/bin/sleep', fake)
worker = subprocess.Popen([str(fake), '300'])
Path(MARKER).write_text(f'{os.getpid()} {worker.pid}')
time.sleep(120)
"""


def _alive(pid):
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_the_run_and_keeps_finished_results(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    d = tmp_path / "nbs"
    d.mkdir()
    marker = tmp_path / "fake" / "marker"
    marker.parent.mkdir()
    write_notebook(d / "40_good.ipynb", [RECORD.format(name="40_good", value="1.0")])
    write_notebook(d / "41_sleeps.ipynb", [SLEEPER], params=f"QUICK = False\nSEED = 0\nRESULTS_PATH = None\nMARKER = {str(marker)!r}")
    write_notebook(d / "42_never.ipynb", [RECORD.format(name="42_never", value="1.0")])
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinydtl.lab.cli", "reproduce", "--out", str(out), "--notebooks", str(d), "--no-progress"],
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert marker.exists(), f"the sleeping lesson never started: {proc.communicate(timeout=5)}"
        kernel, worker = map(int, marker.read_text().split())
        assert _alive(kernel) and _alive(worker)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        sent = time.monotonic()
        stdout, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert took < 10, f"took {took:.1f} s to stop"
    assert "interrupted" in stderr
    time.sleep(0.5)
    assert not _alive(kernel), "the kernel outlived the interrupt"
    assert not _alive(worker), "the (fake) TFF worker outlived the interrupt"
    results = json.loads((out / "results.json").read_text())  # complete JSON, not half a file
    assert results["interrupted"] is True and results["ok"] is False
    names = [nb["notebook"] for nb in results["notebooks"]]
    assert names == ["40_good", "41_sleeps"]  # 42 never started
    good, sleeper = results["notebooks"]
    assert good["ok"] and good["claims"][0]["verdict"] == "met"
    assert sleeper["interrupted"] and sleeper["claims"][0]["name"] == "started"
    assert "interrupted" in (out / "report.md").read_text().lower()
    assert not list(out.glob(".*.tmp"))
