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

Every size is :func:`tinydtl.core.traffic.payload_bytes` of a count of values and a dtype (the
package's one byte rule).

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
measures it. :func:`fits` compares the peak with the board's *usable* SRAM
(:mod:`tinydtl.devices.assumptions`: 75 % by default) and the weights with its flash.

Every figure is what :mod:`tinydtl.core.aggregation` and the model objects actually allocate (the tests
compare them). Two outside checks: :func:`tinydtl.devices.tflite.tflm_memory` reads TensorFlow Lite
Micro's recording allocator, and :mod:`tinydtl.devices.emulate` runs a training round's C code on an
emulated Cortex-M4F and measures its RAM against :attr:`MemoryProfile.sram_bytes`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from tinydtl.core.traffic import dtype_bytes, payload_bytes
from tinydtl.core.validation import check_bool, check_choice, check_int
from tinydtl.devices.assumptions import kib, usable_fraction, usable_sram_bytes
from tinydtl.devices.boards import Board, as_board

__all__ = ["AGGREGATIONS", "DTYPES", "OPTIMIZER_SLOTS", "Fit", "Layer", "MemoryProfile", "fit_table", "fits",
           "largest_mlp_width", "mlp_layers", "profile"]

DTYPES = ("float32", "int8", "float64")
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adam": 2}
AGGREGATIONS = ("none", "store_all", "cumulative")
ACCUMULATOR_DTYPE = "float32"  # gradients, optimizer slots and Cumulative FedAvg sums, also for int8 models
INT8_BIAS_DTYPE = "int32"      # TFLite's full-integer scheme: int8 weights, int32 biases


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


# ----------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class Layer:
    """One layer as memory sees it: weight entries, bias entries and its output size per sample."""

    name: str
    weights: int
    biases: int
    output_size: int

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {type(self.name).__name__} {self.name!r}")
        check_int("weights", self.weights, 0)
        check_int("biases", self.biases, 0)
        check_int("output_size", self.output_size, 1)

    @property
    def parameters(self) -> int:
        return self.weights + self.biases


def mlp_layers(sizes) -> list[Layer]:
    """Dense layers of an MLP with the given layer sizes, e.g. ``[784, 10]`` is the survey's softmax learner.

    ``sizes`` lists >= 2 integer widths >= 1, input first (``10.7``, ``True`` or ``"784"`` are refused,
    not truncated)."""
    widths = None if isinstance(sizes, (str, bytes, dict)) or not hasattr(sizes, "__iter__") else list(sizes)
    if widths is None or len(widths) < 2 or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_)) and s >= 1 for s in widths):
        raise ValueError(f"sizes must list >= 2 positive integer layer widths (input first), got {sizes!r}")
    widths = [int(s) for s in widths]
    return [Layer(f"dense_{i}", a * b, b, b) for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]


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


def model_layers(model) -> tuple[list[Layer], int, str]:
    """``(layers, input size, default name)`` of a Keras model, a list of dense weight arrays or of :class:`Layer`."""
    if hasattr(model, "layers") and hasattr(model, "input_shape"):
        layers, input_size = _keras_layers(model)
        return layers, input_size, getattr(model, "name", "keras model")
    if isinstance(model, (list, tuple)) and model and all(isinstance(x, Layer) for x in model):
        first = model[0]
        return list(model), first.weights // max(first.biases, 1), "layers"
    if isinstance(model, (list, tuple)):
        layers, input_size = _array_layers(model)
        return layers, input_size, "numpy weights"
    raise TypeError(f"model must be a Keras model, a list of dense weight arrays, a list of Layer or a fitted ILVQ; "
                    f"got {type(model).__name__}")


# ----------------------------------------------------------------------------- profiles
def weights_bytes(layers, dtype: str) -> int:
    """Bytes of the layers' parameters in ``dtype`` (``int8``: int8 weights and int32 biases)."""
    if dtype == "int8":
        return sum(payload_bytes(layer.weights, "int8") + payload_bytes(layer.biases, INT8_BIAS_DTYPE)
                   for layer in layers)
    return payload_bytes(sum(layer.parameters for layer in layers), dtype)


def _ilvq_profile(model, dtype, training, batch_size) -> dict:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    n, d = model.prototypes_.shape
    state = payload_bytes(n, "uint8" if len(model.classes_) <= 256 else "int32")  # one label per prototype
    if training:  # the counters M_i, and the edges (two uint16 ends and a uint8 age each)
        state += payload_bytes(n, "int32") + len(model.edges_) * (2 * dtype_bytes("uint16") + dtype_bytes("uint8"))
    return dict(
        name="ILVQ",
        parameters=n * d,
        weights_bytes=payload_bytes(n * d, dtype) + state,
        gradients_bytes=0,
        optimizer_bytes=0,
        activations_bytes=payload_bytes(n * batch_size, "float32"),  # one float32 distance per prototype
        input_bytes=payload_bytes(d * batch_size, dtype),
    )


def _layers_profile(layers, input_size, dtype, training, optimizer, batch_size) -> dict:
    params = sum(layer.parameters for layer in layers)
    outs = [layer.output_size for layer in layers]
    ins = [input_size] + outs[:-1]
    if training:
        act = sum(outs) + max(outs)
    else:  # the input buffer is counted once, in `input`; the rest of the arena plan's peak pair
        act = max([outs[0]] + [i + o for i, o in zip(ins[1:], outs[1:])])
    accumulators = payload_bytes(params, ACCUMULATOR_DTYPE) if training else 0
    return dict(
        parameters=params,
        weights_bytes=weights_bytes(layers, dtype),
        gradients_bytes=accumulators,
        optimizer_bytes=accumulators * OPTIMIZER_SLOTS[optimizer],
        activations_bytes=payload_bytes(act * batch_size, dtype),
        input_bytes=payload_bytes(input_size * batch_size, dtype),
    )


def _check_profile_arguments(dtype, training, optimizer, batch_size, aggregation, neighbours, comm_buffers, name):
    check_choice("dtype", dtype, DTYPES)
    check_bool("training", training)
    check_choice("optimizer", optimizer, tuple(OPTIMIZER_SLOTS))
    check_choice("aggregation", aggregation, AGGREGATIONS)
    check_int("batch_size", batch_size, 1)
    check_int("neighbours", neighbours, 0)
    check_int("comm_buffers", comm_buffers, 0)
    if aggregation != "none" and neighbours < 1:
        raise ValueError(f"aggregation={aggregation!r} needs neighbours >= 1, got {neighbours}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string or None, got {type(name).__name__} {name!r}")


def profile(model, *, dtype: str = "float32", training: bool = True, optimizer: str = "sgd", batch_size: int = 1,
            aggregation: str = "none", neighbours: int = 0, comm_buffers: int = 2,
            name: str | None = None) -> MemoryProfile:
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
    name : str, optional
        The profile's label (default: the model's name, ``"ILVQ"``, ``"layers"`` or ``"numpy weights"``).
    """
    _check_profile_arguments(dtype, training, optimizer, batch_size, aggregation, neighbours, comm_buffers, name)
    if hasattr(model, "prototypes_") or model.__class__.__name__ == "ILVQ":
        base = _ilvq_profile(model, dtype, training, batch_size)
    else:
        layers, input_size, default = model_layers(model)
        base = dict(name=default, **_layers_profile(layers, input_size, dtype, training, optimizer, batch_size))
    message = base["weights_bytes"]
    store = {"store_all": neighbours * message, "cumulative": payload_bytes(base["parameters"], ACCUMULATOR_DTYPE)}
    return MemoryProfile(
        **{**base, "name": name or base["name"]},
        dtype=dtype,
        training=bool(training),
        communication_bytes=comm_buffers * message,
        aggregation_bytes=store.get(aggregation, 0),
        aggregation=aggregation,
        neighbours=neighbours,
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


def fits(p: MemoryProfile, board: Board | str, *, usable_sram_fraction: float | None = None) -> Fit:
    """Does profile ``p`` fit ``board`` (a :class:`Board` or a board's name)?

    The peak must fit the board's usable SRAM, ``int(sram_bytes × usable_sram_fraction)``, and the
    weights its flash. ``usable_sram_fraction`` in (0, 1] defaults to
    ``tinydtl.devices.ASSUMPTIONS.usable_sram_fraction`` (0.75: stack, RTOS, radio keep the rest).
    """
    if not isinstance(p, MemoryProfile):
        raise TypeError(f"p must be a MemoryProfile (see profile()), got {type(p).__name__}")
    board = as_board(board)
    sram = usable_sram_bytes(board.sram_bytes, usable_sram_fraction)
    ok = p.sram_bytes <= sram and p.flash_bytes <= board.flash_bytes
    return Fit(board.name, p.name, ok, p.sram_bytes, sram, p.flash_bytes, board.flash_bytes, p.largest_component)


def _boards_by_label(boards) -> dict[str, Board]:
    if isinstance(boards, dict):
        return {label: as_board(b) for label, b in boards.items()}
    if isinstance(boards, (str, Board)) or not hasattr(boards, "__iter__"):
        raise TypeError(f"boards must be a dict of boards (as load_boards() returns) or a list of boards or "
                        f"board names, got {type(boards).__name__}")
    return {b.name: b for b in map(as_board, boards)}


def fit_table(profiles: dict, boards, *, usable_sram_fraction: float | None = None):
    """Headroom in KiB (negative: does not fit) for every profile × board, as a pandas DataFrame: the usable
    SRAM's headroom, or the flash's when the weights overflow flash (the smaller of the two then).

    ``profiles``: label -> :class:`MemoryProfile`; ``boards``: a dict of boards (as :func:`load_boards`
    returns) or a list of boards or names. ``usable_sram_fraction`` as in :func:`fits`.
    """
    import pandas as pd

    if not isinstance(profiles, dict):
        raise TypeError(f"profiles must be a dict label -> MemoryProfile, got {type(profiles).__name__}")
    boards = _boards_by_label(boards)
    fraction = usable_fraction(usable_sram_fraction)
    rows = {}
    for label, p in profiles.items():
        row = {}
        for bname, board in boards.items():
            f = fits(p, board, usable_sram_fraction=fraction)
            row[bname] = kib(f.sram_headroom if f.flash_headroom >= 0 else min(f.sram_headroom, f.flash_headroom))
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def largest_mlp_width(board, *, n_inputs=784, n_outputs=10, usable_sram_fraction=None, max_width=1 << 20,
                      **profile_kwargs):
    """Largest hidden width ``h`` of an MLP ``n_inputs → h → n_outputs`` whose profile fits ``board``.

    ``board``: a :class:`Board` or a board's name; ``usable_sram_fraction`` as in :func:`fits`.
    ``profile_kwargs`` go to :func:`profile` (dtype, optimizer, aggregation, ...). Memory grows with
    ``h``, so the search doubles, then bisects; the answer is always checked to fit, also when
    ``max_width`` is not a power of two. Returns 0 if not even ``h = 1`` fits.
    """
    board = as_board(board)
    fraction = usable_fraction(usable_sram_fraction)
    check_int("n_inputs", n_inputs, 1)
    check_int("n_outputs", n_outputs, 1)
    check_int("max_width", max_width, 1)

    def ok(h):
        return fits(profile(mlp_layers([n_inputs, h, n_outputs]), **profile_kwargs), board,
                    usable_sram_fraction=fraction).fits

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

