"""Compression, robust aggregation, split learning and swarm mobility (lesson 01's building blocks)."""

import numpy as np
import pytest

from tinydtl.algorithms.split import run_split_learning, split_bytes_per_epoch
from tinydtl.algorithms.swarm import swarm_consensus
from tinydtl.core.compression import Compressor, ErrorFeedback, quantize, top_k
from tinydtl.core.robust import (
    aggregate,
    coordinate_median,
    trimmed_mean,
    weighted_mean,
)
from tinydtl.data.datasets import load_mnist
from tinydtl.networks.mobility import random_waypoint


def test_top_k_keeps_exactly_k():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    out, nbytes = top_k(x, 37)
    assert np.count_nonzero(out) == 37 and nbytes == 37 * 8
    kept = np.abs(x[out != 0])
    assert kept.min() >= np.sort(np.abs(x))[-37]
    np.testing.assert_array_equal(out[out != 0], x[out != 0])


def test_error_feedback_residual_carries_what_was_dropped():
    x = np.random.default_rng(1).standard_normal(100).astype(np.float32)
    ef = ErrorFeedback(lambda v: top_k(v, 10))
    sent, _ = ef(x)
    np.testing.assert_allclose(sent + ef.residual, x, atol=1e-7)
    total = sent.copy()
    for _ in range(30):  # with zero new input, the residual is eventually all sent
        s, _ = ef(np.zeros_like(x))
        total += s
    np.testing.assert_allclose(total, x, atol=1e-6)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantization_is_unbiased_and_priced_right(bits):
    x = np.random.default_rng(2).standard_normal(500).astype(np.float32)
    draws = np.mean([quantize(x, bits, rng=s)[0] for s in range(400)], axis=0)
    step = (x.max() - x.min()) / (2**bits - 1)
    assert np.abs(draws - x).max() < 0.25 * step + 1e-6
    assert quantize(x, bits)[1] == 8 + (500 * bits + 7) // 8
    assert len(np.unique(quantize(x, bits, rng=0)[0])) <= 2**bits


def test_median_ignores_a_minority_of_arbitrary_updates():
    rng = np.random.default_rng(3)
    honest = rng.normal(1.0, 0.1, size=(7, 50))
    bad = rng.normal(0, 1e6, size=(3, 50))
    U = np.vstack([honest, bad])
    assert np.abs(coordinate_median(U) - 1.0).max() < 0.3
    assert np.abs(trimmed_mean(U, trim=0.3) - 1.0).max() < 0.3
    assert np.abs(weighted_mean(U) - 1.0).max() > 1e3
    np.testing.assert_allclose(aggregate(honest, [1] * 7, "mean"), honest.mean(axis=0))


def test_fedavg_with_compression_and_attackers():
    from tinydtl.algorithms.fedavg import run_fedavg
    from tinydtl.data.partition import iid

    (x, y), (xt, yt) = load_mnist()
    x, y, xt, yt = x[:4000], y[:4000], xt[:1000], yt[:1000]
    parts = iid(y, 8, seed=0)
    plain = run_fedavg(x, y, parts, x_test=xt, y_test=yt, rounds=3)
    q2 = run_fedavg(x, y, parts, x_test=xt, y_test=yt, rounds=3, compression="q2")
    assert sum(q2.column("bytes_up", initial=False)) < sum(plain.column("bytes_up", initial=False)) / 15
    assert q2.column("accuracy", initial=False)[-1] > plain.column("accuracy", initial=False)[-1] - 0.03
    attacked = run_fedavg(x, y, parts, x_test=xt, y_test=yt, rounds=3, attackers=2)
    robust = run_fedavg(x, y, parts, x_test=xt, y_test=yt, rounds=3, attackers=2, aggregator="median")
    assert attacked.column("accuracy", initial=False)[-1] < 0.5 < plain.column("accuracy", initial=False)[-1] - 0.05 < robust.column("accuracy", initial=False)[-1]
    with pytest.raises(ValueError, match="numpy' only"):
        run_fedavg(x, y, parts, engine="tff", compression="q8")


def test_split_learning_learns_and_counts_bytes():
    (x, y), (xt, yt) = load_mnist()
    h = run_split_learning(x[:6000], y[:6000], hidden=32, epochs=2, x_test=xt[:2000], y_test=yt[:2000])
    assert h.column("accuracy", initial=False)[-1] > 0.85
    sent = h.cumulative("bytes_up") + h.cumulative("bytes_down")
    assert list(sent) == [0, split_bytes_per_epoch(6000, 32), 2 * split_bytes_per_epoch(6000, 32)]


def test_swarm_conserves_the_average_and_mixes_over_time():
    traj = random_waypoint(40, 150, speed=0.03, seed=0)
    assert traj.shape == (151, 40, 2) and traj.min() >= 0 and traj.max() <= 1
    errs = swarm_consensus(traj, 0.15, np.random.default_rng(0).standard_normal(40))
    assert errs[-1] < 0.05


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Compressor("zip"), "spec must be 'none'"),
        (lambda: Compressor("top2"), "fraction in"),
        (lambda: quantize(np.ones(3), 0), r"bits must be an integer in \[1, 16\]"),
        (lambda: top_k(np.ones(3), 4), r"k must be an integer in \[1, 3\]"),
        (lambda: aggregate(np.ones((2, 2)), method="max"), "method must be one of"),
        (lambda: trimmed_mean(np.ones((4, 2)), trim=0.5), r"trim must be in \[0, 0.5\)"),
        (lambda: random_waypoint(0, 3), "n must be an integer"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
