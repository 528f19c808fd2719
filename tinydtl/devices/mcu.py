"""MCU memory accounting: will this model, trained this way, fit this board?

A :class:`MemoryProfile` breaks the memory a device needs into components, built from a real model
object (a Keras model, a list of numpy weight arrays, a fitted :class:`~tinydtl.learners.ilvq.ILVQ`):

==================  =======================================================================
component           bytes (``b`` = bytes per element of ``dtype``, ``B`` = batch size)
==================  =======================================================================
weights             parameters × b; for ``int8``: weights 1 byte, biases int32 (TFLite's
                    scheme). In flash for inference; in SRAM when training (they change).
gradients           training only: parameters × 4 (float32 accumulators, also for int8)
optimizer           training only: SGD 0; momentum parameters × 4; Adam 2 × parameters × 4
activations         inference: the largest (layer input + layer output) pair × B × b (two
                    buffers alive at a time, as an arena allocator plans them), less the model's
                    input, which is the ``input`` component (so the first layer contributes only
                    its output); training: every
                    layer output is kept for back-propagation, plus one error buffer of the
                    largest layer: (Σ outputs + max output) × B × b
input               the input buffer, input size × B × b
communication       ``comm_buffers`` messages of the model (default 2: one to send, one to
                    receive), each the size of the weights
aggregation         ``"store_all"``: ``neighbours`` received models; ``"cumulative"``
                    (Cumulative FedAvg): one float32 running sum, whatever ``neighbours`` is
==================  =======================================================================

**Peak SRAM is a maximum over phases, not a sum of components.** A round on a device has two phases
that never hold their buffers at the same time, and state that persists through both:

* *persistent*: the weights (when training) and the optimizer state (momentum/Adam slots live
  from one step to the next);
* *train* phase: gradients, activations and the input batch (freed when the step ends);
* *exchange* phase: the message buffers and the aggregation store (received models, or the
  Cumulative FedAvg running sum).

``sram_bytes = persistent + max(train, exchange)`` (:meth:`MemoryProfile.phases`). A device written
this way overlays the two phases in one buffer (a C ``union``, or an arena that is reset between
them); the emulated Cortex-M4 program in ``mcu/`` does exactly that, and :mod:`tinydtl.devices.emulate`
measures it. :func:`step_cost` turns a step's cycles and radio bytes into time and energy from the
board's datasheet figures.

Every figure is what :mod:`tinydtl.core.aggregation` and the model objects actually allocate (the tests
compare them). Two outside checks: :func:`tflm_memory` reads TensorFlow Lite Micro's recording
allocator (the inference arena and the flatbuffer, next to ``input + activations`` and ``weights``),
and :mod:`tinydtl.devices.emulate` runs a training round's C code on an emulated Cortex-M4F and measures
its RAM against :attr:`MemoryProfile.sram_bytes`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydtl.core.validation import check_int as _check_int
from tinydtl.core.validation import check_number as _check_number

__all__ = [
    "Board",
    "Cost",
    "Fit",
    "Layer",
    "MemoryProfile",
    "fits",
    "keras_mlp",
    "fit_table",
    "largest_mlp_width",
    "load_boards",
    "mlp_layers",
    "profile",
    "step_cost",
    "TFLMMemory",
    "tflite_flatbuffer",
    "tflite_size",
    "tflm_available",
    "tflm_memories",
    "tflm_memory",
]

DTYPE_BYTES = {"float64": 8, "float32": 4, "int8": 1}
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adam": 2}
AGGREGATIONS = ("none", "store_all", "cumulative")
ACCUMULATOR_BYTES = 4  # float32 gradients, optimizer slots and Cumulative FedAvg sums


# ----------------------------------------------------------------------------- boards
@dataclass(frozen=True)
class Board:
    """A microcontroller board and where its figures come from.

    The energy fields are optional (``None``: the datasheet gives no single figure to cite):
    ``active_current_a_per_mhz`` or ``active_current_a`` (CPU run current, per MHz or at
    ``clock_hz``), ``radio_tx_current_a``/``radio_rx_current_a`` and the ``radio_bitrate_bps`` they
    are quoted at, the ``supply_v`` they are quoted at, and ``energy_source``.
    """

    name: str
    mcu: str
    core: str
    clock_hz: int
    sram_bytes: int
    flash_bytes: int
    source: str
    active_current_a_per_mhz: float | None = None
    active_current_a: float | None = None
    radio_tx_current_a: float | None = None
    radio_rx_current_a: float | None = None
    radio_bitrate_bps: int | None = None
    supply_v: float | None = None
    energy_source: str | None = None

    @property
    def cpu_current_a(self) -> float | None:
        """CPU run current at ``clock_hz`` (A): the datasheet's figure at clock, else per-MHz × MHz."""
        if self.active_current_a is not None:
            return self.active_current_a
        if self.active_current_a_per_mhz is not None:
            return self.active_current_a_per_mhz * self.clock_hz / 1e6
        return None


_ENERGY_FIELDS = ("active_current_a_per_mhz", "active_current_a", "radio_tx_current_a", "radio_rx_current_a",
                  "radio_bitrate_bps", "supply_v")


def load_boards(path: str | Path | None = None) -> dict[str, Board]:
    """Boards from ``data/boards.toml`` (or ``path``), by name."""
    from tinydtl.data.datasets import data_dir

    path = Path(path) if path is not None else data_dir() / "boards.toml"
    if not path.is_file():
        raise FileNotFoundError(f"board file {path} is missing; restore it with `git checkout -- data/`")
    raw = tomllib.loads(path.read_text()).get("boards", {})
    boards = {}
    for name, entry in raw.items():
        missing = [f for f in ("mcu", "core", "clock_hz", "sram_bytes", "flash_bytes", "source") if f not in entry]
        if missing:
            raise ValueError(f"{path}: board {name!r} lacks {', '.join(missing)}")
        for f in ("clock_hz", "sram_bytes", "flash_bytes"):
            if not isinstance(entry[f], int) or entry[f] <= 0:
                raise ValueError(f"{path}: board {name!r}: {f} must be a positive integer, got {entry[f]!r}")
        for f in _ENERGY_FIELDS:
            v = entry.get(f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ValueError(f"{path}: board {name!r}: {f} must be a positive number when given, got {v!r}")
        if any(entry.get(f) is not None for f in _ENERGY_FIELDS) and not entry.get("energy_source"):
            raise ValueError(f"{path}: board {name!r} gives energy figures without an energy_source")
        unknown = set(entry) - set(Board.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: board {name!r}: unknown field(s) {sorted(unknown)}")
        boards[name] = Board(name=name, **{k: entry[k] for k in Board.__dataclass_fields__ if k in entry})
    if not boards:
        raise ValueError(f"{path} defines no [boards.*] table")
    return boards


# ----------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class Layer:
    """One layer as memory sees it: weight entries, bias entries and its output size per sample."""

    name: str
    weights: int
    biases: int
    output_size: int

    @property
    def parameters(self) -> int:
        return self.weights + self.biases


def mlp_layers(sizes) -> list[Layer]:
    """Dense layers of an MLP with the given layer sizes, e.g. ``[784, 10]`` is the survey's softmax learner."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list >= 2 positive layer widths (input first), got {sizes}")
    return [Layer(f"dense_{i}", a * b, b, b) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]


def _keras_layers(model) -> tuple[list[Layer], int]:
    input_size = int(np.prod(model.input_shape[1:]))
    layers = []
    for layer in model.layers:
        shapes = [tuple(w.shape) for w in layer.weights]
        biases = int(np.prod(shapes[-1])) if len(shapes) >= 2 and len(shapes[-1]) == 1 else 0
        total = int(sum(np.prod(s) for s in shapes))
        out = layer.output_shape
        out_size = int(np.prod(out[1:])) if isinstance(out, tuple) else int(np.prod(out[0][1:]))
        layers.append(Layer(layer.name, total - biases, biases, out_size))
    return layers, input_size


def _array_layers(arrays) -> tuple[list[Layer], int]:
    shapes = [np.shape(a) for a in arrays]
    ok = len(shapes) % 2 == 0 and len(shapes) >= 2
    for i in range(0, len(shapes) - 1, 2) if ok else ():
        W, b = shapes[i], shapes[i + 1]
        ok = ok and len(W) == 2 and len(b) == 1 and W[1] == b[0]
        if ok and i >= 2:
            ok = W[0] == shapes[i - 2][1]
    if not ok:
        raise ValueError(
            "a list of arrays must be dense layers [W1 (in, h1), b1 (h1,), W2 (h1, h2), b2 (h2,), ...]; "
            f"got shapes {shapes}. Pass a Keras model for other architectures."
        )
    sizes = [shapes[0][0]] + [shapes[i][1] for i in range(0, len(shapes), 2)]
    return mlp_layers(sizes), sizes[0]


# ----------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class MemoryProfile:
    """Bytes each part of a training (or inference) set-up needs; see the module docstring."""

    name: str
    dtype: str
    training: bool
    parameters: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    input_bytes: int
    communication_bytes: int
    aggregation_bytes: int
    aggregation: str = "none"
    neighbours: int = 0

    def components(self) -> dict[str, int]:
        """The SRAM components (weights count only when training: for inference they sit in flash).

        Their sum over-counts the peak: see :meth:`phases` and :attr:`sram_bytes`."""
        return {
            "weights": self.weights_bytes if self.training else 0,
            "gradients": self.gradients_bytes,
            "optimizer": self.optimizer_bytes,
            "activations": self.activations_bytes,
            "input": self.input_bytes,
            "communication": self.communication_bytes,
            "aggregation": self.aggregation_bytes,
        }

    def phases(self) -> dict[str, int]:
        """Bytes per phase: ``persistent`` (weights when training, optimizer state), ``train``
        (gradients, activations, input) and ``exchange`` (message buffers, aggregation store).
        The train and exchange phases never coexist; the persistent part is alive in both."""
        c = self.components()
        return {
            "persistent": c["weights"] + c["optimizer"],
            "train": c["gradients"] + c["activations"] + c["input"],
            "exchange": c["communication"] + c["aggregation"],
        }

    @property
    def sram_bytes(self) -> int:
        """Peak SRAM: ``persistent + max(train, exchange)`` (see the module docstring)."""
        ph = self.phases()
        return ph["persistent"] + max(ph["train"], ph["exchange"])

    @property
    def peak_phase(self) -> str:
        """The phase that sets the peak (``"train"`` or ``"exchange"``; ``"train"`` on a tie)."""
        ph = self.phases()
        return "train" if ph["train"] >= ph["exchange"] else "exchange"

    @property
    def flash_bytes(self) -> int:
        """The model stored in flash (its weights)."""
        return self.weights_bytes

    @property
    def largest_component(self) -> str:
        comps = self.components()
        return max(comps, key=comps.get)


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _weights_bytes(layers, dtype):
    if dtype == "int8":
        return sum(layer.weights * 1 + layer.biases * 4 for layer in layers)
    return sum(layer.parameters for layer in layers) * DTYPE_BYTES[dtype]


def _ilvq_profile(model, dtype, training, name, batch_size):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    n, d = model.prototypes_.shape
    b = DTYPE_BYTES[dtype]
    label_bytes = 1 if len(model.classes_) <= 256 else 4
    state = n * label_bytes + (n * 4 + len(model.edges_) * 5 if training else 0)  # labels; M_i, edges (2×uint16 + uint8 age)
    return dict(
        name=name or "ILVQ",
        parameters=n * d,
        weights_bytes=n * d * b + state,
        gradients_bytes=0,
        optimizer_bytes=0,
        activations_bytes=n * 4 * batch_size,  # one float32 distance per prototype
        input_bytes=d * b * batch_size,
    )


def profile(
    model,
    *,
    dtype: str = "float32",
    training: bool = True,
    optimizer: str = "sgd",
    batch_size: int = 1,
    aggregation: str = "none",
    neighbours: int = 0,
    comm_buffers: int = 2,
    name: str | None = None,
) -> MemoryProfile:
    """Memory profile of ``model`` on a device.

    Parameters
    ----------
    model : Keras model, list of numpy arrays (dense layers), list of :class:`Layer`, or fitted ILVQ
    dtype : {"float32", "int8", "float64"}
        Storage type of weights, activations, inputs and messages.
    training : bool
        On-device training (weights in SRAM, gradients, optimizer state, stored activations) or
        inference only.
    optimizer : {"sgd", "momentum", "adam"}
    batch_size : int
    aggregation : {"none", "store_all", "cumulative"}
        How the device averages models received from ``neighbours``.
    neighbours : int
    comm_buffers : int
        Model-sized message buffers (default 2: send and receive).
    """
    _check_choice("dtype", dtype, DTYPE_BYTES)
    _check_choice("optimizer", optimizer, OPTIMIZER_SLOTS)
    _check_choice("aggregation", aggregation, AGGREGATIONS)
    _check_int("batch_size", batch_size, 1)
    _check_int("neighbours", neighbours, 0)
    _check_int("comm_buffers", comm_buffers, 0)
    if aggregation != "none" and neighbours < 1:
        raise ValueError(f"aggregation={aggregation!r} needs neighbours >= 1, got {neighbours}")
    b = DTYPE_BYTES[dtype]

    if hasattr(model, "prototypes_") or model.__class__.__name__ == "ILVQ":
        base = _ilvq_profile(model, dtype, training, name, batch_size)
        params = base["parameters"]
        message = base["weights_bytes"]
    else:
        if hasattr(model, "layers") and hasattr(model, "input_shape"):
            layers, input_size = _keras_layers(model)
            default = getattr(model, "name", "keras model")
        elif isinstance(model, (list, tuple)) and model and all(isinstance(x, Layer) for x in model):
            layers, input_size = list(model), None
            default = "layers"
        elif isinstance(model, (list, tuple)):
            layers, input_size = _array_layers(model)
            default = "numpy weights"
        else:
            raise TypeError(
                f"model must be a Keras model, a list of dense weight arrays, a list of Layer or a fitted ILVQ; "
                f"got {type(model).__name__}"
            )
        if input_size is None:
            first = layers[0]
            input_size = first.weights // max(first.biases, 1)
        params = sum(layer.parameters for layer in layers)
        outs = [layer.output_size for layer in layers]
        ins = [input_size] + outs[:-1]
        if training:
            act = (sum(outs) + max(outs)) * batch_size * b
        else:  # the input buffer is counted once, in `input`; the rest of the arena plan's peak pair
            act = max([outs[0]] + [i + o for i, o in zip(ins[1:], outs[1:])]) * batch_size * b
        message = _weights_bytes(layers, dtype)
        base = dict(
            name=name or default,
            parameters=params,
            weights_bytes=message,
            gradients_bytes=params * ACCUMULATOR_BYTES if training else 0,
            optimizer_bytes=params * ACCUMULATOR_BYTES * OPTIMIZER_SLOTS[optimizer] if training else 0,
            activations_bytes=act,
            input_bytes=input_size * batch_size * b,
        )
    if aggregation == "store_all":
        agg = neighbours * message
    elif aggregation == "cumulative":
        agg = params * ACCUMULATOR_BYTES
    else:
        agg = 0
    return MemoryProfile(
        dtype=dtype,
        training=training,
        communication_bytes=comm_buffers * message,
        aggregation_bytes=agg,
        aggregation=aggregation,
        neighbours=neighbours,
        **base,
    )


# ----------------------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Fit:
    """Whether a profile fits a board, and by how much."""

    board: str
    profile: str
    fits: bool
    sram_needed: int
    sram_available: int
    flash_needed: int
    flash_available: int
    largest_component: str

    @property
    def sram_headroom(self) -> int:
        return self.sram_available - self.sram_needed

    @property
    def flash_headroom(self) -> int:
        return self.flash_available - self.flash_needed


def fits(p: MemoryProfile, board: Board, *, usable_sram_fraction: float = 1.0) -> Fit:
    """Does profile ``p`` fit ``board``? ``usable_sram_fraction`` reserves SRAM for stack, RTOS, radio."""
    if not (0 < usable_sram_fraction <= 1):
        raise ValueError(f"usable_sram_fraction must be in (0, 1], got {usable_sram_fraction!r}")
    sram = int(board.sram_bytes * usable_sram_fraction)
    ok = p.sram_bytes <= sram and p.flash_bytes <= board.flash_bytes
    return Fit(board.name, p.name, ok, p.sram_bytes, sram, p.flash_bytes, board.flash_bytes, p.largest_component)


def fit_table(profiles: dict, boards: dict, *, usable_sram_fraction: float = 1.0):
    """Headroom in KiB (negative: does not fit) for every profile × board, as a pandas DataFrame: the usable
    SRAM's headroom, or the flash's when the weights overflow flash (the smaller of the two then)."""
    import pandas as pd

    rows = {}
    for label, p in profiles.items():
        row = {}
        for bname, board in boards.items():
            f = fits(p, board, usable_sram_fraction=usable_sram_fraction)
            row[bname] = (f.sram_headroom if f.flash_headroom >= 0 else min(f.sram_headroom, f.flash_headroom)) / 1024
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def largest_mlp_width(board: Board, *, n_inputs=784, n_outputs=10, usable_sram_fraction=1.0, max_width=1 << 20, **profile_kwargs):
    """Largest hidden width ``h`` of an MLP ``n_inputs → h → n_outputs`` whose profile fits ``board``.

    ``profile_kwargs`` go to :func:`profile` (dtype, optimizer, aggregation, ...). Memory grows with
    ``h``, so the search doubles, then bisects; the answer is always checked to fit, also when
    ``max_width`` is not a power of two. Returns 0 if not even ``h = 1`` fits.
    """
    _check_int("max_width", max_width, 1)

    def ok(h):
        return fits(profile(mlp_layers([n_inputs, h, n_outputs]), **profile_kwargs), board,
                    usable_sram_fraction=usable_sram_fraction).fits

    if not ok(1):
        return 0
    lo, hi = 1, 2
    while hi <= max_width and ok(hi):
        lo, hi = hi, hi * 2
    if hi > max_width:  # every power of two up to max_width fits: is max_width itself fine?
        if ok(max_width):
            return max_width
        hi = max_width
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


# ----------------------------------------------------------------------------- time and energy
@dataclass(frozen=True)
class Cost:
    """Time (s) and energy (J) of one step on a board. ``*_j`` and ``joules`` are ``None`` when the
    board's file gives no current for that part (never a guessed number)."""

    compute_s: float
    radio_s: float
    seconds: float
    compute_j: float | None
    radio_j: float | None
    joules: float | None


def step_cost(board: Board, *, cycles=None, macs=None, cycles_per_mac=None, tx_bytes=0, rx_bytes=0,
              voltage=None) -> Cost:
    """Time and energy of a step of work on ``board``.

    Compute: ``cycles`` CPU cycles (or ``macs`` multiply-accumulates × ``cycles_per_mac``; give one
    of the two) take ``cycles / clock_hz`` seconds and draw the CPU run current
    (:attr:`Board.cpu_current_a`). Radio: ``tx_bytes`` and ``rx_bytes`` take ``8 × bytes /
    radio_bitrate_bps`` seconds at the radio's TX/RX current (payload only: no packet headers,
    acknowledgements, retries or radio ramp-up, so a lower bound). CPU and radio are not overlapped:
    ``seconds = compute_s + radio_s``. Energy = current × ``voltage`` × time, ``voltage`` defaulting
    to the board's ``supply_v`` (the voltage its currents are quoted at); the CPU's current during
    radio activity is not added (the datasheet's radio figures are whole-chip currents with the
    CPU idle).
    """
    if not isinstance(board, Board):
        raise TypeError(f"board must be a tinydtl.devices.mcu.Board (see load_boards()), got {type(board).__name__}")
    if cycles is not None and macs is not None:
        raise ValueError("give cycles or macs (with cycles_per_mac), not both")
    if macs is not None:
        _check_number("macs", macs, low=0)
        if cycles_per_mac is None:
            raise ValueError("cycles_per_mac must be given with macs (a number > 0: cycles one multiply-accumulate "
                             "takes on this core, e.g. measured with tinydtl.devices.emulate)")
        _check_number("cycles_per_mac", cycles_per_mac, low=0, low_open=True)
        cycles = macs * cycles_per_mac
    elif cycles_per_mac is not None:
        raise ValueError("cycles_per_mac is only used with macs")
    cycles = 0 if cycles is None else cycles
    _check_number("cycles", cycles, low=0)
    _check_int("tx_bytes", tx_bytes, 0)
    _check_int("rx_bytes", rx_bytes, 0)
    if voltage is None:
        voltage = board.supply_v
    if voltage is not None:
        _check_number("voltage", voltage, low=0, low_open=True)

    compute_s = cycles / board.clock_hz
    if tx_bytes or rx_bytes:
        if board.radio_bitrate_bps is None:
            raise ValueError(f"board {board.name!r} has no radio_bitrate_bps in the board file; "
                             f"tx_bytes and rx_bytes must be 0")
        tx_s, rx_s = 8 * tx_bytes / board.radio_bitrate_bps, 8 * rx_bytes / board.radio_bitrate_bps
    else:
        tx_s = rx_s = 0.0
    radio_s = tx_s + rx_s

    def energy(parts):
        if all(t == 0 for t, _ in parts):
            return 0.0
        if voltage is None or any(i is None for t, i in parts if t):
            return None
        return sum(t * i for t, i in parts if t) * voltage

    compute_j = energy([(compute_s, board.cpu_current_a)])
    radio_j = energy([(tx_s, board.radio_tx_current_a), (rx_s, board.radio_rx_current_a)])
    joules = None if compute_j is None or radio_j is None else compute_j + radio_j
    return Cost(compute_s, radio_s, compute_s + radio_s, compute_j, radio_j, joules)


def keras_mlp(sizes, *, seed: int = 0):
    """A Keras MLP with the given layer sizes (input first): ReLU hidden layers, softmax output,
    Glorot-initialised from ``seed``. ``keras_mlp([784, 10])`` has the survey learner's shape."""
    from tinydtl.runtime.tensorflow_env import import_tensorflow

    tf = import_tensorflow()

    mlp_layers(sizes)  # validates the sizes
    _check_int("seed", seed, 0)
    sizes = [int(s) for s in sizes]
    init = tf.keras.initializers.GlorotUniform(seed=seed)
    layers = [tf.keras.layers.Input((sizes[0],))]
    layers += [tf.keras.layers.Dense(h, activation="relu", kernel_initializer=init) for h in sizes[1:-1]]
    layers += [tf.keras.layers.Dense(sizes[-1], activation="softmax", kernel_initializer=init)]
    return tf.keras.Sequential(layers, name="mlp_" + "_".join(map(str, sizes)))


def tflite_flatbuffer(keras_model, *, int8: bool, representative=None) -> bytes:
    """The model converted by TensorFlow Lite (full-integer int8 when ``int8``): the flatbuffer a
    microcontroller stores in flash.

    ``representative``: a few input rows for calibrating int8 activations (default: 32 random
    uniform [0, 1] rows, seeded).
    """
    from tinydtl.runtime.tensorflow_env import import_tensorflow, quiet_converter

    tf = import_tensorflow()

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if int8:
        shape = (1,) + tuple(int(d) for d in keras_model.input_shape[1:])
        rng = np.random.default_rng(0)
        samples = representative if representative is not None else rng.random((32,) + shape[1:], dtype=np.float32)

        def gen():
            for row in samples:
                yield [np.asarray(row, dtype=np.float32).reshape(shape)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with quiet_converter():
        return bytes(converter.convert())


def tflite_size(keras_model, *, int8: bool, representative=None) -> int:
    """Bytes of the TensorFlow Lite flatbuffer (:func:`tflite_flatbuffer`): an independent check of
    :attr:`MemoryProfile.weights_bytes`."""
    return len(tflite_flatbuffer(keras_model, int8=int8, representative=representative))


# ----------------------------------------------------------------------------- TensorFlow Lite Micro
@dataclass(frozen=True)
class TFLMMemory:
    """What TensorFlow Lite Micro's interpreter really allocates for a model (inference).

    ``arena_bytes`` = ``head_bytes`` + ``tail_bytes``: the head holds the tensors the memory planner
    overlays (input, intermediate activations, output; each buffer 16-byte aligned), the tail what
    persists for the interpreter's lifetime (``TfLiteEvalTensor`` and ``TfLiteTensor`` structs,
    per-op data such as quantisation multipliers, node and registration structs).
    ``allocations`` are the recording allocator's categories: name -> (bytes used with alignment,
    bytes requested, number of allocations).
    """

    flatbuffer_bytes: int
    arena_bytes: int
    head_bytes: int
    tail_bytes: int
    allocations: dict


_TFLM_SCRIPT = """
import os
import sys
import numpy as np
from tflite_micro import runtime
for i, path in enumerate(sys.argv[1:]):
    it = runtime.Interpreter.from_file(path)
    d = it.get_input_details(0)
    it.set_input(np.zeros(d["shape"], dtype=d["dtype"]), 0)
    it.invoke()
    os.write(2, f"=== model {i}\\n".encode())
    it.print_allocations()
"""


def tflm_available() -> str | None:
    """``None`` if TensorFlow Lite Micro's Python interpreter (``tflite-micro`` on PyPI) imports, else why not."""
    try:
        from tflite_micro import runtime  # noqa: F401
    except Exception as e:  # ImportError, or a binary incompatible with this NumPy
        return f"tflite-micro cannot be imported ({type(e).__name__}: {e}); `uv sync` installs it"
    return None


def tflm_memory(keras_model, *, int8: bool, representative=None, timeout: float = 300) -> TFLMMemory:
    """Convert ``keras_model`` (:func:`tflite_flatbuffer`), load it into TensorFlow Lite Micro's
    interpreter, run it once and read its recording allocator.

    Compare with :func:`profile` (``training=False, comm_buffers=0``): ``head_bytes`` is the
    module's ``input + activations`` with each planned buffer rounded up to TFLM's 16-byte
    alignment (and the model's input freed after the first layer, which the module keeps);
    ``flatbuffer_bytes`` is its ``weights_bytes`` plus the graph and metadata; ``tail_bytes`` is
    the interpreter's own state, which the module does not model.
    """
    return tflm_memories({"model": keras_model}, dtypes=("int8",) if int8 else ("float32",),
                         representative=representative, timeout=timeout)[("model", "int8" if int8 else "float32")]


def tflm_memories(models: dict, *, dtypes=("int8", "float32"), representative=None, timeout: float = 300) -> dict:
    """:func:`tflm_memory` for several Keras models and dtypes, measured in one child process.

    Returns ``{(label, dtype): TFLMMemory}``. The interpreter runs in a child process because its
    allocator report goes to the C library's stderr.
    """
    import os
    import subprocess
    import sys
    import tempfile

    for dt in dtypes:
        _check_choice("dtype", dt, ("int8", "float32"))
    problem = tflm_available()
    if problem:
        raise RuntimeError(problem)
    keys = [(label, dt) for label in models for dt in dtypes]
    buffers = [tflite_flatbuffer(models[label], int8=dt == "int8", representative=representative) for label, dt in keys]
    with tempfile.TemporaryDirectory(prefix="tinydtl-tflm-") as tmp:
        paths = []
        for i, fb in enumerate(buffers):
            paths.append(Path(tmp) / f"model{i}.tflite")
            paths[-1].write_bytes(fb)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        out = subprocess.run([sys.executable, "-c", _TFLM_SCRIPT, *map(str, paths)], capture_output=True, text=True,
                             timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"TensorFlow Lite Micro failed:\n{out.stderr[-3000:]}")
    reports = out.stderr.split("=== model ")[1:]  # MicroPrintf writes to stderr
    if len(reports) != len(keys):
        raise RuntimeError(f"expected {len(keys)} TensorFlow Lite Micro reports, got {len(reports)}:\n{out.stderr[-2000:]}")
    return {key: _parse_tflm(text, len(fb)) for key, text, fb in zip(keys, reports, buffers)}


def _parse_tflm(text: str, flatbuffer_bytes: int) -> TFLMMemory:
    import re

    totals = {k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}
    if set(totals) != {"total", "head", "tail"}:
        raise RuntimeError(f"unexpected TensorFlow Lite Micro allocation report:\n{text[-2000:]}")
    allocations = {
        name: (int(used), int(req), int(count))
        for name, used, req, count in re.findall(r"'([^']+)' used (\d+) bytes with alignment overhead "
                                                  r"\(requested (\d+) bytes for (\d+) ", text)
    }
    return TFLMMemory(flatbuffer_bytes, totals["total"], totals["head"], totals["tail"], allocations)
