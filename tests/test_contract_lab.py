"""The input contract of tinydtl.lab (claims, reproduce, report, sweep, the CLI) and runtime.files.

Bad input gets one clear error naming what is wrong; nothing a user made is overwritten; a failed run
never replaces good results with less; a usage error of the CLI exits 2 with one line on stderr and no
traceback (exit 1 stays "a lesson or point failed, or a claim is NOT MET"); what the sweep starts
listens on 127.0.0.1 only.

No notebook is executed here: ``papermill.execute_notebook`` and the MNIST loader are replaced by
functions that fail the test, so a check that comes too late shows up as a failure, not as a run.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from tinydtl.lab.cli import main

# ----------------------------------------------------------------------------- the scene


LESSONS = ["00_index", "01_survey", "02_ilvq"]


def _claim(name="acc", measured=0.9):
    from tinydtl.lab.claims import Claim

    return Claim(name=name, source="a paper", claim="acc >= 0.85", measured=measured, target=0.85,
                 kind="reproduction", where="Table 1", differs="nothing").to_dict()


def summary(lessons, *, ok=True, quick=False):
    """A run's results.json as ``tinydtl reproduce`` writes it."""
    return {
        "started": "2026-01-01T00:00:00+00:00", "seconds": 12.0, "quick": quick, "seed": None,
        "interrupted": False, "ok": ok,
        "machine": {"cpu": "test cpu", "cores": 2, "memory_gb": 1.0, "os": "Linux", "python": "3.11"},
        "notebooks": [{"notebook": n, "output": "", "seconds": 1.0, "ok": ok, "interrupted": False,
                       "error": "" if ok else "cell 1 raised ValueError: x", "failed_cell": None if ok else 1,
                       "quick": quick, "seed": 0, "parameters": {}, "claims": [_claim()], "metrics": {}}
                      for n in lessons],
    }


def lesson_notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("QUICK = False\nSEED = 0\nRESULTS_PATH = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def scene(tmp_path):
    """Files a user made, and files the tool made, each with its content remembered."""
    s = {"tmp": tmp_path}
    s["unrelated"] = tmp_path / "notes.txt"
    s["unrelated"].write_text("my notes, not a tinydtl file\n")
    s["unrelated_json"] = tmp_path / "data.json"
    s["unrelated_json"].write_text('{"a": 1}\n')
    s["empty_json"] = tmp_path / "empty.json"
    s["empty_json"].write_text("{}\n")
    s["adir"] = tmp_path / "adir"
    s["adir"].mkdir()
    s["full"] = tmp_path / "full" / "results.json"
    s["full"].parent.mkdir()
    s["full"].write_text(json.dumps(summary(LESSONS), indent=2))
    s["one"] = tmp_path / "one" / "results.json"
    s["one"].parent.mkdir()
    s["one"].write_text(json.dumps(summary(LESSONS[:1]), indent=2))
    s["record"] = tmp_path / "rec.json"  # one lesson's ClaimRecorder record
    s["record"].write_text(json.dumps({"notebook": "02_ilvq", "quick": False, "seed": 0, "parameters": {},
                                       "claims": [_claim()], "metrics": {}}, indent=2))
    s["page"] = tmp_path / "docs" / "results.md"
    from tinydtl.lab.reproduce import write_docs

    write_docs(summary(LESSONS), s["page"])
    s["nbs"] = tmp_path / "nbs"
    s["nbs"].mkdir()
    lesson_notebook(s["nbs"] / "10_tiny.ipynb")
    s["build"] = tmp_path / "build"  # a previous good run's output folder
    s["build"].mkdir()
    shutil.copy(s["full"], s["build"] / "results.json")
    s["foreign_build"] = tmp_path / "foreign"  # an output folder holding a user's results.json
    s["foreign_build"].mkdir()
    (s["foreign_build"] / "results.json").write_text('{"my": "own results"}\n')
    s["foreign_sweep"] = tmp_path / "mysweep"  # a folder holding a user's results.csv
    s["foreign_sweep"].mkdir()
    (s["foreign_sweep"] / "results.csv").write_text("a,b\n1,2\n")
    s["grid"] = tmp_path / "grid.toml"
    s["grid"].write_text("[grid]\nx = [1, 2]\n")
    s["binary"] = tmp_path / "binary.toml"
    s["binary"].write_bytes(bytes(range(256)))
    s["_before"] = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    return s


def unchanged(scene):
    """Every file of the scene still holds what it held (nothing a user or a good run made was replaced)."""
    changed = [str(p) for p, data in scene["_before"].items() if not p.is_file() or p.read_bytes() != data]
    assert changed == []
    assert not [p for p in scene["tmp"].rglob(".*.tmp")], "a temporary file was left behind"


def resolve(value, scene):
    """``"@name"`` -> the scene's path ``name`` (as a string); lists and dicts recursively."""
    if isinstance(value, str) and value.startswith("@"):
        name, _, rest = value[1:].partition("/")
        return str(scene[name] / rest) if rest else str(scene[name])
    if isinstance(value, list):
        return [resolve(v, scene) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, scene) for k, v in value.items()}
    return value


def obj(dotted):
    """``"module:attr"`` -> the object, imported when the case runs (so a missing name fails that case only)."""
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)


@pytest.fixture(autouse=True)
def no_kernel_no_data(monkeypatch):
    """A notebook run or an MNIST load means a check came too late: fail instead of running."""
    import papermill

    import tinydtl.data.datasets

    def kernel(*args, **kwargs):
        raise AssertionError("a kernel was started: the input should have been refused before")

    def mnist(*args, **kwargs):
        raise AssertionError("MNIST was loaded: the option should have been refused before")

    monkeypatch.setattr(papermill, "execute_notebook", kernel)
    monkeypatch.setattr(tinydtl.data.datasets, "load_mnist", mnist)


# ----------------------------------------------------------------------------- callables of the table


def record_claim(**kwargs):
    from tinydtl.lab.claims import ClaimRecorder

    kw = dict(claim="c", target=1.0, kind="finding")
    kw.update(kwargs)
    return ClaimRecorder("x").check(kw.pop("name", "a"), kw.pop("measured", 1.0), **kw)


def record_metric(**kwargs):
    from tinydtl.lab.claims import ClaimRecorder

    return ClaimRecorder("x").metric(**kwargs)


def make_claim(**kwargs):
    from tinydtl.lab.claims import Claim

    kw = dict(name="a", source="s", claim="c", measured=1.0, target=1.0)
    kw.update(kwargs)
    return Claim(**kw)


def docs_from(results, path, **kwargs):
    from tinydtl.lab.reproduce import write_docs

    return write_docs(json.loads(Path(results).read_text()), path, **kwargs)


def report_of(results):
    from tinydtl.lab.reproduce import report_markdown

    return report_markdown(json.loads(Path(results).read_text()))


def failed_reproduction(out_dir):
    """write_report of a run whose only lesson failed."""
    from tinydtl.lab.reproduce import NotebookRun, Reproduction, write_report

    run = NotebookRun(notebook="00_index", output="", seconds=1.0, ok=False, error="cell 1 raised ValueError")
    return write_report(Reproduction(runs=[run], quick=False), out_dir)


def run_notebook_into(path, out_dir):
    from tinydtl.lab.reproduce import run_notebook

    return run_notebook(path, out_dir)


def returns_a_flag(*, x: int = 1) -> dict:
    return {"converged": x > 0}


def double(*, x: int = 1) -> dict:
    return {"double": 2.0 * x}


def sweep_point_of(function):
    """Run one point of ``function`` (as a Dask worker would) and raise what the point recorded."""
    from tinydtl.lab.sweep import resolve_target, run_point

    def run(out_dir, **parameters):
        record = run_point(resolve_target(obj(function)), parameters, "k", out_dir)
        if record["status"] != "ok":
            raise RuntimeError(record["error"]["exception"])
        return record

    return run


def sweep_into(out, **kwargs):
    from tinydtl.lab.sweep import run_sweep

    return run_sweep(double, {"x": [1, 2]}, out=out, workers=1, progress=False, **kwargs)


def write_failing(path):
    """An atomic write whose writer fails half-way (the file begun, then an error)."""
    from tinydtl.runtime.files import write_atomic

    def writer(tmp):
        Path(tmp).write_text("half a fi")
        raise OSError("disk full")

    return write_atomic(path, writer)


def write_unserialisable(path):
    from tinydtl.runtime.files import write_json_atomic

    return write_json_atomic(path, {"when": object()})


# ----------------------------------------------------------------------------- the table: Python API

API_CASES = [
    # claims: bools are not numbers; a Claim checks itself
    (record_claim, dict(measured=True), TypeError, r"measured must be a real number or None.*got bool"),
    (record_claim, dict(measured=False), TypeError, r"measured .*got bool"),
    (record_claim, dict(target=True), TypeError, r"target must be a finite number.*got bool"),
    (record_claim, dict(tolerance=True, tolerance_reason="r"), TypeError, r"tolerance must be .*got bool"),
    (record_claim, dict(noise=True, noise_reason="r"), TypeError, r"noise must be .*got bool"),
    (record_metric, dict(name="m", value=True), TypeError, r"metric 'm' must be a finite number, got True"),
    (make_claim, dict(measured=True), TypeError, r"measured must be a real number or None"),
    (make_claim, dict(op="=>"), ValueError, r"op must be one of \['>=', '>', '<=', '<', '=='\], got '=>'"),
    (make_claim, dict(target=float("nan")), ValueError, r"target must be a finite number"),
    (make_claim, dict(tolerance=-1.0), ValueError, r"tolerance must be >= 0"),
    # ClaimRecorder: replaces only a ClaimRecorder record
    ("tinydtl.lab.claims:ClaimRecorder", dict(notebook="x", path="@unrelated"), FileExistsError,
     r"path .*notes\.txt is not a ClaimRecorder record"),
    ("tinydtl.lab.claims:ClaimRecorder", dict(notebook="x", path="@unrelated_json"), FileExistsError,
     r"not a ClaimRecorder record"),
    ("tinydtl.lab.claims:ClaimRecorder", dict(notebook="x", path="@full"), FileExistsError,
     r"not a ClaimRecorder record"),
    ("tinydtl.lab.claims:ClaimRecorder", dict(notebook="x", path="@adir"), IsADirectoryError,
     r"path .*adir is a folder"),
    # reports: a results.json or nothing; never over a user's file; never a partial run over a full page
    (report_of, dict(results="@empty_json"), ValueError, r"not a tinydtl results\.json.*'notebooks'"),
    (report_of, dict(results="@record"), ValueError, r"one lesson's ClaimRecorder record"),
    (docs_from, dict(results="@full", path="@unrelated"), FileExistsError, r"notes\.txt is not a page tinydtl wrote"),
    (docs_from, dict(results="@full", path="@adir"), IsADirectoryError, r"is a folder"),
    (docs_from, dict(results="@one", path="@page"), ValueError, r"would drop 01_survey, 02_ilvq .*force"),
    (docs_from, dict(results="@full", path="@full"), FileExistsError, r"results\.json is not a page tinydtl wrote"),
    (failed_reproduction, dict(out_dir="@foreign_build"), FileExistsError, r"results\.json is not a tinydtl results file"),
    # running a lesson: never over the lesson itself, never a kernel for a bad output folder
    (run_notebook_into, dict(path="@nbs/10_tiny.ipynb", out_dir="@nbs"), ValueError,
     r"out_dir .*is the lesson's own folder"),
    (run_notebook_into, dict(path="@nbs/10_tiny.ipynb", out_dir="@unrelated"), NotADirectoryError,
     r"out_dir .*notes\.txt is a file"),
    # sweeps: the output folder is the sweep's own, and a metric is a number
    (sweep_into, dict(out="@unrelated"), "tinydtl.lab.sweep:SweepError", r"out .*notes\.txt is a file"),
    (sweep_into, dict(out="@foreign_sweep"), "tinydtl.lab.sweep:SweepError",
     r"results\.csv .*not written by a tinydtl sweep"),
    (sweep_into, dict(out="@tmp/sweep", dashboard_address=8787), TypeError, r"dashboard_address must be a string"),
    (sweep_into, dict(out="@tmp/sweep", scheduler=8786), "tinydtl.lab.sweep:SweepError",
     r"scheduler must be a Dask scheduler address .*got int 8786"),
    (sweep_point_of("test_contract_lab:returns_a_flag"), dict(out_dir="@tmp"), RuntimeError,
     r"metric 'converged' must be a finite number, got True"),
    # one atomic write: nothing half-written, no temporary file left
    (write_failing, dict(path="@tmp/out.json"), OSError, r"disk full"),
    (write_unserialisable, dict(path="@record"), TypeError, r"not JSON serializable"),
]


@pytest.mark.parametrize("call, kwargs, error, match", API_CASES,
                         ids=[f"{i:02d}-{getattr(c[0], '__name__', c[0])}" for i, c in enumerate(API_CASES)])
def test_api_refuses_bad_input(scene, call, kwargs, error, match):
    call = obj(call) if isinstance(call, str) else call
    error = obj(error) if isinstance(error, str) else error
    with pytest.raises(error, match=match):
        call(**resolve(kwargs, scene))
    unchanged(scene)


PROCESS_CASES = [
    ("tinydtl.runtime.processes:terminate_sessions", dict(sessions=[0]), ValueError,
     r"sessions must be a process id \(an integer >= 2\), got 0"),  # session 0: the kernel's threads
    ("tinydtl.runtime.processes:terminate_sessions", dict(sessions=[1]), ValueError, r"got 1"),
    ("tinydtl.runtime.processes:terminate_sessions", dict(sessions=[True]), ValueError, r"got True"),
    ("tinydtl.runtime.processes:terminate_sessions", dict(sessions=["own"]), ValueError,
     r"must not hold this process's own session"),
    ("tinydtl.runtime.processes:terminate_sessions", dict(sessions=[12345], grace=float("nan")), ValueError,
     r"grace must be a finite number"),
    ("tinydtl.runtime.processes:kernel_sessions", dict(parent=0), ValueError, r"parent must be a process id"),
    ("tinydtl.runtime.processes:kernel_sessions", dict(parent=2.5), ValueError, r"parent must be a process id"),
]


@pytest.mark.parametrize("own_session", ["real", 0], ids=["own-session-here", "own-session-0-as-in-a-container"])
@pytest.mark.parametrize("call, kwargs, error, match", PROCESS_CASES, ids=[f"{i:02d}" for i in range(len(PROCESS_CASES))])
def test_process_control_refuses_bad_ids_without_signalling(monkeypatch, call, kwargs, error, match, own_session):
    """The same messages whether this process's session leader is visible (a laptop) or not (a container, CI:
    ``os.getsid(0)`` is 0 there, which is also an invalid id)."""
    if own_session == 0:
        real_getsid = os.getsid
        monkeypatch.setattr(os, "getsid", lambda pid: 0 if pid == 0 else real_getsid(pid))

    def kill(pid, sig):
        raise AssertionError(f"os.kill({pid}, {sig}) was called: the input should have been refused")

    monkeypatch.setattr(os, "kill", kill)
    if kwargs.get("sessions") == ["own"]:
        kwargs = {**kwargs, "sessions": [os.getsid(0)]}
    with pytest.raises(error, match=match):
        obj(call)(**kwargs)


# ----------------------------------------------------------------------------- the table: command line


def run_cli(argv):
    """``tinydtl ARGV`` as a shell runs it: the exit status, however main ends."""
    try:
        return main(argv)
    except SystemExit as exc:  # argparse, before the fix
        return exc.code
    except BaseException as exc:  # noqa: BLE001 - a traceback is what the contract forbids
        return f"raised {type(exc).__name__}: {exc}"


CLI_CASES = [
    # report
    (["report", "@full", "--out", "@full"], r"tinydtl report: .*results\.json is the results file itself"),
    (["report", "@one", "--out", "@page"], r"would drop 01_survey, 02_ilvq .*--force"),
    (["report", "@empty_json", "--out", "@tmp/new.md"], r"not a tinydtl results\.json.*'notebooks'"),
    (["report", "@record", "--out", "@tmp/new.md"], r"one lesson's ClaimRecorder record"),
    (["report", "@full", "--out", "@unrelated"], r"notes\.txt is not a page tinydtl wrote"),
    (["report", "@full", "--out", "@adir"], r"adir is a folder"),
    (["report", "@full", "--bogus"], r"tinydtl report: unrecognized arguments: --bogus"),
    # reproduce: every option checked before a kernel starts
    (["reproduce", "--seed", "-1", "--out", "@build", "--notebooks", "@nbs"], r"argument --seed: must be an integer >= 0, got -1"),
    (["reproduce", "--seed", "abc", "--out", "@build", "--notebooks", "@nbs"], r"argument --seed: .*'abc'"),
    (["reproduce", "--out", "@unrelated", "--notebooks", "@nbs"], r"--out .*notes\.txt is a file"),
    (["reproduce", "--out", "@foreign_build", "--notebooks", "@nbs"], r"results\.json is not a tinydtl results file"),
    (["reproduce", "--out", "@nbs", "--notebooks", "@nbs"], r"is the lesson's own folder"),
    (["reproduce", "--quick", "--docs", "@page", "--out", "@build", "--notebooks", "@nbs"],
     r"--docs needs a full run of every lesson"),
    (["reproduce", "--docs", "@unrelated", "--out", "@build", "--notebooks", "@nbs"], r"notes\.txt is not a page tinydtl wrote"),
    (["reproduce", "--frobnicate"], r"tinydtl reproduce: unrecognized arguments: --frobnicate"),
    # lessons
    (["lessons", "--notebooks", "@tmp/nowhere"], r"tinydtl lessons: notebook directory .*nowhere does not exist"),
    (["lessons", "--bogus"], r"tinydtl lessons: unrecognized arguments"),
    # sweep
    (["sweep", "test_contract_lab:double", "--grid", "@grid", "--out", "@unrelated", "--no-progress"],
     r"tinydtl sweep: out .*notes\.txt is a file"),
    (["sweep", "test_contract_lab:double", "--grid", "@grid", "--out", "@foreign_sweep", "--no-progress"],
     r"results\.csv .*not written by a tinydtl sweep"),
    (["sweep", "test_contract_lab:double", "--grid", "@grid", "--workers", "two"], r"argument --workers: .*'two'"),
    (["sweep", "test_contract_lab:double"], r"the following arguments are required: --grid"),
    (["sweep", "test_contract_lab:double", "--grid", "@adir", "--out", "@tmp/s"], r"cannot read grid file .*adir"),
    (["sweep", "test_contract_lab:double", "--grid", "@binary", "--out", "@tmp/s"], r"grid file .*binary\.toml is not .*text"),
    (["sweep", "test_contract_lab:double", "--grid", "@grid", "--out", "@tmp/s", "--scheduler", "nowhere"],
     r"tinydtl sweep: scheduler must be a Dask scheduler address .*got 'nowhere'"),
    # adaptive: option parsing only
    (["adaptive", "--budget", "-1"], r"argument --budget: must be a finite number of seconds > 0, got -1"),
    (["adaptive", "--budget", "nan"], r"argument --budget: .*got nan"),
    (["adaptive", "--delay", "inf"], r"argument --delay: must be a finite number of seconds >= 0, got inf"),
    (["adaptive", "--nodes", "0"], r"argument --nodes: must be an integer >= 1, got 0"),
    (["adaptive", "--tau", "0"], r"argument --tau: must be an integer >= 1, got 0"),
    (["adaptive", "--seed", "-3"], r"argument --seed: must be an integer >= 0, got -3"),
    (["adaptive", "--case", "5"], r"argument --case: invalid choice: 5"),
]


@pytest.mark.parametrize("argv, match", CLI_CASES, ids=[" ".join(a[:2]) + f"-{i:02d}" for i, (a, _) in enumerate(CLI_CASES)])
def test_cli_usage_errors_exit_2_with_one_line(scene, capsys, argv, match):
    import re

    code = run_cli(resolve(argv, scene))
    captured = capsys.readouterr()
    assert code == 2, (code, captured.err[-2000:])
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert re.search(match, lines[0]), lines[0]
    assert not captured.out
    unchanged(scene)


def test_an_unreachable_scheduler_is_a_usage_error(scene, capsys):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = run_cli(["sweep", "test_contract_lab:double", "--grid", str(scene["grid"]), "--out",
                        str(scene["tmp"] / "s"), "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, (code, err[-2000:])
    assert "cannot connect to the Dask scheduler tcp://127.0.0.1:9" in err


# ----------------------------------------------------------------------------- data kept


def test_a_failed_run_never_replaces_good_results(scene, capsys):
    """The lesson fails (here: the kernel cannot start); the previous good results.json stays."""
    code = run_cli(["reproduce", "--out", str(scene["build"]), "--notebooks", str(scene["nbs"]), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err  # a lesson failed: exit 1, not a usage error
    assert json.loads((scene["build"] / "results.json").read_text()) == summary(LESSONS)
    failed = json.loads((scene["build"] / "results.failed.json").read_text())
    assert [nb["notebook"] for nb in failed["notebooks"]] == ["10_tiny"] and not failed["ok"]
    assert "kept the previous good results" in err
    assert not list(scene["build"].glob("*.partial.json")) and not list(scene["build"].glob(".*.tmp"))


def test_a_failed_run_replaces_a_failed_one(scene):
    (scene["build"] / "results.json").write_text(json.dumps(summary(LESSONS, ok=False)))
    results, report = failed_reproduction(scene["build"])
    assert results == scene["build"] / "results.json" and report == scene["build"] / "report.md"
    assert [nb["notebook"] for nb in json.loads(results.read_text())["notebooks"]] == ["00_index"]


def test_force_writes_a_partial_run_over_a_full_page(scene, capsys):
    assert run_cli(["report", str(scene["one"]), "--out", str(scene["page"]), "--force"]) == 0
    assert "| 00_index |" in scene["page"].read_text() and "| 02_ilvq |" not in scene["page"].read_text()
    capsys.readouterr()
    # the tool's own page of a full run is replaced without --force
    assert run_cli(["report", str(scene["full"]), "--out", str(scene["page"])]) == 0


def test_recorder_replaces_its_own_record(scene):
    from tinydtl.lab.claims import ClaimRecorder, load_results

    rec = ClaimRecorder("02_ilvq", path=scene["record"], seed=3)
    rec.finding("b", float("nan"), claim="never reached", target=1.0)  # NaN: never reached, NOT MET
    data = load_results(scene["record"])
    assert data["seed"] == 3 and [c.name for c in data["claims"]] == ["b"]
    assert data["claims"][0].measured is None and data["claims"][0].verdict == "NOT MET"


def test_atomic_writes_leave_no_temporary_file(tmp_path):
    from tinydtl.runtime.files import write_atomic, write_json_atomic, write_text_atomic

    target = tmp_path / "keep.json"
    write_json_atomic(target, {"a": 1})
    for bad in (lambda: write_failing(target), lambda: write_unserialisable(target),
                lambda: write_atomic(target, lambda p: (_ for _ in ()).throw(KeyboardInterrupt()))):
        with pytest.raises((OSError, TypeError, KeyboardInterrupt)):
            bad()
        assert json.loads(target.read_text()) == {"a": 1}
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]
    write_text_atomic(tmp_path / "sub" / "t.md", "x")  # the folder is made
    assert (tmp_path / "sub" / "t.md").read_text() == "x"
    assert oct((tmp_path / "sub" / "t.md").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ----------------------------------------------------------------------------- Dask listens on 127.0.0.1


def public_listeners(*, k: int = 0) -> dict:
    """Run on a sweep worker: how many addresses other than loopback the sweep's processes listen on.

    The scheduler and its dashboard live in the process that started the sweep (this worker's parent);
    the workers and nannies are that process's children.
    """
    import psutil

    root = psutil.Process(os.getppid())
    hosts = set()
    for proc in [root, *root.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        hosts |= {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
    return {"public": float(len(hosts - {"127.0.0.1", "::1"}))}


def test_a_local_sweep_listens_on_loopback_only(tmp_path):
    from tinydtl.lab.sweep import run_sweep

    result = run_sweep(public_listeners, {"k": [0]}, out=tmp_path, workers=1, progress=False)
    assert result.ok, result.summary()
    assert result.table["value"].tolist() == [0.0]
    assert result.dashboard_link.startswith("http://127.0.0.1:")


def test_the_local_cluster_addresses_are_loopback():
    from urllib.parse import urlparse

    from tinydtl.lab.sweep import local_cluster

    with local_cluster(workers=1) as cluster:
        assert urlparse(cluster.scheduler_address).hostname == "127.0.0.1"
        assert urlparse(cluster.dashboard_link).hostname == "127.0.0.1"
        sockets = [s.getsockname()[0] for s in cluster.scheduler.http_server._sockets.values()]
        assert sockets and set(sockets) <= {"127.0.0.1"}, sockets
        workers = cluster.scheduler_info["workers"]
        assert workers and all(urlparse(a).hostname == "127.0.0.1" for a in workers)
