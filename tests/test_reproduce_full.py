"""The main job, in full mode: every lesson, all seeds, no failing claim.

``uv run tinydtl reproduce`` (full) runs in a subprocess exactly as a user starts it; its report goes to
``build/full/`` (kept for reading next to the sources, and the book is built from it). The run fails on
any NOT MET reproduction that is not marked as an honest negative (``tinydtl reproduce`` exits 1), on a
lesson that errors, and on a TFF worker left behind. Opt-in locally (``TINYDTL_FULL=1``), always on when
``CI`` is set. ``conftest.py`` starts it in the background as soon as the tests are collected (one core for
it, one for the other tests) and orders this test last: it waits for the run and checks it.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FULL_LOG, FULL_OUT, FULL_PGID, FULL_RC, full_run_opted_in

from tinydtl.runtime.processes import find_processes

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 60 * 60


def run_full() -> tuple[int, str]:
    """The run's exit code and the end of its output: the background run's (waited for), or a run now."""
    if FULL_PGID.is_file():
        deadline = time.monotonic() + TIMEOUT_S
        while not FULL_RC.is_file():
            assert time.monotonic() < deadline, f"the background full reproduction did not end in {TIMEOUT_S} s"
            time.sleep(5)
        return int(FULL_RC.read_text()), FULL_LOG.read_text()[-3000:]
    tinydtl = Path(sys.executable).with_name("tinydtl")
    proc = subprocess.run([str(tinydtl), "reproduce", "--no-progress", "--out", str(FULL_OUT)], cwd=ROOT,
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout[-3000:]


@pytest.mark.full_reproduce
def test_full_reproduce_has_no_failing_claim_and_leaves_no_worker():
    if not full_run_opted_in():
        pytest.skip("the full reproduction is opt-in locally (TINYDTL_FULL=1; ~15 min); always on in CI")
    returncode, output = run_full()
    out = FULL_OUT
    failed = out / "results.failed.json"  # a failed run keeps an earlier good results.json and writes this
    results = json.loads((failed if returncode and failed.is_file() else out / "results.json").read_text())
    broken = [(n["notebook"], n["error"]) for n in results["notebooks"] if not n["ok"]]
    failing = [(n["notebook"], c["name"], c["measured"], c["verdict"]) for n in results["notebooks"]
               for c in n["claims"] if c.get("fails")]
    assert returncode == 0, f"exit {returncode}; lessons that failed: {broken}; failing claims: {failing}\n{output}"
    assert not broken and not failing
    assert results["quick"] is False and not results["interrupted"] and results["ok"]
    lessons = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(n["notebook"] for n in results["notebooks"]) == lessons
    # headline reproductions are measured over >= 3 seeds in full mode where the lesson has seeds
    # every lesson with a reproduction claim and seeds measures it over >= 3 of them in full mode
    seeds = {n["notebook"]: n["parameters"].get("SEEDS") for n in results["notebooks"]
             if any(c["kind"] == "reproduction" for c in n["claims"]) and n["parameters"].get("SEEDS") is not None}
    assert all(len(s) >= 3 for s in seeds.values()), seeds
    assert not find_processes("worker_binary"), "a TFF worker_binary outlived the run"
    assert (out / "report.md").read_text().count("| NOT MET |") == 0
