import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tinydtl.runtime.processes import (
    GUARD_ENV,
    descendants,
    find_processes,
    no_stray_processes,
)

pytestmark = pytest.mark.skipif(shutil.which("sleep") is None, reason="needs a sleep binary")


@pytest.fixture
def fake_worker(tmp_path):
    """A copy of `sleep` named like TFF's worker, so the test needs no TFF."""
    exe = tmp_path / "worker_binary"
    shutil.copy(shutil.which("sleep"), exe)
    procs = []

    def start():
        p = subprocess.Popen([str(exe), "300"], start_new_session=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_workers_started_inside_are_terminated(fake_worker):
    with no_stray_processes():
        p = fake_worker()
        assert p.pid in find_processes()
    assert p.wait(timeout=10) is not None
    assert p.pid not in find_processes()


def test_workers_that_existed_before_are_left_alone(fake_worker):
    before = fake_worker()
    with no_stray_processes():
        pass
    assert before.poll() is None and before.pid in find_processes()


def test_terminates_even_when_the_block_raises(fake_worker):
    with pytest.raises(RuntimeError):
        with no_stray_processes():
            p = fake_worker()
            raise RuntimeError("boom")
    assert p.wait(timeout=10) is not None


# --------------------------------------------------------------- only our own workers are terminated
def _env_without_guard():
    return {k: v for k, v in os.environ.items() if k != GUARD_ENV}


@pytest.fixture
def detached_worker(tmp_path):
    """Start a fake worker through a shell that exits at once, so the worker is re-parented away
    from us (to init or a sub-reaper): it is NOT our descendant. ``inherit_env`` decides whether it
    carries our environment (an orphan of ours, like a worker whose kernel exited) or not (another
    run's worker, started by an unrelated process)."""
    exe = tmp_path / "worker_binary"
    shutil.copy(shutil.which("sleep"), exe)
    pids = []

    def start(inherit_env):
        env = None if inherit_env else _env_without_guard()
        out = subprocess.run(["sh", "-c", f'"{exe}" 300 >/dev/null 2>&1 & echo $!'], env=env,
                             capture_output=True, text=True, check=True)
        pid = int(out.stdout.strip())
        pids.append(pid)
        deadline = time.monotonic() + 5
        while pid not in find_processes() and time.monotonic() < deadline:
            time.sleep(0.01)
        return pid

    yield start
    for pid in pids:  # only the processes this fixture started
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_another_runs_worker_is_left_alone(detached_worker):
    # a worker that appears during our block but was started by an unrelated process (another
    # notebook run, another developer's tests): on main it was killed
    with no_stray_processes():
        other = detached_worker(inherit_env=False)
        assert other not in descendants()
    time.sleep(0.2)
    assert _alive(other) and other in find_processes()


def test_our_orphaned_worker_is_terminated(detached_worker):
    # started inside the block by a process of ours that then exited (a notebook kernel): the
    # parent chain is gone, the environment token is not
    with no_stray_processes():
        orphan = detached_worker(inherit_env=True)
        assert orphan not in descendants()
    deadline = time.monotonic() + 10
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(orphan)


def test_a_grandchild_is_found_by_its_parent_links(tmp_path):
    exe = tmp_path / "worker_binary"
    shutil.copy(shutil.which("sleep"), exe)
    # `; true` keeps the shell alive as the worker's parent; no guard token in the environment
    with no_stray_processes():
        shell = subprocess.Popen(["sh", "-c", f'"{exe}" 300; true'], env=_env_without_guard())
        deadline = time.monotonic() + 5
        while not (find_processes() & descendants()) and time.monotonic() < deadline:
            time.sleep(0.01)
        (worker,) = find_processes() & descendants(shell.pid)
        assert worker in descendants() and shell.pid in descendants()
    assert shell.wait(timeout=10) is not None  # its worker was terminated, so the shell finished
    assert not _alive(worker)


def test_the_guard_token_is_removed_afterwards_and_nests():
    assert GUARD_ENV not in os.environ or os.environ[GUARD_ENV]
    outer_before = os.environ.get(GUARD_ENV)
    with no_stray_processes():
        outer = os.environ[GUARD_ENV]
        with no_stray_processes():
            assert os.environ[GUARD_ENV].startswith(outer + " ")
        assert os.environ[GUARD_ENV] == outer
    assert os.environ.get(GUARD_ENV) == outer_before


@pytest.mark.parametrize("kwargs, match", [(dict(name=""), "name must be a non-empty"),
                                           (dict(name="a/b"), "without '/'"),
                                           (dict(grace=-1), "grace must be a finite number")])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        with no_stray_processes(**kwargs):
            pass
