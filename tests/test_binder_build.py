"""Binder, built the way repo2docker builds it, without Docker.

repo2docker (``binder/runtime.txt`` says ``python-3.11``) creates a conda environment from the lock
file it ships for that Python (``repo2docker/buildpacks/conda/environment.py-3.11-linux-64.lock``:
JupyterLab, Notebook, ipywidgets, jupyterhub-singleuser and their dependencies), then runs
``pip install --no-cache-dir -r binder/requirements.txt`` in it, then ``binder/postBuild`` from the
repository root (``repo2docker/buildpacks/python/__init__.py``, ``.../base.py``).

Here the same three steps run in a fresh Python 3.11 virtual environment:

1. the *base environment*: every Python package of repo2docker's conda lock, at the lock's version,
   installed with ``pip --no-deps`` (conda already resolved that set; ``--no-deps`` installs exactly
   it). Selection: every ``py*`` build in the lock, i.e. all Python distributions, pip itself
   included; not Python/the ABI marker, not C libraries (openssl, zeromq, libsodium...) and not the
   conda-only meta-packages (``jupyterhub-singleuser``, ``typing-extensions``, ``bleach-with-css``,
   ``jsonschema-with-format-nongpl``) whose content is the Python packages listed separately. All of
   it, because any of it can conflict with ``requirements.txt`` (pydantic and typing_extensions did,
   and notebook with jupyterlab);
2. ``pip install -r binder/requirements.txt`` (pip's own download cache is kept between runs; repo2docker
   passes ``--no-cache-dir``, which changes nothing but the time);
3. ``bash binder/postBuild`` from the repository root.

Then: ``pip check`` may report only the conflicts that ``pyproject.toml`` documents as overrides
(``[tool.uv] override-dependencies``: TFF's jax/jaxlib==0.4.14 and typing-extensions pins,
tensorflow-privacy's packaging pin), ``jupyter lab`` starts and ``/lab`` answers 200 with the
ipywidgets extension, and lesson 04 runs (QUICK) through ``tinydtl reproduce`` with its claims met.

The versions come from the ``jupyter-repo2docker`` wheel (downloaded once into ``build/binder/``;
set ``TINYDTL_REPO2DOCKER`` to a version to pin it). Opt-in locally (``TINYDTL_BINDER=1``; about
2.5 GB of packages), always on when ``CI`` is set.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "binder"

OPTED_IN = bool(os.environ.get("TINYDTL_BINDER") or os.environ.get("CI"))

# conda-forge names whose PyPI distribution is named differently
CONDA_TO_PYPI = {
    "jupyterhub-base": "jupyterhub",
    "nbconvert-core": "nbconvert",
    "python-fastjsonschema": "fastjsonschema",
    "brotli-python": "brotli",
}
NOT_PYTHON_DISTRIBUTIONS = {"python", "python_abi"}


def repo2docker_wheel(python: str) -> Path:
    """The jupyter-repo2docker wheel (``python -m pip download``, cached in build/binder/)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    version = os.environ.get("TINYDTL_REPO2DOCKER")
    spec = f"jupyter-repo2docker=={version}" if version else "jupyter-repo2docker"
    pattern = f"jupyter_repo2docker-{version or '*'}-py3-none-any.whl"
    if not version or not list(CACHE.glob(pattern)):
        subprocess.run(
            [python, "-m", "pip", "download", "--quiet", "--no-deps", spec, "-d", str(CACHE)],
            check=True,
        )
    wheels = sorted(CACHE.glob(pattern), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name.split("-")[1])])
    assert wheels, f"pip download {spec} left no wheel in {CACHE}"
    return wheels[-1]


def base_environment(wheel: Path, python: str = "3.11") -> dict[str, str]:
    """PyPI name -> version of every Python distribution in repo2docker's conda lock for ``python``."""
    member = f"repo2docker/buildpacks/conda/environment.py-{python}-linux-64.lock"
    with zipfile.ZipFile(wheel) as z:
        lock = z.read(member).decode()
    pins = {}
    for line in lock.splitlines():
        if not line.startswith("https://"):
            continue
        filename = re.sub(r"\.(conda|tar\.bz2)$", "", line.split("#", 1)[0].rsplit("/", 1)[1])
        name, version, build = filename.rsplit("-", 2)
        if not build.startswith("py") or name in NOT_PYTHON_DISTRIBUTIONS:
            continue  # C libraries and conda meta-packages
        pins[canonicalize_name(CONDA_TO_PYPI.get(name, name))] = version
    assert {"jupyterlab", "notebook", "ipywidgets", "jupyterhub", "pip"} <= set(pins), f"unexpected lock {member}"
    return pins


def documented_overrides() -> dict[str, Requirement]:
    """pyproject's ``[tool.uv] override-dependencies``: the pins of TFF & co. we knowingly break."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = (Requirement(r) for r in project["tool"]["uv"]["override-dependencies"])
    return {canonicalize_name(r.name): r for r in reqs}


PIP_CHECK_LINE = re.compile(r"^(\S+) (\S+) has requirement (\S+?)([<>=!~].*)?, but you have (\S+) (\S+)\.$")


def unexplained_conflicts(pip_check_output: str, overrides: dict[str, Requirement]) -> list[str]:
    """Lines of ``pip check`` not explained by a documented override (installed version satisfies it)."""
    bad = []
    for line in pip_check_output.strip().splitlines():
        if line.startswith("No broken requirements"):
            continue
        m = PIP_CHECK_LINE.match(line.strip())
        if not m:
            bad.append(line)
            continue
        override = overrides.get(canonicalize_name(m[3].split("[")[0]))
        if override is None or not override.specifier.contains(m[6], prereleases=True):
            bad.append(line)
    return bad


def test_pip_check_filter_accepts_only_documented_overrides():
    overrides = documented_overrides()
    ok = "tensorflow-federated 0.87.0 has requirement jax==0.4.14, but you have jax 0.4.13."
    assert unexplained_conflicts(ok, overrides) == []
    wrong_version = "tensorflow-federated 0.87.0 has requirement jax==0.4.14, but you have jax 0.4.12."
    not_overridden = "notebook 7.4.7 has requirement jupyterlab<4.5,>=4.4.9, but you have jupyterlab 4.5.7."
    missing = "foo 1.0 requires bar, which is not installed."
    assert unexplained_conflicts("\n".join([wrong_version, not_overridden, missing]), overrides) == [
        wrong_version,
        not_overridden,
        missing,
    ]


def _env(venv: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.pop("TINYDTL_HEADLESS", None)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        JUPYTER_DATA_DIR=str(venv / "jupyter-data"),  # no user-level kernelspec shadows the venv's
        JUPYTER_CONFIG_DIR=str(venv / "jupyter-config"),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


def _run(cmd, venv: Path, log: Path, **kw):
    env = _env(venv)
    with log.open("a") as f:
        f.write(f"\n$ {' '.join(map(str, cmd))}\n")
        f.flush()
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, text=True, **kw)
        f.write(f"[{time.perf_counter() - start:.1f} s, exit {proc.returncode}]\n")
    return proc


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    """A venv built as repo2docker builds the Binder image; returns (venv, log, timings, work dir)."""
    if not OPTED_IN:
        pytest.skip("Binder build emulation is opt-in locally (TINYDTL_BINDER=1; ~2.5 GB, minutes); always on in CI")
    work = tmp_path_factory.mktemp("binder")
    venv, log = work / "venv", work / "build.log"
    timings = {}

    def step(name, cmd, **kw):
        start = time.perf_counter()
        proc = _run(cmd, venv, log, **kw)
        timings[name] = time.perf_counter() - start
        assert proc.returncode == 0, f"{name} failed (exit {proc.returncode}); log: {log}\n{log.read_text()[-4000:]}"

    # repo2docker's Python is conda's 3.11.x; the minor version is what the lock and the wheels need
    assert sys.version_info[:2] == (3, 11)
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    wheel = repo2docker_wheel(py)
    base = base_environment(wheel)
    print(f"repo2docker: {wheel.name}; base environment: {len(base)} Python distributions, "
          f"jupyterlab {base['jupyterlab']}, notebook {base['notebook']}, pip {base['pip']}")  # fmt: skip
    (work / "base.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(base.items())))
    step("base pip", [py, "-m", "pip", "install", "--quiet", f"pip=={base['pip']}"])
    step("base environment", [py, "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(work / "base.txt")])
    step("requirements.txt", [py, "-m", "pip", "install", "--quiet", "-r", str(ROOT / "binder" / "requirements.txt")])
    step("postBuild", ["bash", str(ROOT / "binder" / "postBuild")], cwd=ROOT)
    yield venv, log, timings, work
    print("Binder emulation times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))


def test_pip_check_reports_only_documented_overrides(binder_env):
    venv, log, _, _ = binder_env
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], env=_env(venv), capture_output=True, text=True)
    with log.open("a") as f:
        f.write(f"\n$ pip check\n{proc.stdout}{proc.stderr}")
    print(proc.stdout)
    bad = unexplained_conflicts(proc.stdout, documented_overrides())
    assert bad == [], f"pip check in the Binder environment (exit {proc.returncode}):\n" + "\n".join(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyter_lab_serves_lab_with_the_widgets_extension(binder_env):
    venv, log, timings, work = binder_env
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(_env(venv), JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    cmd = [str(venv / "bin" / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={ROOT / 'notebooks'}"]  # fmt: skip
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    lab_log = work / "jupyter-lab.log"
    start = time.perf_counter()
    with lab_log.open("w") as out:
        server = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status, html = None, ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/lab", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    status, html = r.status, r.read().decode()
                break
            except urllib.error.HTTPError as e:
                status = e.code
                break
            except OSError:
                time.sleep(0.5)
        timings["jupyter lab: /lab answers"] = time.perf_counter() - start
        assert status == 200, f"/lab answered {status}; server log:\n{lab_log.read_text()[-4000:]}"
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)[1])
        federated = {e["name"] for e in config["federated_extensions"]}
        assert "@jupyter-widgets/jupyterlab-manager" in federated
        assert "error adding extension" not in lab_log.read_text().lower()
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def test_a_lesson_runs_in_the_binder_environment(binder_env):
    venv, log, timings, work = binder_env
    out = work / "run"
    start = time.perf_counter()
    proc = _run([str(venv / "bin" / "tinydtl"), "reproduce", "04", "--quick", "--out", str(out), "--no-progress"], venv, log)
    timings["lesson 04 (QUICK)"] = time.perf_counter() - start
    assert proc.returncode == 0, f"lesson 04 failed in the Binder environment; log: {log}\n{log.read_text()[-4000:]}"
    results = json.loads((out / "results.json").read_text())
    assert [n["notebook"] for n in results["notebooks"]] == ["04_gossip_spectral_gap"]
    assert all(n["ok"] and all(c["passed"] for c in n["claims"]) for n in results["notebooks"])
