"""The simulation core (issue 11): history, plans, communication, aggregation, transforms, the loop,
and the correctness fixes it brought (bilayer weighting and routing, D-PSGD, DK-means, trim, labels)."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from support import softmax_step

from tinydtl.algorithms.decentralized import run_decentralized
from tinydtl.algorithms.dk_means import dk_means
from tinydtl.algorithms.fedavg import initial_weights, run_fedavg
from tinydtl.algorithms.split import run_split_learning
from tinydtl.core.aggregation import ServerOptimizer
from tinydtl.core.history import History, rounds_to_reach
from tinydtl.core.plans import PlanSettings, plan_round
from tinydtl.core.robust import aggregate
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import FLOAT32_BYTES, Traffic, payload_bytes, star_traffic
from tinydtl.core.transforms import Attackers, Compression
from tinydtl.core.validation import as_features, check_labels
from tinydtl.data.datasets import load_mnist, load_ucr
from tinydtl.data.partition import iid
from tinydtl.learners.softmax import SoftmaxModel, preprocess
from tinydtl.networks.topology import complete, line, random_geometric, ring
from tinydtl.networks.transport import (
    Bilayer,
    MovingDevices,
    gossip,
    live_devices,
    surviving_links,
)


@pytest.fixture(scope="module")
def mnist():
    (x, y), (xt, yt) = load_mnist()
    return x[:3000], y[:3000], xt[:1000], yt[:1000]




# --------------------------------------------------------------------------- history
def test_history_round_zero_and_rounds_to_reach():
    h = History()
    h.record(0, accuracy=0.9)
    h.record(1, accuracy=0.5, bytes_up=10, extra=3.0)
    h.record(2, accuracy=0.95, bytes_up=20)
    assert h.rounds == 2 and h.column("round") == [0, 1, 2]
    assert h.rounds_to_reach(0.9) == 0  # the initial model already does
    assert h.rounds_to_reach(0.92) == 2
    assert h.rounds_to_reach(0.99) is None
    assert list(h.cumulative("bytes_up")) == [0, 10, 30]
    assert np.isnan(h.column("extra")[0]) and h.column("extra")[1] == 3.0
    assert h.column("accuracy", initial=False) == [0.5, 0.95]  # the lessons' per-round view: rounds 1..R
    assert rounds_to_reach(h, 0.92) == 2 and rounds_to_reach([0.5, 0.95], 0.92) == 2
    assert rounds_to_reach([0.5, 0.6], 0.9) is None
    with pytest.raises(ValueError, match=r"round must be the next row \(3\)"):
        h.record(5, accuracy=1.0)
    with pytest.raises(ValueError, match="target must be a finite number"):
        h.rounds_to_reach(float("nan"))
    with pytest.raises(KeyError, match="no column 'nope'"):
        h.column("nope")
    with pytest.raises(AttributeError):
        h.nope


def test_every_trainer_returns_the_same_history_with_round_zero(mnist):
    x, y, xt, yt = mnist
    parts = iid(y, 4, seed=0)
    runs = {
        "fedavg": run_fedavg(x, y, parts, x_test=xt, y_test=yt, rounds=2),
        "dpsgd": run_decentralized(x, y, parts, graph=ring(4), rounds=2, x_test=xt, y_test=yt),
        "split": run_split_learning(x, y, epochs=2, x_test=xt, y_test=yt),
    }
    W0, b0 = initial_weights(seed=0)
    initial = SoftmaxModel(784, 10).evaluate(np.concatenate([W0.ravel(), b0]), as_features(xt), yt)[1]
    for name, h in runs.items():
        assert isinstance(h, History), name
        df = h.to_frame()
        assert list(df.index) == [0, 1, 2], name
        assert df.loc[0, ["bytes_up", "bytes_down", "messages", "seconds"]].sum() == 0, name
        assert (df.loc[1:, "bytes_up"] > 0).all() and (df.loc[1:, "messages"] > 0).all(), name
        for c in ("accuracy", "loss", "bytes_up", "bytes_down", "messages", "live_devices", "seconds"):
            assert c in df.columns, (name, c)
    assert runs["fedavg"].column("accuracy")[0] == runs["dpsgd"].column("accuracy")[0] == initial


# --------------------------------------------------------------------------- models and data at the edge
def test_softmax_model_runs_ucr_series_with_any_number_of_classes():
    ds = load_ucr("OSULeaf")  # 6 classes, 427 real-valued features (z-normalised, not in [0, 1])
    parts = iid(ds.y_train, 4, seed=0)
    h = run_fedavg(ds.X_train, ds.y_train, parts, x_test=ds.X_test, y_test=ds.y_test, rounds=5, client_lr=0.01)
    assert h.weights[0].shape == (427, 6) and h.config["n_classes"] == 6
    assert h.column("accuracy", initial=False)[-1] > 1 / 6 + 0.1  # better than chance on 6 classes
    g = load_ucr("GunPoint")
    d = run_decentralized(g.X_train, g.y_train, iid(g.y_train, 5, seed=0), graph=ring(5), rounds=3,
                            x_test=g.X_test, y_test=g.y_test)
    assert d.weights[0].shape == (5, 150, 2)


def test_labels_and_features_are_checked_at_the_edge():
    with pytest.raises(ValueError, match=r"y must hold integer labels in \[0, 2\]"):
        check_labels(np.array([0, 3]), "y", 2, 3)
    with pytest.raises(ValueError, match="y must hold integer class labels"):
        check_labels(np.array([0.0, 1.0]), "y", 2)
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        check_labels(np.array([0, 1]), "y", 3)
    with pytest.raises(TypeError, match="x must be uint8 pixels or real-valued"):
        as_features(np.array([["a"], ["b"]]))
    with pytest.raises(ValueError, match="n_classes must be an integer in"):
        SoftmaxModel(4, 1)


def test_split_learning_rejects_labels_outside_the_range(mnist):
    x, y, _, _ = mnist
    bad = y[:100].astype(int).copy()
    bad[7] = -1
    with pytest.raises(ValueError, match=r"y_train must hold integer labels in \[0, ∞\)"):
        run_split_learning(x[:100], bad, epochs=1)
    with pytest.raises(ValueError, match=r"y_train must hold integer labels in \[0, 9\]"):
        run_split_learning(x[:100], np.where(y[:100] == 3, 10, y[:100]), epochs=1, n_classes=10)


# --------------------------------------------------------------------------- plans and the controller
def test_local_steps_plan_takes_exactly_that_many_minibatches():
    parts = [np.arange(10), np.arange(10, 13)]
    plan = plan_round(parts, 0, seed=0, batch_size=4, local_steps=5)
    assert [len(plan.batches(i)) for i in range(2)] == [5, 5]
    assert plan.n_examples(1) == 5 * 3  # a 3-sample client cycles through 5 shuffled epochs
    assert [len(b) for b in plan.only_step(4).batches(0)] == [4]
    with pytest.raises(ValueError, match=r"local_steps must be an integer in \[1, ∞\)"):
        PlanSettings(local_steps=0)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, ∞\)"):
        PlanSettings(batch_size=0)


def test_controller_changes_the_next_rounds_plan(mnist):
    x, y, xt, yt = mnist
    parts = iid(y, 6, seed=0)
    seen = []

    def controller(round_done, history, settings):
        seen.append((round_done, history.rounds))
        return settings.replace(clients_per_round=2, local_steps=3)

    h = run_fedavg(x, y, parts, rounds=3, controller=controller)
    assert seen == [(1, 1), (2, 2), (3, 3)]
    assert h.column("participants")[1:] == [6, 2, 2]
    assert h.column("train_loss")[1] > 0
    with pytest.raises(TypeError, match="controller must return a PlanSettings"):
        run_fedavg(x, y, parts, rounds=2, controller=lambda r, h, s: None)


def test_simulate_checks_its_arguments():
    alg = Algorithm("noop", lambda: 0, lambda s, r, p: (s, {}))
    assert simulate(alg, 2).column("round") == [0, 1, 2]
    with pytest.raises(TypeError, match="algorithm must be a tinydtl.core.simulation.Algorithm"):
        simulate(lambda: 0, 1)
    with pytest.raises(ValueError, match=r"rounds must be an integer in \[0, ∞\)"):
        simulate(alg, -1)
    with pytest.raises(TypeError, match="settings must be a PlanSettings"):
        simulate(alg, 1, settings={"batch_size": 2})
    with pytest.raises(TypeError, match="controller must be callable"):
        simulate(alg, 1, controller=3)


# --------------------------------------------------------------------------- communication
def test_byte_rule_and_traffic():
    assert FLOAT32_BYTES == 4 and payload_bytes(7850) == 31400
    assert Traffic(1, 2, 3) + Traffic(10, 20, 30) == Traffic(11, 22, 33)
    t = star_traffic([100, 50], 400)
    assert (t.bytes_up, t.bytes_down, t.messages) == (150, 800, 4)  # download to k clients = k transmissions
    A = sp.csr_matrix(nx.to_scipy_sparse_array(nx.path_graph(3)))
    x, t = gossip(A, np.ones((3, 5)), 2)
    assert t.messages == 2 * 4 and t.bytes_up == 8 * 5 * 4  # each device to each neighbour, each step
    with pytest.raises(ValueError, match=r"n_values must be an integer in \[0, ∞\)"):
        payload_bytes(-1)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0.0, 1.0\)"):
        live_devices(3, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"link_failure must be a number in \[0.0, 1.0\)"):
        surviving_links(A, np.ones(3, bool), -0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"steps must be an integer in \[0, ∞\)"):
        gossip(A, np.ones((3, 1)), -1)
    with pytest.raises(ValueError, match="radius must be a number in"):
        MovingDevices(np.zeros((2, 3, 2)), 0.0)
    with pytest.raises(ValueError, match="trajectory must be"):
        MovingDevices(np.zeros((3, 2)), 0.1)


def test_bilayer_checks_clusters_and_heads():
    G = line(4)
    with pytest.raises(ValueError, match="every cluster needs a head; clusters without one: \\[9\\]"):
        Bilayer(G, [5, 5, 9, 9], [0])
    with pytest.raises(ValueError, match="two heads share a cluster"):
        Bilayer(G, [5, 5, 9, 9], [0, 1, 2])
    with pytest.raises(ValueError, match="clusters must be 4 integer cluster labels"):
        Bilayer(G, [5, 5, 9], [0, 2])
    with pytest.raises(ValueError, match=r"heads must be device indices in \[0, 3\]"):
        Bilayer(G, [5, 5, 9, 9], [0, 7])


# --------------------------------------------------------------------------- correctness fixes
def two_unequal_clusters():
    """Cluster 4 = devices 0-1 (100 samples), cluster 8 = devices 2-4 (1,500 samples); heads 0 and 2 linked."""
    parts = [np.arange(0, 50), np.arange(50, 100), np.arange(100, 600), np.arange(600, 1100), np.arange(1100, 1600)]
    G = nx.Graph([(0, 1), (2, 3), (2, 4), (0, 2)])
    return parts, G, np.array([4, 4, 8, 8, 8]), np.array([0, 2])


def test_bilayer_heads_mix_clusters_by_sample_count(mnist):
    """Gossiping (Σ n w, Σ n) and dividing at the end gives the sample-weighted average of ALL devices:
    one round with enough head gossip is exactly weighted FedAvg (uniform head mixing is not)."""
    x, y, xt, yt = mnist
    parts, G, clusters, heads = two_unequal_clusters()
    d = run_decentralized(x, y, parts, scheme="bilayer", graph=G, clusters=clusters, heads=heads,
                            g_intra=0, g_inter=60, rounds=1, batch_size=50, lr=0.1)
    f = run_fedavg(x, y, parts, rounds=1, batch_size=50, client_lr=0.1)
    np.testing.assert_allclose(d.weights[0][3], f.weights[0], atol=1e-6)
    np.testing.assert_allclose(d.weights[0][0], f.weights[0], atol=1e-6)


def test_bilayer_cluster_labels_may_skip_zero(mnist):
    x, y, xt, yt = mnist
    parts, G, clusters, heads = two_unequal_clusters()
    runs = [run_decentralized(x, y, parts, scheme="bilayer", graph=G, clusters=c, heads=heads, rounds=2,
                                x_test=xt, y_test=yt)
            for c in (clusters + 100, np.unique(clusters, return_inverse=True)[1])]  # {104, 108} vs {0, 1}
    assert runs[0].column("accuracy") == runs[1].column("accuracy") and runs[0].column("accuracy")[-1] > 0.4
    np.testing.assert_array_equal(runs[0].weights[0], runs[1].weights[0])


def test_bilayer_members_reach_their_head_only_over_existing_links(mnist):
    """A line 0-1-2 with head 0: device 2's model needs two hops (relayed by 1), both counted; device 3
    has no link at all and is reported unreachable instead of being averaged in."""
    x, y, xt, yt = mnist
    parts = [np.arange(i * 50, (i + 1) * 50) for i in range(4)]
    G = nx.Graph([(0, 1), (1, 2)])
    G.add_node(3)
    h = run_decentralized(x, y, parts, scheme="bilayer", graph=G, clusters=np.zeros(4, int), heads=[0],
                            g_intra=0, g_inter=0, rounds=1, batch_size=50)
    row = h.to_frame().loc[1]
    assert row["messages"] == (1 + 2) * 2  # uploads 1 + 2 hops, share-back the same
    assert row["bytes_up"] == 3 * (7850 + 1) * 4 and row["bytes_down"] == 3 * 7850 * 4
    assert row["unreachable"] == 1
    W = h.weights[0]
    assert np.array_equal(W[0], W[2]) and not np.allclose(W[3], W[0])


def test_dpsgd_is_one_gradient_step_per_mixing_step(mnist):
    """Lian et al. 2017, Algorithm 1, written out: x_{k+1,i} = Σ_j W_ij x_{k,j} - γ ∇F_i(x_{k,i})."""
    x, y, _, _ = mnist
    parts = [np.arange(0, 40), np.arange(40, 80), np.arange(80, 120)]
    G = line(3)
    h = run_decentralized(x, y, parts, scheme="dpsgd", graph=G, rounds=1, batch_size=20, lr=0.1, seed=4)
    assert h.column("iterations")[1] == 2 and h.column("messages")[1] == 2 * 4
    X = preprocess(x[:120]).astype(np.float64)
    W0, b0 = initial_weights(seed=4)
    Ws = [W0.astype(np.float64)] * 3
    bs = [b0.astype(np.float64)] * 3
    M = np.array([[2, 1, 0], [1, 1, 1], [0, 1, 2]]) / 3  # Metropolis on the line: 1 / (1 + max degree)
    plan = plan_round(parts, 0, seed=4, batch_size=20)
    for s in range(2):
        grads = []
        for i in range(3):
            batch = plan.batches(i)[s]
            Wn, bn = softmax_step(Ws[i], bs[i], X[batch], y[batch].astype(int), 0.1)
            grads.append((Ws[i] - Wn, bs[i] - bn))
        Ws = [sum(M[i, j] * Ws[j] for j in range(3)) - grads[i][0] for i in range(3)]
        bs = [sum(M[i, j] * bs[j] for j in range(3)) - grads[i][1] for i in range(3)]
    for i in range(3):
        np.testing.assert_allclose(h.weights[0][i], Ws[i], atol=2e-6)
        np.testing.assert_allclose(h.weights[1][i], bs[i], atol=2e-6)


def test_local_sgd_with_gossip_trains_a_whole_epoch_between_mixing(mnist):
    x, y, _, _ = mnist
    parts = iid(y[:600], 3, seed=0)
    d = run_decentralized(x[:600], y[:600], parts, scheme="local_sgd_gossip", graph=complete(3), rounds=1,
                            gossip_steps=1)
    f = run_fedavg(x[:600], y[:600], parts, rounds=1)
    np.testing.assert_allclose(d.weights[0][0], f.weights[0], atol=1e-6)
    assert d.column("messages")[1] == 6


def test_dk_means_elects_heads_without_a_global_search():
    rng = np.random.default_rng(0)
    centres = np.array([[10, 10], [90, 10], [50, 90]], dtype=float)
    pos = np.vstack([c + rng.normal(0, 3, size=(20, 2)) for c in centres])
    G = random_geometric(60, 95.0, positions=pos)
    res = dk_means(pos, 3, G, gossip_rounds=200, seed=1)
    assert res.messages > 0
    for c, h in enumerate(res.heads):
        members = np.flatnonzero(res.labels == c)
        assert res.labels[h] == c
        # the head is the member nearest to the centroid (estimates agree to res.disagreement)
        d = np.linalg.norm(pos[members] - res.centroids[c], axis=1)
        assert np.linalg.norm(pos[h] - res.centroids[c]) <= d.min() + 2 * res.disagreement + 1e-9


def test_trim_is_settable_from_fedavg(mnist):
    x, y, xt, yt = mnist
    parts = iid(y, 5, seed=0)  # equal shares: weighted mean = plain mean
    plain = run_fedavg(x, y, parts, rounds=1)
    untrimmed = run_fedavg(x, y, parts, rounds=1, aggregator="trimmed_mean", trim=0.0)
    trimmed = run_fedavg(x, y, parts, rounds=1, aggregator="trimmed_mean", trim=0.2)
    np.testing.assert_allclose(untrimmed.weights[0], plain.weights[0], atol=1e-6)
    assert np.abs(trimmed.weights[0] - plain.weights[0]).max() > 1e-5
    assert trimmed.config["trim"] == 0.2
    with pytest.raises(ValueError, match=r"trim must be a number in \[0, 0.5\)"):
        run_fedavg(x, y, parts, rounds=1, aggregator="trimmed_mean", trim=0.5)
    with pytest.raises(ValueError, match=r"trim=0.1 trims floor\(0.1·5\) = 0 of 5 updates per side"):
        run_fedavg(x, y, parts, rounds=1, aggregator="trimmed_mean", trim=0.1)


def test_error_feedback_without_compression_raises(mnist):
    x, y, _, _ = mnist
    with pytest.raises(ValueError, match="error_feedback=True needs a compressing spec"):
        run_fedavg(x, y, iid(y, 3), rounds=1, error_feedback=True)
    with pytest.raises(ValueError, match="error_feedback=True needs a compressing spec"):
        Compression("none", error_feedback=True)
    with pytest.raises(TypeError, match="error_feedback must be True or False"):
        Compression("q8", error_feedback="yes")


# --------------------------------------------------------------------------- aggregation and transforms
def test_aggregation_and_server_optimizer():
    U = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 30.0], [3.0, 4.0], [100.0, 5.0]])
    np.testing.assert_allclose(aggregate(U, np.ones(5), "median"), [2.0, 4.0])
    np.testing.assert_allclose(aggregate(U, np.ones(5), "trimmed_mean", trim=0.2), [2.0, 11 / 3])
    np.testing.assert_allclose(aggregate(U, [1, 0, 0, 0, 0], "mean"), [0.0, 1.0])
    with pytest.raises(ValueError, match="method must be one of"):
        aggregate(U, None, "max")
    opt = ServerOptimizer(lr=1.0, momentum=0.5)
    w = opt.step(np.zeros(2, np.float32), np.ones(2, np.float32))
    w = opt.step(w, np.ones(2, np.float32))
    np.testing.assert_allclose(w, [2.5, 2.5])  # v = -1, then -1.5: w = 1 + 1.5
    with pytest.raises(ValueError, match=r"server_momentum must be a number in \[0, 1\)"):
        ServerOptimizer(momentum=1.0)
    with pytest.raises(ValueError, match=r"server_lr must be a number in \(0, ∞\)"):
        ServerOptimizer(lr=0.0)


def test_transforms():
    attack = Attackers([1], seed=0)
    u = np.ones(4, np.float32)
    assert attack(u, 0)[0] is u and attack(u, 0)[1] == 16
    assert np.abs(attack(u, 1)[0] - 1).max() > 1
    sent, nbytes = Compression("top0.5")(np.array([1.0, -5.0, 0.1, 3.0], np.float32), 0)
    assert nbytes == 2 * 8 and np.array_equal(sent, [0, -5, 0, 3])
    with pytest.raises(ValueError, match=r"scale must be a number in \(0, ∞\)"):
        Attackers([0], scale=0)
    with pytest.raises(TypeError, match="spec must be a string"):
        Compression(8)


def test_threads_over_clients_give_the_same_model(mnist):
    x, y, _, _ = mnist
    parts = [np.arange(0, 700), np.arange(700, 900), np.arange(900, 2000), np.arange(2000, 3000)]  # skewed
    one = run_fedavg(x, y, parts, rounds=2, seed=1)
    two = run_fedavg(x, y, parts, rounds=2, seed=1, threads=2)
    np.testing.assert_array_equal(one.weights[0], two.weights[0])
    np.testing.assert_allclose(one.column("train_loss")[1:], two.column("train_loss")[1:], rtol=1e-6)
    with pytest.raises(ValueError, match=r"threads must be an integer in \[1, ∞\)"):
        run_fedavg(x, y, parts, rounds=1, threads=0)


def test_core_functions_name_bad_arguments():
    model = SoftmaxModel(3, 2)
    with pytest.raises(ValueError, match=r"params must have shape \(8,\)"):
        model.evaluate(np.zeros(5), np.zeros((2, 3), np.float32), np.array([0, 1]))
    with pytest.raises(ValueError, match="X must have 3 features per row"):
        model.evaluate(model.init(0), np.zeros((2, 4), np.float32), np.array([0, 1]))
    plan = plan_round([np.arange(4)], 0, seed=0, batch_size=2)
    with pytest.raises(ValueError, match=r"params must have shape \(1, 8\)"):
        model.local_update(np.zeros((4, 3), np.float32), np.zeros(4, int), np.zeros((2, 8)), plan, 0.1)
    with pytest.raises(ValueError, match=r"round_index must be an integer in \[0, ∞\)"):
        plan_round([np.arange(4)], -1, seed=0)
    with pytest.raises(ValueError, match="up_bytes_per_client must be a 1-D sequence of integers >= 0"):
        star_traffic([-1, 5], 10)
    bl = Bilayer(line(3), [0, 0, 0], [1])
    with pytest.raises(ValueError, match="weights must be 3 finite numbers > 0"):
        bl.round(np.zeros((3, 2)), [1, 0, 1], np.ones(3, bool), g_intra=0, g_inter=0)
    with pytest.raises(ValueError, match=r"values must hold one row per device \(3 rows\)"):
        bl.round(np.zeros((2, 2)), [1, 1, 1], np.ones(3, bool), g_intra=0, g_inter=0)


def test_device_accuracy_is_the_mean_of_the_watched_devices(mnist):
    x, y, xt, yt = mnist
    parts = iid(y, 4, seed=0)
    h = run_decentralized(x, y, parts, graph=ring(4), rounds=1, x_test=xt, y_test=yt, eval_devices=4)
    model = SoftmaxModel(784, 10)
    W, b = h.weights
    accs = [model.evaluate(model.flatten(W[i], b[i]), as_features(xt).astype(np.float32) / 255, yt)[1] for i in range(4)]
    assert h.column("device_accuracy", initial=False)[-1] == pytest.approx(np.mean(accs), abs=1e-12)


def test_seeds_are_checked_by_the_shared_seed_check(mnist):
    x, y, xt, yt = mnist
    parts = iid(y[:200], 2, seed=0)
    with pytest.raises(TypeError, match="seed must be an integer >= 0"):
        run_fedavg(x[:200], y[:200], parts, rounds=1, seed="1")
    with pytest.raises(TypeError, match="seed must be an integer >= 0"):
        run_decentralized(x[:200], y[:200], parts, graph=complete(2), rounds=1, seed=None)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        run_split_learning(x[:200], y[:200], epochs=1, seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer >= 0"):
        dk_means(np.random.default_rng(0).random((10, 2)), 2, complete(10), seed="a")
    with pytest.raises(TypeError, match="several random streams are derived from it"):
        plan_round(parts, 0, seed=np.random.default_rng(0))


def test_traffic_algorithm_and_snapshots_are_checked():
    with pytest.raises(ValueError, match=r"messages must be an integer in \[0, ∞\)"):
        Traffic(messages=-1)
    with pytest.raises(ValueError, match=r"bytes_up must be an integer in \[0, ∞\)"):
        Traffic(bytes_up=1.5)
    with pytest.raises(TypeError, match="apply must be callable"):
        Algorithm("x", lambda: 0, None)
    with pytest.raises(TypeError, match="evaluate must be callable or None"):
        Algorithm("x", lambda: 0, lambda s, r, p: (s, {}), evaluate=3)
    swarm = MovingDevices(np.zeros((3, 4, 2)), 0.5)
    assert swarm.n_rounds == 2 and swarm.links(2).shape == (4, 4)
    with pytest.raises(ValueError, match=r"t must be an integer in \[0, 2\]"):
        swarm.links(3)
    h = History()
    with pytest.raises(ValueError, match="round must be the next row"):
        h.record(True)


def test_history_last_is_the_newest_value_without_copying():
    from tinydtl.core.history import History

    h = History()
    with pytest.raises(IndexError, match="no rows yet"):
        h.last("accuracy")
    with pytest.raises(KeyError, match="no column 'watts'"):
        h.last("watts")
    h.record(0, accuracy=0.1)
    h.record(1, accuracy=0.5, bytes_up=10)
    assert h.last("accuracy") == 0.5 and h.last("bytes_up") == 10
    assert h.column("bytes_up")[0] != h.column("bytes_up")[0]  # row 0 had no bytes: NaN
