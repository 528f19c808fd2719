import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydtl.core.aggregation import CumulativeFedAvg, StoreAllAggregator
from tinydtl.data.datasets import make_sphere
from tinydtl.devices import (
    ASSUMPTIONS,
    Board,
    DeviceAssumptions,
    Cost,
    Layer,
    fit_table,
    fits,
    kib,
    largest_mlp_width,
    load_boards,
    mlp_layers,
    profile,
    step_cost,
    tflite_size,
)
from tinydtl.learners.ilvq import ILVQ

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def softmax_keras():
    from tinydtl.algorithms.fedavg_tff import keras_model

    return keras_model()


@pytest.fixture(scope="module")
def boards():
    return load_boards()


def test_boards_file(boards):
    assert {"Arduino Nano 33 BLE Sense", "ESP32", "ESP32-S3", "STM32F746 Discovery", "STM32H743",
            "Raspberry Pi Pico", "Arduino Uno", "TI MSP430FR5994"} <= set(boards)
    assert boards["Arduino Uno"].sram_bytes == 2048
    assert boards["Arduino Nano 33 BLE Sense"].sram_bytes == 256 * 1024
    assert all(b.source for b in boards.values())


def test_one_set_of_device_assumptions(boards):
    """Usable SRAM, the memory unit and radio rates are defined once (tinydtl.devices.assumptions)."""
    assert ASSUMPTIONS.usable_sram_fraction == 0.75 and DeviceAssumptions() == ASSUMPTIONS
    # one cycles assumption for lessons 06 and 08: instructions per operation (lesson 06's emulator) × cycles each
    assert ASSUMPTIONS.cycles_per_op == ASSUMPTIONS.instructions_per_op * ASSUMPTIONS.cycles_per_instruction == 12.0
    assert kib(262_144) == 256.0 == ASSUMPTIONS.kib(262_144) and ASSUMPTIONS.KIB == 1024
    assert ASSUMPTIONS.usable_sram_bytes(boards["Arduino Nano 33 BLE Sense"].sram_bytes) == 196_608
    rates = {r.name: r.bitrate_bps for r in ASSUMPTIONS.radios}
    assert rates == {"BLE 1M": 1_000_000, "IEEE 802.15.4": 250_000} and all(r.source for r in ASSUMPTIONS.radios)
    # every rate the board file quotes currents at is a named radio's rate
    assert {b.radio_bitrate_bps for b in boards.values() if b.radio_bitrate_bps} <= set(rates.values())
    assert ASSUMPTIONS.bitrate_bps("BLE 1M") == boards["Arduino Nano 33 BLE Sense"].radio_bitrate_bps
    with pytest.raises(ValueError, match="radio must be one of"):
        ASSUMPTIONS.bitrate_bps("LoRa")
    assert DeviceAssumptions(usable_sram_fraction=0.5).usable_sram_bytes(2048) == 1024


def test_survey_softmax_learner_exact_bytes(softmax_keras):
    p = profile(softmax_keras, optimizer="sgd", batch_size=1)
    assert p.parameters == 7850
    assert p.weights_bytes == 31_400 == sum(w.numpy().nbytes for w in softmax_keras.weights)
    assert p.gradients_bytes == 31_400 and p.optimizer_bytes == 0
    assert p.input_bytes == 784 * 4
    assert p.activations_bytes == (10 + 10) * 4  # logits kept for backprop + one error buffer
    assert p.communication_bytes == 2 * 31_400
    # peak = persistent weights + max(train: gradients + activations + input, exchange: 2 messages)
    assert p.phases() == {"persistent": 31_400, "train": 31_400 + 80 + 784 * 4, "exchange": 2 * 31_400}
    assert p.sram_bytes == 31_400 + 2 * 31_400 and p.peak_phase == "exchange"
    assert p.sram_bytes < sum(p.components().values())  # the old sum counted phases that never coexist
    assert p.largest_component == "communication"
    adam = profile(softmax_keras, optimizer="adam")
    assert adam.optimizer_bytes == 2 * 31_400


def test_int8_and_inference(softmax_keras):
    p = profile(softmax_keras, dtype="int8", training=False, comm_buffers=0)
    assert p.weights_bytes == 7840 + 40 * 1  # int8 weights + int32 biases: 7840 + 10*4
    assert p.components()["weights"] == 0 and p.flash_bytes == 7880  # inference: weights in flash
    assert p.activations_bytes == 10 and p.input_bytes == 784  # the input is counted once, as `input`
    hidden = profile(mlp_layers([784, 128, 10]), dtype="int8", training=False, comm_buffers=0)
    assert hidden.activations_bytes == max(128, 128 + 10) and hidden.sram_bytes == 784 + 138


def test_tflite_cross_check(softmax_keras):
    """TFLite's own converter: flatbuffer = the weights we count + a small overhead."""
    int8 = tflite_size(softmax_keras, int8=True)
    f32 = tflite_size(softmax_keras, int8=False)
    assert 0 < int8 - profile(softmax_keras, dtype="int8").weights_bytes < 4096
    assert 0 < f32 - profile(softmax_keras).weights_bytes < 4096


def test_numpy_weights_match_nbytes():
    rng = np.random.default_rng(0)
    ws = [rng.random((784, 64), dtype=np.float32), np.zeros(64, np.float32),
          rng.random((64, 10), dtype=np.float32), np.zeros(10, np.float32)]
    p = profile(ws)
    assert p.weights_bytes == sum(w.nbytes for w in ws)
    assert p.parameters == 784 * 64 + 64 + 64 * 10 + 10
    assert p == profile(mlp_layers([784, 64, 10]), name="numpy weights")


def test_aggregation_matches_what_the_aggregators_allocate(softmax_keras):
    weights = [w.numpy() for w in softmax_keras.weights]
    store, cum = StoreAllAggregator(), CumulativeFedAvg(np.float32)
    for _ in range(10):
        store.add(weights, 1)
        cum.add(weights, 1)
    assert profile(softmax_keras, aggregation="store_all", neighbours=10).aggregation_bytes == store.nbytes
    assert profile(softmax_keras, aggregation="cumulative", neighbours=10).aggregation_bytes == cum.nbytes
    assert profile(softmax_keras, aggregation="cumulative", neighbours=100).aggregation_bytes == cum.nbytes


def test_ilvq_profile_matches_its_arrays():
    X, y = make_sphere(500, seed=0)
    clf = ILVQ(random_state=0).fit(X, y)
    p = profile(clf, dtype="float64", training=False, comm_buffers=0)
    assert p.parameters == clf.prototypes_.size
    assert p.weights_bytes == clf.prototypes_.nbytes + clf.n_prototypes_  # + one label byte each
    t = profile(clf, dtype="float32")
    assert t.weights_bytes == clf.prototypes_.size * 4 + clf.n_prototypes_ * (1 + 4) + len(clf.edges_) * 5


def test_the_survey_learner_with_10_neighbours(softmax_keras, boards):
    """Issue 5's question: which boards can train it with FedAvg-style aggregation of 10 neighbours?"""
    store = profile(softmax_keras, aggregation="store_all", neighbours=10)
    cum = profile(softmax_keras, aggregation="cumulative", neighbours=10)
    nano = boards["Arduino Nano 33 BLE Sense"]
    assert not fits(store, nano).fits and fits(cum, nano).fits
    assert not fits(cum, boards["Arduino Uno"]).fits
    table = fit_table({"store": store, "cumulative": cum}, boards, usable_sram_fraction=1.0)
    assert table.loc["cumulative", "ESP32"] == pytest.approx((boards["ESP32"].sram_bytes - cum.sram_bytes) / 1024)
    # by default a learner may use ASSUMPTIONS.usable_sram_fraction = 75 % of the SRAM
    default = fit_table({"store": store, "cumulative": cum}, boards)
    assert default.loc["cumulative", "ESP32"] == pytest.approx((532_480 * 3 // 4 - cum.sram_bytes) / 1024)
    assert fits(cum, nano).sram_available == 196_608 == fits(cum, nano, usable_sram_fraction=0.75).sram_available


def test_largest_mlp_width_is_the_boundary(boards):
    b = boards["Raspberry Pi Pico"]
    kw = dict(optimizer="momentum", aggregation="cumulative", neighbours=10)
    h = largest_mlp_width(b, **kw)
    assert h > 1
    assert fits(profile(mlp_layers([784, h, 10]), **kw), b).fits
    assert not fits(profile(mlp_layers([784, h + 1, 10]), **kw), b).fits
    assert largest_mlp_width(boards["Arduino Uno"], **kw) == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dtype="float16"), "dtype must be one of"),
        (dict(optimizer="rmsprop"), "optimizer must be one of"),
        (dict(aggregation="median"), "aggregation must be one of"),
        (dict(aggregation="store_all"), "needs neighbours >= 1"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(neighbours=-1), "neighbours must be an integer >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        profile(mlp_layers([784, 10]), **kwargs)


def test_bad_models_and_files(tmp_path):
    with pytest.raises(ValueError, match="must be dense layers"):
        profile([np.zeros((3, 4)), np.zeros(5)])
    with pytest.raises(TypeError, match="model must be a Keras model"):
        profile("model")
    bad = tmp_path / "b.toml"
    bad.write_text('[boards."X"]\nmcu = "m"\ncore = "c"\nclock_hz = 1\nsram_bytes = -5\nflash_bytes = 1\nsource = "s"\n')
    with pytest.raises(ValueError, match="board 'X': sram_bytes must be a positive integer"):
        load_boards(bad)
    with pytest.raises(ValueError, match=r"usable_sram_fraction must be a number in \(0, 1\]"):
        fits(profile(mlp_layers([4, 2])), load_boards()["ESP32"], usable_sram_fraction=0)
    assert Layer("d", 6, 2, 2).parameters == 8


def test_peak_is_the_maximum_over_phases_plus_what_persists():
    """Issue 11: gradients/activations never coexist with the aggregation store."""
    layers = mlp_layers([784, 10])
    big_batch = profile(layers, batch_size=64, aggregation="cumulative", neighbours=3)
    ph = big_batch.phases()
    assert ph["train"] > ph["exchange"] and big_batch.peak_phase == "train"
    assert big_batch.sram_bytes == 31_400 + 31_400 + (10 + 10) * 64 * 4 + 784 * 64 * 4
    store = profile(layers, aggregation="store_all", neighbours=10)
    assert store.peak_phase == "exchange"
    assert store.sram_bytes == 31_400 + (2 + 10) * 31_400
    adam = profile(layers, optimizer="adam", aggregation="cumulative", neighbours=2)
    assert adam.phases()["persistent"] == 31_400 * 3  # weights + two Adam slots persist through both phases
    inference = profile(layers, dtype="int8", training=False, comm_buffers=0)
    assert inference.sram_bytes == 784 + 10  # weights in flash; input and output buffers only


@pytest.mark.parametrize("max_width", [1, 3, 100, 1000, 1023, 4096])
def test_largest_mlp_width_checks_a_max_width_that_is_not_a_power_of_two(max_width, boards):
    kw = dict(optimizer="sgd")
    big = boards["STM32H743"]
    h = largest_mlp_width(big, max_width=max_width, **kw)
    assert 1 <= h <= max_width
    assert fits(profile(mlp_layers([784, h, 10]), **kw), big).fits
    if h < max_width:
        assert not fits(profile(mlp_layers([784, h + 1, 10]), **kw), big).fits
    # a board where every power of two up to 512 fits but 1000 does not: the answer is the boundary
    free = largest_mlp_width(big, **kw)
    if max_width > free:
        assert h == free


def test_largest_mlp_width_when_every_power_of_two_fits_but_max_width_does_not(boards):
    """Issue 11: the old search returned max_width unchecked once the doubling passed it."""
    big, kw = boards["STM32H743"], dict(optimizer="sgd")
    free = largest_mlp_width(big, **kw)  # 109 here: 64 fits, 128 does not
    max_width = free + 5                 # 114: every power of two up to it fits, 114 itself does not
    assert max_width < 128 and not fits(profile(mlp_layers([784, max_width, 10]), **kw), big).fits
    assert largest_mlp_width(big, max_width=max_width, **kw) == free


def test_largest_mlp_width_bad_max_width(boards):
    with pytest.raises(ValueError, match="max_width must be an integer >= 1"):
        largest_mlp_width(boards["ESP32"], max_width=0)


# ----------------------------------------------------------------------------- time and energy
def test_board_energy_fields(boards):
    nano = boards["Arduino Nano 33 BLE Sense"]
    assert nano.clock_hz == 64_000_000
    assert nano.cpu_current_a == pytest.approx(52e-6 * 64)  # 3.328 mA (datasheet: 3.3 mA at 64 MHz)
    assert (nano.radio_tx_current_a, nano.radio_rx_current_a, nano.radio_bitrate_bps) == (4.8e-3, 4.6e-3, 1_000_000)
    assert all(b.energy_source for b in boards.values() if b.supply_v is not None)
    assert boards["Raspberry Pi Pico"].cpu_current_a is None  # no single datasheet figure: left absent


def test_step_cost_hand_computed(boards):
    nano = boards["Arduino Nano 33 BLE Sense"]
    c = step_cost(nano, cycles=6_400_000, tx_bytes=31_400, rx_bytes=2 * 31_400)
    assert isinstance(c, Cost)
    assert c.compute_s == pytest.approx(0.1)  # 6.4 M cycles at 64 MHz
    assert c.radio_s == pytest.approx(8 * 94_200 / 1e6)  # 0.7536 s at 1 Mbit/s
    assert c.seconds == pytest.approx(0.1 + 0.7536)
    assert c.compute_j == pytest.approx(0.1 * 3.328e-3 * 3.0)  # 0.9984 mJ
    assert c.radio_j == pytest.approx((0.2512 * 4.8e-3 + 0.5024 * 4.6e-3) * 3.0)
    assert c.joules == pytest.approx(c.compute_j + c.radio_j)
    via_macs = step_cost(nano, macs=1_600_000, cycles_per_mac=4)
    assert via_macs.compute_s == pytest.approx(0.1) and via_macs.radio_s == 0 and via_macs.radio_j == 0
    assert step_cost(nano, cycles=64e6, voltage=1.8).joules == pytest.approx(3.328e-3 * 1.8)
    assert step_cost(nano) == Cost(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_step_cost_unknown_energy_is_none_not_a_guess(boards):
    pico = boards["Raspberry Pi Pico"]
    c = step_cost(pico, cycles=133_000_000)
    assert c.compute_s == pytest.approx(1.0) and c.joules is None and c.compute_j is None
    msp = boards["TI MSP430FR5994"]
    assert step_cost(msp, cycles=16e6).joules == pytest.approx(118e-6 * 16 * 3.0)
    with pytest.raises(ValueError, match="has no radio_bitrate_bps"):
        step_cost(msp, cycles=1, tx_bytes=10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cycles=-1), r"cycles must be a number in \[0"),
        (dict(cycles=float("nan")), "cycles must be a number"),
        (dict(cycles=1, macs=1, cycles_per_mac=1), "not both"),
        (dict(macs=10), "cycles_per_mac must be given with macs"),
        (dict(macs=10, cycles_per_mac=0), r"cycles_per_mac must be a number in \(0"),
        (dict(cycles=10, cycles_per_mac=2), "only used with macs"),
        (dict(tx_bytes=-1), "tx_bytes must be an integer >= 0"),
        (dict(rx_bytes=1.5), "rx_bytes must be an integer >= 0"),
        (dict(cycles=1, voltage=0), r"voltage must be a number in \(0"),
    ],
)
def test_step_cost_bad_arguments(kwargs, match, boards):
    with pytest.raises(ValueError, match=match):
        step_cost(boards["Arduino Nano 33 BLE Sense"], **kwargs)


def test_step_cost_needs_a_board():
    with pytest.raises(TypeError, match="board must be a tinydtl.devices.Board or a board name"):
        step_cost(52840, cycles=1)
    with pytest.raises(ValueError, match="board 'nRF52840' is not in .*known boards: Arduino Nano 33 BLE Sense"):
        step_cost("nRF52840", cycles=1)
    assert step_cost("Arduino Nano 33 BLE Sense", cycles=64e6) == step_cost(load_boards()["Arduino Nano 33 BLE Sense"], cycles=64e6)


def test_bad_energy_fields(tmp_path):
    base = '[boards."X"]\nmcu = "m"\ncore = "c"\nclock_hz = 1\nsram_bytes = 5\nflash_bytes = 1\nsource = "s"\n'
    f = tmp_path / "b.toml"
    f.write_text(base + "radio_tx_current_a = -1.0\nenergy_source = 'x'\n")
    with pytest.raises(ValueError, match="radio_tx_current_a must be a positive number"):
        load_boards(f)
    f.write_text(base + "supply_v = 3.0\n")
    with pytest.raises(ValueError, match="without an energy_source"):
        load_boards(f)
    f.write_text(base + "colour = 'red'\n")
    with pytest.raises(ValueError, match="unknown field"):
        load_boards(f)
    assert isinstance(load_boards(tmp_path / "b.toml" if False else None)["ESP32"], Board)


@pytest.mark.parametrize("cycles, tx, rx", [(0, 0, 0), (1, 1, 1), (123_456, 31_400, 314_000), (7.5e6, 0, 94_200)])
def test_step_cost_is_additive(cycles, tx, rx, boards):
    nano = boards["Arduino Nano 33 BLE Sense"]
    whole = step_cost(nano, cycles=cycles, tx_bytes=tx, rx_bytes=rx)
    compute, send, receive = step_cost(nano, cycles=cycles), step_cost(nano, tx_bytes=tx), step_cost(nano, rx_bytes=rx)
    assert whole.seconds == pytest.approx(compute.seconds + send.seconds + receive.seconds)
    assert whole.joules == pytest.approx(compute.joules + send.joules + receive.joules)
    assert whole.seconds >= 0 and whole.joules >= 0


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300), min_size=2, max_size=4),
    dtype=st.sampled_from(["float32", "int8", "float64"]),
    training=st.booleans(),
    optimizer=st.sampled_from(["sgd", "momentum", "adam"]),
    batch=st.integers(1, 64),
    aggregation=st.sampled_from(["none", "store_all", "cumulative"]),
    neighbours=st.integers(1, 20),
)
def test_peak_lies_between_the_largest_phase_and_the_sum(sizes, dtype, training, optimizer, batch, aggregation, neighbours):
    p = profile(mlp_layers(sizes), dtype=dtype, training=training, optimizer=optimizer, batch_size=batch,
                aggregation=aggregation, neighbours=neighbours if aggregation != "none" else 0)
    ph = p.phases()
    assert sum(ph.values()) == sum(p.components().values())
    assert max(ph.values()) <= p.sram_bytes <= sum(p.components().values())
    assert p.sram_bytes == ph["persistent"] + ph[p.peak_phase]
    if aggregation == "cumulative":  # Cumulative FedAvg's peak does not depend on the number of neighbours
        other = profile(mlp_layers(sizes), dtype=dtype, training=training, optimizer=optimizer, batch_size=batch,
                        aggregation=aggregation, neighbours=neighbours + 7)
        assert other.sram_bytes == p.sram_bytes
