"""The adaptive-τ system for real: an aggregator and edge nodes as separate processes on this machine.

As in the demo (Tuor, Wang et al., INFOCOM 2018 demos) and the authors' code, the aggregator listens on
a TCP socket and every node is its own operating-system process that connects to it. They exchange the
protocol's messages — the node's data and settings (``init``), the global model and τ (``round``), the
node's model, loss, gradient and estimates (``report``), and ``stop`` — and time is measured, not drawn:
a node times its τ local steps, the aggregator times the whole round, and the difference is the
aggregation's cost (the authors' rule). The nodes run the same :class:`tinydtl.papers.adaptive_tau.adaptive.EdgeNode` code
as the simulation, and the aggregator the same :class:`tinydtl.papers.adaptive_tau.adaptive.AdaptiveTauController`.

A message is a 4-byte big-endian length, a JSON header (type, scalar fields, and the dtype and shape
of each array) and the arrays' raw bytes. Only 127.0.0.1 is used.

:class:`NodeProcesses` starts the nodes and always stops them: on ``stop``, on an error, on Ctrl-C,
and when garbage-collected, every node process it started is waited for and, if needed, killed.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time

import numpy as np

from tinydtl.core.validation import check_number
from tinydtl.papers.adaptive_tau import adaptive

__all__ = ["NodeProcesses", "recv_message", "send_message"]


def send_message(sock: socket.socket, kind: str, arrays=None, **fields) -> int:
    """Send one message; returns its size in bytes (header and payload)."""
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    header = {"type": kind, "fields": fields,
              "arrays": {k: [str(v.dtype), list(v.shape)] for k, v in arrays.items()}}
    head = json.dumps(header).encode()
    payload = b"".join(v.tobytes() for v in arrays.values())
    data = struct.pack(">II", len(head), len(payload)) + head + payload
    sock.sendall(data)
    return len(data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 22))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket, expect: str | None = None):
    """Receive one message: ``(type, fields, arrays)``; raise if ``expect`` is given and differs."""
    n_head, n_payload = struct.unpack(">II", _recv_exact(sock, 8))
    header = json.loads(_recv_exact(sock, n_head))
    payload = memoryview(_recv_exact(sock, n_payload))
    arrays, offset = {}, 0
    for name, (dtype, shape) in header["arrays"].items():
        dt = np.dtype(dtype)
        size = int(np.prod(shape)) * dt.itemsize
        arrays[name] = np.frombuffer(payload[offset : offset + size], dtype=dt).reshape(shape).copy()
        offset += size
    if expect is not None and header["type"] != expect:
        raise ConnectionError(f"expected a {expect!r} message, got {header['type']!r}")
    return header["type"], header["fields"], arrays


# ----------------------------------------------------------------------------- the node process
def node_main(port: int) -> int:
    """A node process: connect, take ``init``, answer every ``round`` with a ``report`` until ``stop``.

    Each round it runs :func:`tinydtl.papers.adaptive_tau.adaptive.node_round` on its own data, the function the simulation
    runs for all nodes at once.
    """
    from tinydtl.core.plans import PlanSettings, plan_from_settings

    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.settimeout(None)
        _, f, a = recv_message(sock, "init")
        X, y = a["X"], a["y"]
        model = adaptive.SmoothSVM(X.shape[1], lam=f["lam"])
        own = [np.arange(len(X))]
        eta, delay, seed = float(f["eta"]), float(f["delay"]), f["seed"]
        w_prev = None
        while True:
            kind, f, a = recv_message(sock)
            if kind == "stop":
                return 0
            settings = PlanSettings(batch_size=int(f["batch_size"]), local_steps=int(f["tau"]))
            plan = plan_from_settings(own, int(f["round"]), settings, seed=seed)
            r = adaptive.node_round(model, X, y, own, plan, a["w"], w_prev, eta)[0]
            w_prev = r.w[None, :]
            if delay:
                time.sleep(delay)  # the demo's added communication delay
            arrays = {"w": r.w, "grad_at_global": r.grad_at_global}
            send_message(sock, "report", arrays, size=r.size, steps=r.steps, loss_at_global=r.loss_at_global,
                         beta=r.beta, rho=r.rho, step_seconds=r.step_seconds)


# ----------------------------------------------------------------------------- the aggregator's side
class NodeProcesses:
    """Start ``len(parts)`` node processes and talk to them over 127.0.0.1.

    Use as a context manager (or call :meth:`close`): every process is stopped on exit. ``round(w, tau)``
    ``round(w, settings, round_index)`` returns ``(reports, step_cost, aggregation_cost)`` measured in
    seconds: the interface of :class:`tinydtl.papers.adaptive_tau.adaptive.SimulatedNodes`.
    """

    def __init__(self, X, y, parts, *, eta: float, lam: float = 0.1, delay: float = 0.0, seed=0,
                 connect_timeout: float = 120.0):
        check_number("delay", delay, low=0.0)
        check_number("eta", eta, low=0.0, low_open=True)
        self.parts = parts
        self.procs: list[subprocess.Popen] = []
        self.socks: list[socket.socket] = []
        self.bytes_sent = self.bytes_received = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(len(parts))
            self._listener.settimeout(connect_timeout)
            port = self._listener.getsockname()[1]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            for _ in parts:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "tinydtl.papers.adaptive_tau.edge_network", str(port)], env=env,
                    stdin=subprocess.DEVNULL,
                ))
            for _ in parts:
                conn, _ = self._listener.accept()
                conn.settimeout(None)
                self.socks.append(conn)
            for k, (sock, p) in enumerate(zip(self.socks, parts)):
                self.bytes_sent += send_message(
                    sock, "init", {"X": np.asarray(X[p], dtype=np.float64), "y": np.asarray(y[p], dtype=np.float64)},
                    eta=float(eta), lam=float(lam), delay=float(delay),
                    seed=int(np.random.SeedSequence([int(seed), 2, k]).generate_state(1)[0]),  # one stream per node
                )
        except BaseException:
            self.close()
            raise

    def round(self, w, settings, round_index: int):
        start = time.perf_counter()
        for sock in self.socks:
            self.bytes_sent += send_message(sock, "round", {"w": np.asarray(w, dtype=np.float64)},
                                            tau=int(settings.local_steps), batch_size=int(settings.batch_size),
                                            round=int(round_index))
        reports = []
        for sock in self.socks:
            _, f, a = recv_message(sock, "report")
            reports.append(adaptive.NodeReport(a["w"], f["size"], f["steps"], f["loss_at_global"],
                                               a["grad_at_global"], f["beta"], f["rho"], f["step_seconds"]))
        wall = time.perf_counter() - start
        local = max(r.step_seconds for r in reports)
        steps = max(r.steps for r in reports)
        return reports, max(local / steps, 1e-8), max(0.0, wall - local)

    def close(self):
        """Send ``stop`` to every node, then wait for (and if needed kill) every process started."""
        for sock in self.socks:
            try:
                send_message(sock, "stop")
            except OSError:
                pass
        for sock in self.socks:
            sock.close()
        self.socks = []
        self._listener.close()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "procs", None):
            self.close()


if __name__ == "__main__":
    try:
        sys.exit(node_main(int(sys.argv[1])))
    except (KeyboardInterrupt, ConnectionError, BrokenPipeError):
        sys.exit(130)  # Ctrl-C reaches the whole process group; the aggregator stops the nodes
