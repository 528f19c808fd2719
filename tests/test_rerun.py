"""An algorithm can be run twice: one built Algorithm simulated twice gives the same history.

Every trainer keeps its random generators and its mutable state in the state ``init()`` makes, so
``simulate(algorithm)`` twice must give identical histories (wall-clock columns aside). Before this
was fixed, decentralised training drew different dropouts on the second run, split learning started
from different weights, the ILVQ exchange continued from the first run's models, and FedAvg's attacker
and error-feedback memory carried over.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import tinydtl.algorithms.decentralized as dec
import tinydtl.algorithms.fedavg as fed
import tinydtl.algorithms.ilvq_exchange as ilx
import tinydtl.algorithms.split as spl
import tinydtl.algorithms.swarm as swm
from tinydtl.algorithms.dk_means import dk_means
from tinydtl.core.history import History
from tinydtl.core.simulation import Algorithm, EarlyStopping, simulate
from tinydtl.data.datasets import load_mnist, make_sphere
from tinydtl.data.partition import dirichlet, iid
from tinydtl.networks.mobility import random_waypoint
from tinydtl.networks.topology import (
    bilayer_graph,
    place_devices,
    random_geometric,
    ring,
)
from tinydtl.networks.transport import Bilayer, surviving_links

CLOCKS = {"seconds", "cpu_seconds"}


@pytest.fixture(scope="module")
def mnist():
    (x, y), (xt, yt) = load_mnist()
    return x[:1200], y[:1200], xt[:300], yt[:300]


def built(module, front_end, *args, **kwargs) -> tuple[Algorithm, dict]:
    """The Algorithm a front end builds, and the arguments it passes to ``simulate`` (not run)."""
    captured = {}

    def capture(algorithm, rounds, **kw):
        captured.update(algorithm=algorithm, rounds=rounds, kw=kw)
        return History()

    original = module.simulate
    module.simulate = capture
    try:
        front_end(*args, **kwargs)
    finally:
        module.simulate = original
    return captured["algorithm"], {"rounds": captured["rounds"], **captured["kw"]}


def same(a: History, b: History):
    assert a.columns == b.columns
    for name in a.columns:
        if name not in CLOCKS:
            np.testing.assert_array_equal(np.asarray(a.column(name), float), np.asarray(b.column(name), float),
                                          err_msg=name)


def run_twice(algorithm, how):
    first = simulate(algorithm, **how)
    second = simulate(algorithm, **how)
    same(first, second)
    return first


def test_fedavg_with_attackers_and_error_feedback_runs_twice(mnist):
    x, y, xt, yt = mnist
    alg, how = built(fed, fed.run_fedavg, x, y, iid(y, 6, seed=0), x_test=xt, y_test=yt, rounds=3, attackers=1,
                     compression="top0.1", error_feedback=True, aggregator="median", seed=3)
    run_twice(alg, how)


@pytest.mark.parametrize("scheme", ["dpsgd", "local_sgd_gossip", "bilayer", "one_hop"])
def test_decentralized_with_faults_runs_twice(mnist, scheme):
    x, y, xt, yt = mnist
    parts = dirichlet(y, 8, alpha=0.5, seed=1)
    graph, extra = ring(8), {}
    if scheme == "bilayer":
        pos = place_devices(8, seed=0)
        km = dk_means(pos, 2, random_geometric(8, radius=0.8, positions=pos), seed=0)
        graph = bilayer_graph(pos, km.labels, km.heads, radius=0.8, head_radius=2.0)
        extra = dict(clusters=km.labels, heads=km.heads)
    alg, how = built(dec, dec.run_decentralized, x, y, parts, scheme=scheme, graph=graph, rounds=4, dropout=0.3,
                     link_failure=0.3, x_test=xt, y_test=yt, seed=2, **extra)
    h = run_twice(alg, how)
    assert min(h.column("live_devices")[1:]) < 8  # the faults really were drawn


def test_moving_swarm_with_its_own_initial_models_runs_twice(mnist):
    from tinydtl.networks.mobility import random_direction
    from tinydtl.networks.transport import MovingDevices

    x, y, xt, yt = mnist
    traj = random_direction(place_devices(8, side=100.0, seed=0), 3, speed=5.0, seed=0)
    alg, how = built(dec, dec.run_decentralized, x, y, iid(y, 8, seed=0), scheme="one_hop",
                     mobility=MovingDevices(traj, 40.0), init="per_device", rounds=3, x_test=xt, y_test=yt, seed=1)
    run_twice(alg, how)


def test_split_learning_runs_twice(mnist):
    x, y, xt, yt = mnist
    alg, how = built(spl, spl.run_split_learning, x, y, iid(y, 3, seed=0), epochs=2, x_test=xt, y_test=yt, seed=4)
    run_twice(alg, how)


def test_ilvq_exchange_runs_twice_and_leaves_the_callers_models_alone():
    X, y = make_sphere(600, seed=0)
    Xt, yt = make_sphere(200, seed=1)
    from tinydtl.algorithms.ilvq_exchange import train_devices

    devices = train_devices(X, y, iid(y, 4, seed=0), n_epochs=1, seed=0)
    before = [m.prototypes_.copy() for m in devices]
    alg, how = built(ilx, ilx.run_ilvq_exchange, devices, nx.cycle_graph(4), rounds=2, x_test=Xt, y_test=yt, seed=0)
    run_twice(alg, how)
    assert all(np.array_equal(b, m.prototypes_) for b, m in zip(before, devices))


def test_swarm_runs_twice():
    traj = random_waypoint(10, 5, speed=0.1, seed=0)
    alg, how = built(swm, swm.run_swarm_consensus, traj, 0.4, np.arange(10.0))
    run_twice(alg, how)


def test_early_stopping_serves_several_runs():
    """A reused stopper kept the first run's best value and row counter, so it stopped a second run
    that improved every round (measured before the fix: 3 rounds instead of 5)."""

    def algorithm(losses):
        return Algorithm("toy", lambda: 0, lambda s, r, settings: (s + 1, {}), lambda s: {"loss": losses[s]})

    stop = EarlyStopping(patience=2)
    first = simulate(algorithm([1.0, 0.5, 0.6, 0.7, 0.8, 0.9]), 5, controller=stop)
    second = simulate(algorithm([2.0, 1.9, 1.8, 1.7, 1.6, 1.5]), 5, controller=stop)
    assert first.rounds == 3 and stop.best_round == 5
    assert second.rounds == 5


def test_bilayer_draws_link_failures_once_per_round(mnist, monkeypatch):
    """Intra gossip, relays to the heads and head gossip use one draw: a link is up or down for the round."""
    x, y, _, _ = mnist
    pos = place_devices(12, seed=3)
    km = dk_means(pos, 3, random_geometric(12, radius=0.7, positions=pos), seed=0)
    graph = bilayer_graph(pos, km.labels, km.heads, radius=0.7, head_radius=2.0)
    calls = []
    original = dec.surviving_links

    def counting(A, alive, p, rng):
        calls.append(p)
        return original(A, alive, p, rng)

    monkeypatch.setattr(dec, "surviving_links", counting)
    dec.run_decentralized(x, y, iid(y, 12, seed=0), scheme="bilayer", graph=graph, clusters=km.labels,
                          heads=km.heads, rounds=5, link_failure=0.5, seed=0)
    assert calls == [0.5] * 5


def test_bilayer_round_uses_only_the_links_it_is_given():
    """With the head's only link to a member down, that member is cut off for relaying AND for gossip."""
    G = nx.path_graph(3)  # 0 - 1 - 2, one cluster, head 1
    bl = Bilayer(G, [0, 0, 0], [1])
    A = nx.to_scipy_sparse_array(G, format="csr")
    down = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(3, 3))  # only 0 - 1 survives
    values = np.array([[0.0], [3.0], [9.0]])
    out, traffic, unreachable = bl.round(values, np.ones(3), np.ones(3, bool), down, g_intra=1, g_inter=0)
    assert unreachable == 1 and out[2, 0] == 9.0  # device 2 neither gossiped nor heard its head
    full = surviving_links(A, np.ones(3, bool), 0.0, None)
    out, _, unreachable = bl.round(values, np.ones(3), np.ones(3, bool), full, g_intra=0, g_inter=0)
    assert unreachable == 0 and np.allclose(out[:, 0], 4.0)  # everyone reaches the head: the weighted mean
