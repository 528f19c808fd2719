"""The input contract of the core, learners, networks, data and algorithms (docs/architecture.md).

Each row is an edge case a user can hit: the call, the exception it must raise and a pattern the
message must match (it names the parameter, what it got or what is allowed). Rows marked ``# was:``
gave a silently wrong result or an unrelated error before the fix.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from tinydtl.algorithms.decentralized import run_decentralized
from tinydtl.algorithms.dk_means import dk_means
from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.algorithms.ilvq_exchange import run_ilvq_exchange, train_devices
from tinydtl.algorithms.split import run_split_learning
from tinydtl.algorithms.swarm import run_swarm_consensus
from tinydtl.core.aggregation import CumulativeFedAvg, ServerOptimizer, StoreAllAggregator
from tinydtl.core.compression import Compressor
from tinydtl.core.history import History
from tinydtl.core.plans import PlanSettings
from tinydtl.core.robust import aggregate
from tinydtl.core.simulation import EarlyStopping
from tinydtl.core.traffic import Traffic, payload_bytes, star_traffic
from tinydtl.core.transforms import Attackers
from tinydtl.data.datasets import load_ucr, make_sphere
from tinydtl.data.partition import dirichlet, iid, pathological, quantity_skew, shards
from tinydtl.learners.functional import DivergenceError
from tinydtl.learners.ilvq import ILVQ
from tinydtl.learners.mlp import MLPModel
from tinydtl.learners.quantized_adam import Adam
from tinydtl.learners.softmax import SoftmaxModel
from tinydtl.networks.gossip import consensus_errors, metropolis_weights, predicted_rounds
from tinydtl.networks.mobility import random_waypoint
from tinydtl.networks.topology import bilayer_graph, random_geometric, ring
from tinydtl.networks.transport import MovingDevices, gossip, live_devices

rng = np.random.default_rng(0)
X = rng.integers(0, 256, size=(60, 784), dtype=np.uint8)
Y = np.arange(60) % 10
PARTS = [np.arange(0, 30), np.arange(30, 60)]
U = np.arange(12.0).reshape(4, 3)
NAN_LABELS = np.where(np.arange(60) == 7, np.nan, np.arange(60) % 10)


def fedavg(**kw):
    return lambda: run_fedavg(X, Y, PARTS, rounds=1, **kw)


def decentral(**kw):
    return lambda: run_decentralized(X, Y, PARTS, graph=nx.path_graph(2), rounds=1, **kw)


CASES = [
    # ------------------------------------------------------------------ core
    ("payload of a complex dtype", lambda: payload_bytes(3, "complex64"), ValueError, "dtype must be a numeric"),
    ("payload of an unknown dtype", lambda: payload_bytes(3, "float33"), TypeError, "dtype must be a numpy dtype"),
    ("payload of 2.5 values", lambda: payload_bytes(2.5), ValueError, r"n_values must be an integer"),
    ("Traffic with a bool", lambda: Traffic(bytes_up=True), ValueError, "bytes_up must be an integer"),
    ("star traffic with floats", lambda: star_traffic([1.5, 2.0], 4), ValueError, "up_bytes_per_client"),
    ("history target True", lambda: History().rounds_to_reach(True), ValueError, "target must be a finite number"),  # was: used as 1
    ("history target NaN", lambda: History().rounds_to_reach(float("nan")), ValueError, "target must be a finite"),
    ("plan batch 2.0", lambda: PlanSettings(batch_size=2.0), ValueError, "batch_size must be an integer"),
    ("plan local steps True", lambda: PlanSettings(local_steps=True), ValueError, "local_steps must be an integer"),
    ("early stopping patience 0", lambda: EarlyStopping(0), ValueError, "patience must be an integer in \\[1"),
    ("early stopping mode", lambda: EarlyStopping(2, mode="up"), ValueError, "mode must be 'min' or 'max'"),
    ("aggregate NaN update", lambda: aggregate(np.array([[np.nan, 1.0]] * 3)), ValueError, "finite"),
    ("aggregate unknown method", lambda: aggregate(U, method="max"), ValueError, "method must be one of"),
    ("trimmed mean trims nothing", lambda: aggregate(U, method="trimmed_mean", trim=0.1), ValueError, "trims nothing|trims floor"),
    ("server momentum 1", lambda: ServerOptimizer(momentum=1.0), ValueError, r"server_momentum must be a number in \[0, 1\)"),
    ("cumulative fedavg NaN model", lambda: CumulativeFedAvg().add([np.array([np.nan])], 1.0), ValueError,
     "weights must be finite"),  # was: a NaN running sum
    ("cumulative fedavg weight True", lambda: CumulativeFedAvg().add([np.ones(2)], True), ValueError,
     "n .*must be a finite number > 0"),  # was: counted as 1
    ("store-all weight NaN", lambda: StoreAllAggregator().add([np.ones(2)], float("nan")), ValueError, "n .*finite"),
    ("attacker ids 1.5", lambda: Attackers([1.5]), ValueError, "ids must be integer client indices"),  # was: client 1
    ("attacker ids True", lambda: Attackers([True]), ValueError, "ids must be integer client indices"),  # was: client 1
    ("compressor q0", lambda: Compressor("q0"), ValueError, r"bits must be an integer in \[1, 16\]"),
    ("compressor top2", lambda: Compressor("top2"), ValueError, r"fraction in \(0, 1\]"),
    ("compressor ef without spec", lambda: Compressor("none", error_feedback=True), ValueError,
     "error_feedback=True needs a compressing spec"),
    ("compressor ef 'yes'", lambda: Compressor("q8", error_feedback="yes"), TypeError, "error_feedback must be True or False"),
    # ------------------------------------------------------------------ learners
    ("softmax classes 10.0", lambda: SoftmaxModel(784, 10.0), ValueError, "n_classes must be an integer"),
    ("softmax update lr NaN", lambda: SoftmaxModel(4, 2).local_update(
        np.zeros((4, 4), np.float32), np.zeros(4, int), np.zeros((1, 10), np.float32), _plan(), float("nan")),
     ValueError, "lr must be a number in \\(0"),  # was: NaN parameters
    ("mlp update lr 0", lambda: MLPModel(4, 3, 2).local_update(
        np.zeros((4, 4), np.float32), np.zeros(4, int), np.zeros((1, MLPModel(4, 3, 2).n_params), np.float32), _plan(),
        0.0), ValueError, "lr must be a number in \\(0"),  # was: no step, no word
    ("softmax kernel 'cuda'", lambda: SoftmaxModel(4, 2, kernel="cuda"), ValueError,
     r"kernel must be one of 'numba', 'numpy', got 'cuda'"),
    ("softmax update label 2 of 2 classes", lambda: SoftmaxModel(4, 2).local_update(
        np.zeros((4, 4), np.float32), np.array([0, 1, 2, 0]), np.zeros((1, 10), np.float32), _plan(), 0.1),
     ValueError, r"y must hold labels in \[0, 1\], got 0..2"),  # was: IndexError deep in numpy (reference kernel)
    ("mlp kernel 'torch'", lambda: MLPModel(4, 3, 2, kernel="torch"), ValueError, "kernel must be one of"),
    ("mlp update label -1", lambda: MLPModel(4, 3, 2).local_update(
        np.zeros((4, 4), np.float32), np.array([0, 1, -1, 0]), np.zeros((1, MLPModel(4, 3, 2).n_params), np.float32),
        _plan(), 0.1), ValueError, r"y must hold labels in \[0, 1\], got -1..1"),  # was: a wrapped index, silently
    ("fedavg kernel 'gpu'", fedavg(kernel="gpu"), ValueError, r"kernel must be one of 'numba', 'numpy', got 'gpu'"),
    ("adam beta1 = 1", lambda: Adam((3,), beta1=1.0), ValueError, r"beta1 must be a number in \[0, 1\)"),  # was: NaN weights
    ("adam eps 0", lambda: Adam((3,), eps=0.0), ValueError, r"eps must be a number in \(0"),
    ("adam NaN gradient", lambda: Adam((2,)).step(np.zeros(2), np.array([np.nan, 0.0])), DivergenceError,
     "gradient became NaN"),  # was: NaN weights
    ("adam shape mismatch", lambda: Adam((2,)).step(np.zeros(3), np.zeros(3)), ValueError, "optimizer's shape"),
    ("ilvq epochs 1.5", lambda: ILVQ(n_epochs=1.5).fit(np.zeros((4, 2)), [0, 1, 0, 1]), ValueError, "n_epochs"),
    # ------------------------------------------------------------------ networks
    ("gossip NaN values", lambda: gossip(metropolis_weights(ring(4)) * 0 + _adj(4), np.array([[np.nan]] * 4), 1),
     ValueError, "values must be finite"),  # was: NaN consensus
    ("gossip values rows", lambda: gossip(_adj(4), np.zeros((3, 2)), 1), ValueError, "values must hold one row per device"),
    ("live devices dropout 1", lambda: live_devices(4, 1.0, np.random.default_rng(0)), ValueError,
     r"dropout must be a number in \[0.0, 1.0\)"),
    ("moving devices NaN", lambda: MovingDevices(np.full((2, 3, 2), np.nan), 0.5), ValueError, "finite"),
    ("random geometric radius NaN", lambda: random_geometric(5, float("nan")), ValueError, "radius"),
    ("consensus errors rounds 1.5", lambda: consensus_errors(metropolis_weights(ring(4)), np.arange(4.0), 1.5),
     ValueError, "rounds"),
    ("predicted rounds eps 0", lambda: predicted_rounds(0.1, 0.0), ValueError, "eps"),
    ("waypoint speed NaN", lambda: random_waypoint(3, 2, speed=float("nan")), ValueError, "speed"),
    ("bilayer graph radius inf", lambda: bilayer_graph(np.zeros((3, 2)), [0, 0, 0], [0], float("inf")), ValueError,
     "radius"),
    ("bilayer graph labels too short", lambda: bilayer_graph(np.zeros((3, 2)), [0, 0], [0], 0.5), ValueError,
     "labels must hold one cluster per device"),  # was: IndexError
    # ------------------------------------------------------------------ data
    ("dirichlet NaN label", lambda: dirichlet(NAN_LABELS, 3, alpha=0.5), ValueError,
     "y must hold integer class labels"),  # was: dropped the sample
    ("dirichlet alpha 0", lambda: dirichlet(Y, 3, alpha=0.0), ValueError, "alpha"),
    ("iid clients 1.5", lambda: iid(Y, 1.5), ValueError, "n_clients"),
    ("iid more clients than samples", lambda: iid(Y[:3], 5), ValueError, "n_clients"),
    ("shards per client 0", lambda: shards(Y, 3, shards_per_client=0), ValueError, "shards_per_client"),
    ("pathological float labels", lambda: pathological(Y.astype(float) + 0.5, 3), ValueError, "y must hold integer"),
    ("quantity skew alpha NaN", lambda: quantity_skew(Y, 3, alpha=float("nan")), ValueError, "alpha"),
    ("make sphere n -1", lambda: make_sphere(-1), ValueError, "n"),
    ("ucr unknown name", lambda: load_ucr("NoSuchSet"), ValueError, "NoSuchSet"),
    # ------------------------------------------------------------------ algorithms
    ("fedavg rounds True", lambda: run_fedavg(X, Y, PARTS, rounds=True), ValueError, "rounds must be an integer"),
    ("fedavg x_test width", lambda: run_fedavg(X, Y, PARTS, x_test=np.zeros((5, 10), np.uint8), y_test=np.zeros(5, int)),
     ValueError, "x_test has 10 features per sample, x_train has 784"),
    ("fedavg y float", lambda: run_fedavg(X, Y.astype(float), PARTS), ValueError, "y_train must hold integer"),
    ("fedavg part index 1.5", lambda: run_fedavg(X, Y, [np.array([0, 1.5])]), ValueError, "parts\\[0\\] must be a 1-D array of integer"),
    ("fedavg part out of range", lambda: run_fedavg(X, Y, [np.array([0, 60])]), ValueError, r"parts\[0\] must hold integer indices in \[0, 59\]"),
    ("fedavg empty client", lambda: run_fedavg(X, Y, [np.arange(5), np.array([], int)]), ValueError, "client 1 has no samples"),
    ("fedavg x NaN", lambda: run_fedavg(X.astype(float) * np.nan, Y, PARTS), ValueError, "x_train must be finite"),
    ("fedavg clients per round 3 of 2", fedavg(clients_per_round=3), ValueError, "clients_per_round must be an integer in \\[1, 2\\]"),
    ("fedavg error feedback 'yes'", fedavg(compression="q8", error_feedback="yes"), TypeError, "error_feedback must be True or False"),
    ("fedavg engine", fedavg(engine="torch"), ValueError, "engine must be one of 'numpy', 'tff'"),
    ("fedavg attackers True", fedavg(attackers=True), ValueError, "attackers must be an integer"),
    ("fedavg n_classes 1", fedavg(n_classes=1), ValueError, "n_classes must be an integer >= 2"),
    ("decentralized link failure NaN", decentral(link_failure=float("nan")), ValueError, "link_failure must be a number"),
    ("decentralized graph size", lambda: run_decentralized(X, Y, PARTS, graph=ring(5), rounds=1), ValueError,
     "graph has 5 devices but parts has 2"),
    ("decentralized bilayer without heads", decentral(scheme="bilayer"), ValueError, "needs clusters .* and heads"),
    ("dk-means NaN position", lambda: dk_means(np.array([[0.0, 0.0], [np.nan, 1.0], [1.0, 1.0]]), 2, ring(3)),
     ValueError, "positions must be finite"),  # was: NaN centroids and head -1
    ("dk-means k 1.5", lambda: dk_means(np.zeros((3, 2)), 1.5, ring(3)), ValueError, "k must be an integer"),
    ("split hidden 32.5", lambda: run_split_learning(X, Y, hidden=32.5), ValueError, "hidden must be an integer"),
    ("split 300 classes", lambda: run_split_learning(X, Y, n_classes=300), ValueError, "n_classes must be at most 256"),
    ("swarm x0 NaN", lambda: run_swarm_consensus(np.zeros((2, 3, 2)), 0.5, [0.0, np.nan, 1.0]), ValueError,
     "x0 must be finite"),
    ("ilvq exchange rounds True", lambda: run_ilvq_exchange(_ilvq_devices(), nx.path_graph(2), rounds=True,
                                                            x_test=np.zeros((2, 2)), y_test=[0, 1]), ValueError, "rounds"),
]


def _plan():
    from tinydtl.core.plans import plan_round

    return plan_round([np.arange(4)], 0, seed=0, batch_size=2)


def _adj(n):
    from tinydtl.networks.gossip import adjacency

    return adjacency(ring(n))


def _ilvq_devices():
    Xs = np.random.default_rng(0).normal(size=(20, 2))
    ys = (Xs[:, 0] > 0).astype(int)
    return train_devices(Xs, ys, [np.arange(10), np.arange(10, 20)], n_epochs=1, seed=0)


@pytest.mark.parametrize("name, call, error, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(name, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_rows_marked_were_silent_before():
    """The table has at least a dozen rows that gave a silent wrong result or a deep error before."""
    import inspect

    source = inspect.getsource(__import__(__name__))
    assert source.count("# was:") >= 12
