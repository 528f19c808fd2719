"""Lesson 04's exercise checks (tinydtl.lab.exercises.l04_gossip): the reference solutions pass, the stub and the
common wrong answers get their own messages, malformed answers get feedback, the package's implementation is refused."""

import math

import networkx as nx
import numpy as np
import pytest

from tinydtl.lab.exercises.l04_gossip import check_best_constant_weights, check_ring_gap, check_ring_rounds, check_contraction
from tinydtl.networks.gossip import max_degree_weights, metropolis_weights, predicted_rounds, slem, spectral_gap
from tinydtl.networks.topology import ring


def stub(*args):
    raise NotImplementedError


def ring_gap(n):
    """Metropolis ring: W = I − L/3, L's eigenvalues 2 − 2cos(2πk/n); |λ₂| at k = 1 for every n >= 3."""
    return 1 - (1 + 2 * math.cos(2 * math.pi / n)) / 3


@pytest.mark.parametrize("n", [3, 4, 5, 12, 24, 48, 101, 1000])
def test_ring_gap_closed_form_matches_the_package(n):
    """The closed form exercise 1 asks for is the package's eigenvalue (dense up to DENSE_LIMIT, Lanczos beyond),
    and 4π²/(3n²) is its large-n limit."""
    from tinydtl.lab.lessons.l04_gossip import ring_gap_closed_form

    assert spectral_gap(metropolis_weights(ring(n))) == pytest.approx(ring_gap(n), rel=1e-5, abs=1e-12)
    assert ring_gap_closed_form(n) == pytest.approx(ring_gap(n), rel=1e-12, abs=1e-15)
    if n >= 100:
        assert ring_gap(n) == pytest.approx(4 * np.pi ** 2 / (3 * n ** 2), rel=1e-3)


def test_ex1a_reference_passes_and_stub_gets_a_hint():
    assert check_ring_gap(ring_gap).passed
    fb = check_ring_gap(stub)
    assert not fb.passed and "not implemented" in str(fb)


@pytest.mark.parametrize("mistake, message", [
    (lambda n: 1 - ring_gap(n), "the gap is 1 − |λ₂|"),  # |λ₂| itself
    (lambda n: 4 / 3 if n % 2 == 0 else 1 - min((1 + 2 * math.cos(2 * math.pi * k / n)) / 3 for k in range(n)),
     "1 − λ_n"),
    (lambda n: 3 * ring_gap(n), "Laplacian"),  # 2 − 2cos(2π/n)
    (lambda n: 4 * np.pi ** 2 / (3 * n ** 2), "large-n approximation"),
    (lambda n: 1 - (1 + 2 * np.cos(2 * np.pi / n * np.pi / 180)) / 3, "radians"),
    (lambda n: ring_gap(n) * 1.01, "is not the ring's gap"),
])
def test_ex1a_names_each_common_mistake(mistake, message):
    fb = check_ring_gap(mistake)
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", ["0.09", [0.089], None, math.nan, True, {12: 0.089}])
def test_ex1a_malformed_answers_get_feedback_not_a_traceback(answer):
    fb = check_ring_gap(lambda n: answer)
    assert not fb.passed and "must be" in str(fb), str(fb)


def test_ex1a_refuses_the_package():
    fb = check_ring_gap(lambda n: spectral_gap(metropolis_weights(ring(n))))
    assert not fb.passed and "tinydtl's own" in str(fb)
    assert spectral_gap(metropolis_weights(ring(12))) == pytest.approx(ring_gap(12))  # restored afterwards


def ring_rounds(n, eps):
    return math.ceil(math.log(1 / eps) / math.log(1 / (1 - ring_gap(n))) - 1e-9) if n > 3 else 1


def test_ex1b_reference_passes_wrong_roundings_are_named_package_refused():
    assert check_ring_rounds(ring_rounds).passed
    assert "not implemented" in str(check_ring_rounds(stub))
    fractional = check_ring_rounds(lambda n, eps: math.log(1 / eps) / math.log(1 / (1 - ring_gap(n))) if n > 3 else 1.0)
    assert "round the bound up" in str(fractional)
    small_gap = check_ring_rounds(lambda n, eps: math.ceil(math.log(1 / eps) / ring_gap(n)))
    assert "approximation for small gaps" in str(small_gap)
    refused = check_ring_rounds(lambda n, eps: predicted_rounds(ring_gap(n), eps, whole=True))
    assert "tinydtl's own" in str(refused)
    assert not check_ring_rounds(lambda n, eps: "many").passed


def my_contraction(W):
    n = W.shape[0]
    return np.linalg.norm(W - np.full((n, n), 1 / n), 2)


def test_ex2_reference_passes_and_mistakes_are_named():
    assert check_contraction(my_contraction).passed
    assert "not implemented" in str(check_contraction(stub))
    second_singular = check_contraction(lambda W: np.linalg.svd(W, compute_uv=False)[1])  # equal for doubly stochastic W
    assert second_singular.passed
    eig_modulus = check_contraction(lambda W: np.sort(np.abs(np.linalg.eigvals(W)))[-2])
    assert "do not bound a single round" in str(eig_modulus)
    assert "with its sign" in str(check_contraction(lambda W: np.sort(np.linalg.eigvals(W).real)[-2]))
    assert "always 1" in str(check_contraction(lambda W: np.linalg.norm(W, 2)))
    assert "Frobenius" in str(check_contraction(lambda W: np.linalg.norm(W - 1 / W.shape[0])))
    assert "a gap" in str(check_contraction(lambda W: 1 - my_contraction(W)))
    assert "tinydtl's own" in str(check_contraction(lambda W: slem(W)))
    assert not check_contraction(lambda W: [0.5]).passed


def my_best_constant_weights(G):
    A = nx.to_numpy_array(G, nodelist=range(G.number_of_nodes()))
    L = np.diag(A.sum(axis=1)) - A
    mu = np.linalg.eigvalsh(L)
    return np.eye(len(A)) - 2 / (mu[1] + mu[-1]) * L


def laplacian(G):
    A = nx.to_numpy_array(G, nodelist=range(G.number_of_nodes()))
    return A, np.diag(A.sum(axis=1)) - A


def test_ex3_reference_passes_and_mistakes_are_named():
    assert check_best_constant_weights(my_best_constant_weights).passed
    assert "not implemented" in str(check_best_constant_weights(stub))

    def no_diagonal(G):
        A, L = laplacian(G)
        mu = np.linalg.eigvalsh(L)
        return 2 / (mu[1] + mu[-1]) * A

    def max_degree(G):
        A, L = laplacian(G)
        return np.eye(len(A)) - L / (A.sum(axis=1).max() + 1)

    def two_over_max(G):
        A, L = laplacian(G)
        return np.eye(len(A)) - 2 / np.linalg.eigvalsh(L)[-1] * L

    assert "diagonal is missing" in str(check_best_constant_weights(no_diagonal))
    assert "max-degree" in str(check_best_constant_weights(max_degree))
    assert "no convergence" in str(check_best_constant_weights(two_over_max))
    assert "tinydtl's own" in str(check_best_constant_weights(lambda G: max_degree_weights(G)))
    assert "tinydtl's own" in str(check_best_constant_weights(lambda G: metropolis_weights(G)))
    assert "one row and column per device" in str(check_best_constant_weights(lambda G: np.eye(2)))
    assert not check_best_constant_weights(lambda G: "W").passed


def smallest_range(ranges, gaps, eps, max_rounds):
    for r, g in zip(ranges, gaps):
        if g > 0 and math.ceil(math.log(1 / eps) / math.log(1 / (1 - g)) - 1e-9) <= max_rounds:
            return r
    return None


def test_ex5_reference_passes_and_mistakes_are_named():
    from tinydtl.lab.exercises.l04_gossip import check_smallest_range

    assert check_smallest_range(smallest_range).passed
    assert "not implemented" in str(check_smallest_range(stub))

    def approx(ranges, gaps, eps, m):
        return next((r for r, g in zip(ranges, gaps) if g > 0 and math.log(1 / eps) / g <= m), None)

    def floor(ranges, gaps, eps, m):
        return next((r for r, g in zip(ranges, gaps) if g > 0 and math.floor(math.log(1 / eps) / math.log(1 / (1 - g))) <= m),
                    None)

    def largest(ranges, gaps, eps, m):
        ok = [r for r, g in zip(ranges, gaps) if g > 0 and math.log(1 / eps) / math.log(1 / (1 - g)) <= m]
        return ok[-1] if ok else None

    assert "overestimates" in str(check_smallest_range(approx))
    assert "rounding the bound down" in str(check_smallest_range(floor))
    assert "largest range" in str(check_smallest_range(largest))
    assert "return None" in str(check_smallest_range(lambda r, g, e, m: smallest_range(r, g, e, m) or r[-1]))
    assert "not one of the ranges" in str(check_smallest_range(lambda r, g, e, m: 2))
    assert not check_smallest_range(lambda r, g, e, m: "0.3").passed
