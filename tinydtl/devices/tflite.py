"""TensorFlow Lite and TensorFlow Lite Micro: independent checks of :mod:`tinydtl.devices.memory`.

:func:`tflite_flatbuffer` converts a Keras model with TensorFlow Lite's own converter (float32, or
full-integer int8 calibrated on a representative set the caller passes): the flatbuffer a
microcontroller stores in flash, whose size checks :attr:`~tinydtl.devices.memory.MemoryProfile.weights_bytes`.
:func:`tflm_memory` loads that flatbuffer into TensorFlow Lite Micro's interpreter (``tflite-micro``
on PyPI), runs it once and reads its recording allocator: the inference arena, next to the
module's ``input + activations``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydtl.core.validation import (
    check_bool,
    check_choice,
    check_finite_array,
    check_int,
    check_number,
)
from tinydtl.devices.memory import mlp_layers

__all__ = ["TFLMMemory", "keras_mlp", "tflite_flatbuffer", "tflite_size", "tflm_available", "tflm_memories",
           "tflm_memory"]


def keras_mlp(sizes, *, seed: int = 0):
    """A Keras MLP with the given layer sizes (input first): ReLU hidden layers, softmax output,
    Glorot-initialised from ``seed``. ``keras_mlp([784, 10])`` has the survey learner's shape."""
    from tinydtl.runtime.tensorflow_env import import_tensorflow

    dense = mlp_layers(sizes)  # checked before TensorFlow starts
    sizes = [dense[0].weights // dense[0].output_size] + [layer.output_size for layer in dense]
    check_int("seed", seed, 0)
    tf = import_tensorflow()
    init = tf.keras.initializers.GlorotUniform(seed=seed)
    stack = [tf.keras.layers.Input((sizes[0],))]
    stack += [tf.keras.layers.Dense(h, activation="relu", kernel_initializer=init) for h in sizes[1:-1]]
    stack += [tf.keras.layers.Dense(sizes[-1], activation="softmax", kernel_initializer=init)]
    return tf.keras.Sequential(stack, name="mlp_" + "_".join(map(str, sizes)))


def tflite_flatbuffer(keras_model, *, int8: bool, representative=None) -> bytes:
    """The model converted by TensorFlow Lite (full-integer int8 when ``int8``): the flatbuffer a
    microcontroller stores in flash.

    ``representative``: input rows for calibrating int8 activations, shape ``(rows, *input shape)``;
    pass a few rows of the real data (the default, 32 seeded uniform [0, 1] rows, suits inputs
    scaled to [0, 1] only).
    """
    from tinydtl.runtime.tensorflow_env import import_tensorflow, quiet_converter

    check_bool("int8", int8)
    shape = (1,) + tuple(int(d) for d in keras_model.input_shape[1:])
    samples = _representative_rows(representative, shape) if int8 else None
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if int8:
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


def _representative_rows(representative, shape):
    """The calibration rows: ``representative`` checked (finite, each row one model input), or 32 seeded
    uniform [0, 1] rows."""
    if representative is None:
        return np.random.default_rng(0).random((32,) + shape[1:], dtype=np.float32)
    rows = check_finite_array("representative", representative, dtype=np.float32, allow_empty=False)
    n_inputs = int(np.prod(shape[1:]))
    if rows.ndim < 2 or int(np.prod(rows.shape[1:])) != n_inputs:
        raise ValueError(f"representative must hold rows of the model's {n_inputs} inputs (shape (rows, "
                         f"{', '.join(map(str, shape[1:]))})), got shape {rows.shape}")
    return rows


def tflite_size(keras_model, *, int8: bool, representative=None) -> int:
    """Bytes of the TensorFlow Lite flatbuffer (:func:`tflite_flatbuffer`): an independent check of
    :attr:`tinydtl.devices.memory.MemoryProfile.weights_bytes`."""
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

    Compare with :func:`tinydtl.devices.memory.profile` (``training=False, comm_buffers=0``): ``head_bytes`` is the
    module's ``input + activations`` with each planned buffer rounded up to TFLM's 16-byte
    alignment (and the model's input freed after the first layer, which the module keeps);
    ``flatbuffer_bytes`` is its ``weights_bytes`` plus the graph and metadata; ``tail_bytes`` is
    the interpreter's own state, which the module does not model.
    """
    check_bool("int8", int8)
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

    if not isinstance(models, dict) or not models:
        raise TypeError(f"models must be a non-empty dict label -> Keras model, got {type(models).__name__}")
    if isinstance(dtypes, str) or not dtypes:
        raise TypeError(f"dtypes must be a non-empty tuple of 'int8' / 'float32', got {dtypes!r}")
    for dt in dtypes:
        check_choice("dtype", dt, ("int8", "float32"))
    check_number("timeout", timeout, low=0, low_open=True)
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
