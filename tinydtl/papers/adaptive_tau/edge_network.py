"""The adaptive-τ system for real: an aggregator and edge nodes as separate processes on this machine.

As in the demo (Tuor, Wang et al., INFOCOM 2018 demos) and the authors' code, the aggregator listens on
a TCP socket and every node is its own operating-system process that connects to it. They exchange the
messages of :mod:`tinydtl.papers.adaptive_tau.protocol` — ``hello`` with the run's token, the node's data
and settings (``init``), the global model and τ (``round``), the node's model, loss, gradient and
estimates (``report``), and ``stop`` — and time is measured, not drawn: a node times its τ local steps,
the aggregator times the whole round, and the difference is the aggregation's cost (the authors' rule).
The nodes run the same :func:`tinydtl.papers.adaptive_tau.node.node_round` as the simulation, and the
aggregator the same :class:`tinydtl.papers.adaptive_tau.controller.AdaptiveTau`. Bytes are measured too:
every message sent and received is counted on the socket (frame, header and payload).

Only 127.0.0.1 is used, but any local process may connect to the port. So the aggregator admits only
connections whose first message is a ``hello`` with a random token made for this run and given to the
node processes it starts (in their environment); any other connection is closed and does not count as
a node. Every length a peer announces is bounded before anything is allocated
(:func:`~tinydtl.papers.adaptive_tau.protocol.read_message`): a report can hold the model and one
gradient, nothing bigger.

:class:`NodeProcesses` starts the nodes and always stops them: on ``stop``, on an error, on Ctrl-C,
and when garbage-collected, every node process it started is waited for and, if needed, killed.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time

import numpy as np

from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.core.traffic import Traffic, payload_bytes
from tinydtl.core.validation import (
    check_finite_array,
    check_int_seed,
    check_number,
    check_parts,
)
from tinydtl.papers.adaptive_tau.node import NodeReport, node_round
from tinydtl.papers.adaptive_tau.protocol import (
    Link,
    ProtocolError,
    read_message,
    recv_message,
    send_message,
)
from tinydtl.papers.adaptive_tau.svm import SmoothSVM

__all__ = ["HELLO_TIMEOUT", "NodeProcesses", "TOKEN_ENV", "main", "node_main", "recv_message", "send_message"]

#: environment variable that carries the run's token to the node processes
TOKEN_ENV = "TINYDTL_EDGE_TOKEN"
#: seconds a new connection has to send its ``hello`` before it is dropped
HELLO_TIMEOUT = 5.0
#: how a node process is started (``python -c``: the package is imported once, as a package)
NODE_COMMAND = "import sys; from tinydtl.papers.adaptive_tau.edge_network import main; sys.exit(main())"


# ----------------------------------------------------------------------------- the node process
def node_main(port: int, max_payload: int, token: str) -> int:
    """A node process: connect, say ``hello``, take ``init``, answer every ``round`` with a ``report`` until ``stop``.

    Each round it runs :func:`tinydtl.papers.adaptive_tau.node.node_round` on its own data, the function
    the simulation runs for all nodes at once. Round 0 starts a new run (no previous local model).
    ``max_payload`` bounds every message it reads (its data is the largest).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.settimeout(None)
        link = Link(sock, max_payload=max_payload)
        link.send("hello", token=token)
        _, f, a = link.recv("init")
        X, y = a["X"], a["y"]
        model = SmoothSVM(X.shape[1], lam=f["lam"])
        own = [np.arange(len(X))]
        eta, delay, seed = float(f["eta"]), float(f["delay"]), f["seed"]
        w_prev = None
        while True:
            kind, f, a = link.recv()
            if kind == "stop":
                return 0
            settings = PlanSettings(batch_size=int(f["batch_size"]), local_steps=int(f["tau"]))
            plan = plan_from_settings(own, int(f["round"]), settings, seed=seed)
            r = node_round(model, X, y, own, plan, a["w"], None if int(f["round"]) == 0 else w_prev, eta)[0]
            w_prev = r.w[None, :]
            if delay:
                time.sleep(delay)  # the demo's added communication delay
            link.send("report", {"w": r.w, "grad_at_global": r.grad_at_global}, size=r.size, steps=r.steps,
                      loss_at_global=r.loss_at_global, beta=r.beta, rho=r.rho, step_seconds=r.step_seconds)


def main(argv=None) -> int:
    """Entry point of a node process: ``PORT MAX_PAYLOAD``, the token in the environment (:data:`TOKEN_ENV`)."""
    argv = sys.argv[1:] if argv is None else argv
    token = os.environ.get(TOKEN_ENV)
    if len(argv) != 2 or not token:
        print(f"usage: {TOKEN_ENV}=TOKEN python -m tinydtl.papers.adaptive_tau.edge_network PORT MAX_PAYLOAD",
              file=sys.stderr)
        return 2
    try:
        return node_main(int(argv[0]), int(argv[1]), token)
    except (KeyboardInterrupt, ConnectionError, BrokenPipeError):
        return 130  # Ctrl-C reaches the whole process group; the aggregator stops the nodes


# ----------------------------------------------------------------------------- the aggregator's side
class NodeProcesses:
    """Start ``len(parts)`` node processes and talk to them over 127.0.0.1.

    Use as a context manager (or call :meth:`close`): every process is stopped on exit.
    ``round(w, settings, round_index)`` returns ``(reports, step_cost, aggregation_cost)`` measured in
    seconds and :meth:`traffic` the bytes that round moved on the sockets: the interface of
    :class:`tinydtl.papers.adaptive_tau.node.SimulatedNodes`. ``bytes_sent`` and ``bytes_received`` are
    the totals of every message (``hello``, ``init`` and ``stop`` included); ``rejected`` counts the
    connections dropped for a missing or wrong token.
    """

    def __init__(self, X, y, parts, *, eta: float, lam: float = 0.1, delay: float = 0.0, seed=0,
                 connect_timeout: float = 120.0):
        X = check_finite_array("X", X, ndim=2, dtype=np.float64)
        y = check_finite_array("y", y, shape=(len(X),), dtype=np.float64)
        parts = check_parts(parts, len(X))
        check_number("eta", eta, low=0.0, low_open=True)
        check_number("lam", lam, low=0.0)
        check_number("delay", delay, low=0.0)
        check_number("connect_timeout", connect_timeout, low=0.0, low_open=True)
        seed = check_int_seed("seed", seed)
        self.parts, self.token = parts, secrets.token_hex(16)
        self.procs: list[subprocess.Popen] = []
        self.links: list[Link] = []
        self.rejected, self.hello_bytes, self.last_traffic = 0, 0, None
        self._open = True
        # a report holds the model and one gradient (float64); a node's largest message is its data
        self.max_report = payload_bytes(2 * X.shape[1], "float64")
        max_init = payload_bytes(max(len(p) for p in parts) * (X.shape[1] + 1), "float64")
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(len(parts) + 8)
            self.start_nodes(len(parts), self._listener.getsockname()[1], max_init)
            self._accept(len(parts), time.monotonic() + connect_timeout)
            for k, (link, p) in enumerate(zip(self.links, parts)):
                link.send("init", {"X": X[p], "y": y[p]}, eta=float(eta), lam=float(lam), delay=float(delay),
                          seed=int(np.random.SeedSequence([seed, 2, k]).generate_state(1)[0]))  # one stream per node
        except BaseException:
            self.close()
            raise

    def start_nodes(self, n: int, port: int, max_payload: int) -> None:
        """Start ``n`` node processes that connect to ``port``, with this run's token in their environment."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", TOKEN_ENV: self.token}
        for _ in range(n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", NODE_COMMAND, str(port), str(max_payload)],
                                               env=env, stdin=subprocess.DEVNULL))

    def _accept(self, n: int, deadline: float) -> None:
        """Admit ``n`` nodes before ``deadline``; fail early if a node process dies first."""
        while len(self.links) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"only {len(self.links)} of {n} node processes connected in time")
            dead = [p.returncode for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"a node process exited (code {dead[0]}) before the run started")
            self._listener.settimeout(min(1.0, remaining))
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self.admit(conn, min(HELLO_TIMEOUT, remaining)):
                self.links.append(Link(conn, max_payload=self.max_report))
            else:
                self.rejected += 1

    def admit(self, conn: socket.socket, timeout: float) -> bool:
        """Keep ``conn`` as a node if its first message is a ``hello`` with this run's token; else close it."""
        conn.settimeout(timeout)
        try:
            _, fields, _, n = read_message(conn, "hello", max_payload=0)
            token = fields.get("token")
            ok = isinstance(token, str) and secrets.compare_digest(token, self.token)
        except (OSError, ProtocolError):
            ok, n = False, 0
        if not ok:
            conn.close()
            return False
        conn.settimeout(None)
        self.hello_bytes += n
        return True

    @property
    def bytes_sent(self) -> int:
        return sum(link.bytes_sent for link in self.links)

    @property
    def bytes_received(self) -> int:
        return self.hello_bytes + sum(link.bytes_received for link in self.links)

    def reset(self) -> None:
        """A fresh run: the nodes forget their previous local model at round 0 (they are told the round)."""
        self.last_traffic = None

    def round(self, w, settings, round_index: int):
        """One round over the sockets: ``(reports, step_cost, aggregation_cost)``, costs in measured seconds."""
        sent, received = self.bytes_sent, self.bytes_received
        start = time.perf_counter()
        for link in self.links:
            link.send("round", {"w": np.asarray(w, dtype=np.float64)}, tau=int(settings.local_steps),
                      batch_size=int(settings.batch_size), round=int(round_index))
        reports = []
        for link in self.links:
            _, f, a = link.recv("report")
            reports.append(NodeReport(a["w"], f["size"], f["steps"], f["loss_at_global"], a["grad_at_global"],
                                      f["beta"], f["rho"], f["step_seconds"]))
        wall = time.perf_counter() - start
        self.last_traffic = Traffic(self.bytes_received - received, self.bytes_sent - sent, 2 * len(self.links))
        local = max(r.step_seconds for r in reports)
        steps = max(r.steps for r in reports)
        return reports, max(local / steps, 1e-8), max(0.0, wall - local)

    def traffic(self, w, reports) -> Traffic:
        """The last round's traffic as measured on the sockets: reports up, ``round`` messages down."""
        return self.last_traffic

    def close(self):
        """Send ``stop`` to every node, then wait for (and if needed kill) every process started."""
        if self._open:
            for link in self.links:
                try:
                    link.send("stop")
                except OSError:
                    pass
            for link in self.links:
                link.close()
            self._listener.close()
            self._open = False
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
    sys.exit(main())
