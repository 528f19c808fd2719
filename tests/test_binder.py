"""binder/ must install exactly what uv.lock pins (repo2docker does not read uv.lock)."""

import re
import tomllib
from pathlib import Path

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


def test_binder_matches_lock():
    lock, binder = lock_pins(), binder_pins()
    assert lock - binder == set(), f"in uv.lock but not in binder/ (run binder/update.sh): {sorted(lock - binder)}"
    assert binder - lock == set(), f"in binder/ but not in uv.lock (run binder/update.sh): {sorted(binder - lock)}"


def test_binder_runtime_matches_python_pin():
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.12"


def test_postbuild_installs_the_suite():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post
    assert "tensorflow-federated==" in post
