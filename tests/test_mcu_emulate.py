"""The device's round on an emulated Cortex-M4F (QEMU mps2-an386) against the memory formulas and numpy.

Needs the Debian packages gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm. Without
them the tests skip, saying so; with the environment variable CI set they fail instead.
"""


import numpy as np
import pytest
from support import require

from tinydtl.devices.emulate import (
    TICK_INSTRUCTIONS,
    emulate_round,
    link_check,
    make_round_data,
    predicted_profile,
    reference_round,
    toolchain_problem,
)
from tinydtl.devices import load_boards

# Measured RAM (.data + .bss + painted stack peak) minus tinydtl.devices.profile()'s prediction must lie in
# [0, RAM_MARGIN]. What the formula does not count, all small and independent of the model size:
# the stack (~130 B: main, the SGD step, the semihosting writer), newlib-nano's reentrancy struct in
# .data (104 B, pulled in by libm's errno), the semihosting line buffer and exit block (~100 B), the
# batch's labels (BATCH bytes), the received sample counts (4 B per neighbour, store-all) and
# alignment padding. Measured here: 332-372 B.
RAM_MARGIN = 512
BATCH = 4


def require_toolchain():
    require(toolchain_problem(), "the emulated MCU")


@pytest.fixture(scope="module")
def rounds():
    require_toolchain()
    return {(agg, n): emulate_round(784, 10, BATCH, n, agg, seed=1)
            for agg in ("store_all", "cumulative") for n in (1, 5, 10)}


@pytest.mark.parametrize("aggregation", ["store_all", "cumulative"])
@pytest.mark.parametrize("neighbours", [1, 5, 10])
def test_predicted_ram_matches_the_emulated_device(rounds, aggregation, neighbours):
    r = rounds[(aggregation, neighbours)]
    predicted = predicted_profile(784, 10, BATCH, neighbours, aggregation).sram_bytes
    assert 0 <= r.ram_bytes - predicted <= RAM_MARGIN, (r.ram_bytes, predicted)
    assert 0 < r.stack_bytes < 256 and r.data_bytes < 256  # the margin's two largest parts stay small


@pytest.mark.parametrize("aggregation", ["store_all", "cumulative"])
@pytest.mark.parametrize("neighbours", [1, 5, 10])
def test_emulated_weights_equal_numpy(rounds, aggregation, neighbours):
    r = rounds[(aggregation, neighbours)]
    trained, averaged = reference_round(make_round_data(784, 10, BATCH, neighbours, seed=1))
    assert r.trained.dtype == np.float32 and r.trained.shape == (7850,)
    # float32 tolerance: 784-term dot products in single precision, relative error ~1e-6 of |w| ~ 0.01
    np.testing.assert_allclose(r.trained, trained, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(r.weights, averaged, rtol=1e-5, atol=1e-7)
    assert not np.allclose(r.trained, make_round_data(784, 10, BATCH, neighbours, seed=1).initial)  # it did train


def test_store_all_grows_by_one_model_per_neighbour_and_cumulative_does_not(rounds):
    per_model = 7850 * 4 + 4  # a float32 model + its uint32 sample count
    s1, s5, s10 = (rounds[("store_all", n)].bss_bytes for n in (1, 5, 10))
    assert s5 - s1 == 4 * per_model and s10 - s5 == 5 * per_model
    c1, c5, c10 = (rounds[("cumulative", n)].static_ram_bytes for n in (1, 5, 10))
    assert c1 == c5 == c10


def test_the_nrf52840_verdict_on_the_emulated_device(rounds):
    """The bilayer paper's claim, measured: 10 stored models do not fit in 256 KB, Cumulative FedAvg does."""
    nano = load_boards()["Arduino Nano 33 BLE Sense"]
    assert rounds[("store_all", 10)].ram_bytes > nano.sram_bytes
    assert rounds[("cumulative", 10)].ram_bytes < nano.sram_bytes / 2


def test_instruction_counts_scale_with_the_work(rounds):
    train = [r.instructions["train"] for r in rounds.values()]
    assert max(train) - min(train) < 0.02 * min(train)  # same SGD step in every configuration
    # ~2 x 7,850 x BATCH multiply-adds plus the update: more than 4 instructions per MAC is plausible for -O2 code
    assert 2 * 7850 * BATCH < min(train) < 40 * 7850 * BATCH
    c = {n: rounds[("cumulative", n)].instructions["exchange"] for n in (1, 5, 10)}
    per_neighbour = (c[10] - c[5]) / 5
    assert per_neighbour == pytest.approx((c[5] - c[1]) / 4, rel=0.01)  # linear in the neighbours
    assert 7850 < per_neighbour < 20 * 7850


def test_timer_count_equals_the_execution_log():
    """-icount shift=0 + the 25 MHz timer vs one log line per executed instruction: within one tick."""
    require_toolchain()
    r = emulate_round(8, 3, 2, 3, "store_all", trace=True)
    for phase, exact in r.instructions_traced.items():
        assert abs(r.instructions[phase] - exact) <= TICK_INSTRUCTIONS, (phase, r.instructions, r.instructions_traced)
    assert r.instructions_traced["train"] > 100
    trained, averaged = reference_round(make_round_data(8, 3, 2, 3))
    np.testing.assert_allclose(r.weights, averaged, rtol=1e-5, atol=1e-7)


def test_same_seed_same_numbers():
    a, b = make_round_data(20, 4, 3, 2, seed=5), make_round_data(20, 4, 3, 2, seed=5)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("initial", "x", "y", "received", "counts"))
    assert not np.array_equal(a.x, make_round_data(20, 4, 3, 2, seed=6).x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_features=0), "n_features must be an integer >= 1"),
        (dict(n_classes=1), "n_classes must be an integer >= 2"),
        (dict(n_classes=300), r"n_classes must be an integer in \[2, 256\]"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(neighbours=0), "neighbours must be an integer >= 1"),
        (dict(lr=0.0), r"lr must be a number in \(0"),
        (dict(seed=-1), "seed must be an integer >= 0"),
    ],
)
def test_bad_round_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_round_data(**kwargs)


def test_bad_aggregation_and_timeout():
    with pytest.raises(ValueError, match="aggregation must be one of"):
        emulate_round(aggregation="median")
    with pytest.raises(ValueError, match="aggregation must be one of"):
        predicted_profile(aggregation="none")
    with pytest.raises(ValueError, match=r"timeout must be a number in \(0"):
        emulate_round(timeout=0)
    with pytest.raises(ValueError, match="the emulated board has 4,194,304 B"):
        emulate_round(784, 10, 1, 200, "store_all")


def test_missing_toolchain_is_named(monkeypatch):
    import tinydtl.devices.emulate as emu

    monkeypatch.setattr(emu.shutil, "which", lambda tool: None if tool == "qemu-system-arm" else "/usr/bin/" + tool)
    assert "qemu-system-arm not found" in emu.toolchain_problem()
    with pytest.raises(emu.ToolchainMissing, match="install the Debian packages"):
        emu.emulate_round(8, 3, 1, 1)


def test_the_linker_agrees_on_the_nrf52840():
    """The toolchain's own verdict: linked into the nRF52840's 256 KB, store-all with 10 neighbours overflows
    the RAM region by what the formula predicts (minus 256 KB, plus the stack reserve and the small parts);
    Cumulative FedAvg links."""
    require_toolchain()
    nano = load_boards()["Arduino Nano 33 BLE Sense"].sram_bytes
    store = link_check(nano, 784, 10, 1, 10, "store_all")
    assert not store.fits
    predicted = predicted_profile(784, 10, 1, 10, "store_all").sram_bytes
    assert 0 <= store.overflow_bytes - (predicted + store.stack_reserve - nano) <= RAM_MARGIN
    assert link_check(nano, 784, 10, 1, 10, "cumulative").fits
    with pytest.raises(ValueError, match="ram_bytes must be an integer >= 1"):
        link_check(0)
