"""The input contract of adaptive τ (tinydtl.papers.adaptive_tau): bad input is refused by name, before any work.

Table-driven: (callable, kwargs, exception type, message regex). Node processes are forbidden while the
table runs (``subprocess.Popen`` raises), so a check that comes after the real mode started its nodes
fails here. Then the numerical edge case (the bound's overflow once η·β̂ > 1) and the real-mode protocol:
bounded message sizes and a per-run token.
"""

import json
import math
import socket
import struct
import subprocess
import threading

import numpy as np
import pytest

import tinydtl.papers.adaptive_tau as ad
from tinydtl.core.plans import PlanSettings
from tinydtl.core.traffic import payload_bytes
from tinydtl.learners.softmax import SoftmaxModel
from tinydtl.papers.adaptive_tau import edge_network
from tinydtl.papers.adaptive_tau.protocol import MAX_HEADER_BYTES, ProtocolError, encode_message, read_message

FIXED = ad.CostModel(step_std=(0.0,), aggregation_std=(0.0,), budget=(1.0,))


def toy(n=120, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    return X, np.where(X @ rng.normal(size=d) > 0, 1.0, -1.0)


def fit(**overrides):
    """run_adaptive_tau on a small SVM problem, with some arguments replaced."""
    X, y = toy()
    args = dict(x_train=X, y_train=y, parts=[np.arange(k, 120, 2) for k in range(2)], x_test=X, y_test=y,
                costs=FIXED, batch_size=20, eta=0.1)
    args.update(overrides)
    return ad.run_adaptive_tau(args.pop("x_train"), args.pop("y_train"), args.pop("parts"), **args)


def simulated_nodes(**overrides):
    X, y = toy()
    args = dict(lr=0.1, costs=FIXED, seed=0)
    args.update(overrides)
    return ad.SimulatedNodes(ad.SmoothSVM(6), X, y, [np.arange(60), np.arange(60, 120)], **args)


X6, Y6 = toy()
NAN, INF = float("nan"), float("inf")

CASES = [
    # data checked against each other before any work (real mode: before a node process starts)
    (fit, dict(x_test=X6[:, :5]), ValueError, r"x_test must have shape \(any, 6\), got \(120, 5\)"),
    (fit, dict(x_test=X6[:, :5], real=True, costs=None), ValueError, r"x_test must have shape"),
    (fit, dict(y_test=Y6[:100]), ValueError, r"y_test must have shape \(120,\)"),
    (fit, dict(y_test=(Y6 > 0).astype(float)), ValueError, r"y_test must hold labels -1 and \+1.*0\.0"),
    (fit, dict(y_train=np.ones(120, dtype=bool)), ValueError, r"y_train must hold the numbers -1 and \+1.*bool"),
    (fit, dict(y_train=np.where(Y6 > 0, "1", "-1")), ValueError, r"y_train must hold the numbers -1 and \+1"),
    (fit, dict(model=SoftmaxModel(6, 2)), ValueError, r"y_train must hold integer class labels"),
    (fit, dict(model=ad.SmoothSVM(5)), ValueError, r"model expects 5 features per sample, x_train has 6"),
    (fit, dict(x_train=np.where(np.eye(120, 6) > 0, NAN, X6)), ValueError, r"x_train must be finite"),
    (fit, dict(costs="default"), TypeError, r"costs must be a CostModel or None, got str"),
    # numbers: finite, integers where counts are expected, no bools, bounds as the maths says
    (fit, dict(phi=NAN, real=True, costs=None), ValueError, r"phi must be a number in \(0.0, ∞\), got nan"),
    (fit, dict(phi=-0.5, real=True, costs=None), ValueError, r"phi must be a number in \(0.0, ∞\)"),
    (fit, dict(budget=True, costs=None), ValueError, r"budget must be a number in \(0.0, ∞\), got True"),
    (fit, dict(budget="15", costs=None), ValueError, r"budget must be a number in \(0.0, ∞\), got '15'"),
    (fit, dict(budget=[], costs=None), ValueError, r"budget must be a number > 0 or a non-empty list"),
    (fit, dict(tau=2.5, real=True, costs=None), ValueError, r"tau must be an integer in \[1, ∞\), got 2.5"),
    (fit, dict(tau=0, real=True, costs=None), ValueError, r"tau must be an integer in \[1, ∞\), got 0"),
    (fit, dict(tau=True, real=True, costs=None), ValueError, r"tau must be an integer in \[1, ∞\), got True"),
    (fit, dict(tau_max=NAN, real=True, costs=None), ValueError, r"tau_max must be an integer in \[1, ∞\), got nan"),
    (fit, dict(tau_max=-3, real=True, costs=None), ValueError, r"tau_max must be an integer"),
    (fit, dict(batch_size=20.0), ValueError, r"batch_size must be an integer in \[1, ∞\), got 20.0"),
    (fit, dict(seed=-1), ValueError, r"seed must be an integer >= 0, got -1"),
    (fit, dict(seed=1.5), TypeError, r"seed must be an integer >= 0"),
    # flags and choices
    (fit, dict(real="no"), TypeError, r"real must be True or False, got str 'no'"),
    (fit, dict(use_min_loss="yes"), TypeError, r"use_min_loss must be True or False"),
    (simulated_nodes, dict(delta_from="full"), ValueError, r"delta_from must be 'minibatch' or 'local_data', got 'full'"),
    (simulated_nodes, dict(lr=NAN), ValueError, r"lr must be a number in \(0.0, ∞\), got nan"),
    (simulated_nodes, dict(seed=-2), ValueError, r"seed must be an integer >= 0"),
    (ad.Budget, dict(budget=True), ValueError, r"budget must be a number in \(0.0, ∞\), got True"),
    (ad.AdaptiveTau, dict(budget=ad.Budget(1.0), eta=0.1, phi=0.1, use_min_loss=1), TypeError,
     r"use_min_loss must be True or False"),
]

#: cases the old code refused already (every case of CASES failed on it); kept so the table covers every knob
ALREADY_REFUSED = [
    (fit, dict(eta=NAN), ValueError, r"eta must be a number in \(0.0, ∞\), got nan"),
    (fit, dict(eta=True), ValueError, r"eta must be a number"),
    (fit, dict(budget=INF, costs=None), ValueError, r"budget must be a number in \(0.0, ∞\), got inf"),
    (fit, dict(batch_size=True), ValueError, r"batch_size must be an integer"),
    (fit, dict(delay=NAN), ValueError, r"delay must be a number in \[0.0, ∞\), got nan"),
    (fit, dict(delay=-1.0, real=True, costs=None), ValueError, r"delay must be a number in \[0.0, ∞\)"),
    (fit, dict(delay=INF), ValueError, r"delay must be a number in \[0.0, ∞\), got inf"),
    (fit, dict(delta_from="Minibatch"), ValueError, r"delta_from must be 'minibatch' or 'local_data', got 'Minibatch'"),
]


@pytest.fixture
def no_node_processes(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a node process was started before the input was checked")

    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.mark.parametrize("fn, kwargs, exc, match", CASES + ALREADY_REFUSED,
                         ids=[f"{fn.__name__}-{'-'.join(f'{k}={v!r}'[:24] for k, v in kw.items())}"
                              for fn, kw, _, _ in CASES + ALREADY_REFUSED])
def test_bad_input_is_refused_by_name(fn, kwargs, exc, match, no_node_processes):
    with pytest.raises(exc, match=match):
        fn(**kwargs)


# ----------------------------------------------------------------------------- the bound beyond the float range
OVERFLOWED = dict(beta=150.0, delta=0.5, rho=0.1, eta=0.01, phi=0.025, c=0.013, b=0.13, budget=15.0)  # η·β̂ = 1.5


def test_h_beyond_the_float_range_is_infinite_and_zero_without_divergence():
    assert ad.h(1000, beta=150.0, delta=0.5, eta=0.01) == math.inf  # 2.5^1000 > 1.8e308
    assert ad.h(1000, beta=150.0, delta=0.0, eta=0.01) == 0.0  # no divergence, no drift
    g = dict(OVERFLOWED)
    assert ad.objective_G(1000, **g) == math.inf
    T = ad.rounds_allowed(1000, c=0.013, b=0.13, budget=15.0)
    assert ad.objective_G(1000, **{**g, "rho": 0.0}) == pytest.approx(1.0 / (T * 0.01 * 0.025))


def test_optimal_tau_still_picks_a_tau_once_eta_beta_exceeds_one():
    """τ_prev = 100 searches τ ≤ 1000, and (1 + 1.5)^τ overflows a float from τ = 775 on: this raised OverflowError."""
    tau = ad.optimal_tau(**OVERFLOWED, tau_prev=100)
    finite = {t: ad.objective_G(t, **OVERFLOWED) for t in range(1, 1001)}
    assert tau == min((g, t) for t, g in finite.items())[1]  # the argmin over the τ whose bound is finite
    assert 1 <= tau <= 100


def test_training_that_overflowed_the_bound_runs_to_the_end():
    """Replicated data, δ̂ from local data: τ* grows to ~100 while η·β̂ ≈ 1.5; this run raised OverflowError."""
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=20)
    X = rng.normal(size=(600, 20)) / np.sqrt(20) * 3
    y = np.where(X @ w_true > 0, 1.0, -1.0)
    costs = ad.CostModel(step_std=(0.0,), aggregation_std=(0.0,), budget=(15.0,))
    h = ad.run_adaptive_tau(X, y, [np.arange(600)] * 3, x_test=X, y_test=y, batch_size=200, eta=0.1, costs=costs,
                            delta_from="local_data")
    df = h.to_frame(initial=False)
    assert (0.1 * df["beta"].astype(float)).max() > 1.0 and df["tau"].max() <= 100
    assert np.isfinite(h.config["final_loss"])
    # the budget as the authors' rule keeps it (AdaptiveTau.fit_budget): exact, or over by 2(c + b) - r when
    # what remained, r, could not hold a step and the closing evaluation round (which τ = 1 rounds then spend)
    c, b, final, before = 0.013015156, 0.131604348, df["spent"].iloc[-1], df["spent"].iloc[-3]
    if final > 15.0 + 1e-9:
        assert list(df["tau"].iloc[-2:]) == [1, 1] and 15.0 - before < 2 * (c + b)
        assert final == pytest.approx(before + 2 * (c + b)) and final - 15.0 < 2 * (c + b)


@pytest.mark.parametrize("use_min_loss", [True, False])
@pytest.mark.parametrize("remaining", [0.01, 0.2, 0.3, 0.5, 1.0, 1.37, 3.0])
def test_the_budget_rule_overspends_only_when_what_remains_cannot_hold_one_step(use_min_loss, remaining):
    """fit_budget's contract, closed form: with costs c, b per step and aggregation, the run ends within the
    budget when the remainder r holds a step and the closing aggregations (c + b; min-loss 2(c + b)), else
    over it by exactly that amount minus r (the authors keep at least one step)."""
    c, b, total = 0.013015156, 0.131604348, 15.0
    budget = ad.Budget((total,))
    budget.spend(1, (total - remaining - b,), (b,))  # one round that leaves `remaining`
    budget.step_cost = np.array([c])
    controller = ad.AdaptiveTau(budget, eta=0.1, phi=0.025, tau=50, use_min_loss=use_min_loss)
    r = None  # what remained when the rule shortened τ (the decision the contract speaks of)
    while not controller.last_round:
        before, closing_phase = total - budget.spent[0], controller.eval_only
        tau = controller.fit_budget(50)
        if r is None and (controller.eval_only or controller.last_round) and not closing_phase:
            r, shortened = before, tau
        budget.spend(tau, (c,), (b,))
    closing = 2 * (c + b) if use_min_loss else c + b
    over = budget.spent[0] - total
    if r >= closing:
        assert over <= 1e-9 and shortened >= 1
    else:
        assert over == pytest.approx(closing - r) and shortened == 1


# ----------------------------------------------------------------------------- the real mode's protocol
def frame(n_head, n_payload, head=b""):
    return struct.pack(">II", n_head, n_payload) + head


def raw_report(array_spec, n_payload):
    """A report whose header describes one array ``w`` as ``array_spec``, followed by ``n_payload`` zero bytes."""
    head = json.dumps({"type": "report", "fields": {}, "arrays": {"w": array_spec}}).encode()
    return frame(len(head), n_payload, head) + bytes(n_payload)


def read_from(data, **limits):
    """What the aggregator's reader makes of ``data`` sent by a peer that then closes the connection."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(data)
        a.close()
        return read_message(b, **limits)


REPORT_LIMIT = payload_bytes(2 * 784, "float64")  # a report of the MNIST SVM: the model and one gradient
PROTOCOL_CASES = [
    (read_from, dict(data=frame(10, 2**32 - 1), max_payload=REPORT_LIMIT), ProtocolError,
     r"4294967295-byte payload; at most 12544 bytes are allowed"),
    (read_from, dict(data=frame(2**31, 0), max_payload=REPORT_LIMIT), ProtocolError,
     rf"2147483648-byte header; at most {MAX_HEADER_BYTES} bytes"),
    (read_from, dict(data=frame(4, 0, b"{}}{"), max_payload=0), ProtocolError, r"not valid JSON"),
    (read_from, dict(data=encode_message("report", {"w": np.zeros(4)}), max_payload=16), ProtocolError,
     r"32-byte payload; at most 16"),
    (read_from, dict(data=raw_report(["float64", [10**9]], 8), max_payload=REPORT_LIMIT), ProtocolError,
     r"hold 8000000000 bytes but the frame announced 8"),  # a small frame claiming a huge array
    (read_from, dict(data=raw_report(["object", [1]], 8), max_payload=REPORT_LIMIT), ProtocolError, r"numeric dtype"),
]


@pytest.mark.parametrize("fn, kwargs, exc, match", PROTOCOL_CASES, ids=[c[-1][:40] for c in PROTOCOL_CASES])
def test_a_reader_bounds_every_size_it_is_sent(fn, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(**kwargs)


class WithStranger(edge_network.NodeProcesses):
    """NodeProcesses with another local process connecting first, sending ``stranger_bytes``."""

    stranger_bytes = b""

    def start_nodes(self, n, port, max_payload):
        self.stranger = socket.create_connection(("127.0.0.1", port))
        self.stranger.sendall(self.stranger_bytes)
        super().start_nodes(n, port, max_payload)


@pytest.mark.parametrize("stranger_bytes", [
    encode_message("hello"),  # no token
    encode_message("hello", token="0" * 32),  # a wrong token
    frame(2**31, 2**32 - 1),  # a huge header instead of a hello
    b"",  # silent: dropped after HELLO_TIMEOUT
], ids=["no-token", "wrong-token", "huge-header", "silent"])
def test_a_stranger_is_closed_and_does_not_count_as_a_node(stranger_bytes, monkeypatch):
    monkeypatch.setattr(edge_network, "HELLO_TIMEOUT", 0.5)
    monkeypatch.setattr(WithStranger, "stranger_bytes", stranger_bytes)
    X, y = toy()
    parts = [np.arange(k, 120, 2) for k in range(2)]
    with WithStranger(X, y, parts, eta=0.1) as nodes:
        nodes.stranger.settimeout(10)
        assert nodes.stranger.recv(1) == b""  # closed by the aggregator, sent no data (no init)
        assert nodes.rejected == 1 and len(nodes.links) == 2
        reports, _, _ = nodes.round(np.zeros(6), PlanSettings(batch_size=20, local_steps=2), 0)
        assert [r.size for r in reports] == [60, 60]
    nodes.stranger.close()


def test_a_node_that_announces_a_huge_report_is_refused_with_a_clear_error(monkeypatch):
    """Admitted with the token, then a report whose frame announces 4 GiB: refused before any allocation."""
    X, y = toy()
    nodes_ref = {}

    class Liar(edge_network.NodeProcesses):
        def start_nodes(self, n, port, max_payload):
            def node():
                s = socket.create_connection(("127.0.0.1", port))
                nodes_ref["sock"] = s
                s.sendall(encode_message("hello", token=self.token))
                read_message(s, "init", max_payload=max_payload)
                read_message(s, "round", max_payload=max_payload)
                s.sendall(frame(10, 2**32 - 1))

            threading.Thread(target=node, daemon=True).start()

    with Liar(X, y, [np.arange(120)], eta=0.1) as nodes:
        with pytest.raises(ProtocolError, match=r"4294967295-byte payload; at most 96 bytes"):
            nodes.round(np.zeros(6), PlanSettings(batch_size=20, local_steps=1), 0)
    nodes_ref["sock"].close()
