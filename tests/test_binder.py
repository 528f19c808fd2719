"""binder/ must install exactly what uv.lock pins, minus the dev group (repo2docker does not read uv.lock).

That the Binder environment then actually works is tests/test_binder_build.py.
"""

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {
        (norm(p["name"]), p["version"])
        for p in lock["package"]
        if "registry" in p.get("source", {})
    }


def binder_pins():
    pins = set()
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"unpinned requirement in binder/requirements.txt: {line!r}"
            pins.add((norm(name), version.strip()))
    post = (ROOT / "binder" / "postBuild").read_text()
    for name, version in re.findall(r"pip install --no-deps ([A-Za-z0-9_.-]+)==([^\s]+)", post):
        pins.add((norm(name), version))
    return pins


def requirement_lines(path):
    return [line for line in Path(path).read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_binder_requirements_are_the_current_export(tmp_path):
    """binder/update.sh run now gives exactly binder/requirements.txt (so it follows uv.lock)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    out = tmp_path / "requirements.txt"
    subprocess.run(["bash", str(ROOT / "binder" / "update.sh"), str(out)], check=True, env=dict(os.environ, UV=uv))
    assert requirement_lines(out) == requirement_lines(ROOT / "binder" / "requirements.txt"), (
        "binder/requirements.txt is stale: run binder/update.sh"
    )


def test_binder_pins_are_locked_pins():
    lock, binder = lock_pins(), binder_pins()
    assert binder - lock == set(), f"in binder/ but not in uv.lock (run binder/update.sh): {sorted(binder - lock)}"
    # everything TFF needs at run time is there, TFF and tensorflow-privacy via postBuild
    names = {name for name, _ in binder}
    assert {"tensorflow-federated", "tensorflow-privacy", "tensorflow", "jax", "jaxlib", "jupyterlab", "ipywidgets"} <= names


def test_binder_leaves_the_dev_group_out():
    """pytest, hypothesis and playwright are for the tests; Binder users do not get them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = {norm(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in project["dependency-groups"]["dev"]}
    names = {name for name, _ in binder_pins()}
    assert dev and dev & names == set(), f"dev-only packages in binder/: {sorted(dev & names)}"


def test_binder_runtime_matches_python_pin():
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.12"


def test_postbuild_installs_the_suite():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post
    # the two whose metadata contradicts pyproject's override-dependencies (see binder/update.sh)
    assert "pip install --no-deps tensorflow-federated==" in post
    assert "pip install --no-deps tensorflow-privacy==" in post
