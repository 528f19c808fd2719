"""RockNet's epoch loop and Globe2Train's scheduling rounds run on the core (issue 11).

Both trainers used to run their own loop and write the History themselves; they now are an
``Algorithm`` run by :func:`tinydtl.core.simulation.simulate`. The reference numbers below were captured
from the pre-port code (main at 36a0696) with the same seeds: the port must not change them.
"""

import numpy as np
import pytest

import tinydtl.papers.globe2train.g2t
import tinydtl.papers.rocknet.classifier
from tinydtl.core.simulation import Algorithm, EarlyStopping, StopTraining, simulate
from tinydtl.data.datasets import load_ucr
from tinydtl.networks.netsim import make_network
from tinydtl.papers.globe2train.g2t import run_g2t_d
from tinydtl.papers.globe2train import MomentumLogisticRegression, make_devices
from tinydtl.papers.rocknet.classifier import RockNetClassifier


def spy_on_simulate(monkeypatch, module):
    """Replace ``module.simulate`` by a wrapper that records each call's algorithm, rounds and history."""
    calls = []

    def spy(algorithm, rounds, **kwargs):
        hist = simulate(algorithm, rounds, **kwargs)
        calls.append({"algorithm": algorithm, "rounds": rounds, "history": hist, **kwargs})
        return hist

    monkeypatch.setattr(module, "simulate", spy)
    return calls


# ----------------------------------------------------------------------------- the core's new parts
def scripted(losses):
    """An algorithm whose evaluated loss after round r is ``losses[r]``."""
    return Algorithm("scripted", lambda: 0, lambda s, r, settings: (s + 1, {}), lambda s: {"loss": losses[s]})


def test_early_stopping_stops_patience_rounds_after_the_best():
    losses = [1.0, 0.9, 0.95, 0.5, 0.6, 0.5, 0.7, 0.1, 0.0]
    stop = EarlyStopping(3)
    h = simulate(scripted(losses), len(losses) - 1, controller=stop)
    # best 0.5 at round 3; 0.5 again at round 5 is not strictly lower: stalls at 4, 5, 6 -> stop after 6
    assert h.column("round") == [0, 1, 2, 3, 4, 5, 6] and stop.best_round == 3 and stop.best_value == 0.5
    # the initial model counts: never better than row 0 -> stop after `patience` rounds
    h = simulate(scripted([0.0, 1.0, 1.0, 1.0, 1.0]), 4, controller=EarlyStopping(2))
    assert h.rounds == 2
    # mode="max" on accuracy; a patience longer than the run never stops it
    h = simulate(scripted([0.1, 0.3, 0.2, 0.2]), 3, controller=EarlyStopping(5, column="loss", mode="max"))
    assert h.rounds == 3


def test_early_stopping_and_initial_stats_bad_input():
    for bad in (0, -1, 1.5, None):
        with pytest.raises(ValueError, match="patience"):
            EarlyStopping(bad)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(2, mode="lowest")
    with pytest.raises(TypeError, match="column"):
        EarlyStopping(2, column=3)
    with pytest.raises(KeyError, match="no column 'val_loss'"):
        simulate(scripted([1.0, 2.0]), 1, controller=EarlyStopping(1, column="val_loss"))
    with pytest.raises(TypeError, match="initial_stats"):
        Algorithm("x", lambda: 0, lambda s, r, settings: (s, {}), initial_stats=[("sent", 0)])
    alg = Algorithm("x", lambda: 0, lambda s, r, settings: (s, {"sent": 5}), initial_stats={"sent": 0})
    assert simulate(alg, 2).column("sent") == [0, 5, 5]  # row 0 holds the zero, not NaN


# ----------------------------------------------------------------------------- RockNet
ROCKNET_REFERENCE = dict(  # ItalyPowerDemand, D = 3, max_epochs=40, patience=4, random_state=7 (pre-port)
    loss=[0.6710771581124733, 3.7095096271726264, 0.5757643552116029, 2.3657382509058653, 1.9305239755401051,
          0.5857372802517272, 1.7019994006278931],
    accuracy=[0.5384615384615384, 0.46153846153846156, 0.9230769230769231, 0.5384615384615384,
              0.5384615384615384, 0.5384615384615384, 0.46153846153846156],
    train_loss=[0.6651107261983132, 3.415983086200864, 0.561775701106935, 2.5422440313861188, 2.06590246079084,
                0.5861963356115913],
    best_epoch=2, W_sum=-1.472375323277941, W_abs=245.4045622659359,
    W_first=[0.011521453350711393, -0.0034773043780068017], W_last=[0.02186751169542219, -0.009534260222050494],
    b=[-0.0002817285851608926, 0.0002817285851608927], score=0.8794946550048591,
)
ROCKNET_KW = dict(max_epochs=40, patience=4, random_state=7)


@pytest.fixture(scope="module")
def ipd():
    return load_ucr("ItalyPowerDemand")


def test_rocknet_runs_through_simulate_and_matches_the_pre_port_numbers(ipd, monkeypatch):
    calls = spy_on_simulate(monkeypatch, tinydtl.papers.rocknet.classifier)
    seen = []
    clf = RockNetClassifier(3, **ROCKNET_KW).fit(
        ipd.X_train, ipd.y_train, controller=lambda r, h, s: seen.append((r, h.rounds)) or s)
    assert len(calls) == 1 and calls[0]["rounds"] == 40 and calls[0]["history"] is clf.history_
    assert calls[0]["algorithm"].name == "rocknet/D=3"
    h, ref = clf.history_, ROCKNET_REFERENCE
    # early stopping ended the run after best epoch + patience, before max_epochs; the controller saw every epoch
    assert h.rounds == 6 == ref["best_epoch"] + 4 and seen == [(r, r) for r in range(1, 7)]
    np.testing.assert_allclose(h.column("loss"), ref["loss"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(h.column("accuracy"), ref["accuracy"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(h.column("train_loss", initial=False), ref["train_loss"], rtol=0, atol=1e-12)
    assert h.column("bytes_up") == [0] + [6432] * 6 and h.column("messages") == [0] + [536] * 6
    assert h.column("bytes_down") == [0] * 7 and h.column("live_devices") == [3] * 7
    assert clf.best_epoch_ == ref["best_epoch"]
    W = clf.weights()  # the best epoch's weights, restored
    assert W.sum() == pytest.approx(ref["W_sum"], abs=1e-12) and np.abs(W).sum() == pytest.approx(ref["W_abs"], abs=1e-10)
    np.testing.assert_allclose(W[0], ref["W_first"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(W[-1], ref["W_last"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(clf.devices_[0].b, ref["b"], rtol=0, atol=1e-15)
    assert clf.score(ipd.X_test, ipd.y_test) == ref["score"]
    np.testing.assert_array_equal(h.weights, W)


def test_rocknet_controller_can_stop_training_and_the_best_weights_are_kept(ipd):
    def stop_after_3(epoch_done, history, settings):
        if epoch_done == 3:
            raise StopTraining("budget spent")
        return settings

    clf = RockNetClassifier(3, **ROCKNET_KW).fit(ipd.X_train, ipd.y_train, controller=stop_after_3)
    assert clf.history_.rounds == 3 and clf.best_epoch_ == 2  # the lowest validation loss of rounds 0..3
    np.testing.assert_allclose(clf.history_.column("loss"), ROCKNET_REFERENCE["loss"][:4], rtol=0, atol=1e-12)
    assert clf.weights().sum() == pytest.approx(ROCKNET_REFERENCE["W_sum"], abs=1e-12)  # same best epoch, same weights
    with pytest.raises(TypeError, match="controller must be callable"):
        RockNetClassifier(3, **ROCKNET_KW).fit(ipd.X_train, ipd.y_train, controller="stop")


def test_rocknet_controller_changes_the_next_epochs_batch_size(ipd):
    """settings.batch_size is the epoch's minibatch size (default min(128, N) = all 54 training series)."""
    kw = dict(max_epochs=3, patience=3, random_state=7)
    small = RockNetClassifier(2, batch_size=8, **kw).fit(ipd.X_train, ipd.y_train)
    switched = RockNetClassifier(2, **kw).fit(ipd.X_train, ipd.y_train,
                                              controller=lambda r, h, s: s.replace(batch_size=8))
    full = RockNetClassifier(2, **kw).fit(ipd.X_train, ipd.y_train)
    # epoch 1 as the default (one batch), epochs 2-3 with batches of 8: differs from both
    assert switched.history_.column("train_loss")[1] == full.history_.column("train_loss")[1]
    assert switched.history_.column("train_loss")[2] not in (full.history_.column("train_loss")[2],
                                                             small.history_.column("train_loss")[2])


# ----------------------------------------------------------------------------- Globe2Train
G2T_REFERENCE = dict(  # 3 devices, qualities 1/0.4/0.2, churn 0.2/s, downtime 3 s, seed 2, 30 problems (pre-port)
    bytes_up=[0, 3690, 123], bytes_down=[0, 15000, 500], messages=[0, 39, 2], live_devices=[3, 3, 2],
    assigned=[0, 30, 1], delivered=[0, 29, 1], reassigned=[0, 1, 0], attempts=[0, 41, 2],
    time=[0.0, 2.4956333333333323, 2.631458666666665],
    delivered_by=[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
    lost=[(18, 2, 1, True)],
)


def g2t_case():
    fake = MomentumLogisticRegression()
    fake.coef_, fake.intercept_ = np.ones((1, 22), np.float32), np.ones(1, np.float32)
    # the reference numbers were recorded at 0.25 flop per cycle (the package's default now derives from lesson 06's count)
    devices = make_devices(["ESP32", "Arduino Nano 33 BLE Sense", "ESP32"], 22, qualities=[1.0, 0.4, 0.2],
                           flops_per_cycle=0.25)
    net = make_network([1.0, 0.4, 0.2], churn_rate=0.2, downtime_s=3.0, seed=2)
    return (lambda p: fake), np.full(30, 2e6), devices, net


def test_g2t_runs_through_simulate_and_matches_the_pre_port_numbers(monkeypatch):
    calls = spy_on_simulate(monkeypatch, tinydtl.papers.globe2train.g2t)
    train, costs, devices, net = g2t_case()
    res = run_g2t_d(train, costs, devices, net, threshold_bytes=300, data_bytes=np.full(30, 500))
    assert len(calls) == 1 and calls[0]["rounds"] is None and calls[0]["history"] is res.history
    assert calls[0]["algorithm"].name == "g2t-d"
    h, ref = res.history, G2T_REFERENCE
    for column in ("bytes_up", "bytes_down", "messages", "live_devices", "assigned", "delivered", "reassigned",
                   "attempts"):
        assert h.column(column) == ref[column], column
    np.testing.assert_allclose(h.column("time"), ref["time"], rtol=0, atol=1e-12)
    assert res.delivered_by == ref["delivered_by"] and res.reassigned == ref["lost"]
    assert res.completion_s == pytest.approx(ref["time"][-1], abs=1e-12)
    # row 0: the initial state, zero counters (Algorithm.initial_stats), not NaN
    assert h.to_frame().iloc[0][["sim_seconds", "assigned", "delivered", "attempts", "flops"]].tolist() == [0] * 5
    # the controller stopped the run in the round that delivered the last problem
    assert np.cumsum(h.column("delivered")).tolist() == [0, 29, 30]


def test_g2t_still_raises_when_it_never_completes():
    train, costs, devices, _ = g2t_case()
    net = make_network([1.0, 0.4, 0.2], churn_rate=0.5, downtime_s=2.0)
    with pytest.raises(RuntimeError, match=r"never completed: 30 of 30 .* after 4 rounds"):
        run_g2t_d(train, np.full(30, 1e8), devices, net, threshold_bytes=300, max_rounds=4)
    # no problems: only the initial row
    assert run_g2t_d(train, np.zeros(0), devices, make_network([1.0] * 3), threshold_bytes=300).history.rounds == 0


# ----------------------------------------------------------------------------- the package's layout
