import shutil
import subprocess

import pytest

from tinydtl.processes import find_processes, no_stray_processes

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
