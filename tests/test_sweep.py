"""tinydtl.lab.sweep: grids checked before anything runs, Dask points that survive a killed worker,
failures recorded per point, resumable output, TensorFlow Federated kept out of the workers.

The point functions below are cheap (sleeps and arithmetic); the workers import them from this
module (pytest puts tests/ on sys.path and Dask's spawned workers inherit it).
"""

import contextlib
import json
import math
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinydtl.lab.cli import main
from tinydtl.lab.sweep import (
    RESULT_COLUMNS,
    TFF_REFUSED,
    GridError,
    expand_grid,
    load_grid,
    point_key,
    read_record,
    resolve_target,
    run_sweep,
    validate_grid,
)

# ----------------------------------------------------------------------------- point functions


def square_after(*, x: int, sleep: float = 0.0, marker_dir: str = "") -> dict:
    """x², after announcing the start (file ``x.<pid>``) and sleeping ``sleep`` seconds."""
    if marker_dir:
        Path(marker_dir, f"{x}.{os.getpid()}").touch()
    time.sleep(sleep)
    return {"square": x * x}


def maybe_fail(*, x: int, scale: float = 1.0) -> dict:
    if x == 3:
        raise ValueError(f"x=3 is the broken point (scale {scale})")
    return {"metrics": {"scaled": x * scale},
            "claims": [{"name": "small", "source": "test", "claim": "x*scale <= 4", "measured": x * scale,
                        "target": 4.0, "op": "<="}]}


def imports_tff(*, seed: int = 0) -> dict:
    import tensorflow_federated  # noqa: F401 - refused inside sweep workers

    return {"imported": 1.0}


def starts_fake_worker_binary(*, binary: str) -> dict:
    """Start a long-lived process named like TFF's worker_binary and leave it running."""
    proc = subprocess.Popen([binary, "300"], start_new_session=True)
    return {"pid": float(proc.pid)}


# ----------------------------------------------------------------------------- helpers


def _children():
    """Live child processes, except multiprocessing's resource tracker (one per parent, lives as long as it)."""
    alive = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline()):
                alive.append(p)
    return alive


@pytest.fixture
def no_leftover_children():
    """Every cluster a test starts is closed: no child process of this test run survives it."""
    before = {p.pid for p in _children()}
    yield
    deadline = time.monotonic() + 10
    while True:
        left = [p for p in _children() if p.pid not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f"processes left behind: {[(p.pid, p.name()) for p in left]}"


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def write_toml(path, text):
    path.write_text(text)
    return path


def tiny_lesson(path):
    """A lesson-shaped notebook: parameters cell, a ClaimRecorder, a cell that may import TFF."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell(
        "QUICK = False  # small settings\nSEED = 0\nRESULTS_PATH = None\nSCALE = 1.0\nIMPORT_TFF = False"
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# tiny lesson"),
        params,
        nbformat.v4.new_code_cell(
            "from tinydtl.lab.claims import ClaimRecorder\n"
            "rec = ClaimRecorder('tiny', RESULTS_PATH, quick=QUICK, seed=SEED)\n"
            "rec.metric('scaled_seed', SCALE * (SEED + 1))"
        ),
        nbformat.v4.new_code_cell("if IMPORT_TFF:\n    import tensorflow_federated"),
        nbformat.v4.new_code_cell(
            "rec.check('scale_small', SCALE, claim='SCALE <= 1.5', source='test', target=1.5, op='<=')"
        ),
    ]
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------- grids, before anything runs


def test_expand_and_keys_are_stable():
    spec = resolve_target(maybe_fail)
    _, fixed = validate_grid(spec, {"x": [1, 2, 3]}, {"scale": 2})
    assert fixed == {"scale": 2.0} and isinstance(fixed["scale"], float)  # int accepted for a float
    points = expand_grid({"a": [1, 2], "b": ["u", "v", "w"]}, {"c": 0})
    assert len(points) == 6 and points[1] == {"c": 0, "a": 1, "b": "v"}
    assert point_key("t", {"a": 1, "b": 2.0}) == point_key("t", {"b": 2.0, "a": 1})
    assert point_key("t", {"a": 1}) != point_key("t", {"a": 2}) != point_key("u", {"a": 2})
    assert len({point_key("t", p) for p in points}) == 6


_names = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
_values = st.one_of(st.integers(-5, 5), st.floats(-1, 1, allow_nan=False), st.text(max_size=3), st.booleans())


@given(st.dictionaries(_names, st.lists(_values, min_size=1, max_size=3, unique_by=json.dumps), min_size=1,
                       max_size=3))
def test_grid_expansion_and_keys_properties(grid):
    points = expand_grid(grid)
    assert len(points) == math.prod(len(v) for v in grid.values())
    keys = [point_key("t", p) for p in points]
    assert len(set(keys)) == len(points)  # distinct points, distinct keys
    shuffled = [dict(reversed(list(p.items()))) for p in points]
    assert [point_key("t", p) for p in shuffled] == keys  # the key ignores the order of the parameters


@pytest.mark.parametrize(
    "grid, fixed, message",
    [
        ({}, {}, "the grid is empty"),
        ({"x": []}, {}, "grid parameter 'x' has no values"),
        ({"x": 3}, {}, "grid parameter 'x' must be a list"),
        ({"y": [1]}, {}, "unknown grid parameter 'y'"),
        ({"x": [1]}, {"scael": 2.0}, "unknown fixed parameter 'scael' for function test_sweep:maybe_fail; did you mean 'scale'"),
        ({"x": [1, "2"]}, {}, "grid parameter 'x': value '2' is a str, but function test_sweep:maybe_fail expects int"),
        ({"x": [True]}, {}, "grid parameter 'x': value True is a bool"),
        ({"x": [1.5]}, {}, "value 1.5 is a float"),
        ({"x": [1]}, {"scale": "big"}, "fixed parameter 'scale': value 'big' is a str, but function test_sweep:maybe_fail expects int or float"),
        ({"x": [1, 1]}, {}, "grid parameter 'x' repeats a value"),
        ({"x": [1]}, {"x": 2}, "'x' is in both [grid] and [fixed]"),
        ({"scale": [1.0]}, {}, "needs parameter 'x'"),
    ],
)
def test_bad_grids_name_the_parameter(grid, fixed, message):
    spec = resolve_target(maybe_fail)
    with pytest.raises(GridError) as err:
        validate_grid(spec, grid, fixed)
    assert message in str(err.value)


def test_parameter_names_may_not_clash_with_result_columns():
    def f(*, value=1.0):
        return {"v": value}

    assert "value" in RESULT_COLUMNS
    with pytest.raises(GridError, match="'value' clashes with a results column"):
        validate_grid(resolve_target(f), {"value": [1.0]})


@pytest.mark.parametrize(
    "text, message",
    [
        ("SEED = [0, 1]", "'SEED' is outside [grid] and [fixed]"),
        ("[fixed]\nSEED = 1", "has no [grid] table"),
        ("[grid]\nSEED = [0, 1]\n[extra]\nA = 1", "only the tables [grid] and [fixed], found extra"),
        ("[grid]\nSEED = [0, 1", "is not valid TOML"),
        ("grid = 3", "grid must be a table"),
    ],
)
def test_bad_grid_files(tmp_path, text, message):
    with pytest.raises(GridError) as err:
        load_grid(write_toml(tmp_path / "g.toml", text))
    assert message in str(err.value)


def test_grid_file_round_trip(tmp_path):
    grid, fixed = load_grid(write_toml(tmp_path / "g.toml", "[grid]\nx = [1, 2]\n[fixed]\nscale = 0.5\n"))
    assert grid == {"x": [1, 2]} and fixed == {"scale": 0.5}


def test_lesson_parameters_come_from_the_parameters_cell(tmp_path):
    spec = resolve_target(tiny_lesson(tmp_path / "tiny.ipynb"))
    assert spec.kind == "lesson" and set(spec.parameters) == {"QUICK", "SEED", "RESULTS_PATH", "SCALE", "IMPORT_TFF"}
    with pytest.raises(GridError, match="unknown grid parameter 'SEEDS' for lesson tiny; did you mean 'SEED'"):
        validate_grid(spec, {"SEEDS": [0]})
    with pytest.raises(GridError, match="grid parameter 'SEED': value 'zero' is a str, but lesson tiny expects int"):
        validate_grid(spec, {"SEED": ["zero"]})
    with pytest.raises(GridError, match="grid parameter 'QUICK': value 1 is a int, but lesson tiny expects bool"):
        validate_grid(spec, {"QUICK": [1]})
    with pytest.raises(GridError, match="'RESULTS_PATH' is set by the sweep itself"):
        run_sweep(spec.path, {"RESULTS_PATH": ["x"]}, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[grid]\n", "the grid is empty"),
        ("[grid]\nxx = [1, 2]", "unknown grid parameter 'xx'"),
        ("[grid]\nx = ['a', 'b']", "grid parameter 'x': value 'a' is a str"),
    ],
)
def test_cli_rejects_bad_grid_before_running(tmp_path, capsys, text, message):
    out = tmp_path / "out"
    code = main(["sweep", "test_sweep:maybe_fail", "--grid", str(write_toml(tmp_path / "g.toml", text)),
                 "--out", str(out), "--no-progress"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing ran, nothing written


def test_cli_rejects_unknown_target(tmp_path, capsys):
    grid = write_toml(tmp_path / "g.toml", "[grid]\nSEED = [0]")
    assert main(["sweep", "no_such_module_xyz:f", "--grid", str(grid), "--out", str(tmp_path / "o")]) == 2
    assert "cannot import module 'no_such_module_xyz'" in capsys.readouterr().err
    assert main(["sweep", "99", "--grid", str(grid), "--out", str(tmp_path / "o")]) == 2
    assert "no notebook matches '99'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- running on Dask


def test_killed_worker_mid_sweep_loses_no_point(tmp_path, no_leftover_children):
    from distributed import Client, LocalCluster

    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "sweep"
    grid = {"x": list(range(6))}
    fixed = {"sleep": 1.5, "marker_dir": str(markers)}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        assert len(worker_pids) == 2
        outcome = {}
        sweeper = threading.Thread(
            target=lambda: outcome.update(result=run_sweep(
                square_after, grid, fixed=fixed, out=out, scheduler=cluster.scheduler_address, progress=False)),
        )
        sweeper.start()
        deadline = time.monotonic() + 120
        while not list(markers.iterdir()) and sweeper.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        first = sorted(markers.iterdir())[0]
        victim_x, victim_pid = (int(v) for v in first.name.split("."))
        assert victim_pid in worker_pids
        os.kill(victim_pid, signal.SIGKILL)  # mid-point: it sleeps 1.5 s
        sweeper.join(timeout=300)
        assert not sweeper.is_alive()
    result = outcome["result"]
    assert result.ok and result.ran == 6 and result.skipped == 0
    squares = result.table.set_index("x")["value"].to_dict()
    assert squares == {x: float(x * x) for x in range(6)}  # every point arrived, with the right value
    victim = next(r for r in result.records if r["parameters"]["x"] == victim_x)
    assert victim["pid"] != victim_pid  # the killed worker's point was re-run by another process
    # on disk: one complete record per point, no temporary files
    assert sorted(p.name for p in (out / "points").iterdir()) == sorted(f"{r['point']}.json" for r in result.records)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), result.table)
    assert result.plot == out / "summary.png" and result.plot.stat().st_size > 0

    again = run_sweep(square_after, grid, fixed=fixed, out=out, progress=False)
    assert again.ran == 0 and again.skipped == 6 and again.dashboard_link is None  # no cluster was started
    pd.testing.assert_frame_equal(again.table, result.table)


def test_failing_point_is_recorded_and_the_rest_arrive(tmp_path, capsys, no_leftover_children):
    grid = write_toml(tmp_path / "g.toml", "[grid]\nx = [1, 2, 3, 4]\nscale = [1, 2]\n")
    out = tmp_path / "out"
    argv = ["sweep", "test_sweep:maybe_fail", "--grid", str(grid), "--workers", "2", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "8 points of test_sweep:maybe_fail: 8 ran, 0 already done, 2 failed" in printed
    assert "ValueError: x=3 is the broken point (scale 2.0)" in printed
    table = pd.read_csv(out / "results.csv")
    failed = table[table["status"] == "failed"]
    assert sorted(failed["x"]) == [3, 3] and failed["quantity"].isna().all()
    assert set(failed["error"]) == {f"function test_sweep:maybe_fail: ValueError: x=3 is the broken point (scale {s})"
                                    for s in (1.0, 2.0)}
    ok = table[table["status"] == "ok"]
    assert len(ok) == 6 * 2  # one row per point and claim/metric
    scaled = ok[ok["quantity"] == "scaled"]
    assert (scaled["value"] == scaled["x"] * scaled["scale"]).all() and len(scaled) == 6
    small = ok[ok["quantity"] == "small"]
    assert (small["passed"] == (small["x"] * small["scale"] <= 4)).all()
    record = read_record(next((out / "points").glob("*.json")))
    assert set(record) >= {"point", "parameters", "status", "claims", "metrics", "seconds", "cpu_seconds", "host", "pid"}
    # a second run retries only the failed points, which fail again
    assert main(argv) == 1
    assert "8 points of test_sweep:maybe_fail: 2 ran, 6 already done, 2 failed" in capsys.readouterr().out


def test_lesson_points_through_papermill_and_tff_refused(tmp_path, cluster, no_leftover_children):
    lesson = tiny_lesson(tmp_path / "tiny.ipynb")
    result = run_sweep(lesson, {"SCALE": [1.0, 2.0], "IMPORT_TFF": [False, True]}, fixed={"SEED": 4},
                       out=tmp_path / "out", scheduler=cluster.scheduler_address, progress=False)
    assert result.ran == 4
    failed = result.failed
    assert [r["parameters"]["IMPORT_TFF"] for r in failed] == [True, True]
    for rec in failed:
        # cell index in the executed notebook, after papermill's injected-parameters cell
        assert rec["error"]["notebook"] == "tiny" and rec["error"]["cell"] == 4
        assert "ImportError" in rec["error"]["exception"] and "not started inside sweep workers" in rec["error"]["exception"]
    ok = result.table[result.table["status"] == "ok"].set_index(["SCALE", "quantity"])
    assert ok.loc[(1.0, "scaled_seed"), "value"] == 5.0 and ok.loc[(2.0, "scaled_seed"), "value"] == 10.0
    assert ok.loc[(1.0, "scale_small"), "passed"] and not ok.loc[(2.0, "scale_small"), "passed"]
    # the executed notebook of each point is kept next to its record
    for rec in result.records:
        assert Path(rec["output"]).is_file() and rec["point"] in rec["output"]


def test_tff_import_is_refused_in_function_points(tmp_path, cluster):
    # scheduler may be a cluster object (as Dask Gateway's gateway.new_cluster() returns)
    result = run_sweep(imports_tff, {"seed": [0, 1]}, out=tmp_path, scheduler=cluster, progress=False)
    assert len(result.failed) == 2
    assert {r["error"]["exception"] for r in result.failed} == {f"ImportError: {TFF_REFUSED}"}


def test_allowed_tff_leaves_no_worker_binary(tmp_path, cluster):
    binary = tmp_path / "worker_binary"  # /proc/PID/comm is what tinydtl.runtime.processes looks for
    binary.write_bytes(Path("/bin/sleep").read_bytes())
    binary.chmod(0o755)
    result = run_sweep(starts_fake_worker_binary, {"binary": [str(binary)]}, out=tmp_path / "o",
                       scheduler=cluster, allow_tff=True, progress=False)
    assert result.ok
    pid = int(result.records[0]["metrics"]["pid"])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_heatmap_labels_stay_readable_on_light_and_dark_cells():
    """The summary heat map's numbers: black on viridis' yellow end, white on its dark end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from tinydtl.lab.plots import label_colour, plot_heatmap

    table = pd.DataFrame({"a": [1, 1, 2, 2], "b": [0, 1, 0, 1], "acc": [0.1, 0.4, 0.6, 0.9]})
    ax = plot_heatmap(table, rows="a", cols="b", value="acc")
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["0.900"] == "black" and colours["0.100"] == "white"
    assert label_colour((1.0, 1.0, 1.0, 1.0)) == "black" and label_colour((0.0, 0.0, 0.0, 1.0)) == "white"
    plt.close("all")


def test_summary_heat_map_says_what_its_axes_are():
    """plot_summary(labels=...) writes readable names on the axes, the title and the colour bar (not column names)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from tinydtl.lab.sweep import plot_summary

    grid = {"clients": [5, 20], "alpha": [0.1, 1.0], "seed": [0, 1]}
    rows = [dict(status="ok", quantity="final_accuracy", value=0.5 + 0.1 * i, clients=c, alpha=a, seed=s)
            for i, (c, a, s) in enumerate((c, a, s) for c in grid["clients"] for a in grid["alpha"] for s in grid["seed"])]
    labels = {"final_accuracy": "final test accuracy", "clients": "clients per federation", "alpha": "Dirichlet α"}
    ax = plot_summary(pd.DataFrame(rows), grid, value="final_accuracy", rows="clients", cols="alpha", labels=labels)
    assert ax.get_xlabel() == "Dirichlet α" and ax.get_ylabel() == "clients per federation"
    assert ax.get_title().startswith("final test accuracy") and "(mean over seed)" in ax.get_title()
    assert ax.figure.axes[-1].get_ylabel() == "final test accuracy"  # the colour bar
    raw = plot_summary(pd.DataFrame(rows), grid, value="final_accuracy", rows="clients", cols="alpha")
    assert raw.get_xlabel() == "alpha"  # no labels: names as they are
    with pytest.raises(TypeError, match="labels must be a dict"):
        plot_summary(pd.DataFrame(rows), grid, labels=["alpha"])
    plt.close("all")
