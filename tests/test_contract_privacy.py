"""The input contract of tinydtl.privacy and of FedAvg's DP and sampling arguments (docs/architecture.md).

Each row is an edge case a user can hit: the call, the exception it must raise and a pattern the
message must match (it names the parameter, what it got or what is allowed). The API is new: rows
marked ``# was:`` describe what the call did (or would have done) without the check — a deep or
silent failure.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.core.plans import PlanSettings
from tinydtl.privacy import (
    DPAggregator,
    DPConfig,
    client_cost,
    clip_updates,
    cost_table,
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

rng = np.random.default_rng(0)
X = rng.integers(0, 256, size=(60, 784), dtype=np.uint8)
Y = np.arange(60) % 10
PARTS = [np.arange(0, 20), np.arange(20, 40), np.arange(40, 60)]
U = rng.normal(size=(6, 5))
DP = dict(noise_multiplier=1.0, clip=1.0, clients_per_round=2)


def fedavg(**kw):
    return lambda: run_fedavg(X, Y, PARTS, rounds=1, **kw)


def secagg(**kw):
    return lambda: secure_aggregate(U, **{"threshold": 3, **kw})


CASES = [
    # ------------------------------------------------------------------ DPConfig
    ("z < 0", lambda: DPConfig(**{**DP, "noise_multiplier": -0.1}), ValueError, r"noise_multiplier must be a number in \[0"),
    ("z NaN", lambda: DPConfig(**{**DP, "noise_multiplier": float("nan")}), ValueError, "noise_multiplier"),
    ("clip 0", lambda: DPConfig(**{**DP, "clip": 0.0}), ValueError, r"clip must be a number in \(0"),
    ("clip < 0", lambda: DPConfig(**{**DP, "clip": -1.0}), ValueError, r"clip must be a number in \(0"),
    ("clip a bool", lambda: DPConfig(**{**DP, "clip": True}), ValueError, "clip must be a number"),
    ("q = 0", lambda: DPConfig(1.0, 1.0, sampling_rate=0.0), ValueError, r"sampling_rate must be a number in \(0, 1\]"),
    ("q > 1", lambda: DPConfig(1.0, 1.0, sampling_rate=1.5), ValueError, r"sampling_rate must be a number in \(0, 1\]"),
    ("both samplings", lambda: DPConfig(1.0, 1.0, clients_per_round=2, sampling_rate=0.5), ValueError, "exactly one of"),
    ("no sampling", lambda: DPConfig(1.0, 1.0), ValueError, "exactly one of"),
    ("K = 2.5", lambda: DPConfig(1.0, 1.0, clients_per_round=2.5), ValueError, "clients_per_round must be an integer"),
    ("delta 0", lambda: DPConfig(**DP, delta=0.0), ValueError, r"delta must be a number in \(0, 1\)"),
    ("delta 1", lambda: DPConfig(**DP, delta=1.0), ValueError, r"delta must be a number in \(0, 1\)"),
    ("quantile 1", lambda: DPConfig(**DP, adaptive_quantile=1.0), ValueError, r"adaptive_quantile must be a number in \(0, 1\)"),
    # was: TFF raises the same ValueError only when the process is built
    ("adaptive z too large", lambda: DPAggregator(DPConfig(1.0, 0.1, clients_per_round=10, adaptive_quantile=0.5), 10),
     ValueError, "noise_multiplier < 2 \\* clipped_count_stddev"),
    ("K > clients", lambda: DPAggregator(DPConfig(1.0, 1.0, clients_per_round=5), 3), ValueError,
     r"clients_per_round must be in \[1, 3\]"),
    ("aggregator config not a DPConfig", lambda: DPAggregator({"clip": 1.0}, 3), TypeError, "config must be"),
    ("clip_updates 1-D", lambda: clip_updates(np.ones(3), 1.0), ValueError, "updates must have 2 dimension"),
    ("clip_updates NaN", lambda: clip_updates(np.array([[np.nan, 1.0]]), 1.0), ValueError, "updates must be finite"),
    # ------------------------------------------------------------------ accounting
    ("epsilon z < 0", lambda: epsilon(-1.0, 0.1, 10, 1e-5), ValueError, "noise_multiplier"),
    ("epsilon delta 0", lambda: epsilon(1.0, 0.1, 10, 0.0), ValueError, r"delta must be a number in \(0, 1\)"),
    ("epsilon delta 1.5", lambda: epsilon(1.0, 0.1, 10, 1.5), ValueError, r"delta must be a number in \(0, 1\)"),
    ("epsilon q 0", lambda: epsilon(1.0, 0.0, 10, 1e-5), ValueError, r"sampling_rate must be a number in \(0, 1\]"),
    ("epsilon q 2", lambda: epsilon(1.0, 2.0, 10, 1e-5), ValueError, r"sampling_rate must be a number in \(0, 1\]"),
    ("epsilon rounds 0", lambda: epsilon(1.0, 0.1, 0, 1e-5), ValueError, "rounds must be an integer"),
    ("epsilon rounds 2.5", lambda: epsilon(1.0, 0.1, 2.5, 1e-5), ValueError, "rounds must be an integer"),
    ("epsilon accountant", lambda: epsilon(1.0, 0.1, 10, 1e-5, "moments"), ValueError, "accountant must be one of"),
    ("fixed without population", lambda: epsilon(1.0, 0.1, 10, 1e-5, sampling="fixed"), ValueError,
     "needs population="),
    ("fixed with a fractional sample", lambda: epsilon(1.0, 0.1, 10, 1e-5, sampling="fixed", population=33),
     ValueError, "whole number of clients"),
    # was: dp-accounting's UnsupportedEventError from deep inside compose()
    ("pld with fixed sampling", lambda: epsilon(1.0, 0.1, 10, 1e-5, "pld", sampling="fixed", population=30),
     ValueError, "does not support sampling without replacement"),
    ("curve delta", lambda: epsilon_per_round(1.0, 0.1, 10, 2.0), ValueError, "delta"),
    ("target epsilon 0", lambda: noise_multiplier_for(0.0, 1e-5, 0.1, 10), ValueError, r"epsilon must be a number in \(0"),
    ("dp-sgd batch > n", lambda: dp_sgd_epsilon(100, 150, 1.0, 1, 1e-5), ValueError, r"batch_size must be an integer in \[1, 100\]"),
    # ------------------------------------------------------------------ the attack
    ("zero gradient", lambda: invert_softmax_gradient(np.zeros((4, 3)), np.zeros(3)), ValueError, "grad_b is zero"),
    ("grad widths differ", lambda: invert_softmax_gradient(np.ones((4, 3)), np.ones(2)), ValueError,
     "one entry per column"),
    ("update of the wrong size", lambda: invert_softmax_update(np.ones(10), 4, 3), ValueError,
     "n_features \\* n_classes \\+ n_classes = 15"),
    ("gradient of the wrong width", lambda: softmax_gradient(np.ones((4, 3)), np.ones(3), np.ones(5), 1), ValueError,
     "x must have 4 features"),
    # ------------------------------------------------------------------ secure aggregation
    ("t > n", secagg(threshold=7), ValueError, r"threshold must be an integer in \[1, 6\]"),
    ("t < 1", secagg(threshold=0), ValueError, r"threshold must be an integer in \[1, 6\]"),
    ("t = 2.5", secagg(threshold=2.5), ValueError, "threshold must be an integer"),
    ("neighbours = n", secagg(neighbours=6), ValueError, r"neighbours must be an integer in \[2, 5\]"),
    ("neighbours > n", secagg(neighbours=40), ValueError, r"neighbours must be an integer in \[2, 5\]"),
    ("neighbours odd", secagg(neighbours=3), ValueError, "neighbours must be even"),
    ("t > neighbours + 1", secagg(neighbours=2, threshold=4), ValueError, "threshold must be <= neighbours \\+ 1 = 3"),
    ("dropped not a client", secagg(dropped=(6,)), ValueError, r"dropped must hold client indices in \[0, 5\], got 6"),
    ("dropped negative", secagg(dropped=(-1,)), ValueError, "dropped must hold client indices"),
    ("dropped a bool", secagg(dropped=(True,)), ValueError, "dropped must hold client indices"),
    ("dropped a float", secagg(dropped=(1.0,)), ValueError, "dropped must hold client indices"),
    ("dropped a string", secagg(dropped="12"), TypeError, "dropped must be a collection"),
    ("clip 0", secagg(clip=0.0), ValueError, r"clip must be a number in \(0"),
    # was: the integer sum would wrap around 2^32 and come back wrong, silently
    ("levels overflow the sum", secagg(levels=2**30), ValueError, "levels \\* clients must be < 2\\^32"),
    ("levels 0", secagg(levels=0), ValueError, "levels must be an integer"),
    ("one client", lambda: secure_aggregate(U[:1], threshold=1), ValueError, "at least two clients"),
    ("NaN update", lambda: secure_aggregate(np.full((3, 2), np.nan), threshold=2), ValueError, "updates must be finite"),
    ("seed a string", secagg(seed="x"), TypeError, "seed must be"),
    ("quantize 1-D", lambda: quantize(np.ones(3)), ValueError, "updates must have 2 dimension"),
    ("graph of 1.5 clients", lambda: neighbour_graph(1.5), ValueError, "n must be an integer"),
    ("shamir t > holders", lambda: shamir.split(b"ab", 3, [1, 2], rng), ValueError, "threshold must be an integer"),
    ("shamir odd secret", lambda: shamir.split(b"abc", 1, [1], rng), ValueError, "even length"),
    ("shamir repeated holder", lambda: shamir.split(b"ab", 1, [1, 1], rng), ValueError, "distinct"),
    ("distributed DP m = 0", lambda: distributed_dp_sum(U, clip=1.0, noise_multiplier=1.0, expected_clients=0,
                                                        threshold=3), ValueError, "expected_clients"),
    ("device cost neighbours >= n", lambda: client_cost(10, 5, 5), ValueError, r"neighbours must be an integer in \[1, 4\]"),
    ("cost table of 2 clients", lambda: cost_table(clients=(2,)), ValueError, r"clients must be an integer in \[3"),
    # ------------------------------------------------------------------ FedAvg's DP and sampling arguments
    ("dp not a DPConfig", fedavg(dp={"clip": 1.0}), TypeError, "dp must be a tinydtl.privacy.DPConfig"),
    ("dp with the median", fedavg(dp=DPConfig(**DP), aggregator="median"), ValueError, "dp needs aggregator='mean'"),
    # was: run_fedavg would have sampled 3 clients per round while dividing by 2
    ("dp and another K", fedavg(dp=DPConfig(**DP), clients_per_round=3), ValueError,
     "clients_per_round=3 contradicts dp.clients_per_round=2"),
    ("dp K > clients", fedavg(dp=DPConfig(1.0, 1.0, clients_per_round=4)), ValueError,
     r"clients_per_round must be in \[1, 3\]"),
    ("sampling rate 0", fedavg(sampling_rate=0.0), ValueError, r"sampling_rate must be a number in \(0, 1\]"),
    ("sampling rate and K", fedavg(sampling_rate=0.5, clients_per_round=2), ValueError, "not both"),
    ("plan q > 1", lambda: PlanSettings(sampling_rate=1.01), ValueError, r"sampling_rate must be a number in \(0, 1\]"),
    ("model on TFF", fedavg(engine="tff", model=object()), ValueError, "model are simulated on engine='numpy' only"),
    ("model without the interface", fedavg(model=object()), TypeError, "model must be a learner with init"),
]


@pytest.mark.parametrize("name, call, error, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(name, call, error, message):
    with pytest.raises(error, match=message):
        call()
