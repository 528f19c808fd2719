"""Adaptive τ (Wang et al., INFOCOM 2018 / JSAC 2019): h, G, τ*, the estimators, data cases, bad input."""

import math

import numpy as np
import pytest

import tinydtl.papers.adaptive_tau as ad

# Hand-computed with β = δ = ρ = 1, η = 0.1, φ = 0.5, c = b = 1, R = 12 (min-loss mode):
#   h(1) = 1.1 - 1 - 0.1 = 0;  h(2) = 1.21 - 1 - 0.2 = 0.01;  h(3) = 1.331 - 1 - 0.3 = 0.031
#   T(τ) = (12 - 1 - 1)·τ/(τ + 1):  T(1) = 5, T(2) = 20/3, T(5) = 50/6
#   G(1) = 2/(2·5·0.1·0.5) = 4
#   G(2) = (1 + sqrt(1 + 4·(20/3)²·0.5·0.1·0.01/2))/(2·(20/3)·0.05) + 0.01 = 3.042971
#   G(4) = 2.686325, G(5) = 2.682385, G(6) = 2.728544  ->  τ* = 5 for τ_prev = 1
HAND = dict(beta=1.0, delta=1.0, rho=1.0, eta=0.1, phi=0.5, c=1.0, b=1.0, budget=12.0)


def test_h_by_hand():
    kw = dict(beta=1.0, delta=1.0, eta=0.1)
    assert ad.h(0, **kw) == 0.0 and ad.h(1, **kw) == pytest.approx(0.0, abs=1e-15)
    assert ad.h(2, **kw) == pytest.approx(0.01, abs=1e-12)
    assert ad.h(3, **kw) == pytest.approx(0.031, abs=1e-12)
    assert ad.h(5, **kw) == pytest.approx(1.1**5 - 1 - 0.5, abs=1e-12)


def test_h_is_zero_without_divergence_and_grows_with_tau():
    assert ad.h(50, beta=2.0, delta=0.0, eta=0.01) == 0.0
    values = [ad.h(t, beta=2.0, delta=0.3, eta=0.01) for t in range(1, 30)]
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_rounds_allowed_by_hand():
    assert ad.rounds_allowed(1, c=1.0, b=1.0, budget=12.0) == pytest.approx(5.0)
    assert ad.rounds_allowed(2, c=1.0, b=1.0, budget=12.0) == pytest.approx(20 / 3)
    assert ad.rounds_allowed(2, c=1.0, b=1.0, budget=12.0, use_min_loss=False) == pytest.approx(8.0)


@pytest.mark.parametrize("tau, expected", [(1, 4.0), (2, 3.042971), (4, 2.686325), (5, 2.682385), (6, 2.728544)])
def test_G_by_hand(tau, expected):
    assert ad.objective_G(tau, **HAND) == pytest.approx(expected, abs=2e-6)


def test_G_is_infinite_when_the_budget_allows_no_round():
    assert ad.objective_G(3, **{**HAND, "budget": 2.0}) == math.inf


def test_optimal_tau_by_hand():
    assert ad.optimal_tau(**HAND, tau_prev=1) == 5
    assert ad.optimal_tau(**HAND, tau_prev=1, tau_max=3) == 3


def test_optimal_tau_searches_only_up_to_ten_times_the_previous_tau():
    # without divergence h = 0 and G decreases in τ: the search range is the only limit
    kw = {**HAND, "delta": 0.0}
    assert ad.optimal_tau(**kw, tau_prev=1) == 10
    assert ad.optimal_tau(**kw, tau_prev=3) == 30
    assert ad.optimal_tau(**kw, tau_prev=30) == 100  # capped at tau_max


def test_local_estimates_by_hand():
    beta, rho = ad.local_estimates(
        w_local=[3.0, 4.0], w_global=[0.0, 0.0], grad_local=[1.0, 0.0], grad_global=[0.0, 0.0],
        loss_local=1.0, loss_global=3.5,
    )
    assert beta == pytest.approx(1 / 5) and rho == pytest.approx(2.5 / 5)


def test_local_estimates_floor_and_guard():
    beta, rho = ad.local_estimates([1.0, 1.0], [1.0, 1.0], [5.0, 0.0], [0.0, 0.0], 2.0, 1.0)
    assert (beta, rho) == (ad.BETA_FLOOR, 0.0)
    beta, _ = ad.local_estimates([1.0, 0.0], [0.0, 0.0], [2.0, 0.0], [2.0, 0.0], 1.0, 1.0)
    assert beta == ad.BETA_FLOOR


def test_aggregate_estimates_by_hand():
    grads = np.array([[1.0, 0.0], [0.0, 1.0]])
    beta, rho, delta = ad.aggregate_estimates([1, 3], [2.0, 4.0], [1.0, 0.0], grads)
    assert beta == pytest.approx(3.5) and rho == pytest.approx(0.25)
    g = np.array([0.25, 0.75])  # the D-weighted mean gradient
    expected = 0.25 * np.linalg.norm(grads[0] - g) + 0.75 * np.linalg.norm(grads[1] - g)
    assert delta == pytest.approx(expected)


def test_identical_nodes_have_no_divergence():
    grads = np.tile([0.3, -0.2, 0.1], (5, 1))
    assert ad.aggregate_estimates([10] * 5, [1.0] * 5, [0.5] * 5, grads)[2] == pytest.approx(0.0, abs=1e-15)


def test_data_cases_follow_the_demo():
    y = np.repeat(np.arange(10), 20)
    c1 = ad.data_case(y, 5, 1)
    assert sorted(np.concatenate(c1).tolist()) == list(range(200)) and {len(p) for p in c1} == {40}
    c2 = ad.data_case(y, 5, 2)
    assert [sorted(set(y[p].tolist())) for p in c2] == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]
    c3 = ad.data_case(y, 5, 3)
    assert all(len(p) == 200 for p in c3)
    c4 = ad.data_case(y, 5, 4)
    assert [sorted(set(y[p].tolist())) for p in c4[:3]] == [[0, 1, 2, 3, 4]] * 3
    assert [sorted(set(y[p].tolist())) for p in c4[3:]] == [[6, 8], [5, 7, 9]]  # label l -> node 3 + (l mod 2)
    assert sorted(np.concatenate(c4).tolist()) == list(range(200))


def test_cost_model_draws_are_clipped_and_seeded():
    costs = ad.CostModel(delay=0.5)
    a = costs.draw(np.random.default_rng(0), 4)
    b = costs.draw(np.random.default_rng(0), 4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0][0] > 0 and a[1][0] >= 0.5
    fixed = ad.CostModel(step_std=(0.0,), aggregation_std=(0.0,))
    steps, agg = fixed.draw(np.random.default_rng(1), 3)
    assert steps[0] == pytest.approx(3 * 0.013015156) and agg[0] == pytest.approx(0.131604348)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: ad.optimal_tau(**{**HAND, "budget": -1.0}, tau_prev=1), "budget"),
        (lambda: ad.optimal_tau(**{**HAND, "eta": 0.0}, tau_prev=1), "eta"),
        (lambda: ad.optimal_tau(**{**HAND, "beta": 0.0}, tau_prev=1), "beta"),
        (lambda: ad.optimal_tau(**{**HAND, "beta": -2.0}, tau_prev=1), "beta"),
        (lambda: ad.optimal_tau(**HAND, tau_prev=0), "tau_prev"),
        (lambda: ad.optimal_tau(**HAND, tau_prev=1.5), "tau_prev"),
        (lambda: ad.optimal_tau(**{**HAND, "phi": 0.0}, tau_prev=1), "phi"),
        (lambda: ad.optimal_tau(**{**HAND, "c": 0.0}, tau_prev=1), "c"),
        (lambda: ad.h(-1, beta=1.0, delta=1.0, eta=0.1), "tau"),
        (lambda: ad.h(2, beta=1.0, delta=float("nan"), eta=0.1), "delta"),
        (lambda: ad.local_estimates([1.0], [0.0, 0.0], [0.0], [0.0], 1.0, 1.0), "shape"),
        (lambda: ad.aggregate_estimates([1, 0], [1.0, 1.0], [0.0, 0.0], np.zeros((2, 2))), "sizes"),
        (lambda: ad.aggregate_estimates([1, 1], [1.0], [0.0, 0.0], np.zeros((2, 2))), "one entry per node"),
        (lambda: ad.data_case(np.arange(10), 5, 5), "case"),
        (lambda: ad.data_case(np.arange(10), 0, 1), "n_nodes"),
        (lambda: ad.CostModel(budget=(-1.0,)), "budget"),
        (lambda: ad.CostModel(budget=(1.0, 2.0)), "one entry per resource"),
    ],
)
def test_bad_input_is_named(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


# ----------------------------------------------------------------------------- training
def _toy(n=600, d=20, seed=0):
    rng = np.random.default_rng(seed)
    w_true = rng.normal(size=d)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    y = np.where(X @ w_true > 0, 1.0, -1.0)
    return X, y


def test_smooth_svm_gradient_matches_finite_differences():
    X, y = _toy(50, 6)
    svm = ad.SmoothSVM(6)
    w = np.random.default_rng(3).normal(size=6)
    loss, g = svm.loss_and_gradient(w, X, y)
    eps = 1e-6
    fd = [(svm.loss_and_gradient(w + eps * e, X, y)[0] - svm.loss_and_gradient(w - eps * e, X, y)[0]) / (2 * eps)
          for e in np.eye(6)]
    assert np.allclose(g, fd, atol=1e-6)
    assert svm.evaluate(w, X, y)[0] == pytest.approx(loss)


def test_svm_local_update_is_plain_minibatch_gd():
    from tinydtl.core.plans import PlanSettings, plan_from_settings

    X, y = _toy(90, 5)
    svm = ad.SmoothSVM(5)
    parts = [np.arange(0, 45), np.arange(45, 90)]
    plan = plan_from_settings(parts, 0, PlanSettings(batch_size=10, local_steps=7), seed=0)
    start = np.random.default_rng(0).normal(size=(2, 5))
    out = svm.local_update(X, y, start, plan, 0.05)[0]
    for i in range(2):
        w = start[i].copy()
        for b in plan.batches(i):
            w -= 0.05 * svm.loss_and_gradient(w, X[b], y[b])[1]
        assert np.allclose(out[i], w)


FIXED = dict(step_std=(0.0,), aggregation_std=(0.0,))


def _train(budget=2.0, **kw):
    X, y = _toy()
    parts = [np.arange(k, 600, 3) for k in range(3)]
    costs = ad.CostModel(**FIXED, budget=(budget,))
    return ad.run_adaptive_tau(X, y, parts, x_test=X, y_test=y, costs=costs, batch_size=50, eta=0.1, **kw)


def test_runs_on_the_core_with_one_history():
    h = _train(seed=2)
    df = h.to_frame()
    assert df.index[0] == 0 and df.loc[0, "bytes_up"] == 0  # row 0: the initial model, no traffic
    assert {"tau", "train_loss", "beta", "rho", "delta", "spent", "accuracy", "bytes_up", "messages"} <= set(df.columns)
    assert (df["messages"].iloc[1:] == 6).all()  # 3 nodes: one report up, one model down each
    assert np.isnan(df.loc[1, "beta"]) and not np.isnan(df.loc[2, "beta"])  # estimates from round 2 on


def test_same_seed_same_run_and_budget_respected():
    a, b = _train(seed=4), _train(seed=4)
    timing = ["seconds", "cpu_seconds"]
    assert a.to_frame().drop(columns=timing).equals(b.to_frame().drop(columns=timing))
    assert np.array_equal(a.weights, b.weights)
    df = a.to_frame()
    c, b = 0.013015156, 0.131604348
    if df["spent"].iloc[-3] <= 2.0 - 2 * (c + b):  # the rule's decision had room for a step and the closing round
        assert df["spent"].iloc[-1] <= 2.0 + 1e-9  # so the whole run fits (AdaptiveTau.fit_budget)
    else:  # no room: the authors' rule still runs τ = 1 and the closing round (documented overrun)
        assert list(df["tau"].iloc[-2:]) == [1, 1] and df["spent"].iloc[-1] - 2.0 < 2 * (c + b)
    c = _train(tau=5).to_frame()
    assert set(c["tau"].iloc[1:-2]) == {5} and c["tau"].iloc[-1] == 1


def test_fixed_tau_spends_the_budget_as_counted():
    df = _train(tau=10, use_min_loss=False).to_frame()
    per_round = 10 * 0.013015156 + 0.131604348
    assert np.allclose(np.diff(df["spent"].iloc[1:-1]), per_round)
    assert df["spent"].iloc[-1] <= 2.0 + 1e-9 < df["spent"].iloc[-1] + per_round


def test_min_loss_mode_returns_the_lowest_loss_model():
    h = _train(seed=1)
    df = h.to_frame()
    best = int(df["train_loss"].iloc[1:].astype(float).idxmin())
    # train_loss of round r is the loss of the global model round r started from (the model after round r-1)
    X, y = _toy()
    # rebuild: the returned model's test metrics are recorded and equal a fresh evaluation
    assert h.config["final_loss"] == pytest.approx(ad.SmoothSVM(X.shape[1]).evaluate(h.weights, X, y)[0])
    assert best >= 1
    # without min-loss mode the returned model is the last global model, evaluated in the last row
    last = _train(seed=1, use_min_loss=False)
    assert last.config["final_loss"] == pytest.approx(last.to_frame()["loss"].iloc[-1])


def test_adaptive_tau_grows_when_nodes_agree():
    X, y = _toy()
    parts = [np.arange(600)] * 3  # replicated data, full batches: no divergence at all
    h = ad.run_adaptive_tau(X, y, parts, x_test=X, y_test=y, batch_size=600, eta=0.1,
                 costs=ad.CostModel(**FIXED, budget=(3.0,)))
    df = h.to_frame()
    assert df["tau"].max() >= 10
    assert df["delta"].dropna().max() < 1e-9


def test_delta_from_local_data_is_zero_on_replicated_data_while_minibatch_delta_is_noise():
    """Case 3 (every node holds the same data): the true δ is 0 (JSAC Definition 2). Minibatch gradients
    differ between nodes only by sampling, so the authors' minibatch δ̂ is positive; the local-data δ̂ is 0."""
    X, y = _toy()
    parts = [np.arange(600)] * 3
    common = dict(x_test=X, y_test=y, batch_size=50, eta=0.1, costs=ad.CostModel(**FIXED, budget=(3.0,)), seed=3)
    noisy = ad.run_adaptive_tau(X, y, parts, **common).to_frame()["delta"].dropna()
    exact = ad.run_adaptive_tau(X, y, parts, delta_from="local_data", **common).to_frame()
    assert noisy.min() > 1e-3
    assert exact["delta"].dropna().max() < 1e-12
    assert exact["tau"].max() >= 10  # no divergence: τ* grows tenfold per round up to what the budget allows
    with pytest.raises(ValueError, match="delta_from must be 'minibatch' or 'local_data'"):
        ad.run_adaptive_tau(X, y, parts, delta_from="full", **common)


def test_controller_is_not_tied_to_the_svm():
    from tinydtl.learners.softmax import SoftmaxModel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = (X[:, :3].argmax(axis=1)).astype(np.int64)
    h = ad.run_adaptive_tau(X, y, [np.arange(k, 300, 3) for k in range(3)], x_test=X, y_test=y, model=SoftmaxModel(8, 3),
                 batch_size=30, eta=0.5, costs=ad.CostModel(**FIXED, budget=(3.0,)))
    assert h.config["final_accuracy"] > 0.8 and h.to_frame()["tau"].max() > 1


def test_real_mode_runs_separate_processes_and_leaves_none():
    import psutil

    X, y = _toy(300, 10)
    parts = [np.arange(k, 300, 2) for k in range(2)]
    me = psutil.Process()
    h = ad.run_adaptive_tau(X, y, parts, x_test=X, y_test=y, batch_size=30, eta=0.1, budget=0.5, real=True)
    assert h.rounds >= 2 and h.config["final_accuracy"] > 0.7
    assert h.to_frame()["spent"].iloc[-1] > 0
    leftovers = [p for p in me.children(recursive=True) if "tinydtl.papers.adaptive_tau.edge_network" in " ".join(p.cmdline())]
    assert leftovers == []


def test_simulated_bytes_count_the_float64_values_the_svm_sends():
    from tinydtl.core.traffic import payload_bytes

    df = _train(seed=2).to_frame()
    d, K = 20, 3  # features (= SVM parameters) and nodes of _train
    up = K * (payload_bytes(2 * d, "float64") + payload_bytes(3, "float64") + payload_bytes(1, "int64"))
    down = K * (payload_bytes(d, "float64") + payload_bytes(1, "int64"))  # model and tau to each node
    assert (df["bytes_up"].iloc[1:] == up).all() and (df["bytes_down"].iloc[1:] == down).all()


def test_real_mode_history_bytes_are_the_bytes_counted_on_the_sockets(monkeypatch):
    import socket

    from tinydtl.core.plans import PlanSettings
    from tinydtl.core.simulation import simulate

    counted = {"sent": 0, "received": 0}
    sendall, recv = socket.socket.sendall, socket.socket.recv

    def counting_sendall(self, data, *args):
        counted["sent"] += len(data)
        return sendall(self, data, *args)

    def counting_recv(self, n, *args):
        data = recv(self, n, *args)
        counted["received"] += len(data)
        return data

    monkeypatch.setattr(socket.socket, "sendall", counting_sendall)
    monkeypatch.setattr(socket.socket, "recv", counting_recv)
    X, y = _toy(300, 10)
    model, budget = ad.SmoothSVM(10), ad.Budget(0.5)
    with ad.NodeProcesses(X, y, [np.arange(k, 300, 2) for k in range(2)], eta=0.1) as nodes:
        setup = dict(counted)  # hello and init are not rounds
        algorithm = ad.adaptive_algorithm(model, nodes, budget, x_test=X, y_test=y)
        hist = simulate(algorithm, None, settings=PlanSettings(batch_size=30, local_steps=1),
                        controller=ad.AdaptiveTau(budget, eta=0.1, phi=0.025))
        df = hist.to_frame()
        assert hist.rounds >= 2
        assert int(df["bytes_down"].sum()) == counted["sent"] - setup["sent"]
        assert int(df["bytes_up"].sum()) == counted["received"] - setup["received"]
        assert nodes.bytes_sent == counted["sent"] and nodes.bytes_received == counted["received"]
    assert (df["messages"].iloc[1:] == 4).all()


def test_one_algorithm_simulated_twice_gives_the_same_history():
    from tinydtl.core.plans import PlanSettings
    from tinydtl.core.simulation import simulate

    X, y = _toy()
    parts = [np.arange(k, 600, 3) for k in range(3)]
    model, budget = ad.SmoothSVM(20), ad.Budget(2.0)
    nodes = ad.SimulatedNodes(model, X, y, parts, lr=0.1, costs=ad.CostModel(budget=(2.0,)), seed=3)  # random costs
    algorithm = ad.adaptive_algorithm(model, nodes, budget, x_test=X, y_test=y)
    controller = ad.AdaptiveTau(budget, eta=0.1, phi=0.025)
    runs = [simulate(algorithm, None, settings=PlanSettings(batch_size=50, local_steps=1), controller=controller)
            for _ in range(2)]
    timing = ["seconds", "cpu_seconds"]
    assert runs[0].rounds > 2
    assert runs[0].to_frame().drop(columns=timing).equals(runs[1].to_frame().drop(columns=timing))
    assert np.array_equal(runs[0].weights, runs[1].weights)


def test_train_is_a_deprecated_alias_of_run_adaptive_tau():
    X, y = _toy()
    parts = [np.arange(k, 600, 3) for k in range(3)]
    with pytest.warns(DeprecationWarning) as caught:
        old = ad.train(X, y, parts, X_test=X, y_test=y, costs=ad.CostModel(**FIXED, budget=(2.0,)), batch_size=50,
                       eta=0.1, seed=2)
    assert any("run_adaptive_tau" in str(w.message) for w in caught)
    assert any("X_test=...) is deprecated" in str(w.message) for w in caught)
    timing = ["seconds", "cpu_seconds"]
    assert old.to_frame().drop(columns=timing).equals(_train(seed=2).to_frame().drop(columns=timing))


def test_train_rejects_bad_input():
    X, y = _toy(60, 4)
    with pytest.raises(ValueError, match="-1 and \\+1"):
        ad.run_adaptive_tau(X, (y > 0).astype(float), [np.arange(60)], x_test=X, y_test=y)
    with pytest.raises(ValueError, match="parts\\[0\\]"):
        ad.run_adaptive_tau(X, y, [np.arange(50, 70)], x_test=X, y_test=y)
    with pytest.raises(ValueError, match="delay"):
        ad.run_adaptive_tau(X, y, [np.arange(60)], x_test=X, y_test=y, delay=-1.0)


def test_softmax_loss_and_gradient_matches_finite_differences():
    from tinydtl.learners.softmax import SoftmaxModel

    rng = np.random.default_rng(1)
    m = SoftmaxModel(4, 3)
    X = rng.normal(size=(20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    w = rng.normal(size=m.n_params).astype(np.float32)
    loss, g = m.loss_and_gradient(w, X, y)
    assert loss == pytest.approx(m.evaluate(w, X, y)[0], rel=1e-5)
    eps = 1e-2
    fd = [(m.loss_and_gradient(w + eps * e, X, y)[0] - m.loss_and_gradient(w - eps * e, X, y)[0]) / (2 * eps)
          for e in np.eye(m.n_params, dtype=np.float32)]
    assert np.allclose(g, fd, atol=2e-3)


def test_ctrl_c_stops_the_command_line_demo_and_its_nodes():
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    # started as a non-interactive shell starts a background job (`cmd &`, nohup): with SIGINT ignored,
    # which Python inherits; the command must still stop on Ctrl-C
    p = subprocess.Popen([sys.executable, "-m", "tinydtl.lab.cli", "adaptive", "--real", "--budget", "120", "--no-progress"],
                         start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.time() + 180
        kids = []
        while time.time() < deadline and len(kids) < 5:
            kids = [c for c in psutil.Process(p.pid).children(recursive=True)
                    if "tinydtl.papers.adaptive_tau.edge_network" in " ".join(c.cmdline())]
            time.sleep(0.2)
        assert len(kids) == 5
        time.sleep(2.0)
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130 and "interrupted" in err
    gone, alive = psutil.wait_procs(kids, timeout=10)
    assert alive == []
