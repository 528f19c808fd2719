"""The bilayer paper under its authors' configuration: one-hop Cumulative FedAvg, moving devices, per-device
initial models, the dense head with Adam re-created every round, the presets and the ablation runner."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import tinydtl.algorithms.decentralized as dec
from tinydtl.core.aggregation import CumulativeFedAvg
from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.core.traffic import payload_bytes
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import iid
from tinydtl.learners.head import DenseHead, RowAdam
from tinydtl.learners.quantized_adam import Adam
from tinydtl.networks.mobility import random_direction
from tinydtl.networks.topology import bilayer_graph, geometric_adjacency, place_devices
from tinydtl.networks.transport import MovingDevices, one_hop_average
from tinydtl.papers.bilayer import (
    ABLATION,
    AUTHORS,
    LESSON,
    FrozenFeatures,
    SwarmConfig,
    SwarmData,
    ablation_path,
    ablation_table,
    extra_rounds,
    run_ablation,
    run_cfl,
    run_swarm,
)


@pytest.fixture(scope="module")
def mnist():
    (x, y), (xt, yt) = load_mnist()
    return x[:3000].reshape(3000, -1), y[:3000], xt[:500].reshape(500, -1), yt[:500]


@pytest.fixture(scope="module")
def features(mnist):
    x, y, xt, yt = mnist
    ext = FrozenFeatures(8, epochs=2).fit(x[2400:], y[2400:])
    return SwarmData(ext.transform(x), y, ext.transform(xt), yt, np.arange(2400))


# ----------------------------------------------------------------------------- one-hop Cumulative FedAvg
def test_one_hop_average_is_each_devices_running_sum_over_its_neighbours():
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 1, (9, 2))
    A = geometric_adjacency(pos, 0.4)
    values, counts = rng.normal(size=(9, 5)), rng.integers(10, 100, 9).astype(float)
    got, traffic = one_hop_average(A, values, counts)
    for i in range(9):
        acc = CumulativeFedAvg(np.float64)
        acc.add([values[i]], counts[i])
        for j in A[i].indices:
            acc.add([values[j]], counts[j])
        np.testing.assert_allclose(got[i], acc.result()[0], rtol=1e-12)
    assert traffic.messages == A.nnz and traffic.bytes_up == A.nnz * payload_bytes(6)


def test_one_hop_average_leaves_a_device_without_links_alone_and_moves_one_hop():
    A = sp.csr_matrix(nx.to_scipy_sparse_array(nx.path_graph(4)))
    values = np.array([[0.0], [0.0], [0.0], [8.0]])
    got, _ = one_hop_average(A, values, np.ones(4))
    assert got[0, 0] == 0.0 and got[2, 0] == pytest.approx(8 / 3)  # device 0 is two hops away: nothing yet
    isolated = sp.csr_matrix((3, 3))
    np.testing.assert_array_equal(one_hop_average(isolated, np.eye(3), np.ones(3))[0], np.eye(3))
    with pytest.raises(ValueError, match="weights must be 3 finite numbers > 0"):
        one_hop_average(isolated, np.eye(3), np.array([1.0, 0.0, 1.0]))


def test_one_hop_on_a_complete_graph_is_fedavg(mnist):
    x, y, xt, yt = mnist
    parts = iid(y, 5, seed=0)
    common = dict(rounds=2, x_test=xt, y_test=yt, eval_devices=5, lr=0.05)
    one_hop = dec.run_decentralized(x, y, parts, scheme="one_hop", graph=nx.complete_graph(5), **common)
    star = dec.run_decentralized(x, y, parts, scheme="bilayer", graph=nx.star_graph(4), clusters=np.zeros(5, int),
                                 heads=np.array([0]), g_intra=0, g_inter=0, **common)
    np.testing.assert_allclose(one_hop.column("device_accuracy"), star.column("device_accuracy"), atol=1e-9)
    assert one_hop.column("consensus_distance")[-1] < 1e-6


# ----------------------------------------------------------------------------- moving devices, initial models
def test_devices_that_do_not_move_give_the_fixed_graphs_history(mnist):
    x, y, xt, yt = mnist
    pos = place_devices(6, side=100.0, seed=0)
    parts = iid(y, 6, seed=0)
    still = MovingDevices(np.broadcast_to(pos, (4, 6, 2)).copy(), 50.0)
    common = dict(rounds=3, x_test=xt, y_test=yt, eval_devices=6, lr=0.05)
    fixed = dec.run_decentralized(x, y, parts, scheme="one_hop", graph=geometric_adjacency(pos, 50.0), **common)
    moved = dec.run_decentralized(x, y, parts, scheme="one_hop", mobility=still, **common)
    np.testing.assert_array_equal(fixed.column("device_accuracy"), moved.column("device_accuracy"))
    labels, heads = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 3])
    B = bilayer_graph(pos, labels, heads, 50.0, head_radius=90.0)
    b_fixed = dec.run_decentralized(x, y, parts, scheme="bilayer", graph=B, clusters=labels, heads=heads, **common)
    b_moved = dec.run_decentralized(x, y, parts, scheme="bilayer", mobility=still, clusters=labels, heads=heads,
                                    head_radius=90.0, **common)
    np.testing.assert_array_equal(b_fixed.column("device_accuracy"), b_moved.column("device_accuracy"))
    with pytest.raises(ValueError, match="mobility holds 3 moves but rounds=5"):
        dec.run_decentralized(x, y, parts, scheme="one_hop", mobility=still, rounds=5)
    with pytest.raises(ValueError, match="head_radius is for moving devices only"):
        dec.run_decentralized(x, y, parts, scheme="one_hop", graph=B, rounds=1, head_radius=3.0)
    with pytest.raises(TypeError, match="mobility must be a tinydtl.networks.transport.MovingDevices"):
        dec.run_decentralized(x, y, parts, scheme="one_hop", mobility=np.zeros((4, 6, 2)), rounds=1)


def test_a_moving_bilayer_relays_over_the_links_of_each_round(mnist):
    """Two devices far apart, then together: the member reaches its head only in the round they meet."""
    x, y, xt, yt = mnist
    traj = np.array([[[0, 0], [90, 0]], [[0, 0], [90, 0]], [[0, 0], [5, 0]]], dtype=float)
    h = dec.run_decentralized(x, y, iid(y, 2, seed=0), scheme="bilayer", mobility=MovingDevices(traj, 10.0),
                              clusters=np.array([0, 0]), heads=np.array([0]), rounds=2, lr=0.05)
    assert list(h.column("unreachable", initial=False)) == [1, 0]


def test_per_device_initial_models_differ_and_shared_ones_do_not(mnist):
    x, y, _, _ = mnist
    parts = iid(y, 4, seed=0)
    model = DenseHead((784, 8, 10))
    kw = dict(scheme="one_hop", A=geometric_adjacency(np.zeros((4, 2)), 1.0), lr=0.1, seed=3)
    shared = dec.decentralized_algorithm(model, x, y, parts, **kw).init()["P"]
    own = dec.decentralized_algorithm(model, x, y, parts, init="per_device", **kw).init()["P"]
    assert np.array_equal(shared, np.broadcast_to(shared[0], shared.shape))
    assert len({row.tobytes() for row in own}) == 4
    with pytest.raises(ValueError, match="init must be one of"):
        dec.run_decentralized(x, y, parts, scheme="one_hop", graph=nx.complete_graph(4), rounds=1, init="random")


def test_random_direction_moves_speed_per_step_and_turns_back_at_the_edge():
    traj = random_direction(np.array([[50.0, 50.0], [99.5, 50.0]]), 40, speed=1.0, side=100.0, seed=0)
    assert traj.shape == (41, 2, 2)
    np.testing.assert_allclose(np.linalg.norm(np.diff(traj, axis=0), axis=2), 1.0)
    assert traj[:, :, :].max() <= 101.0 + 1e-9 and traj.min() >= -1.0 - 1e-9  # at most a step outside
    again = random_direction(np.array([[50.0, 50.0], [99.5, 50.0]]), 40, speed=1.0, side=100.0, seed=0)
    np.testing.assert_array_equal(traj, again)


# ----------------------------------------------------------------------------- the dense head
def test_dense_head_gradient_matches_finite_differences():
    head = DenseHead((5, 4, 3, 3))
    rng = np.random.default_rng(1)
    p = head.init(0).astype(np.float64)
    X, y = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)

    def loss(q):
        logits = head.forward(q, X)[-1]
        z = logits - logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(6), y]))

    outs = head.forward(p, X)
    g, _, _ = head.logit_gradient(outs[-1][None], y[None], np.ones((1, 6), np.float32))
    grad = head.flatten_stack([a[None] for a in head.backward(p, X, outs, g[0])])[0]
    numeric = np.array([(loss(p + e) - loss(p - e)) / 2e-6 for e in np.eye(len(p)) * 1e-6])
    np.testing.assert_allclose(grad, numeric, atol=1e-5)


def test_dense_head_adam_is_a_fresh_adam_per_client_per_round(mnist):
    x, y, _, _ = mnist
    X = np.asarray(x[:200], np.float32) / 255
    head = DenseHead((784, 6, 10), optimizer="adam")
    parts = [np.arange(0, 90), np.arange(90, 200)]  # 90 and 110 samples: the first client stops a step early
    plan = plan_from_settings(parts, 0, PlanSettings(local_epochs=1, batch_size=20), seed=0)
    start = np.stack([head.init(0), head.init(1)])
    P = head.local_update(X, y, start, plan, 1e-2)[0]
    for i in range(2):  # each client alone, with quantized_adam.Adam as the reference optimiser
        ref, adam = start[i].astype(np.float64), Adam((head.n_params,), lr=1e-2)
        for b in plan.batches(i):
            outs = head.forward(ref, X[b])
            g, _, _ = head.logit_gradient(outs[-1][None], y[b][None], np.ones((1, len(b)), np.float32))
            adam.step(ref, head.flatten_stack([a[None] for a in head.backward(ref, X[b], outs, g[0])])[0])
        np.testing.assert_allclose(P[i], ref, atol=2e-5)


def test_row_adam_is_quantized_adams_step_in_float32():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(3, 20)).astype(np.float32)
    q = p.astype(np.float64)
    a, b = RowAdam(p.shape, lr=1e-2), Adam(p.shape, lr=1e-2)
    for _ in range(25):
        g = rng.normal(size=p.shape).astype(np.float32)
        a.step(p, g)
        b.step(q, g)
    np.testing.assert_allclose(p, q, atol=1e-5)


def test_dense_head_accuracies_match_evaluate(mnist):
    x, y, xt, yt = mnist
    head = DenseHead((784, 7, 10), weight_init="he")
    rows = np.stack([head.init(s) for s in range(3)])
    np.testing.assert_allclose(head.accuracies(rows, xt, yt), [head.evaluate(r, xt, yt)[1] for r in rows])


# ----------------------------------------------------------------------------- presets and the ablation
def test_the_ablation_walks_from_the_lesson_to_the_authors_configuration():
    path = ablation_path()
    assert path[0][1] == LESSON and path[-1][1] == AUTHORS and len(path) == len(ABLATION) + 1
    assert AUTHORS.mixing == "one_hop" and AUTHORS.optimizer == "adam" and AUTHORS.init == "per_device"
    assert (AUTHORS.n_devices, AUTHORS.radio_range, AUTHORS.local_epochs, AUTHORS.batch_size) == (60, 60.0, 2, 128)
    with pytest.raises(ValueError, match="unknown settings"):
        LESSON.replace(epochs=3)
    with pytest.raises(ValueError, match="mixing must be one of"):
        SwarmConfig(mixing="flooding")


def test_ablation_rows_and_extra_rounds(features):
    small = SwarmConfig(n_devices=6, clusters=2, radio_range=60.0, lr=0.05, hidden=(8,))
    path = [("small", small), ("+ own heads", small.replace(init="per_device"))]
    rows, hist = run_ablation(path, features, seeds=[0, 1], rounds=3, target=0.5, full_budget=(1,))
    assert [r["step"] for r in rows] == [0, 0, 1, 1]
    assert all(r["swarm final"] is None for r in rows[:2]) and all(r["swarm final"] is not None for r in rows[2:])
    table = ablation_table(rows)
    assert list(table["seeds"]) == [2, 2]
    swarm, cfl = run_swarm(small, features, rounds=2, seed=0), run_cfl(small, features, rounds=2, seed=0)
    a, b, e = extra_rounds(swarm, cfl, 0.99)
    assert (a, b, e) == (None, None, None)
    assert extra_rounds(swarm, cfl, 0.0) == (0, 0, 0)


def test_frozen_features_need_fitting_and_the_right_width(mnist):
    x, y, _, _ = mnist
    with pytest.raises(ValueError, match="call fit"):
        FrozenFeatures(4).transform(x[:5])
    f = FrozenFeatures(4, epochs=1).fit(x[:300], y[:300])
    assert f.transform(x[:5]).shape == (5, 4) and (f.transform(x[:5]) >= 0).all()
    with pytest.raises(ValueError, match="X must have 784 features"):
        f.transform(np.zeros((2, 3)))
