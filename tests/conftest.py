import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tinydtl.runtime.processes import GUARD_ENV, no_stray_processes

# Quieter TensorFlow when a test imports it; no effect on results.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
FULL_OUT = ROOT / "build" / "full"
#: the full reproduction's wrapper writes its exit code here when it ends
FULL_RC = FULL_OUT.parent / "full.rc"
FULL_LOG = FULL_OUT.parent / "full.log"
FULL_PGID = FULL_OUT.parent / "full.pgid"


@pytest.fixture(scope="session", autouse=True)
def no_tff_worker_outlives_the_tests():
    """Safety net: TFF's worker_binary outlives Python; none may survive the test session."""
    with no_stray_processes():
        yield


def pytest_configure(config):
    config.addinivalue_line("markers", "full_reproduce: the full `tinydtl reproduce` run (CI's last step)")


def pytest_collection_modifyitems(config, items):
    """The full reproduction's test runs after every other test (it waits for the run started below)."""
    items.sort(key=lambda item: item.get_closest_marker("full_reproduce") is not None)


def full_run_opted_in() -> bool:
    return bool(os.environ.get("TINYDTL_FULL") or os.environ.get("CI"))


def pytest_collection_finish(session):
    """Start the full reproduction NOW, in the background, when its test is selected and opted in.

    It is the longest job (every lesson at full scale); started at the beginning it runs on one core
    while the other tests use the other (its BLAS and numba use one thread), and its test at the end
    only waits for it and checks its results. The run is detached (its own session, re-parented away
    from pytest, no guard token), so the tests' process guards never mistake its TFF worker for theirs.
    ``TINYDTL_FULL_BACKGROUND=0`` runs it in the foreground inside its test instead.
    """
    wanted = any(item.get_closest_marker("full_reproduce") for item in session.items)
    if not (wanted and full_run_opted_in()) or os.environ.get("TINYDTL_FULL_BACKGROUND", "1") == "0":
        return
    FULL_OUT.parent.mkdir(parents=True, exist_ok=True)
    for stale in (FULL_RC, FULL_PGID):
        stale.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != GUARD_ENV}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               TINYDTL_BACKGROUND="full-reproduce")
    tinydtl = Path(sys.executable).with_name("tinydtl")
    inner = (f'"{tinydtl}" reproduce --no-progress --out "{FULL_OUT}" > "{FULL_LOG}" 2>&1; '
             f'echo $? > "{FULL_RC}.tmp" && mv "{FULL_RC}.tmp" "{FULL_RC}"')
    # the launcher starts the wrapper as the leader of a new session and exits at once: the wrapper is
    # re-parented away from pytest; its process group id is written for the clean-up below
    launcher = ("import subprocess, sys; p = subprocess.Popen(['sh', '-c', sys.argv[1]], start_new_session=True, "
                "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                "open(sys.argv[2], 'w').write(str(p.pid))")
    subprocess.run([sys.executable, "-c", launcher, inner, str(FULL_PGID)], env=env, cwd=ROOT, check=True)


def pytest_sessionfinish(session, exitstatus):
    """An interrupted session stops the background reproduction with everything it started."""
    if FULL_PGID.is_file() and not FULL_RC.is_file():
        try:
            os.killpg(int(FULL_PGID.read_text()), signal.SIGINT)  # reproduce stops its kernels on Ctrl-C
        except (ProcessLookupError, ValueError, PermissionError):
            pass
