"""The shared checks in tinydtl.core.validation, and that every seeded function in gossip, topology,
partition and compression goes through them (same seed, same numbers; bad seeds named)."""

import numpy as np
import pytest
import scipy.sparse as sp

from tinydtl.core import compression
from tinydtl.core.validation import MIXING_TOL, as_rng, check_mixing_matrix, check_seed
from tinydtl.data import partition
from tinydtl.networks import gossip, topology

Y = np.arange(40) % 4

# every public function of these modules that takes a seed, called with a given seed
SEEDED = {
    "topology.place_devices": lambda s: topology.place_devices(10, seed=s),
    "topology.random_geometric": lambda s: topology.random_geometric(10, 0.5, seed=s),
    "topology.small_world": lambda s: topology.small_world(10, 4, 0.3, seed=s),
    "gossip.pairwise_gossip_errors": lambda s: gossip.pairwise_gossip_errors(topology.ring(6), np.arange(6.0), 2, seed=s),
    "partition.iid": lambda s: partition.iid(Y, 4, seed=s),
    "partition.dirichlet": lambda s: partition.dirichlet(Y, 4, 1.0, seed=s),
    "partition.shards": lambda s: partition.shards(Y, 4, 2, seed=s),
    "partition.quantity_skew": lambda s: partition.quantity_skew(Y, 4, seed=s),
    "compression.Compressor": lambda s: compression.Compressor("q2", seed=s)(np.linspace(-1, 1, 20))[0],
    "compression.quantize": lambda s: compression.quantize(np.linspace(-1, 1, 20), 2, rng=s)[0],
}
if hasattr(partition, "pathological"):
    SEEDED["partition.pathological"] = lambda s: partition.pathological(Y, 4, 2, seed=s)


def _same(a, b):
    if isinstance(a, list):
        return all(_same(p, q) for p, q in zip(a, b))
    if hasattr(a, "nodes"):
        return sorted(a.edges) == sorted(b.edges)
    return np.array_equal(a, b)


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_same_seed_same_numbers_and_a_generator_is_accepted(name):
    call = SEEDED[name]
    assert _same(call(7), call(7))
    assert _same(call(np.int64(7)), call(7))
    assert _same(call(np.random.default_rng(7)), call(np.random.default_rng(7)))


@pytest.mark.parametrize("name", sorted(SEEDED))
@pytest.mark.parametrize("bad", ["0", 1.5, True, np.random.RandomState(0)])
def test_bad_seed_types_are_a_type_error_naming_the_parameter(name, bad):
    param = "rng" if name == "compression.quantize" else "seed"
    with pytest.raises(TypeError, match=rf"{param} must be an integer >= 0"):
        SEEDED[name](bad)


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_negative_seed_is_a_value_error(name):
    with pytest.raises(ValueError, match=r"must be an integer >= 0, got -1"):
        SEEDED[name](-1)


@pytest.mark.parametrize("name", sorted(set(SEEDED) - {"compression.quantize"}))
def test_none_is_refused_where_not_documented(name):
    with pytest.raises(TypeError, match="got None"):
        SEEDED[name](None)


def test_none_means_fresh_entropy_where_documented():
    # quantize(rng=None) is documented as fresh entropy: valid, and (almost surely) different draws
    x = np.linspace(-1, 1, 1000)
    assert not np.array_equal(compression.quantize(x, 1)[0], compression.quantize(x, 1)[0])
    assert check_seed("seed", None, allow_none=True) is None


def test_check_seed_and_as_rng():
    g = np.random.default_rng(3)
    assert as_rng("seed", g) is g
    assert check_seed("seed", np.uint8(4)) == 4
    assert as_rng("seed", 5).random() == np.random.default_rng(5).random()
    with pytest.raises(TypeError, match="my_seed must be an integer >= 0"):
        check_seed("my_seed", "5")
    with pytest.raises(TypeError, match="my_seed"):
        check_seed("my_seed", np.bool_(True))


@pytest.mark.parametrize(
    "W, match",
    [
        (np.array([[-0.25, 1.25], [1.25, -0.25]]), "non-negative entries"),
        (np.array([[0.5, 0.4], [0.4, 0.5]]), r"doubly stochastic: every row must sum to 1 within 1e-09"),
        (np.array([[0.5, 0.5], [0.3, 0.7]]), "symmetric"),
        (np.array([[np.nan, 0.5], [0.5, 0.5]]), "finite"),
        (np.ones((2, 3)) / 3, "square"),
        (np.ones(3), "square 2-D"),
    ],
)
def test_mixing_matrix_check(W, match):
    with pytest.raises(ValueError, match=match):
        check_mixing_matrix(W)


def test_mixing_matrix_tolerance_is_as_stated():
    W = np.full((3, 3), 1 / 3)
    W[0, 0] += 0.5 * MIXING_TOL  # within tolerance: accepted, returned as CSR
    assert sp.isspmatrix_csr(check_mixing_matrix(W))
    W[0, 0] += 2 * MIXING_TOL
    with pytest.raises(ValueError, match="row sums deviate"):
        check_mixing_matrix(W)
    R = np.array([[0.5, 0.5], [0.2, 0.8]])  # row stochastic, not symmetric
    assert check_mixing_matrix(R, symmetric=False).shape == (2, 2)
