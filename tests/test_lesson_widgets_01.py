"""Lesson 01 (survey taxonomy): the explore widget driven through its whole range, the from-scratch
compressors against the package, and the lesson module's split-learning comparison (the exercise checks
are tested in tests/test_exercises_01.py).

The widget test runs only the lesson's ``parameters``, ``setup`` and ``widget`` cells (see
``tests/support.py``) and calls ``explore`` with every control at its extremes; what it drew is checked
against the package: accuracies are real (finite, in [0, 1]), the bytes are the compressed sizes of
:mod:`tinydtl.core.compression`, attackers never help the plain mean and fewer bits never send more bytes.
"""


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from support import drawn, exercise_cell, lesson_widget, settings  # noqa: E402

from tinydtl.core.compression import Compressor, ErrorFeedback, quantize, top_k  # noqa: E402
from tinydtl.core.traffic import payload_bytes  # noqa: E402
from tinydtl.lab.widgets import trial_values  # noqa: E402

STEM = "01_survey_taxonomy"
N_PARAMS = 784 * 10 + 10  # the softmax learner on MNIST


def update_bytes(compression):
    """Bytes of one client's update under ``compression``, from the package's compressors."""
    if compression == "none":
        return payload_bytes(N_PARAMS)
    if compression.startswith("q"):
        return quantize(np.zeros(N_PARAMS, np.float32), int(compression[1:]))[1]
    k = max(1, int(round(float(compression[3:]) * N_PARAMS)))
    return top_k(np.ones(N_PARAMS, np.float32), k)[1]


@pytest.fixture(scope="module")
def widget():
    return lesson_widget(STEM)


def curves(fn, **kwargs):
    _, axes = drawn(fn, kwargs)
    acc, clean = (np.asarray(line.get_ydata(), dtype=float) for line in axes[0].get_lines()[:2])
    mb = np.asarray(axes[1].get_lines()[0].get_ydata(), dtype=float)
    return acc, clean, mb, axes


def test_lesson01_widget_draws_real_accuracy_and_the_package_bytes_at_every_extreme(widget):
    (fn, controls), ns = widget
    assert set(controls) == {"aggregator", "attackers", "compression", "error_feedback"}
    rounds, clients = ns["WIDGET_ROUNDS"], ns["N_CLIENTS"]
    assert controls["attackers"].min == 0 and controls["attackers"].max <= clients // 2
    assert set(trial_values(controls["error_feedback"])) == {False, True}
    for kwargs in settings(fn, controls, limit=30):
        acc, clean, mb, axes = curves(fn, **kwargs)
        assert len(acc) == len(mb) == rounds + 1, kwargs
        assert np.all(np.isfinite(acc)) and np.all((0 <= acc) & (acc <= 1)), (kwargs, acc)
        assert f"{acc[-1]:.3f}" in axes[0].get_title()
        assert mb[0] == 0 and np.all(np.diff(mb) > 0), kwargs  # every round uploads something
        want = rounds * clients * update_bytes(kwargs["compression"]) / 1e6
        assert mb[-1] == pytest.approx(want, rel=1e-12), (kwargs, mb[-1], want)
        if kwargs["attackers"] == 0 and kwargs["compression"] == "none" and kwargs["aggregator"] == "mean":
            np.testing.assert_array_equal(acc, clean)  # error feedback is ignored without compression
    plt.close("all")
    # live, error feedback is greyed out where there is nothing to feed back
    for compression in trial_values(controls["compression"]):
        controls["compression"].value = compression
        assert controls["error_feedback"].disabled == (compression == "none"), compression


def test_lesson01_widget_attackers_never_help_the_mean_and_fewer_bits_never_send_more(widget):
    (fn, controls), ns = widget
    most = controls["attackers"].max
    final = {a: curves(fn, aggregator="mean", attackers=a, compression="none", error_feedback=False)[0][-1]
             for a in range(most + 1)}
    clean = final[0]
    assert all(final[a] < clean - 0.2 for a in range(1, most + 1)), final  # one attacker already drags the mean down
    # the median holds below half the devices
    median = curves(fn, aggregator="median", attackers=most - 1, compression="none", error_feedback=False)[0][-1]
    assert median > clean - 0.05, (median, clean)
    uploaded = {c: curves(fn, aggregator="mean", attackers=0, compression=c, error_feedback=False)[2][-1]
                for c in ("none", "q8", "q4", "q2")}
    assert uploaded["q2"] < uploaded["q4"] < uploaded["q8"] < uploaded["none"], uploaded
    # error feedback sends the same bytes and, for top-1 %, wins accuracy back
    plain, _, mb_plain, _ = curves(fn, aggregator="mean", attackers=0, compression="top0.01", error_feedback=False)
    fed_back, _, mb_ef, _ = curves(fn, aggregator="mean", attackers=0, compression="top0.01", error_feedback=True)
    np.testing.assert_array_equal(mb_plain, mb_ef)
    assert fed_back[-1] > plain[-1], (fed_back[-1], plain[-1])
    plt.close("all")


def test_widget_outcome_table_backs_its_notice(widget):
    """The table after the widget is the widget's own cached runs; what its notice states holds in it."""
    (fn, controls), ns = widget
    ns = dict(ns)
    exec(exercise_cell(STEM, "# The widget at a few settings"), ns)
    table, half = ns["widget_table"], controls["attackers"].max
    assert half == ns["w_half"]
    acc = table["final accuracy"]
    for label, args in ns["w_settings"].items():
        want_acc, want_up = ns["widget_run"](*args)
        assert acc[label] == want_acc[-1] and table.loc[label, "MB uploaded"] == want_up[-1] / 1e6, label
    assert table["points vs clean"].iloc[0] == 0 and table["% of float32's bytes"].iloc[0] == 100
    assert table.loc["mean, 1 attacker", "points vs clean"] < -20  # "far below"
    assert table.loc[f"median, {half - 1} attackers", "points vs clean"] > -5  # "within a few points"
    for compressed in ("mean, 2-bit", "mean, top-1 %", "mean, top-1 % + error feedback"):
        assert 1 <= table.loc[compressed, "% of float32's bytes"] < 10, compressed  # "a few per cent"
    assert acc["mean, top-1 % + error feedback"] > acc["mean, top-1 %"]  # error feedback raises it ...
    assert table.loc["mean, top-1 % + error feedback", "MB uploaded"] == table.loc["mean, top-1 %", "MB uploaded"]  # ... same bytes
    plt.close("all")


def from_scratch_namespace(draws=2000):
    from tinydtl.lab.lesson import expect

    ns = {"np": np, "pd": pd, "SEED": 0, "QUANT_DRAWS": draws, "expect": expect}
    exec(exercise_cell(STEM, "# From scratch"), ns)  # runs the lesson's own asserts against the package
    exec(exercise_cell(STEM, "# Error feedback around top-k"), ns)
    return ns


def test_from_scratch_quantiser_and_top_k_match_the_package_bit_for_bit():
    ns = from_scratch_namespace()
    my_quantize, my_top_k = ns["my_quantize"], ns["my_top_k"]
    for seed in range(5):
        x = np.random.default_rng(100 + seed).normal(size=(50 * (seed + 1),)).astype(np.float32) * 10 ** (seed - 2)
        for bits in (1, 3, 8, 16):
            mine, pkg = my_quantize(x, bits, np.random.default_rng(seed)), quantize(x, bits, np.random.default_rng(seed))
            np.testing.assert_array_equal(mine[0], pkg[0])
            assert mine[1] == pkg[1]
            # the same levels as the Compressor that fedavg runs, seeded alike
            np.testing.assert_array_equal(mine[0], Compressor(f"q{bits}", seed=seed)(x)[0])
        for k in (1, len(x) // 3, len(x)):
            np.testing.assert_array_equal(my_top_k(x, k)[0], top_k(x, k)[0])
            assert my_top_k(x, k)[1] == top_k(x, k)[1]


def test_from_scratch_quantiser_is_unbiased_and_error_feedback_loses_nothing():
    ns = from_scratch_namespace()
    my_quantize, my_top_k = ns["my_quantize"], ns["my_top_k"]
    x = np.array([0.0, 0.1, 0.3, 0.5, 0.9, 1.0], np.float32)
    rng = np.random.default_rng(1)
    draws = np.array([my_quantize(x, 1, rng)[0] for _ in range(20000)])
    assert set(np.unique(draws)) <= {0.0, 1.0}  # 1 bit: only the two ends
    np.testing.assert_allclose(draws.mean(axis=0), x, atol=4 * 0.5 / np.sqrt(20000))  # E[Q(x)] = x
    # the residual identity, exactly, over many rounds; and the package's ErrorFeedback agrees
    ef = ErrorFeedback(lambda v: top_k(v, 3))
    residual = np.zeros(20, np.float32)
    for update in np.random.default_rng(2).normal(size=(30, 20)).astype(np.float32):
        corrected = update + residual
        sent = my_top_k(corrected, 3)[0]
        assert np.array_equal(sent + (corrected - sent), update + residual)
        np.testing.assert_array_equal(sent, ef(update)[0])
        residual = corrected - sent
        np.testing.assert_array_equal(residual, ef.residual)


def test_split_vs_fedavg_counts_every_byte_and_compares_at_the_same_accuracy():
    """The lesson module's like-for-like table: split learning's bytes are the closed form (activations,
    labels, hand-overs), FedAvg's a server round per epoch, and 'to the target' is the first epoch that reaches it."""
    from tinydtl.algorithms.decentralized import run_decentralized
    from tinydtl.algorithms.split import run_split_learning, split_bytes_per_epoch
    from tinydtl.core.traffic import star_traffic
    from tinydtl.data.partition import iid
    from tinydtl.lab.lessons import l01_survey_taxonomy as lesson
    from tinydtl.learners.mlp import MLPModel
    from tinydtl.networks.topology import complete

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(300, 16), dtype=np.uint8)
    y = (x[:, 0] > 127).astype(np.int64)
    parts = iid(y[:200], 4, seed=0)
    split = run_split_learning(x[:200], y[:200], parts, hidden=5, epochs=3, lr=0.05, x_test=x[200:], y_test=y[200:])
    model = MLPModel(16, 5, 2)
    fed = run_decentralized(x[:200], y[:200], parts, scheme="local_sgd_gossip", graph=complete(4), rounds=3, lr=0.05,
                            model=model, x_test=x[200:], y_test=y[200:])
    round_ = star_traffic(np.full(4, payload_bytes(model.n_params)), payload_bytes(model.n_params))
    per_epoch, table = lesson.split_vs_fedavg(split, fed, round_, n_samples=200, target=0.0)
    # the first epoch makes 3 hand-overs of layer 1, every later one 4 (the last device hands back to the first)
    first, later = (split_bytes_per_epoch(200, 5, n_features=16, n_devices=4, first=f) for f in (True, False))
    assert later - first == 4 * (16 * 5 + 5)
    assert per_epoch["split learning: MB"].iloc[-1] * 1e6 == pytest.approx(first + 2 * later)
    assert per_epoch["FedAvg: MB"].iloc[-1] * 1e6 == pytest.approx(3 * (round_.bytes_up + round_.bytes_down))
    assert table.loc["labels the server receives per epoch", "split learning"] == 200
    assert table.loc["labels the server receives per epoch", "FedAvg"] == 0
    assert table.loc["epochs to 0%", "split learning"] == 0 and table.loc["MB to 0%", "FedAvg"] == 0  # reached at once
    _, never = lesson.split_vs_fedavg(split, fed, round_, n_samples=200, target=1.01)
    assert never.loc["epochs to 101%", "FedAvg"] is None and never.loc["MB to 101%", "split learning"] is None
    assert table.loc["transmissions per epoch", "FedAvg"] == 8  # 4 uploads, 4 downloads
