"""The input contract of Globe2Train (tinydtl.papers.globe2train) and its network (tinydtl.networks.netsim).

Bad input gets one clear ValueError/TypeError naming the parameter, what it got and what is
allowed: finite numbers (NaN and inf refused by name), integers where counts are expected (no
silent truncation), bools are not numbers, time arguments finite and >= 0, device indices in range.
Every case failed before the fix (a wrong answer, a hang, an IndexError or an unnamed error).

A case must never hang (``Network.online(k, t=inf)`` with churn used to loop forever, growing a list):
each call runs under an alarm that raises after a few seconds.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from tinydtl.devices import load_boards
from tinydtl.networks.netsim import Network, link_for_quality, make_network
from tinydtl.papers.globe2train import (
    Device,
    DistributedOneVsOne,
    MomentumLogisticRegression,
    assign_problems,
    check_devices,
    class_pairs,
    device_capacity,
    make_devices,
    ovo_decision,
    problem_costs,
    run_g2t_d,
    run_sync_sgd,
)

TIMEOUT_S = 5


@pytest.fixture(autouse=True)
def never_hang():
    """Fail (TimeoutError, which no case expects) instead of hanging."""

    def alarm(signum, frame):
        raise TimeoutError(f"the call did not return within {TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


# ----------------------------------------------------------------------------- the scene (cheap, built per call)
def churny(method):
    """``method`` of a fresh 2-device network with churn, as a callable of keywords."""

    def call(**kw):
        return getattr(make_network([1.0, 0.5], churn_rate=0.5, downtime_s=2.0), method)(**kw)

    call.__name__ = f"churny_network.{method}"
    return call


def network(method):
    """``method`` of a fresh 2-device network without churn."""

    def call(**kw):
        return getattr(make_network([1.0, 0.5]), method)(**kw)

    call.__name__ = f"network.{method}"
    return call


def network_with(**kw):
    return Network([link_for_quality(1.0)] * 2, **kw)


def link_seconds(**kw):
    return link_for_quality(0.5).expected_seconds(**kw)


def devices(n=2):
    return [Device(f"d{k}", "test", 4, 1e6) for k in range(n)]


def assign(**kw):
    return assign_problems(**{"pending": range(3), "costs": np.ones(3), "devices": devices(), **kw})


def esp32_devices(**kw):
    return make_devices(["ESP32"], 22, **kw)


def capacity(**kw):
    return device_capacity(**{"board": load_boards()["ESP32"], "n_features": 22, **kw})


def costs_of(**kw):
    return problem_costs(**{"y_codes": np.array([0, 1, 2, 2]), "pairs": class_pairs(3), "n_features": 4, "epochs": 1,
                            **kw})


def g2t(**kw):
    fake = MomentumLogisticRegression()
    fake.coef_, fake.intercept_ = np.ones((1, 4), np.float32), np.ones(1, np.float32)
    args = {"train": lambda p: fake, "costs": np.full(3, 1e5), "devices": devices(), "network": make_network([1.0, 0.5]),
            "threshold_bytes": 100.0, **kw}
    return run_g2t_d(**args)


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 4)), np.repeat([0, 1, 2, 3], 10)


def ovo_fit(**kw):
    return DistributedOneVsOne(MomentumLogisticRegression(epochs=1), **kw).fit(*data())


def mcu_fit(**kw):
    X, y = data()
    return MomentumLogisticRegression(**kw).fit(X * 1e3, y % 2)


def sync(**kw):
    X, y = data()
    return run_sync_sgd(**{"x_train": X, "y_train": y, "devices": devices(), "network": make_network([1.0, 0.5]), **kw})


NAN, INF = float("nan"), float("inf")

CASES = [
    # netsim: times finite and >= 0 (t = inf with churn used to loop forever), device indices in range, byte counts
    (churny("online"), dict(k=0, t=INF), ValueError, r"\bt must be a number in \[0, ∞\), got inf"),
    (churny("next_dropout"), dict(k=0, t=NAN), ValueError, r"\bt must be .*got nan"),
    (churny("next_online"), dict(k=0, t=-1.0), ValueError, r"\bt must be .*got -1.0"),
    (network("transmit"), dict(k=0, nbytes=100, t=INF), ValueError, r"\bt must be .*got inf"),
    (network("transmit"), dict(k=2, nbytes=100, t=0.0), ValueError, r"device .*\[0, 1\], got 2"),
    (network("transmit"), dict(k=-1, nbytes=100, t=0.0), ValueError, r"device .*\[0, 1\], got -1"),
    (network("online"), dict(k=True, t=0.0), ValueError, r"device .*\[0, 1\], got True"),
    (network("transmit"), dict(k=0, nbytes=-0.5, t=0.0), ValueError, r"nbytes must be an integer .*got -0.5"),
    (network("transmit"), dict(k=0, nbytes=2.5, t=0.0), ValueError, r"nbytes must be an integer .*got 2.5"),
    (network("transmit"), dict(k=0, nbytes=NAN, t=0.0), ValueError, r"nbytes must be an integer .*got nan"),
    (network("transmit"), dict(k=0, nbytes=True, t=0.0), ValueError, r"nbytes must be an integer .*got True"),
    (link_seconds, dict(nbytes=-100), ValueError, r"nbytes must be finite .*>= 0"),
    (make_network, dict(qualities=[True, 0.5]), ValueError, r"qualities\[0\] must be a number in \(0, 1\], got True"),
    (make_network, dict(qualities=[1.0], latency_s=True), ValueError, r"latency_s must be a number .*got True"),
    (make_network, dict(qualities=[1.0], congestion=True), ValueError, r"congestion must be a number .*got True"),
    (network_with, dict(dropouts={True: [1.0]}), ValueError,
     r"dropouts keys must be device indices in \[0, 1\], got True"),
    # fleet: devices, capacity, scheduling
    (esp32_devices, dict(qualities=[True]), ValueError, r"qualities\[0\] must be a number in \(0, 1\], got True"),
    (esp32_devices, dict(availability=[True]), ValueError, r"availability\[0\] must be a number .*got True"),
    (esp32_devices, dict(max_capacity=2.5), ValueError, r"max_capacity must be an integer >= 1, got 2.5"),
    (capacity, dict(weights_per_problem=0), ValueError, r"weights_per_problem must be an integer >= 1, got 0"),
    (capacity, dict(board=42), TypeError, r"board.* got int"),
    (assign, dict(online=[7]), ValueError, r"online device 7 is not a device index in \[0, 1\]"),
    (assign, dict(pending=range(5)), ValueError, r"pending must hold problem indices in \[0, 2\]"),
    (assign, dict(costs=[1.0, NAN, 1.0]), ValueError, r"costs must be finite"),
    (assign, dict(devices=[]), ValueError, r"devices must list at least one Device"),
    (check_devices, dict(devices=[Device("d", "b", 2.5, 1e6)]), ValueError, r"d: capacity must be an integer >= 0, got 2.5"),
    (check_devices, dict(devices=[Device("d", "b", True, 1e6)]), ValueError, r"d: capacity must be an integer .*got True"),
    (costs_of, dict(n_features=0), ValueError, r"n_features must be an integer >= 1, got 0"),
    (costs_of, dict(epochs=True), ValueError, r"epochs must be an integer >= 1, got True"),
    # G2T-D: costs and data sizes are finite and >= 0 (a negative cost gave a negative completion time)
    (g2t, dict(costs=[-1e6, 1e5, 1e5]), ValueError, r"costs must be >= 0, got -1000000.0 at index 0"),
    (g2t, dict(costs=[NAN, 1e5, 1e5]), ValueError, r"costs must be finite"),
    (g2t, dict(costs=[INF, 1e5, 1e5]), ValueError, r"costs must be finite"),
    (g2t, dict(data_bytes=[10, 10]), ValueError, r"data_bytes must have shape \(3,\).*got \(2,\)"),
    (g2t, dict(data_bytes=[10, -1, 10]), ValueError, r"data_bytes must be >= 0"),
    (g2t, dict(data_bytes=[10, NAN, 10]), ValueError, r"data_bytes must be finite"),
    (g2t, dict(data_bytes=[10, 2.5, 10]), ValueError, r"data_bytes must hold whole numbers of bytes"),
    (g2t, dict(ship_data="no"), TypeError, r"ship_data must be True or False, got str 'no'"),
    (g2t, dict(train=None), TypeError, r"train must be callable as train\(problem\) -> fitted binary estimator"),
    (g2t, dict(network=[0.5, 0.5]), TypeError, r"network must be a tinydtl.networks.netsim.Network, got list"),
    # the one-vs-one classifier and its vote
    (ovo_fit, dict(devices=devices(), n_devices=0), ValueError, r"n_devices must be an integer >= 1, got 0"),
    (ovo_fit, dict(qualities=True), ValueError, r"qualities must be .*got True"),
    (ovo_fit, dict(ship_data="no"), TypeError, r"ship_data must be True or False"),
    (ovo_decision, dict(predictions=[[2, 0, 1]], confidences=[[0.1, 0.2, 0.3]], n_classes=3), ValueError,
     r"predictions must hold 0 or 1"),
    (ovo_decision, dict(predictions=[[1, 0, 1]], confidences=[[0.1, NAN, 0.3]], n_classes=3), ValueError,
     r"confidences must be finite"),
    # the MCU learner: a diverging optimiser raises instead of returning NaN weights
    (mcu_fit, dict(learning_rate=1e30), ValueError, r"diverged"),
    # the SGD baselines
    (sync, dict(n_classes=2.5), ValueError, r"n_classes must be an integer >= 2, got 2.5"),
    (sync, dict(network=[1.0, 0.5]), TypeError, r"network must be a tinydtl.networks.netsim.Network, got list"),
    (sync, dict(feature_bytes=0), ValueError, r"feature_bytes must be an integer >= 1, got 0"),
    (sync, dict(feature_bytes=1.5), ValueError, r"feature_bytes must be an integer >= 1, got 1.5"),
    (sync, dict(feature_bytes=True), ValueError, r"feature_bytes must be an integer >= 1, got True"),
    (sync, dict(controller="stop"), TypeError, r"controller must be callable"),
    (capacity, dict(usable_sram_fraction=0.0), ValueError, r"usable_sram_fraction must be a number in \(0, 1\], got 0.0"),
    (capacity, dict(usable_sram_fraction=True), ValueError, r"usable_sram_fraction must be .*got True"),
    (esp32_devices, dict(flops_per_cycle=NAN), ValueError, r"flops_per_cycle must be .*got nan"),
]


def case_id(case):
    fn, kwargs, _, _ = case
    name = getattr(fn, "__name__", "call")
    return f"{name}({', '.join(f'{k}={v!r}'[:30] for k, v in kwargs.items())})"


@pytest.mark.parametrize("fn, kwargs, error, message", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input_is_refused_by_name(fn, kwargs, error, message):
    with pytest.raises(error, match=message):
        fn(**kwargs)
