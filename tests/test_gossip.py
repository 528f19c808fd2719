import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from tinydtl.networks import gossip
from tinydtl.networks.gossip import (
    algebraic_connectivity,
    consensus_errors,
    lazy,
    max_degree_weights,
    measured_rounds,
    metropolis_weights,
    pairwise_expected_matrix,
    pairwise_gossip_errors,
    predicted_rounds,
    slem,
    spectral_gap,
)
from tinydtl.networks.topology import (
    DisconnectedGraphError,
    complete,
    components,
    geometric_adjacency,
    grid,
    line,
    place_devices,
    random_geometric,
    require_connected,
    ring,
    small_world,
    star,
)


@pytest.mark.parametrize("n", [3, 8, 25, 100])
def test_ring_closed_form(n):
    # Metropolis on a ring: W = I - L/3, eigenvalues (1 + 2 cos(2 pi k / n)) / 3
    lam = [(1 + 2 * np.cos(2 * np.pi * k / n)) / 3 for k in range(1, n)]
    assert spectral_gap(metropolis_weights(ring(n))) == pytest.approx(1 - max(map(abs, lam)), abs=1e-9)
    assert algebraic_connectivity(ring(n)) == pytest.approx(2 - 2 * np.cos(2 * np.pi / n), abs=1e-9)


@pytest.mark.parametrize("n", [2, 9, 40])
def test_path_closed_form(n):
    # all edges have max degree 2 (or 1 for n=2) -> W = I - L/(1+dmax); path Laplacian: 2 - 2 cos(pi k / n)
    dmax = 1 if n == 2 else 2
    lam = [1 - (2 - 2 * np.cos(np.pi * k / n)) / (1 + dmax) for k in range(1, n)]
    assert spectral_gap(metropolis_weights(line(n))) == pytest.approx(1 - max(map(abs, lam)), abs=1e-9)
    assert algebraic_connectivity(line(n)) == pytest.approx(2 - 2 * np.cos(np.pi / n), abs=1e-9)


@pytest.mark.parametrize("n", [2, 5, 30])
def test_complete_graph_averages_in_one_step(n):
    W = metropolis_weights(complete(n))
    np.testing.assert_allclose(W.toarray(), np.full((n, n), 1 / n), atol=1e-12)
    assert spectral_gap(W) == pytest.approx(1.0, abs=1e-9)
    assert algebraic_connectivity(complete(n)) == pytest.approx(n, abs=1e-9)


@pytest.mark.parametrize("make", [lambda: ring(10), lambda: star(9), lambda: grid(4, 5),
                                  lambda: random_geometric(200, 0.15, seed=2), lambda: small_world(30, 4, 0.2)])
def test_weights_are_symmetric_doubly_stochastic(make):
    G = make()
    for W in (metropolis_weights(G), max_degree_weights(G), lazy(metropolis_weights(G))):
        assert sp.issparse(W)
        np.testing.assert_allclose(W.toarray(), W.toarray().T)
        np.testing.assert_allclose(np.asarray(W.sum(axis=1)).ravel(), 1.0)
        assert W.min() >= 0


def test_consensus_decays_at_the_rate_the_gap_predicts():
    G = random_geometric(300, 0.12, seed=0)
    require_connected(G)
    W = metropolis_weights(G)
    rate = slem(W)
    errs = consensus_errors(W, np.random.default_rng(1).standard_normal(300), 400)
    # the bound holds every round
    assert np.all(errs <= rate ** np.arange(401) * (1 + 1e-9))
    # and the measured asymptotic per-round decay matches |lambda_2| within 1 %
    slope = np.polyfit(np.arange(200, 401), np.log(errs[200:]), 1)[0]
    assert np.exp(slope) == pytest.approx(rate, rel=0.01)
    eps = rate**350  # predicted epsilon-averaging time: 350 rounds
    assert predicted_rounds(1 - rate, eps) == pytest.approx(350)
    assert predicted_rounds(1 - rate, eps, whole=True) == 350  # whole rounds: 350.0000000001 is 350, not 351
    assert measured_rounds(errs, eps) <= 350


def test_predicted_rounds_in_whole_rounds():
    """A gossip round is whole: the bound rounded up, one round for exact one-step averaging, never for gap 0."""
    assert predicted_rounds(0.5, 0.01, whole=True) == 7  # log(100) / log(2) = 6.64
    assert predicted_rounds(0.5, 0.25, whole=True) == 2 and isinstance(predicted_rounds(0.5, 0.25, whole=True), int)
    assert predicted_rounds(0.99, 0.5, whole=True) == 1  # 0.15 rounds is still one round
    assert predicted_rounds(1 - 1e-16, 1e-6, whole=True) == 1  # |λ₂| at eigensolver rounding: exact averaging
    assert predicted_rounds(0.0, 1e-3, whole=True) == float("inf")
    with pytest.raises(TypeError, match="whole must be True or False"):
        predicted_rounds(0.5, 0.1, whole=1)


def test_pairwise_gossip_follows_expected_matrix():
    G = ring(40)
    EW = pairwise_expected_matrix(G)
    np.testing.assert_allclose(np.asarray(EW.sum(axis=1)).ravel(), 1.0)
    lam2 = np.sort(np.linalg.eigvalsh(EW.toarray()))[-2]
    errs = np.mean([pairwise_gossip_errors(G, np.random.default_rng(s).standard_normal(40), 60, seed=s) ** 2
                    for s in range(20)], axis=0)
    # Boyd et al.: E||x_k - mean||^2 <= lambda_2(E[W])^k ||x_0 - mean||^2, k = 40 ticks per round
    bound = lam2 ** (40 * np.arange(61))
    assert np.all(errs <= 1.5 * bound + 1e-12)
    assert errs[-1] < 0.2


def test_consensus_preserves_the_average():
    G = small_world(50, 4, 0.3, seed=1)
    x0 = np.random.default_rng(0).random((50, 3))
    W = metropolis_weights(G)
    x = x0.copy()
    for _ in range(30):
        x = W @ x
    np.testing.assert_allclose(x.mean(axis=0), x0.mean(axis=0))


def test_sparse_path_agrees_with_dense(monkeypatch):
    G = random_geometric(2500, 0.05, seed=1)
    W = metropolis_weights(G)
    dense = spectral_gap(W), algebraic_connectivity(G)
    monkeypatch.setattr(gossip, "DENSE_LIMIT", 0)
    sparse = spectral_gap(W), algebraic_connectivity(G)
    assert sparse == pytest.approx(dense, rel=1e-6)


def test_disconnected_graphs_are_reported():
    G = nx.disjoint_union(ring(5), ring(4))
    assert spectral_gap(metropolis_weights(G)) == 0.0
    assert algebraic_connectivity(G) == 0.0
    assert [len(c) for c in components(G)] == [5, 4]
    with pytest.raises(DisconnectedGraphError, match=r"2 connected components \(sizes 5, 4; 0 isolated"):
        require_connected(G)
    A = geometric_adjacency(place_devices(200, seed=0), 0.02)
    with pytest.raises(DisconnectedGraphError, match="isolated devices"):
        require_connected(A)
    assert predicted_rounds(0.0, 1e-3) == float("inf")


def test_geometric_adjacency_matches_networkx():
    pos = place_devices(300, seed=3)
    A = geometric_adjacency(pos, 0.1)
    ref = nx.to_scipy_sparse_array(nx.random_geometric_graph(300, 0.1, pos={i: p for i, p in enumerate(pos)}),
                                   nodelist=range(300))
    assert (A != sp.csr_matrix(ref)).nnz == 0
    G = random_geometric(300, 0.1, seed=3)
    assert G.number_of_edges() == A.nnz // 2 and np.allclose(G.nodes[0]["pos"], pos[0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: random_geometric(10, -0.1), "radius must be a finite number > 0"),
        (lambda: ring(2), "n must be an integer >= 3"),
        (lambda: small_world(10, 12), r"k must be an integer in \[2, 9\]"),
        (lambda: lazy(metropolis_weights(ring(4)), 0), r"alpha must be a number in \(0, 1\]"),
        (lambda: consensus_errors(metropolis_weights(ring(4)), np.zeros(5), 3), "one row per device"),
        (lambda: consensus_errors(sp.identity(3) * 0.5, np.zeros(3), 3), "doubly stochastic"),
        (lambda: predicted_rounds(0.1, 2.0), r"eps must be in \(0, 1\)"),
        (lambda: metropolis_weights(nx.DiGraph([(0, 1)]).to_undirected().__class__(nx.relabel_nodes(ring(3), {0: "a"}))),
         "nodes must be the integers"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# a symmetric matrix whose rows sum to 1 but with negative entries: eigenvalues 1 and -1.5,
# so on main spectral_gap returned 1 - 1.5 = -0.5
NEGATIVE = np.array([[-0.25, 1.25], [1.25, -0.25]])
ROWS_OFF = np.array([[0.6, 0.5], [0.5, 0.6]])  # symmetric, non-negative, rows sum to 1.1


@pytest.mark.parametrize(
    "call",
    [spectral_gap, slem, lambda W: consensus_errors(W, [0.0, 1.0], 3), lambda W: lazy(W, 0.5)],
    ids=["spectral_gap", "slem", "consensus_errors", "lazy"],
)
def test_invalid_mixing_matrices_are_refused_everywhere_they_enter(call):
    with pytest.raises(ValueError, match="W must have non-negative entries"):
        call(NEGATIVE)
    with pytest.raises(ValueError, match=r"W must be doubly stochastic: every row must sum to 1 within 1e-09"):
        call(ROWS_OFF)
    with pytest.raises(ValueError, match="W must be symmetric"):
        call(np.array([[0.5, 0.5], [0.0, 1.0]]))


def test_values_of_the_wrong_length_are_a_value_error():
    with pytest.raises(ValueError, match=r"x0 must have one row per device \(6\)"):
        pairwise_gossip_errors(ring(6), np.zeros(4), 3)  # IndexError deep inside on main
    with pytest.raises(ValueError, match=r"x0 must have one row per device \(6\)"):
        pairwise_gossip_errors(ring(6), np.zeros(9), 3)  # silently ignored the extra values on main
    with pytest.raises(ValueError, match=r"x0 must have one row per device \(4\)"):
        consensus_errors(metropolis_weights(ring(4)), np.zeros((4, 2, 2)), 3)
    with pytest.raises(ValueError, match="x0 must contain only finite numbers"):
        consensus_errors(metropolis_weights(ring(4)), [0.0, np.nan, 1.0, 2.0], 3)
