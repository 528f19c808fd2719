"""Devices: what a microcontroller board has, what a learner needs of it, and what a step costs.

=====================  ==================================================================================
module                 job
=====================  ==================================================================================
``assumptions``        the shared device assumptions: usable SRAM (75 %), KiB, radio bit rates
``boards``             :class:`Board` and :func:`load_boards` (``data/boards.toml``, every figure sourced)
``memory``             :func:`profile` (a model's SRAM and flash, by phase), :func:`fits`, :func:`fit_table`,
                       :func:`largest_mlp_width`
``costs``              :func:`step_cost`: time and energy of cycles and radio bytes
``tflite``             TensorFlow Lite flatbuffers and TensorFlow Lite Micro's arena (outside checks)
``emulate``            the device's round in C on an emulated Cortex-M4F (QEMU): measured RAM and instructions
=====================  ==================================================================================

The names below are the public API (``from tinydtl.devices import fits, load_boards``);
:mod:`tinydtl.devices.emulate` is imported on its own (it drives a cross-compiler and QEMU).
"""

from tinydtl.devices.assumptions import (
    ASSUMPTIONS,
    KIB,
    DeviceAssumptions,
    RadioRate,
    kib,
)
from tinydtl.devices.boards import Board, as_board, load_boards
from tinydtl.devices.costs import Cost, step_cost
from tinydtl.devices.memory import (
    Fit,
    Layer,
    MemoryProfile,
    fit_table,
    fits,
    largest_mlp_width,
    mlp_layers,
    profile,
)
from tinydtl.devices.tflite import (
    TFLMMemory,
    keras_mlp,
    tflite_flatbuffer,
    tflite_size,
    tflm_available,
    tflm_memories,
    tflm_memory,
)

__all__ = [
    "ASSUMPTIONS",
    "KIB",
    "Board",
    "Cost",
    "DeviceAssumptions",
    "Fit",
    "Layer",
    "MemoryProfile",
    "RadioRate",
    "TFLMMemory",
    "as_board",
    "fit_table",
    "fits",
    "keras_mlp",
    "kib",
    "largest_mlp_width",
    "load_boards",
    "mlp_layers",
    "profile",
    "step_cost",
    "tflite_flatbuffer",
    "tflite_size",
    "tflm_available",
    "tflm_memories",
    "tflm_memory",
]
