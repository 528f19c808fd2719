import numpy as np
import pytest
from support import softmax_step

from tinydtl.algorithms.fedavg import (
    initial_weights,
    run_centralized,
    run_fedavg,
    run_fedavg_grid,
)
from tinydtl.core.history import rounds_to_reach
from tinydtl.core.plans import plan_round
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import dirichlet, iid
from tinydtl.learners.softmax import evaluate_softmax, preprocess
from tinydtl.runtime.processes import our_processes


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()




def test_one_round_is_the_weighted_average_of_client_updates(mnist):
    (x, y), _ = mnist
    parts = [np.arange(0, 5), np.arange(5, 20)]  # 5 and 15 samples: one full-batch step each
    h = run_fedavg(x, y, parts, rounds=1, batch_size=32, client_lr=0.1, seed=3)
    X = preprocess(x[:20]).astype(np.float64)
    W0, b0 = initial_weights(seed=3)
    plan = plan_round(parts, 0, seed=3, local_epochs=1, batch_size=32)
    ups = [softmax_step(W0.astype(np.float64), b0.astype(np.float64), X[o[0]], y[o[0]].astype(int), 0.1) for o in plan.orders]
    W = (5 * ups[0][0] + 15 * ups[1][0]) / 20
    b = (5 * ups[0][1] + 15 * ups[1][1]) / 20
    np.testing.assert_allclose(h.weights[0], W, atol=2e-6)
    np.testing.assert_allclose(h.weights[1], b, atol=2e-6)


def test_centralized_is_single_client_fedavg(mnist):
    (x, y), (xt, yt) = mnist
    c = run_centralized(x[:3000], y[:3000], x_test=xt[:2000], y_test=yt[:2000], epochs=2, seed=1)
    f = run_fedavg(x[:3000], y[:3000], [np.arange(3000)], x_test=xt[:2000], y_test=yt[:2000], rounds=2, seed=1)
    assert c.column("accuracy") == f.column("accuracy")


def test_history_bookkeeping(mnist):
    (x, y), (xt, yt) = mnist
    parts = iid(y[:2000], 10, seed=0)
    h = run_fedavg(x[:2000], y[:2000], parts, x_test=xt[:500], y_test=yt[:500], rounds=3, clients_per_round=4, seed=0)
    assert h.rounds == 3 and h.column("participants", initial=False) == [4, 4, 4]
    assert h.column("bytes_up", initial=False) == [4 * 7850 * 4] * 3 == h.column("bytes_down", initial=False)
    df = h.to_frame()
    assert len(h.column("accuracy", initial=False)) == 3 and list(df.index) == [0, 1, 2, 3]
    assert set(df.columns) >= {"accuracy", "loss", "bytes_up", "bytes_down", "messages", "live_devices", "seconds"}
    # row 0 is the initial model: evaluated, nothing sent yet
    assert df.loc[0, "bytes_up"] == df.loc[0, "messages"] == 0 and df.loc[1, "messages"] == 8
    W0, b0 = initial_weights(seed=0)
    assert df.loc[0, "accuracy"] == evaluate_softmax(W0, b0, preprocess(xt[:500]), yt[:500])[1]
    assert h.column("train_loss", initial=False)[-1] < h.column("train_loss", initial=False)[0]


def test_numpy_engine_reaches_the_survey_level(mnist):
    """10 IID clients, full training set, 5 rounds: well above 85 %."""
    (x, y), (xt, yt) = mnist
    h = run_fedavg(x, y, iid(y, 10, seed=0), x_test=xt, y_test=yt, rounds=5, seed=0)
    assert h.column("accuracy", initial=False)[-1] >= 0.89


def test_same_seed_same_numbers(mnist):
    (x, y), (xt, yt) = mnist
    parts = dirichlet(y[:3000], 10, 0.5, seed=0)
    a = run_fedavg(x[:3000], y[:3000], parts, x_test=xt[:500], y_test=yt[:500], rounds=2, seed=5)
    b = run_fedavg(x[:3000], y[:3000], parts, x_test=xt[:500], y_test=yt[:500], rounds=2, seed=5)
    assert a.column("accuracy", initial=False) == b.column("accuracy", initial=False) and np.array_equal(a.weights[0], b.weights[0])


def test_evaluate_matches_plain_formula(mnist):
    (x, y), _ = mnist
    X = preprocess(x[:100])
    W, b = initial_weights(seed=0)
    loss, acc = evaluate_softmax(W, b, X, y[:100])
    logits = X.astype(np.float64) @ W + b
    ref = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(100), y[:100]])
    assert loss == pytest.approx(ref, rel=1e-5)
    assert acc == np.mean(logits.argmax(1) == y[:100])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(engine="torch"), "engine must be one of"),
        (dict(rounds=0), r"rounds must be an integer in \[1, ∞\)"),
        (dict(client_lr=0.0), r"client_lr must be a number in \(0, ∞\)"),
        (dict(server_momentum=1.0), r"server_momentum must be a number in \[0, 1\)"),
        (dict(clients_per_round=11), r"clients_per_round must be an integer in \[1, 10\]"),
        (dict(batch_size=2.5), "batch_size must be an integer"),
        (dict(proximal_mu=-1.0), "proximal_mu must be a number"),
        (dict(x_test=np.zeros((5, 28, 28), np.uint8)), "pass both x_test and y_test"),
    ],
)
def test_bad_parameters_are_named(mnist, kwargs, match):
    (x, y), _ = mnist
    with pytest.raises(ValueError, match=match):
        run_fedavg(x[:100], y[:100], iid(y[:100], 10), **kwargs)


def test_bad_data_is_named(mnist):
    (x, y), _ = mnist
    with pytest.raises(ValueError, match=r"client 1 has no samples \(parts\[1\] is empty\)"):
        run_fedavg(x[:100], y[:100], [np.arange(100), np.array([], dtype=int)])
    with pytest.raises(ValueError, match=r"parts\[0\] must hold integer indices in \[0, 99\]"):
        run_fedavg(x[:100], y[:100], [np.arange(101)])
    with pytest.raises(ValueError, match=r"y_train must have shape \(100,\)"):
        run_fedavg(x[:100], y[:99], [np.arange(99)])
    bad = x[:100].astype(float)
    bad[3, 4, 5] = np.nan
    with pytest.raises(ValueError, match="x_train must be finite"):
        run_fedavg(bad, y[:100], [np.arange(100)])
    with pytest.raises(ValueError, match=r"y_train must hold integer labels in \[0, 9\]"):
        run_fedavg(x[:100], np.full(100, 10), [np.arange(100)], n_classes=10)
    with pytest.raises(ValueError, match=r"y_train must hold integer labels in \[0, ∞\)"):
        run_fedavg(x[:100], np.full(100, -1), [np.arange(100)])


# --------------------------------------------------------------------------- TFF (slow: ~1 min)
@pytest.fixture(scope="module")
def tff_pair(mnist):
    """The same runs on both engines: FedAvg (all clients) and FedAvgM with sampling, E=2, B=32."""
    (x, y), (xt, yt) = mnist
    sub = np.arange(6000)
    parts = iid(y[sub], 10, seed=0)
    setups = {
        "fedavg": dict(rounds=3),
        "variants": dict(rounds=3, server_momentum=0.9, server_lr=0.5, clients_per_round=4,
                         local_epochs=2, batch_size=32),
    }
    before = our_processes()
    out = {}
    for name, kw in setups.items():
        out[name] = tuple(
            run_fedavg(x[sub], y[sub], parts, x_test=xt, y_test=yt, engine=e, seed=0, **kw) for e in ("numpy", "tff")
        )
    out["workers_left"] = our_processes() - before
    return out


@pytest.mark.parametrize("setup", ["fedavg", "variants"])
def test_engines_agree(tff_pair, setup):
    numpy_h, tff_h = tff_pair[setup]
    assert np.max(np.abs(np.subtract(numpy_h.column("accuracy", initial=False), tff_h.column("accuracy", initial=False)))) <= 0.005
    np.testing.assert_allclose(numpy_h.column("train_loss", initial=False), tff_h.column("train_loss", initial=False), rtol=1e-4)
    np.testing.assert_allclose(numpy_h.weights[0], tff_h.weights[0], atol=1e-5)


@pytest.mark.parametrize("setup", ["fedavg", "variants"])
def test_engine_weights_within_1e_6(tff_pair, setup):
    """Issue 11's parity bar: the core's numpy engine stays within 1e-6 of TFF's weights."""
    numpy_h, tff_h = tff_pair[setup]
    for a, b in zip(numpy_h.weights, tff_h.weights):
        assert np.abs(a - b).max() <= 1e-6


def test_tff_history_is_the_core_history(tff_pair):
    numpy_h, tff_h = tff_pair["fedavg"]
    assert type(tff_h) is type(numpy_h)
    assert tff_h.column("round") == numpy_h.column("round") == [0, 1, 2, 3]
    assert tff_h.column("accuracy")[0] == numpy_h.column("accuracy")[0]  # the same initial model
    assert tff_h.column("bytes_up") == numpy_h.column("bytes_up")


def test_tff_leaves_no_worker_behind(tff_pair):
    assert tff_pair["workers_left"] == set()


def test_tff_fedprox_is_refused_with_the_reason(mnist):
    (x, y), _ = mnist
    with pytest.raises(ValueError, match="opposite sign of FedProx"):
        run_fedavg(x[:100], y[:100], iid(y[:100], 2), engine="tff", proximal_mu=0.1)


def test_tff_fedprox_sign_is_inverted(mnist, tff_pair):
    """Why it is refused: TFF 0.87's FedProx with +mu equals the paper's FedProx with -mu."""
    from tinydtl.algorithms import fedavg as F
    from tinydtl.algorithms.fedavg_tff import TFFEngine
    from tinydtl.core.plans import plan_round
    from tinydtl.runtime.processes import no_stray_processes

    (x, y), _ = mnist
    X, yy = preprocess(x[:2000]), y[:2000]
    parts = iid(yy, 4, seed=0)
    W0, b0 = F.initial_weights(seed=0)
    result = {}
    with no_stray_processes():
        for name, engine, mu in [("paper", F.NumpyEngine, 0.5), ("negated", F.NumpyEngine, -0.5), ("tff", TFFEngine, 0.5)]:
            e = engine(X, yy, W0, b0, client_lr=0.05, server_lr=1.0, server_momentum=0.0, proximal_mu=mu)
            for r in range(2):
                e.run_round(plan_round(parts, r, seed=0, local_epochs=3, batch_size=20))
            result[name] = e.weights()[0]
    assert np.abs(result["negated"] - result["tff"]).max() < 1e-5
    assert np.abs(result["paper"] - result["tff"]).max() > 0.1


def test_fedprox_pulls_clients_towards_the_global_model(mnist):
    (x, y), _ = mnist
    parts = iid(y[:2000], 4, seed=0)
    W0, _ = initial_weights(seed=0)
    moved = {
        mu: np.abs(run_fedavg(x[:2000], y[:2000], parts, rounds=1, local_epochs=5, client_lr=0.1, proximal_mu=mu).weights[0] - W0).sum()
        for mu in (0.0, 1.0)
    }
    assert moved[1.0] < 0.8 * moved[0.0]


def test_rounds_to_reach():
    assert rounds_to_reach([0.5, 0.84, 0.86, 0.9], 0.85) == 3
    assert rounds_to_reach([0.5, 0.6], 0.85) is None


def test_grid_runs_each_setup_once(mnist):
    (x, y), (xt, yt) = mnist
    splits = {"IID": lambda yy, n, seed: iid(yy, n, seed=seed), "Dir 0.5": lambda yy, n, seed: dirichlet(yy, n, 0.5, seed=seed)}
    table, hists = run_fedavg_grid(x[:3000], y[:3000], splits, [2, 5], x_test=xt[:500], y_test=yt[:500], rounds=2, progress=False)
    assert table[["distribution", "clients"]].values.tolist() == [["IID", 2], ["IID", 5], ["Dir 0.5", 2], ["Dir 0.5", 5]]
    assert set(hists) == {("IID", 2), ("IID", 5), ("Dir 0.5", 2), ("Dir 0.5", 5)}
    assert table["megabytes"].iloc[1] == pytest.approx(2 * 5 * 7850 * 4 * 2 / 1e6)
    assert table.loc[0, "final_accuracy"] == hists[("IID", 2)].column("accuracy")[-1]


def test_skewed_and_padded_clients_match_a_plain_loop(mnist):
    """Unequal clients (steps-sorted prefix trick) and partial batches: one round equals client-by-client SGD."""
    (x, y), _ = mnist
    parts = [np.arange(0, 7), np.arange(7, 60), np.arange(60, 90)]
    h = run_fedavg(x[:90], y[:90], parts, rounds=1, batch_size=8, client_lr=0.1, seed=2)
    X = preprocess(x[:90]).astype(np.float64)
    W0, b0 = initial_weights(seed=2)
    plan = plan_round(parts, 0, seed=2, local_epochs=1, batch_size=8)
    W, b = np.zeros_like(W0, dtype=np.float64), np.zeros_like(b0, dtype=np.float64)
    for i in range(3):
        Wk, bk = W0.astype(np.float64), b0.astype(np.float64)
        for batch in plan.batches(i):
            Wk, bk = softmax_step(Wk, bk, X[batch], y[batch].astype(int), 0.1)
        w = len(parts[i]) / 90
        W, b = W + w * Wk, b + w * bk
    np.testing.assert_allclose(h.weights[0], W, atol=5e-6)
    np.testing.assert_allclose(h.weights[1], b, atol=5e-6)
