"""Leave no helper process behind.

TensorFlow Federated starts a C++ ``worker_binary`` (≈2.5 GB resident) that outlives the Python
process which started it. Every code path that may use TFF (library calls, notebook kernels, the
``tinydtl reproduce`` runner, the tests) wraps its work in :func:`no_stray_processes`, which
terminates afterwards the matching processes that appeared during the block AND are ours: never
another run's worker (another notebook, another developer's tests on the same machine).

"Ours" means started, directly or not, by this process: a descendant (found by walking the
``/proc/PID/stat`` parent links up to this process), or an orphaned descendant — when a notebook
kernel exits before its worker, the worker is re-parented to init and the parent chain is lost, so
the guard also puts a token in the environment (``TINYDTL_PROCESS_GUARD``) that every process started
inside the block inherits, and recognises it in ``/proc/PID/environ``.

On Ctrl-C, ``tinydtl reproduce`` stops a running notebook's kernel with everything it started:
jupyter_client starts each kernel as the leader of its own session, so :func:`kernel_sessions` finds
them and :func:`terminate_sessions` stops every process in them.

Every question here is answered from one scan of ``/proc/PID/stat`` (name, state, parent, session).
Linux only (it reads ``/proc``); elsewhere it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "TFF_WORKER",
    "GUARD_ENV",
    "find_processes",
    "our_processes",
    "descendants",
    "terminate",
    "no_stray_processes",
    "kernel_sessions",
    "terminate_sessions",
]

TFF_WORKER = "worker_binary"
GUARD_ENV = "TINYDTL_PROCESS_GUARD"  # space-separated tokens of the guards active when a process started


def _check_name(name):
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a non-empty executable name without '/', got {name!r}")


def _check_grace(grace):
    if not isinstance(grace, (int, float)) or isinstance(grace, bool) or not (0 <= grace < float("inf")):
        raise ValueError(f"grace must be a finite number of seconds >= 0, got {grace!r}")


class _Stat(NamedTuple):
    """The fields of ``/proc/PID/stat`` this module uses."""

    comm: str  # executable name, at most 15 characters
    state: str  # "R", "S", ..., "Z" for a zombie
    ppid: int
    pgrp: int
    session: int


def _stat(pid: int) -> _Stat | None:
    """``/proc/PID/stat`` of a live process, or ``None`` if it is gone (or not Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        head, tail = text.rsplit(")", 1)
        fields = tail.split()
        return _Stat(head.split("(", 1)[1], fields[0], int(fields[1]), int(fields[2]), int(fields[3]))
    except (OSError, IndexError, ValueError):
        return None


def _processes() -> dict[int, _Stat]:
    """Every process's ``/proc/PID/stat``: the one scan of ``/proc`` behind every function here."""
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    table = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def descendants(root: int | None = None) -> set[int]:
    """PIDs of the live processes whose chain of parents reaches ``root`` (default: this process)."""
    root = os.getpid() if root is None else root
    if not isinstance(root, int) or isinstance(root, bool) or root < 1:
        raise ValueError(f"root must be a process id (an integer >= 1), got {root!r}")
    links = {pid: stat.ppid for pid, stat in _processes().items()}
    found: set[int] = set()
    for pid in links:
        chain, p = [], pid
        while p in links and p not in found and p != root and p > 1 and len(chain) <= len(links):
            chain.append(p)
            p = links[p]
        if p == root or p in found:
            found.update(chain)
    return found


def _guard_tokens(pid: int) -> set[str]:
    """The guard tokens in the environment process ``pid`` started with (empty if unreadable)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return set()
    prefix = GUARD_ENV.encode() + b"="
    for item in env.split(b"\0"):
        if item.startswith(prefix):
            return set(item[len(prefix):].decode(errors="replace").split())
    return set()


def find_processes(name: str = TFF_WORKER) -> set[int]:
    """PIDs of live processes whose executable name (``/proc/PID/comm``) is ``name`` — anyone's."""
    _check_name(name)
    return {pid for pid, stat in _processes().items() if stat.comm == name[:15] and stat.state != "Z"}


def our_processes(name: str = TFF_WORKER) -> set[int]:
    """:func:`find_processes` restricted to ours: descendants of this process, or processes that carry
    one of the guard tokens active in this process (orphaned workers of our kernels). A run started
    detached from this process (another session, a background job) is not ours."""
    _check_name(name)
    tokens = set(os.environ.get(GUARD_ENV, "").split())
    mine = descendants()
    return {pid for pid in find_processes(name) if pid in mine or (tokens and _guard_tokens(pid) & tokens)}


def terminate(pids, grace: float = 5.0) -> list[int]:
    """Send SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left. Returns the PIDs signalled.

    ``pids`` must be process ids ``> 1`` other than this process: 0 and negative numbers would signal
    whole process groups (``kill(2)``), so they are a ``ValueError``, never passed on.
    """
    _check_grace(grace)
    pids = list(pids)
    bad = [p for p in pids if not isinstance(p, int) or isinstance(p, bool) or p <= 1 or p == os.getpid()]
    if bad:
        raise ValueError(f"pids must be process ids > 1 other than this process ({os.getpid()}), got {bad[:5]!r}")
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
    stat = _stat(pid)
    return stat is not None and stat.state != "Z"


@contextlib.contextmanager
def no_stray_processes(name: str = TFF_WORKER, grace: float = 5.0):
    """Terminate, on exit, every ``name`` process that appeared while the block ran and is ours
    (a descendant of this process, or an orphaned one carrying this block's environment token).

    Processes that existed before the block, and processes that are not ours (another run's
    worker), are left alone. Terminated children of this process are not reaped (see
    :func:`_alive`: TFF keeps its worker's ``Popen`` and signals that PID later).
    """
    _check_name(name)
    _check_grace(grace)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    previous = os.environ.get(GUARD_ENV)
    os.environ[GUARD_ENV] = f"{previous} {token}" if previous else token
    before = find_processes(name)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(GUARD_ENV, None)
        else:
            os.environ[GUARD_ENV] = previous
        new = find_processes(name) - before
        if new:
            mine = descendants()
            strays = {pid for pid in new if pid in mine or token in _guard_tokens(pid)}
            if strays:
                terminate(strays, grace=grace)


# --------------------------------------------------------------------------- kernels' sessions (Ctrl-C)


def _check_pid(name, pid, low=2):
    if not isinstance(pid, int) or isinstance(pid, bool) or pid < low:
        raise ValueError(f"{name} must be a process id (an integer >= {low}), got {pid!r}")


def kernel_sessions(parent: int | None = None) -> set[int]:
    """Session ids of the children of ``parent`` (default: this process) that lead their own session.

    jupyter_client starts every kernel with ``start_new_session=True``: the kernel, and whatever it
    starts (TensorFlow Federated's ``worker_binary``), live in a session whose id is the kernel's PID.
    """
    parent = os.getpid() if parent is None else parent
    _check_pid("parent", parent, low=1)  # a runner may be PID 1 (in a container)
    return {pid for pid, stat in _processes().items()
            if stat.state != "Z" and stat.ppid == parent and stat.session == pid}


def _session_members(sessions: set[int]) -> list[int]:
    return [pid for pid, stat in _processes().items() if stat.state != "Z" and stat.session in sessions]


def terminate_sessions(sessions, grace: float = 3.0) -> list[int]:
    """SIGTERM every live process in ``sessions``, then SIGKILL what is left after ``grace`` s
    (:func:`terminate`), and whatever joined those sessions meanwhile. Returns the PIDs signalled first.

    A session id must be a process id ``>= 2`` and not this process's own session (which would stop
    this process and its shell): those are a ``ValueError``, never signalled.
    """
    _check_grace(grace)
    sessions = set(sessions)
    own = os.getsid(0)  # 0 when the session leader lives outside this PID namespace (containers, CI)
    if own in sessions:
        also = "" if own >= 2 else f"; and sessions must be a process id (an integer >= 2), got {own}"
        raise ValueError(f"sessions must not hold this process's own session {own}{also}")
    for sid in sessions:
        _check_pid("sessions", sid)
    if not sessions:
        return []
    victims = _session_members(sessions)
    terminate(victims, grace=grace)
    for pid in _session_members(sessions):  # started while the others were stopping
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return victims
