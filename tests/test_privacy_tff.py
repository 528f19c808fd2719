"""DP-FedAvg against TensorFlow Federated's DP aggregator (slow: TFF starts a worker_binary).

* z = 0 with a clip that binds for every client: the numpy engine's accuracy per round equals TFF's
  ``build_unweighted_fed_avg`` + ``DifferentiallyPrivateFactory.gaussian_fixed`` within the engines'
  parity bound (0.5 pp, tests/test_federated.py), and the weights within float32 rounding.
* z > 0: the standard deviation of the noise TFF adds to the aggregate is z·C/K within a band fixed
  here (1.5 %: the relative standard error of a std over 100,000 values is 0.22 %).
"""

import numpy as np
import pytest

from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import iid
from tinydtl.privacy import DPConfig
from tinydtl.runtime.processes import no_stray_processes


@pytest.fixture(scope="module")
def dp_pair():
    (x, y), (xt, yt) = load_mnist()
    sub = np.arange(4000)
    parts = iid(y[sub], 10, seed=0)
    dp = DPConfig(noise_multiplier=0.0, clip=0.05, clients_per_round=5)
    # run_fedavg(engine="tff") runs inside no_stray_processes (its worker_binary is stopped afterwards)
    return {e: run_fedavg(x[sub], y[sub], parts, x_test=xt[:2000], y_test=yt[:2000], engine=e, rounds=3, dp=dp,
                          client_lr=0.05, seed=0) for e in ("numpy", "tff")}


def test_zero_noise_binding_clip_matches_tff(dp_pair):
    numpy_h, tff_h = dp_pair["numpy"], dp_pair["tff"]
    assert numpy_h.column("clipped_fraction", initial=False) == [1.0, 1.0, 1.0]  # the clip binds for everyone
    acc_gap = np.abs(np.subtract(numpy_h.column("accuracy"), tff_h.column("accuracy"))).max()
    assert acc_gap <= 0.005
    for a, b in zip(numpy_h.weights, tff_h.weights):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert numpy_h.column("epsilon", initial=False)[-1] == float("inf")  # z = 0 is no privacy


def test_tff_noise_std_is_z_clip_over_k():
    import tensorflow_federated as tff

    z, C, K, d = 1.3, 0.5, 10.0, 100_000
    with no_stray_processes():
        proc = tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
            noise_multiplier=z, clients_per_round=K, clip=C).create(tff.TensorType(np.float32, [d]))
        out = proc.next(proc.initialize(), [np.zeros(d, np.float32)] * 4)
    measured = float(np.std(np.asarray(out.result)))
    assert abs(measured / (z * C / K) - 1) < 0.015
