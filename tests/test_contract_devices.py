"""The input contract of the devices layer (tinydtl.devices, tinydtl.devices.emulate, RockNet's cost table).

Bad input gets a ValueError/TypeError naming the parameter, what it got and what is allowed, before any
work or allocation. Each case failed before its fix (a crash with another error, a silent truncation,
an accepted bool or infinity, or gigabytes allocated before a size check). Names are looked up when a
case runs, so one missing name fails its own cases only.

Every case runs under an address-space limit (Linux): a function that allocated gigabytes before
checking its sizes fails with MemoryError here instead of exhausting the machine.
"""

from __future__ import annotations

import importlib
import math
import types
from pathlib import Path

import numpy as np
import pytest

MODULES = {"": "tinydtl.devices", "emulate": "tinydtl.devices.emulate", "assumptions": "tinydtl.devices.assumptions",
           "rocknet": "tinydtl.papers.rocknet.cost"}
NANO, ESP32 = "Arduino Nano 33 BLE Sense", "ESP32"
BOARD = '[boards."X"]\nmcu = "m"\ncore = "c"\nclock_hz = 1\nsram_bytes = 5\nflash_bytes = 1\nsource = "s"\n'
BOARD_FIELDS = dict(name="X", mcu="m", core="c", clock_hz=1, sram_bytes=5, flash_bytes=1, source="s")


def api(name):
    """``"fits"`` or ``"emulate.emulate_round"``: the public name, looked up when the case runs."""
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(MODULES[module]), attr)


class Lazy:
    """An argument built when the case runs (from the package's own objects)."""

    def __init__(self, make):
        self.make = make

    def __call__(self):
        return self.make()


PROFILE = Lazy(lambda: api("profile")(api("mlp_layers")([784, 10])))
LAYERS = Lazy(lambda: api("mlp_layers")([784, 10]))
BOARDS = Lazy(lambda: api("load_boards")())
NANO_BOARD = Lazy(lambda: api("load_boards")()[NANO])
FAKE_KERAS = Lazy(lambda: types.SimpleNamespace(input_shape=(None, 4), name="fake"))


def boards_file(text):
    """Write ``text`` to ``boards.toml`` in the working directory (a tmp_path) and load it."""
    Path("boards.toml").write_text(text)
    return api("load_boards")("boards.toml")


def call(name):
    return lambda **kw: api(name)(**kw)


CASES = [
    # ------------------------------------------------------------------ board files and boards
    ("toml syntax", boards_file, dict(text='[boards."X"\nmcu = "m"\n'), ValueError,
     r"boards\.toml: not a valid TOML file"),
    ("boards not a table", boards_file, dict(text="boards = 5\n"), ValueError, r"boards\.toml: `boards` must be a table"),
    ("board not a table", boards_file, dict(text="[boards]\nX = 5\n"), ValueError,
     r"boards\.toml: board 'X' must be a table of fields, got 5"),
    ("bool clock", boards_file, dict(text=BOARD.replace("clock_hz = 1", "clock_hz = true")), ValueError,
     r"boards\.toml: board 'X': clock_hz must be a positive integer, got True"),
    ("number as mcu name", boards_file, dict(text=BOARD.replace('mcu = "m"', "mcu = 5")), ValueError,
     r"boards\.toml: board 'X': mcu must be a non-empty string, got 5"),
    ("infinite supply", boards_file, dict(text=BOARD + "supply_v = inf\nenergy_source = 's'\n"), ValueError,
     r"boards\.toml: board 'X': supply_v must be a positive number when given, got inf"),
    ("Board with clock 0", call("Board"), dict(BOARD_FIELDS, clock_hz=0), ValueError,
     r"clock_hz must be a positive integer, got 0"),
    ("Board with NaN current", call("Board"), dict(BOARD_FIELDS, active_current_a=math.nan, energy_source="s"),
     ValueError, r"active_current_a must be a positive number when given, got nan"),
    # ------------------------------------------------------------------ layers and profiles
    ("fractional width", call("mlp_layers"), dict(sizes=[784, 10.7]), ValueError,
     r"sizes must list >= 2 positive integer layer widths .*10\.7"),
    ("bool width", call("mlp_layers"), dict(sizes=[784, True]), ValueError, r"sizes must list .*True"),
    ("widths as a string", call("mlp_layers"), dict(sizes="784"), ValueError, r"sizes must list .*'784'"),
    ("width not a list", call("mlp_layers"), dict(sizes=784), ValueError, r"sizes must list .*784"),
    ("negative Layer", call("Layer"), dict(name="d", weights=-1, biases=2, output_size=2), ValueError,
     r"weights must be an integer >= 0, got -1"),
    ("training not a bool", call("profile"), dict(model=LAYERS, training="no"), TypeError,
     r"training must be True or False, got str 'no'"),
    ("dtype as a list", call("profile"), dict(model=LAYERS, dtype=["int8"]), ValueError,
     r"dtype must be one of 'float32', 'int8', 'float64', got \['int8'\]"),
    ("name not a string", call("profile"), dict(model=LAYERS, name=5), TypeError, r"name must be a string or None, got int 5"),
    # ------------------------------------------------------------------ verdicts
    ("unknown board name", call("fits"), dict(p=PROFILE, board="ESP-32"), ValueError,
     r"board 'ESP-32' is not in .*boards\.toml; known boards: .*ESP32"),
    ("board not a board", call("fits"), dict(p=PROFILE, board=42), TypeError,
     r"board must be a tinydtl\.devices\.Board or a board name .*int 42"),
    ("profile not a profile", call("fits"), dict(p={"sram_bytes": 1}, board=NANO_BOARD), TypeError,
     r"p must be a MemoryProfile .*got dict"),
    ("bool fraction", call("fits"), dict(p=PROFILE, board=NANO_BOARD, usable_sram_fraction=True), ValueError,
     r"usable_sram_fraction must be a number in \(0, 1\], got True"),
    ("text fraction", call("fits"), dict(p=PROFILE, board=NANO_BOARD, usable_sram_fraction="0.5"), ValueError,
     r"usable_sram_fraction must be a number in \(0, 1\], got '0\.5'"),
    ("profiles as a list", call("fit_table"), dict(profiles=[PROFILE], boards=BOARDS), TypeError,
     r"profiles must be a dict label -> MemoryProfile, got list"),
    ("boards as one name", call("fit_table"), dict(profiles={"p": PROFILE}, boards=ESP32), TypeError,
     r"boards must be a dict of boards .*got str"),
    ("fractional inputs", call("largest_mlp_width"), dict(board=NANO_BOARD, n_inputs=784.5), ValueError,
     r"n_inputs must be an integer >= 1, got 784\.5"),
    ("bool fraction, widest MLP", call("largest_mlp_width"), dict(board=NANO_BOARD, usable_sram_fraction=True), ValueError,
     r"usable_sram_fraction must be a number in \(0, 1\], got True"),
    ("NaN default fraction", call("assumptions.DeviceAssumptions"), dict(usable_sram_fraction=math.nan), ValueError,
     r"usable_sram_fraction must be a number in \(0, 1\], got nan"),
    ("zero cycles per instruction", call("assumptions.DeviceAssumptions"), dict(cycles_per_instruction=0.0), ValueError,
     r"cycles_per_instruction must be a number in \(0, ∞\), got 0.0"),
    ("bool byte count in KiB", call("kib"), dict(nbytes=True), ValueError, r"nbytes must be a (finite )?number"),
    # ------------------------------------------------------------------ time and energy
    ("unknown board, step cost", call("step_cost"), dict(board="nRF52840", cycles=1), ValueError,
     r"board 'nRF52840' is not in .*known boards: Arduino Nano 33 BLE Sense"),
    ("RockNet: unknown board", call("rocknet.device_costs"),
     dict(length=150, n_classes=2, n_devices=1, board="nRF52840"), ValueError, r"board 'nRF52840' is not in"),
    ("RockNet: bool cycles per op", call("rocknet.device_costs"),
     dict(length=150, n_classes=2, n_devices=1, board=NANO_BOARD, cycles_per_op=True), ValueError,
     r"cycles_per_op must be a number in \(0, ∞\), got True"),
    ("RockNet: infinite cycles per op", call("rocknet.device_costs"),
     dict(length=150, n_classes=2, n_devices=1, board=NANO_BOARD, cycles_per_op=math.inf), ValueError,
     r"cycles_per_op must be a number in \(0, ∞\), got inf"),
    # ------------------------------------------------------------------ TensorFlow Lite (checked before TensorFlow starts)
    ("fractional Keras width", call("keras_mlp"), dict(sizes=[784, 10.5]), ValueError, r"sizes must list .*10\.5"),
    ("int8 not a bool", call("tflite_flatbuffer"), dict(keras_model=FAKE_KERAS, int8="yes"), TypeError,
     r"int8 must be True or False, got str 'yes'"),
    ("representative of the wrong width", call("tflite_flatbuffer"),
     dict(keras_model=FAKE_KERAS, int8=True, representative=np.zeros((3, 5))), ValueError,
     r"representative must hold rows of the model's 4 inputs .*got shape \(3, 5\)"),
    ("dtypes as a string", call("tflm_memories"), dict(models={"m": FAKE_KERAS}, dtypes="int8"), TypeError,
     r"dtypes must be a non-empty tuple"),
    # ------------------------------------------------------------------ the emulated board: sizes before allocation
    ("emulated round too big", call("emulate.emulate_round"), dict(n_features=10**8), ValueError,
     r"the emulated board has 4,194,304 B"),
    ("linked round too big", call("emulate.link_check"), dict(ram_bytes=262_144, n_features=10**8), ValueError,
     r"flash tables; the emulated board has 4,194,304 B"),
    ("round data too big", call("emulate.make_round_data"), dict(n_features=10**8), ValueError,
     r"flash tables; the emulated board has 4,194,304 B"),
    ("trace not a bool", call("emulate.emulate_round"), dict(n_features=8, n_classes=3, trace="yes"), TypeError,
     r"trace must be True or False"),
]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def no_huge_allocation():
    """Cap the address space at what the process uses + 3 GiB while a case runs (Linux only)."""
    try:
        import resource
        vm = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmSize:"))
    except (ImportError, OSError, StopIteration):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm + (3 << 30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("what, func, kwargs, error, match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_by_name(what, func, kwargs, error, match):
    kwargs = {k: v() if isinstance(v, Lazy) else v for k, v in kwargs.items()}
    with pytest.raises(error, match=match):
        func(**kwargs)


# ---------------------------------------------------------------------- what the checks must still let through
def test_a_board_name_works_wherever_a_board_does():
    boards = api("load_boards")()
    p = api("profile")(api("mlp_layers")([784, 10]), aggregation="cumulative", neighbours=10)
    assert api("fits")(p, ESP32) == api("fits")(p, boards[ESP32])
    kw = dict(optimizer="momentum", aggregation="cumulative", neighbours=10)
    assert api("largest_mlp_width")("Raspberry Pi Pico", **kw) == api("largest_mlp_width")(boards["Raspberry Pi Pico"], **kw)
    by_name = api("fit_table")({"p": p}, [NANO, ESP32])
    assert list(by_name.columns) == [NANO, ESP32]
    assert by_name.equals(api("fit_table")({"p": p}, {b: boards[b] for b in (NANO, ESP32)}))
    rocknet = api("rocknet.cost_vs_devices")(150, 2, NANO, devices=[1, 4])
    assert rocknet.equals(api("rocknet.cost_vs_devices")(150, 2, boards[NANO], devices=[1, 4]))
    assert rocknet["usable_sram_bytes"].tolist() == [196_608, 196_608]


def test_numpy_numbers_are_numbers():
    assert api("mlp_layers")(np.array([784, 10]))[0].weights == 7840
    assert api("mlp_layers")(range(2, 5))[-1].output_size == 4
    nano = api("load_boards")()[NANO]
    p = api("profile")(api("mlp_layers")([4, 2]))
    assert api("fits")(p, nano, usable_sram_fraction=np.float32(0.5)).sram_available == 131_072
    from tinydtl.devices.assumptions import ASSUMPTIONS

    costs = api("rocknet.device_costs")(150, 2, 1, nano, cycles_per_op=np.float32(ASSUMPTIONS.cycles_per_op))
    assert costs["seconds"].iloc[0] == api("rocknet.device_costs")(150, 2, 1, nano)["seconds"].iloc[0]


def test_the_size_check_allows_what_fits():
    data = api("emulate.make_round_data")(784, 10, 1, 10)
    assert data.received.shape == (10, 7850)
    with pytest.raises(ValueError, match="the emulated board has 4,194,304 B"):
        api("emulate.make_round_data")(784, 10, 1, 200)  # 200 models of 31 KB: 6.3 MB of flash tables

