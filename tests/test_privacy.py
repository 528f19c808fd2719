"""tinydtl.privacy: the accountant against published values, the attack, DP-FedAvg, secure aggregation.

Bands are fixed here before running and say why; the TFF parity checks are in test_privacy_tff.py.
"""

import math

import numpy as np
import pytest

from tinydtl.algorithms.fedavg import initial_weights, run_fedavg
from tinydtl.core.plans import plan_round
from tinydtl.core.traffic import payload_bytes
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import iid
from tinydtl.learners.softmax import preprocess
from tinydtl.privacy import (
    DPAggregator,
    DPConfig,
    class_reconstructions,
    client_cost,
    clients_per_round_for,
    clip_updates,
    cosine_similarity,
    distributed_dp_sum,
    dp_sgd_epsilon,
    epsilon,
    epsilon_per_round,
    invert_softmax_gradient,
    invert_softmax_update,
    neighbour_graph,
    noise_multiplier_for,
    quantize,
    secure_aggregate,
    softmax_gradient,
)
from tinydtl.privacy import shamir
from tinydtl.privacy.crypto import prg_uint32


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


# --------------------------------------------------------------------------- accounting
def test_dp_sgd_epsilon_is_tensorflow_privacys_published_case():
    """compute_dp_sgd_privacy_test.py: n=60,000, batch 150, z=1.3, 15 epochs, δ=1e-5 -> ε = 0.7242234026109595."""
    assert dp_sgd_epsilon(60000, 150, 1.3, 15, 1e-5) == pytest.approx(0.7242234026109595, abs=1e-9)
    assert dp_sgd_epsilon(100000, 100, 1.0, 30, 1e-7) == pytest.approx(1.4154988495444845, abs=1e-6)  # Test1


def test_tff_tutorials_final_configuration_is_2_1e5_dp():
    """The TFF tutorial: 'To get (2, 1e-05)-DP, use 120 clients with noise multiplier 1.2' (3,383 clients, 100 rounds)."""
    eps = epsilon(1.2, 120 / 3383, 100, 1e-5)
    assert 1.9 <= eps <= 2.0  # band: the tutorial's search stops at the first ε below 2 (119 clients give 2.004)
    assert clients_per_round_for(2.0, 1e-5, 3383, 100) == 120
    assert epsilon(1.19, 119 / 3383, 100, 1e-5) > 2.0
    assert epsilon(1.2, 120 / 3383, 100, 1e-5, "pld") < eps  # PLD is tighter than RDP


def test_epsilon_curve_and_inverse():
    curve = epsilon_per_round(1.0, 0.05, 30, 1e-5)
    assert np.all(np.diff(curve) > 0)
    for t in (1, 7, 30):
        assert curve[t - 1] == pytest.approx(epsilon(1.0, 0.05, t, 1e-5), rel=1e-12)
    z = noise_multiplier_for(2.0, 1e-5, 120 / 3383, 100)
    assert epsilon(z, 120 / 3383, 100, 1e-5) <= 2.0 + 1e-3 and epsilon(0.98 * z, 120 / 3383, 100, 1e-5) > 2.0
    assert math.isinf(epsilon(0.0, 0.1, 10, 1e-5))


def test_fixed_size_sampling_is_replace_one_with_half_the_multiplier():
    # sampling without replacement: RDP under replace-one, sensitivity 2C (event z/2); PLD cannot
    assert epsilon(1.2, 120 / 3383, 100, 1e-5, sampling="fixed", population=3383) == pytest.approx(14.094, abs=1e-3)
    with pytest.raises(ValueError, match="PLD accountant"):
        epsilon(1.2, 120 / 3383, 100, 1e-5, "pld", sampling="fixed", population=3383)
    # every client every round: no amplification, plain composition
    assert epsilon(1.2, 1.0, 100, 1e-5) == pytest.approx(72.97959602875132, rel=1e-9)


# --------------------------------------------------------------------------- the attack
def test_one_sample_gradient_gives_the_image_to_float32_precision(mnist):
    (x, y), _ = mnist
    W, b = initial_weights(seed=0)
    X = preprocess(x[:20])
    for k in range(20):
        gW, gb = softmax_gradient(W, b, X[k], y[k])
        np.testing.assert_allclose(invert_softmax_gradient(gW, gb), X[k], rtol=0, atol=1e-6)


def test_one_step_update_of_the_package_gives_the_image(mnist):
    """What the server receives from run_fedavg (one client, one sample, one step) reveals the digit."""
    (x, y), _ = mnist
    W, b = initial_weights(seed=0)
    h = run_fedavg(x[:1], y[:1], [np.arange(1)], rounds=1, batch_size=1, client_lr=0.1, seed=0, n_classes=10)
    update = np.concatenate([(h.weights[0] - W).ravel(), h.weights[1] - b])
    np.testing.assert_allclose(invert_softmax_update(update, 784, 10), preprocess(x[:1])[0], atol=1e-5)


def test_a_minibatch_of_distinct_labels_still_shows_each_digit(mnist):
    (x, y), _ = mnist
    W, b = initial_weights(seed=0)
    idx = np.array([np.flatnonzero(y == c)[0] for c in range(10)])
    X = preprocess(x[idx])
    S = cosine_similarity(class_reconstructions(softmax_gradient(W, b, X, y[idx])[0]), X)
    assert np.all(np.argmax(S, axis=1) == np.arange(10))  # each class's row is closest to that class's image


def test_a_secagg_total_of_100_clients_resembles_no_client(mnist):
    """Bound fixed before the run: a single client's reconstruction has cosine 1.0 with its image;
    from the sum of 100 clients' updates no image gets more than 0.9 (the average digit's closeness)."""
    (x, y), _ = mnist
    W, b = initial_weights(seed=0)
    X = preprocess(x[:100])
    ups = np.array([-0.1 * np.concatenate([g.ravel() for g in softmax_gradient(W, b, X[k], y[k])]) for k in range(100)])
    single = cosine_similarity(invert_softmax_update(ups[0], 784, 10), X[0])[0, 0]
    total = secure_aggregate(ups, threshold=51, clip=1.0, levels=2**20, seed=0).total
    sims = cosine_similarity(invert_softmax_update(total, 784, 10), X)[0]
    assert single > 0.9999 and sims.max() < 0.9


# --------------------------------------------------------------------------- DP-FedAvg
def test_clipping_and_the_fixed_denominator():
    U = np.array([[3.0, 4.0, 0, 0], [0.1, 0, 0, 0], [0, 0.2, 0, 0]], np.float32)
    clipped, norms = clip_updates(U, 1.0)
    np.testing.assert_allclose(norms, [5, 0.1, 0.2], rtol=1e-6)
    np.testing.assert_allclose(clipped[0], [0.6, 0.8, 0, 0], rtol=1e-6)
    agg = DPAggregator(DPConfig(noise_multiplier=0.0, clip=1.0, clients_per_round=3), 10)
    mean, stats = agg.aggregate(U, 0)
    np.testing.assert_allclose(mean, [0.7 / 3, 1.0 / 3, 0, 0], rtol=1e-6)  # TFF's gaussian_fixed gives the same
    assert stats["clipped_fraction"] == pytest.approx(1 / 3) and stats["noise_std"] == 0
    agg = DPAggregator(DPConfig(noise_multiplier=0.0, clip=1.0, sampling_rate=0.5), 10)  # m = 5 expected
    np.testing.assert_allclose(agg.aggregate(U, 0)[0], [0.7 / 5, 1.0 / 5, 0, 0], rtol=1e-6)


def test_noise_std_is_z_clip_over_m():
    """Band fixed before the run: the sample std of 200,000 normals is within 1 % of σ (its relative
    standard error is 1/sqrt(2·200,000) = 0.16 %, so 1 % is six standard errors)."""
    z, C, K = 1.3, 0.5, 10
    agg = DPAggregator(DPConfig(noise_multiplier=z, clip=C, clients_per_round=K), 100, seed=3)
    mean, stats = agg.aggregate(np.zeros((4, 200_000), np.float32), 0)
    assert stats["noise_std"] == pytest.approx(z * C / K)
    assert abs(mean.std() / (z * C / K) - 1) < 0.01
    again, _ = DPAggregator(DPConfig(noise_multiplier=z, clip=C, clients_per_round=K), 100, seed=3).aggregate(
        np.zeros((4, 200_000), np.float32), 0)
    np.testing.assert_array_equal(mean, again)  # derived from (seed, round): a rerun is the same


def test_adaptive_clip_tracks_the_median_norm():
    cfg = DPConfig(noise_multiplier=0.0, clip=0.1, clients_per_round=50, adaptive_quantile=0.5)
    agg = DPAggregator(cfg, 50)
    norms = np.linspace(0.5, 1.5, 50)  # median 1.0
    U = np.zeros((50, 3), np.float32)
    U[:, 0] = norms
    for r in range(80):
        agg.aggregate(U, r)
    assert 0.9 < agg.clip < 1.1
    # with noise, the updates get z_Δ = (z^-2 - (2σ_b)^-2)^-1/2 (TFF: z=1.2, m=120 -> 1.20605)
    cfg = DPConfig(noise_multiplier=1.2, clip=0.1, clients_per_round=120, adaptive_quantile=0.5)
    assert DPAggregator(cfg, 3383).z_value == pytest.approx(1.20605, abs=1e-5)


def test_poisson_sampling_is_seeded_and_leaves_existing_plans_alone():
    parts = [np.arange(i * 3, i * 3 + 3) for i in range(200)]
    a = plan_round(parts, 4, seed=1, sampling_rate=0.1)
    b = plan_round(parts, 4, seed=1, sampling_rate=0.1)
    np.testing.assert_array_equal(a.clients, b.clients)
    sizes = [len(plan_round(parts, r, seed=1, sampling_rate=0.1).clients) for r in range(100)]
    assert 18 < np.mean(sizes) < 22 and np.std(sizes) > 1  # Binomial(200, 0.1): mean 20, sd 4.2
    fixed = plan_round(parts, 4, seed=1, clients_per_round=20)
    assert len(fixed.clients) == 20 and not np.array_equal(fixed.clients, a.clients)


def test_dp_fedavg_history_columns(mnist):
    (x, y), (xt, yt) = mnist
    sub = np.arange(3000)
    parts = iid(y[sub], 60, seed=0)
    dp = DPConfig(noise_multiplier=0.8, clip=0.5, sampling_rate=0.2, delta=1e-4)
    h = run_fedavg(x[sub], y[sub], parts, x_test=xt[:500], y_test=yt[:500], rounds=4, dp=dp, seed=2)
    np.testing.assert_allclose(h.column("epsilon", initial=False), epsilon_per_round(0.8, 0.2, 4, 1e-4))
    assert h.column("epsilon")[0] == 0.0
    assert h.column("noise_std", initial=False) == [0.8 * 0.5 / 12] * 4
    again = run_fedavg(x[sub], y[sub], parts, x_test=xt[:500], y_test=yt[:500], rounds=4, dp=dp, seed=2)
    assert again.column("accuracy") == h.column("accuracy")
    assert h.column("participants", initial=False) != [12] * 4  # Poisson: the count varies


def test_a_poisson_round_without_clients_only_adds_noise(mnist):
    (x, y), _ = mnist
    parts = iid(y[:200], 20, seed=0)
    h = run_fedavg(x[:200], y[:200], parts, rounds=6, sampling_rate=0.02, seed=0, n_classes=10)
    assert 0 in h.column("participants", initial=False)  # this seed draws an empty round
    dp = DPConfig(noise_multiplier=1.0, clip=0.1, sampling_rate=0.02)
    h = run_fedavg(x[:200], y[:200], parts, rounds=6, dp=dp, seed=0, n_classes=10)
    assert np.isnan(h.column("train_loss", initial=False)).any() and np.isfinite(h.weights[0]).all()


# --------------------------------------------------------------------------- secure aggregation
def most_dropouts(graph, t, order):
    """Drop clients in ``order`` while every client keeps >= t surviving holders of its shares
    (itself, if it survives, and its neighbours); for the complete graph that is n - t dropouts."""
    dropped = []
    for u in order:
        trial = set(dropped) | {int(u)}
        if all(len(({v} | set(g.tolist())) - trial) >= t for v, g in enumerate(graph)):
            dropped.append(int(u))
    return tuple(dropped)


@pytest.mark.parametrize("neighbours", [None, 6], ids=["full", "k6"])
@pytest.mark.parametrize("drops", ["none", "one", "most"])
def test_secure_sum_is_exact_bit_for_bit(neighbours, drops):
    """0, 1 and the most dropouts the graph tolerates: n - t for SecAgg; for SecAgg+ every
    neighbourhood must keep t holders, so fewer (found greedily)."""
    n, t, seed = 15, 4, 9
    rng = np.random.default_rng(5)
    U = rng.normal(0, 0.3, size=(n, 257))
    graph = neighbour_graph(n, neighbours, np.random.default_rng([seed, 0, 2]))
    dropped = {"none": (), "one": (6,), "most": most_dropouts(graph, t, rng.permutation(n))}[drops]
    if drops == "most" and neighbours is None:
        assert len(dropped) == n - t
    r = secure_aggregate(U, threshold=t, dropped=dropped, neighbours=neighbours, seed=seed)
    assert [np.array_equal(a, b) for a, b in zip(r.graph, graph)] == [True] * n
    X = quantize(U, 8.0, 2**22, seed)
    survivors = list(r.survivors)
    np.testing.assert_array_equal(r.total_int, X[survivors].sum(axis=0, dtype=np.uint32))
    assert np.abs(r.total - U[survivors].sum(axis=0)).max() < 1e-4  # rounding: at most one level per client
    if drops == "most":
        extra = next(u for u in range(n) if u not in dropped)
        with pytest.raises(ValueError, match="fewer than threshold=4"):
            secure_aggregate(U, threshold=t, dropped=dropped + (extra,), neighbours=neighbours, seed=seed)


def chi_square_uniform(values: np.ndarray, bins: int = 256) -> float:
    """p-value of the chi-square test that the top 8 bits of uint32 values are uniform."""
    from scipy.stats import chisquare

    counts = np.bincount((values >> 24).astype(np.int64), minlength=bins)
    return float(chisquare(counts).pvalue)


def test_a_masked_upload_is_uniform_and_the_server_holds_no_update():
    """Level fixed before the run: α = 0.001 for the chi-square test (8 bits, 20,000 values)."""
    n, d = 8, 20000
    U = np.random.default_rng(0).normal(0, 0.01, size=(n, d))
    r = secure_aggregate(U, threshold=3, dropped=(2,), seed=1)
    X = quantize(U, 8.0, 2**22, 1)
    view = r.server_view
    assert chi_square_uniform(X[0]) < 1e-6  # the quantised update itself is far from uniform
    for u, y in view["masked_inputs"].items():
        assert chi_square_uniform(y) > 1e-3
        without_self_mask = y - prg_uint32(view["self_mask_seeds"][u], d)  # all the server can remove alone
        assert chi_square_uniform(without_self_mask) > 1e-3
    arrays = [a for a in view["masked_inputs"].values()] + [s for _, s in view["unmask_shares"].values()]
    assert not any(np.array_equal(a, X[u]) for a in arrays for u in range(n))
    assert set(view["self_mask_seeds"]) == set(r.survivors) and set(view["mask_private_keys"]) == {2}
    assert not set(view["self_mask_seeds"]) & set(view["mask_private_keys"])  # never both secrets of a client
    assert all(isinstance(c, bytes) and len(c) == 144 for c in view["ciphertexts"].values())  # encrypted shares only
    assert sorted(view) == ["ciphertexts", "mask_private_keys", "masked_inputs", "public_keys", "self_mask_seeds",
                            "unmask_shares"]


def test_too_few_survivors_fail_the_round_clearly():
    U = np.zeros((6, 10))
    with pytest.raises(ValueError, match=r"only 2 surviving share holders, fewer than threshold=3"):
        secure_aggregate(U, threshold=3, dropped=(0, 1, 2, 3), seed=0)


def test_shamir_needs_threshold_shares():
    rng = np.random.default_rng(0)
    secret = bytes(range(32))
    shares = shamir.split(secret, 3, [1, 2, 3, 4, 5], rng)
    assert shamir.combine(shares[[0, 2, 4]], [1, 3, 5]) == secret
    with pytest.raises(ValueError, match="do not reconstruct"):
        shamir.combine(shares[:2], [1, 2])


def test_secagg_plus_graph_and_traffic():
    graph = neighbour_graph(50, 6, np.random.default_rng(0))
    assert all(len(g) == 6 for g in graph)
    assert all(u in graph[v] for u in range(50) for v in graph[u])  # symmetric
    for k in (None, 6):
        r = secure_aggregate(np.zeros((50, 40)), threshold=4, neighbours=k, seed=0)
        c = client_cost(40, 50, k)
        assert r.traffic.bytes_up == 50 * c.bytes_up
        assert r.traffic.bytes_down == 50 * (c.bytes_down - payload_bytes(40))


def test_distributed_dp_noise_adds_up_to_the_central_noise():
    """Band fixed before the run: 5 % on the std of 40,000 values (relative SE 0.35 %; stochastic
    rounding adds variance of about (2·clip/levels)² per client, negligible here)."""
    U = np.random.default_rng(0).normal(0, 0.1, (20, 40000))
    r, mean = distributed_dp_sum(U, clip=0.5, noise_multiplier=1.0, expected_clients=20, threshold=11, seed=1)
    clipped, _ = clip_updates(U, 0.5)
    assert abs(np.std(r.total - clipped.sum(axis=0)) / 0.5 - 1) < 0.05
    np.testing.assert_allclose(mean, r.total / 20)


def test_fresh_entropy_still_sums_exactly():
    """seed=None: keys and seeds from the operating system, as in production; the sum is still exact."""
    U = np.random.default_rng(2).normal(0, 0.1, size=(6, 50))
    r = secure_aggregate(U, threshold=3, dropped=(1,), seed=None)
    survivors = list(r.survivors)
    assert np.abs(r.total - U[survivors].sum(axis=0)).max() < 6 * 16 / 2**22  # one level per client at most
