import networkx as nx
import numpy as np
import pytest

from tinydtl.algorithms.decentralized import run_decentralized
from tinydtl.algorithms.dk_means import dk_means
from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import iid
from tinydtl.networks.topology import (
    DisconnectedGraphError,
    bilayer_graph,
    complete,
    random_geometric,
    ring,
)


@pytest.fixture(scope="module")
def mnist():
    (x, y), (xt, yt) = load_mnist()
    return x[:3000], y[:3000], xt[:1000], yt[:1000]


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[10, 10], [90, 10], [50, 90]], dtype=float)
    pos = np.vstack([c + rng.normal(0, 3, size=(20, 2)) for c in centres])
    return pos, np.repeat(np.arange(3), 20)


def test_dk_means_finds_separated_clusters_by_gossip_alone():
    pos, truth = blobs()
    res = dk_means(pos, 3, random_geometric(60, 95.0, positions=pos), gossip_rounds=200, seed=1)
    # same partition as the truth up to label names
    assert len({(a, b) for a, b in zip(res.labels, truth)}) == 3
    assert res.disagreement < 1e-3
    for c, h in enumerate(res.heads):
        assert res.labels[h] == c
    with pytest.raises(DisconnectedGraphError):
        dk_means(pos, 3, random_geometric(60, 5.0, positions=pos))
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 60\]"):
        dk_means(pos, 0, complete(60))


def test_bilayer_graph_layers():
    pos, labels = blobs()
    heads = [0, 20, 40]
    G = bilayer_graph(pos, labels, heads, radius=15.0, head_radius=100.0)
    for i, j, layer in G.edges(data="layer"):
        if layer == "intra":
            assert labels[i] == labels[j]
        else:
            assert i in heads and j in heads
    assert sum(1 for *_, l in G.edges(data="layer") if l == "inter") == 3


def test_local_sgd_with_gossip_on_a_complete_graph_is_fedavg(mnist):
    """Metropolis on K_n averages exactly in one step: with equal shares local SGD + gossip = FedAvg."""
    x, y, xt, yt = mnist
    parts = iid(y, 6, seed=0)
    d = run_decentralized(x, y, parts, scheme="local_sgd_gossip", graph=complete(6), rounds=3, x_test=xt, y_test=yt)
    f = run_fedavg(x, y, parts, x_test=xt, y_test=yt, rounds=3, batch_size=20, client_lr=0.02)
    np.testing.assert_allclose(d.column("accuracy", initial=False), f.column("accuracy", initial=False), atol=1e-3)
    assert d.column("consensus_distance", initial=False)[-1] < 1e-5


def test_bilayer_single_cluster_is_weighted_fedavg(mnist):
    """One cluster, its head folding every model into a Cumulative FedAvg sum: weighted FedAvg."""
    x, y, xt, yt = mnist
    parts = [np.arange(0, 300), np.arange(300, 1200), np.arange(1200, 3000)]
    d = run_decentralized(x, y, parts, scheme="bilayer", graph=complete(3), clusters=np.zeros(3, int),
                            heads=np.array([0]), g_intra=0, rounds=2, x_test=xt, y_test=yt)
    f = run_fedavg(x, y, parts, x_test=xt, y_test=yt, rounds=2)
    np.testing.assert_allclose(d.column("accuracy", initial=False), f.column("accuracy", initial=False), atol=1e-3)
    assert d.column("consensus_distance", initial=False)[-1] < 1e-5


def test_more_gossip_means_closer_consensus_and_faults_reduce_alive(mnist):
    x, y, xt, yt = mnist
    parts = iid(y, 12, seed=0)
    dist = [run_decentralized(x, y, parts, scheme="local_sgd_gossip", graph=ring(12), gossip_steps=s,
                                rounds=2).column("consensus_distance")[-1]
            for s in (1, 5)]
    assert dist[1] < dist[0]
    h = run_decentralized(x, y, parts, graph=ring(12), rounds=4, dropout=0.5, link_failure=0.3, seed=1)
    assert min(h.column("live_devices", initial=False)) < 12 and len(h.column("messages", initial=False)) == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(scheme="star"), "scheme must be one of 'dpsgd', 'local_sgd_gossip', 'bilayer'"),
        (dict(dropout=1.0), r"dropout must be a number in \[0.0, 1.0\)"),
        (dict(rounds=0), r"rounds must be an integer in \[1, ∞\)"),
        (dict(scheme="bilayer"), "needs clusters"),
        (dict(graph=ring(5)), "graph has 5 devices but parts has 4"),
    ],
)
def test_bad_arguments(mnist, kwargs, match):
    x, y, _, _ = mnist
    args = {**dict(graph=ring(4), rounds=1), **kwargs}
    with pytest.raises(ValueError, match=match):
        run_decentralized(x, y, iid(y, 4), **args)


def test_bilayer_takes_a_core_model_and_a_star_cluster_is_fedavg_for_the_mlp(mnist):
    """``model=`` runs the MLP through the same schemes; one cluster on a star graph with the hub as
    head and no intra gossip is FedAvg (weighted mean at the head, shared back): all devices end on
    the same model, which is the sample-weighted mean of the devices' locally trained models."""
    from tinydtl.core.plans import PlanSettings, plan_from_settings
    from tinydtl.learners.mlp import MLPModel

    x, y, xt, yt = mnist
    n = 6
    parts = iid(y[:600], n, seed=0)
    model = MLPModel(784, 8, 10)
    h = run_decentralized(x, y, parts, scheme="bilayer", graph=nx.star_graph(n - 1), clusters=np.zeros(n, int),
                            heads=np.array([0]), g_intra=0, rounds=1, lr=0.05, model=model, x_test=xt, y_test=yt,
                            eval_devices=n)
    W1, b1, W2, b2 = h.weights
    assert W1.shape == (n, 784, 8) and W2.shape == (n, 8, 10)
    assert np.allclose(W1, W1[0], atol=1e-6) and h.column("consensus_distance", initial=False)[-1] < 1e-5
    # the same round by hand: local SGD from the common start, then the weighted mean
    plan = plan_from_settings(parts, 0, PlanSettings(local_epochs=1, batch_size=20), seed=0)
    start = np.broadcast_to(model.init(0), (n, model.n_params))
    P = model.local_update(x, y, start, plan, 0.05)[0]
    sizes = np.array([len(p) for p in parts], float)
    mean = (sizes[:, None] * P).sum(axis=0) / sizes.sum()
    assert np.allclose(model.flatten(W1[0], b1[0], W2[0], b2[0]), mean, atol=1e-5)
    assert h.column("device_accuracy", initial=False)[-1] == pytest.approx(model.evaluate(mean.astype(np.float32), xt.reshape(len(xt), -1), yt)[1], abs=1e-3)
    with pytest.raises(TypeError, match="model must be a core model"):
        run_decentralized(x, y, parts, scheme="dpsgd", graph=ring(n), rounds=1, model=object())
