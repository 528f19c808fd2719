"""Leave no helper process behind.

TensorFlow Federated starts a C++ ``worker_binary`` (≈2.5 GB resident) that outlives the Python
process which started it. Every code path that may use TFF (library calls, notebook kernels, the
``tinydtl reproduce`` runner, the tests) wraps its work in :func:`no_stray_processes`, which
remembers the matching processes that existed before and terminates the new ones afterwards.
Linux only (it reads ``/proc``); elsewhere it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

__all__ = ["TFF_WORKER", "find_processes", "terminate", "no_stray_processes"]

TFF_WORKER = "worker_binary"


def find_processes(name: str = TFF_WORKER) -> set[int]:
    """PIDs of live processes whose executable name (``/proc/PID/comm``) is ``name``."""
    proc = Path("/proc")
    if not proc.is_dir():
        return set()
    pids = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if comm == name[:15] and state != "Z":
            pids.add(int(entry.name))
    return pids


def terminate(pids, grace: float = 5.0) -> list[int]:
    """Send SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left. Returns the PIDs signalled."""
    sent = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
            sent.append(pid)
    deadline = time.monotonic() + grace
    alive = set(sent)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _alive(p)}
        if alive:
            time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return sent


def _alive(pid: int) -> bool:
    # A terminated child of ours stays a zombie (no memory) until its parent reaps it. We never
    # reap it here: TFF keeps the worker's Popen and, on its next call, signals that PID before
    # starting a new worker; a PID reaped behind its back would make that os.kill fail.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextlib.contextmanager
def no_stray_processes(name: str = TFF_WORKER, grace: float = 5.0):
    """Terminate, on exit, every ``name`` process that appeared while the block ran.

    Processes that existed before the block (someone else's) are left alone.
    """
    before = find_processes(name)
    try:
        yield
    finally:
        strays = find_processes(name) - before
        if strays:
            terminate(strays, grace=grace)
