"""Property-based tests (hypothesis) of the invariants the modules document, and one table of bad input.

* partitions use every sample exactly once (``pathological``: at most once; exactly once when
  every class is held), clients are never empty;
* every mixing-matrix builder gives a symmetric, doubly stochastic, non-negative matrix, and the
  spectral gap lies in [0, 1];
* aggregators are permutation-invariant (and stay within each coordinate's range);
* stochastic quantisation is unbiased, E[q(x)] = x, and its values are the documented levels;
* bytes on the wire are never negative and follow the documented formulas.
"""

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinydtl.core import compression, robust
from tinydtl.core.validation import MIXING_TOL, as_rng, check_mixing_matrix
from tinydtl.data import datasets, partition
from tinydtl.lab import plots
from tinydtl.networks import gossip, topology
from tinydtl.runtime import processes

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------- partitions
labels = st.lists(st.integers(0, 5), min_size=1, max_size=150).map(np.array)


def _cover(parts, n, exactly=True):
    allidx = np.concatenate(parts)
    assert len(allidx) == len(np.unique(allidx)), "a sample is used twice"
    assert allidx.min() >= 0 and allidx.max() < n
    if exactly:
        assert len(allidx) == n, "a sample is unused"
    assert all(len(p) > 0 for p in parts), "an empty client"
    assert all(np.all(np.diff(p) > 0) for p in parts), "indices sorted"


@FAST
@given(y=labels, data=st.data())
def test_iid_quantity_skew_and_shards_use_every_sample_exactly_once(y, data):
    n = data.draw(st.integers(1, len(y)), label="n_clients")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    _cover(partition.iid(y, n, seed=seed), len(y))
    _cover(partition.quantity_skew(y, n, data.draw(st.floats(0.05, 20)), seed=seed), len(y))
    s = data.draw(st.integers(1, len(y) // n), label="shards_per_client")
    parts = partition.shards(y, n, s, seed=seed)
    _cover(parts, len(y))
    assert max(map(len, parts)) - min(map(len, parts)) <= s


@FAST
@given(y=labels, data=st.data())
def test_dirichlet_uses_every_sample_exactly_once(y, data):
    n = data.draw(st.integers(1, max(1, len(y) // 10)), label="n_clients")
    alpha = data.draw(st.floats(1.0, 100.0), label="alpha")
    try:
        parts = partition.dirichlet(y, n, alpha, seed=data.draw(st.integers(0, 1000)))
    except ValueError as err:  # documented: an impossible-in-practice request says so
        assert "could not give each of" in str(err)
        assume(False)
    _cover(parts, len(y))


@FAST
@pytest.mark.filterwarnings("ignore:classes .* are held by no client")
@given(y=labels, data=st.data())
def test_pathological_exactly_k_classes_each_sample_at_most_once(y, data):
    C = len(np.unique(y))
    n = data.draw(st.integers(1, len(y)), label="n_clients")
    k = data.draw(st.integers(1, C), label="classes_per_client")
    assignment = data.draw(st.sampled_from(partition.ASSIGNMENTS), label="assignment")
    try:
        parts = partition.pathological(y, n, k, seed=data.draw(st.integers(0, 1000)), assignment=assignment)
    except ValueError as err:  # documented: a class held by more clients than it has samples
        assert "clients must hold it" in str(err)
        assume(False)
    held = [set(np.unique(y[p]).tolist()) for p in parts]
    assert all(len(h) == k for h in held)
    every_class_held = set().union(*held) == set(np.unique(y).tolist())
    _cover(parts, len(y), exactly=every_class_held)
    if assignment == "balanced" and n * k >= C:
        assert every_class_held


# ------------------------------------------------------------------------------- mixing matrices
@st.composite
def graphs(draw, min_nodes=1):
    n = draw(st.integers(min_nodes, 25))
    edges = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    G = nx.empty_graph(n)
    G.add_edges_from((u, v) for u, v in edges if u != v)
    return G


def _assert_mixing(W):
    W = sp.csr_matrix(W)
    D = W.toarray()
    assert D.min() >= 0, "negative entry"
    np.testing.assert_allclose(D, D.T, atol=1e-12)
    np.testing.assert_allclose(D.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(D.sum(axis=0), 1.0, atol=1e-12)
    check_mixing_matrix(W)  # and the package's own check agrees


@FAST
@given(G=graphs(), alpha=st.floats(0.01, 1.0))
def test_every_mixing_builder_is_symmetric_doubly_stochastic_nonnegative(G, alpha):
    builders = [gossip.metropolis_weights(G), gossip.max_degree_weights(G), gossip.lazy(gossip.metropolis_weights(G), alpha)]
    if all(d > 0 for _, d in G.degree()) and G.number_of_nodes() > 1:
        builders.append(gossip.pairwise_expected_matrix(G))
    for W in builders:
        _assert_mixing(W)
        gap = gossip.spectral_gap(W)
        assert 0.0 <= gap <= 1.0
        assert gossip.slem(W) == pytest.approx(1 - gap)


@FAST
@given(n=st.integers(2, 60), radius=st.floats(0.05, 1.5), seed=st.integers(0, 10**6))
def test_geometric_graphs_give_valid_mixing_matrices(n, radius, seed):
    G = topology.random_geometric(n, radius, seed=seed)
    W = gossip.metropolis_weights(G)
    _assert_mixing(W)
    gap = gossip.spectral_gap(W)
    assert 0.0 <= gap <= 1.0
    assert (gap == 0.0) == (len(topology.components(G)) > 1)


# ----------------------------------------------------------------------------------- aggregators
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def stacks(draw):
    m = draw(st.integers(1, 12))
    d = draw(st.integers(1, 5))
    U = draw(arrays(np.float64, (m, d), elements=finite))
    perm = np.array(draw(st.permutations(range(m))))
    return U, perm


@FAST
@given(stack=stacks(), weights=st.data())
def test_weighted_mean_is_permutation_invariant(stack, weights):
    U, perm = stack
    w = np.array(weights.draw(st.lists(st.floats(0, 100), min_size=len(U), max_size=len(U))))
    assume(w.sum() > 1e-3)
    a, b = robust.weighted_mean(U, w), robust.weighted_mean(U[perm], w[perm])
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * (1 + np.abs(U).max()))
    slack = 1e-9 * (1 + np.abs(U).max())
    assert np.all(a >= U.min(axis=0) - slack) and np.all(a <= U.max(axis=0) + slack)


@FAST
@given(stack=stacks(), trim=st.floats(0.0, 0.49))
def test_median_and_trimmed_mean_are_permutation_invariant(stack, trim):
    U, perm = stack
    np.testing.assert_array_equal(robust.coordinate_median(U), robust.coordinate_median(U[perm]))
    k = robust.trimmed_count(len(U), trim)
    if trim > 0 and k == 0:
        with pytest.raises(ValueError, match="trims nothing|= 0 of"):
            robust.trimmed_mean(U, trim=trim)
        return
    assert 2 * k < len(U)  # never everything
    a = robust.trimmed_mean(U, trim=trim)
    np.testing.assert_array_equal(a, robust.trimmed_mean(U[perm], trim=trim))
    slack = 1e-12 * np.abs(U).max()  # the mean of equal values may round by an ulp
    assert np.all(a >= U.min(axis=0) - slack) and np.all(a <= U.max(axis=0) + slack)


# ---------------------------------------------------------------------------------- compression
updates = arrays(np.float32, st.integers(1, 20), elements=st.floats(-100, 100, width=32))


@settings(max_examples=30, deadline=None)
@given(x=updates, bits=st.integers(1, 8), seed=st.integers(0, 10**6))
def test_quantization_is_unbiased_and_lands_on_levels(x, bits, seed):
    R = 4000  # independent roundings of each entry, in one call (the range is unchanged by tiling)
    q, nbytes = compression.quantize(np.tile(x, R), bits, rng=seed)
    assert nbytes == 8 + math.ceil(R * x.size * bits / 8)
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        assert np.all(q == x[0])
        return
    step = (hi - lo) / (2**bits - 1)
    slack = 1e-5 * max(1.0, float(np.abs(x).max()))  # float32 arithmetic
    assert q.min() >= lo - slack and q.max() <= hi + slack
    j = (q.astype(np.float64) - lo) / step
    np.testing.assert_allclose(j, np.round(j), atol=slack / step + 1e-3)  # on a level
    assert np.all(np.abs(q.reshape(R, -1) - x) <= step + slack)  # a neighbouring level
    mean = q.reshape(R, -1).astype(np.float64).mean(axis=0)
    # the mean of R roundings: std <= step / (2 sqrt R); 6 standard deviations
    np.testing.assert_allclose(mean, x, atol=6 * step / (2 * math.sqrt(R)) + slack)


@FAST
@given(x=updates, data=st.data())
def test_bytes_are_never_negative_and_as_documented(x, data):
    k = data.draw(st.integers(1, x.size))
    out, nbytes = compression.top_k(x, k)
    assert nbytes == 8 * k >= 0 and np.count_nonzero(out) <= k
    spec = data.draw(st.sampled_from(["none", "q1", "q2", "q4", "q8", "q16", "top0.1", "top0.5", "top1"]))
    ef = spec != "none" and data.draw(st.booleans())
    comp = compression.Compressor(spec, error_feedback=ef, seed=data.draw(st.integers(0, 100)))
    for client in range(3):
        sent, nbytes = comp(x, client)
        assert nbytes >= 0 and sent.shape == x.shape
        if spec == "none":
            assert nbytes == 4 * x.size
    sent, nbytes = compression.ErrorFeedback(lambda v: compression.quantize(v, 2, rng=0))(x)
    assert nbytes >= 0


# ---------------------------------------------------------------------------- bad input, one table
RING = topology.ring(5)
W5 = gossip.metropolis_weights(RING)
Y = np.arange(30) % 3
U = np.ones((4, 2))

BAD_INPUT = [
    # (function, args, kwargs, exception, message fragment)
    (topology.place_devices, (0,), {}, ValueError, "n must be an integer >= 1"),
    (topology.place_devices, (5,), {"side": -1.0}, ValueError, "side must be a finite number > 0"),
    (topology.place_devices, (5,), {"seed": "7"}, TypeError, "seed must be an integer >= 0"),
    (topology.random_geometric, (5, float("nan")), {}, ValueError, "radius must be a finite number > 0"),
    (topology.random_geometric, (5, True), {}, ValueError, "radius must be a finite number > 0"),
    (topology.random_geometric, (5, 0.3), {"positions": np.zeros((4, 2))}, ValueError, "positions has 4 rows but n=5"),
    (topology.geometric_adjacency, (np.zeros(5), 0.3), {}, ValueError, "positions must be an (n, dim) array"),
    (topology.geometric_adjacency, ([[0.0, np.inf]], 0.3), {}, ValueError, "positions must contain only finite"),
    (topology.ring, (2,), {}, ValueError, "n must be an integer >= 3"),
    (topology.grid, (3, 0), {}, ValueError, "cols must be an integer >= 1"),
    (topology.small_world, (10, 4, 1.5), {}, ValueError, "p must be a number in [0, 1]"),
    (topology.small_world, (10, 4, 0.1), {"seed": 0.5}, TypeError, "seed must be an integer >= 0"),
    (topology.components, ("graph",), {}, TypeError, "G must be an undirected networkx graph"),
    (gossip.adjacency, ([[0, 1], [1, 0]],), {}, TypeError, "expected a networkx graph or a scipy.sparse matrix"),
    (gossip.spectral_gap, (np.array([[-0.25, 1.25], [1.25, -0.25]]),), {}, ValueError, "W must have non-negative entries"),
    (gossip.slem, (np.array([[0.6, 0.5], [0.5, 0.6]]),), {}, ValueError, "W must be doubly stochastic"),
    (gossip.lazy, (W5,), {"alpha": 1.5}, ValueError, "alpha must be a number in (0, 1]"),
    (gossip.consensus_errors, (W5, np.zeros(5), -1), {}, ValueError, "rounds must be an integer >= 0"),
    (gossip.consensus_errors, (W5, np.zeros(3), 2), {}, ValueError, "x0 must have one row per device (5)"),
    (gossip.pairwise_gossip_errors, (RING, np.zeros(3), 2), {}, ValueError, "x0 must have one row per device (5)"),
    (gossip.pairwise_gossip_errors, (RING, np.zeros(5), 2.5), {}, ValueError, "rounds must be an integer >= 0"),
    (gossip.pairwise_gossip_errors, (RING, np.zeros(5), 2), {"seed": None}, TypeError, "seed must be an integer >= 0"),
    (gossip.pairwise_expected_matrix, (nx.empty_graph(3),), {}, ValueError, "at least one neighbour"),
    (gossip.predicted_rounds, (1.5, 0.1), {}, ValueError, "gap must be a number in [0, 1]"),
    (gossip.predicted_rounds, (0.5, 0.0), {}, ValueError, "eps must be in (0, 1)"),
    (gossip.measured_rounds, ([[1.0, 0.5]], 0.1), {}, ValueError, "errors must be a 1-D curve"),
    (partition.iid, (Y, 0), {}, ValueError, "n_clients must be an integer >= 1"),
    (partition.iid, (Y, 3), {"seed": -1}, ValueError, "seed must be an integer >= 0, got -1"),
    (partition.dirichlet, (Y, 3, 1.0), {"max_tries": 0}, ValueError, "max_tries must be an integer >= 1"),
    (partition.dirichlet, (Y, 3, 1.0), {"min_size": True}, ValueError, "min_size must be an integer in [1, 10]"),
    (partition.shards, (Y, 3), {"shards_per_client": 11}, ValueError, "shards_per_client must be an integer in [1, 10]"),
    (partition.pathological, (Y, 3), {"classes_per_client": 4}, ValueError, "classes_per_client must be an integer in [1, 3]"),
    (partition.pathological, (Y, 3, 2), {"assignment": "any"}, ValueError, "assignment must be one of"),
    (partition.quantity_skew, (Y, 3), {"alpha": -1.0}, ValueError, "alpha must be a finite number > 0"),
    (partition.summary, ([np.array([0, 30])], Y), {}, ValueError, "parts[0] has indices outside [0, 29]"),
    (robust.weighted_mean, (U, [1, 1, np.nan, 1]), {}, ValueError, "weights must be finite and >= 0"),
    (robust.weighted_mean, (U, [0, 0, 0, 0]), {}, ValueError, "with a positive sum"),
    (robust.weighted_mean, (np.ones(4),), {}, ValueError, "updates must be a non-empty stack"),
    (robust.weighted_mean, ([["a", "b"]],), {}, TypeError, "updates must be a stack of equally shaped numeric arrays"),
    (robust.trimmed_mean, (U,), {"trim": 0.2}, ValueError, "trim=0.2 trims floor(0.2·4) = 0 of 4 updates per side"),
    (robust.trimmed_mean, (U,), {"trim": -0.1}, ValueError, "trim must be in [0, 0.5)"),
    (robust.coordinate_median, (U, [1, 1]), {}, ValueError, "weights must be 4 numbers"),
    (robust.aggregate, (U,), {"method": "max"}, ValueError, "method must be one of"),
    (compression.quantize, (np.ones(3), 17), {}, ValueError, "bits must be an integer in [1, 16]"),
    (compression.quantize, (np.ones(3), 2), {"rng": "0"}, TypeError, "rng must be an integer >= 0, a numpy.random.Generator or None"),
    (compression.top_k, (np.ones(3), 0), {}, ValueError, "k must be an integer in [1, 3]"),
    (compression.Compressor, ("top0",), {}, ValueError, "fraction in (0, 1]"),
    (compression.Compressor, ("q8",), {"seed": 1.0}, TypeError, "seed must be an integer >= 0"),
    (processes.descendants, (0,), {}, ValueError, "root must be a process id"),
    (processes.terminate, ([0],), {}, ValueError, "pids must be process ids > 1"),  # kill(0) = own process group
    (processes.terminate, ([-1],), {}, ValueError, "pids must be process ids > 1"),  # kill(-1) = everything
    (processes.terminate, ([12345],), {"grace": float("inf")}, ValueError, "grace must be a finite number"),
    (processes.find_processes, ("",), {}, ValueError, "name must be a non-empty executable name"),
    (datasets.make_sphere, (10,), {"seed": "0"}, TypeError, "seed must be an integer >= 0"),
    (datasets.make_sphere, (10,), {"seed": None}, TypeError, "seed must be an integer >= 0"),
    (datasets.make_sphere, (10,), {"noise": "a"}, ValueError, "noise must be in [0, 0.5]"),
    (datasets.make_sphere, (10,), {"radius": "1"}, ValueError, "radius must be a finite number > 0"),
    (datasets.sphere_box_halfwidth, (0,), {}, ValueError, "dim must be an integer >= 1"),
    (datasets.sphere_box_halfwidth, (3, -1.0), {}, ValueError, "radius must be a number in (0"),
    (plots.plot_points_3d, (np.zeros((5, 2)), np.zeros(5)), {}, ValueError, "X must be an (n, 3) array"),
    (plots.plot_points_3d, (np.zeros((5, 3)), np.zeros(4)), {}, ValueError, "y must have one label per point"),
    (as_rng, ("seed", "x"), {}, TypeError, "seed must be an integer >= 0"),
    (check_mixing_matrix, (np.eye(2) * 0.5,), {}, ValueError, f"within {MIXING_TOL:g}"),
]


@pytest.mark.parametrize(
    "func, args, kwargs, exc, fragment",
    BAD_INPUT,
    ids=[f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}-{i}" for i, (f, *_rest) in enumerate(BAD_INPUT)],
)
def test_bad_input_is_refused_with_a_named_reason(func, args, kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        func(*args, **kwargs)
    assert fragment in str(info.value)
