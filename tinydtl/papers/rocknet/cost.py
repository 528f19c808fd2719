"""What one RockNet device spends per training step: SRAM, operations, radio bytes, time and energy.

A *training step* is one training series (RockNet processes series one at a time and accumulates the
gradient; Adam runs once per batch). For D devices, device j owns ``k_j`` kernels (contiguous blocks,
:func:`tinydtl.papers.rocknet.classifier.split_kernels`) and ``F_j = k_j · n_dil · n_biases`` features.

**SRAM** (bytes, each ``payload_bytes(values, dtype)``; float32 throughout, this model's choice), set
against the board's *usable* SRAM (:data:`tinydtl.devices.ASSUMPTIONS`, 75 % by default):

* kernels: ``2 k_j`` (one uint16 bit mask each) + dilations ``4 n_dil`` + biases ``4 F_j``;
* features of the current series ``4 F_j``;
* weight slice ``4 C F_j`` (+ ``4 C`` class bias on device 0) and gradient accumulator ``4 C F_j``;
* Adam's m and v: ``8 C F_j``, or with 8-bit Adam ``2 C F_j`` + one float32 scale per 256 values each;
* buffers: the int8 series ``L``, four float32 convolution buffers ``16 L`` (−X, 3X, the −1 convolution,
  the kernel output) and two logit vectors ``8 C`` (own partial logits, running sum).

The training set itself (stored on device 0, assumed in flash) is not counted.

**Operations per series** (each an add, compare or multiply-accumulate): the −1 convolution ``9 L`` per
dilation, the kernel's 2-weights ``3 L`` + one add ``L`` per (kernel, dilation), PPV ``L`` comparisons
per feature, the head ``C F_j`` forward + ``C F_j`` gradient, and Adam's ``≈ 12 C F_j`` once per batch
(shared over the batch's series). Cycles = operations × ``cycles_per_op`` (an assumption: a parameter,
by default ``ASSUMPTIONS.cycles_per_op``, the 12 instructions per multiply-accumulate lesson 06 counts on an
emulated Cortex-M4F × 1 cycle per instruction).

**Radio** (one training step): device 0 broadcasts the int8 series (L bytes), every device broadcasts
its C partial logits (``payload_bytes(C)``). Two counts are given:

* ``bytes_on_air``: each broadcast once, as a broadcast radio sends it: ``L + D · 4C`` (0 for D = 1);
  this is what time and energy are computed from (``tinydtl.devices.step_cost``: payload only, a lower bound);
* the package's communication rule (:mod:`tinydtl.networks.transport`: a broadcast to k receivers counts k
  transmissions): ``(D − 1) L + D (D − 1) · 4C`` bytes in ``(D − 1)(D + 1)`` messages.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.traffic import payload_bytes
from tinydtl.core.validation import check_int, check_number
from tinydtl.devices import Board, as_board, step_cost
from tinydtl.devices.assumptions import ASSUMPTIONS, usable_sram_bytes
from tinydtl.papers.rocknet.device import (
    biases_per_kernel,
    check_n_devices,
    rocknet_dilations,
    series_traffic,
    split_kernels,
)

__all__ = ["ADAM_OPS_PER_PARAMETER", "cost_vs_devices", "device_costs"]

#: Operations of one Adam update per parameter (two moment updates, bias corrections, sqrt, divide, step).
ADAM_OPS_PER_PARAMETER = 12
QUANT_BLOCK = 256


def _sram(k, F, n_dil, length, C, owner, quantized_adam):
    """SRAM by component (see the module docstring); every size is ``payload_bytes(values, dtype)``."""
    params = C * F
    bias = payload_bytes(C) if owner else 0  # the class bias lives on device 0
    if quantized_adam:  # uint8 m and v, one float32 absmax per block of each
        optimizer = 2 * payload_bytes(params, "uint8") + 2 * payload_bytes(-(-params // QUANT_BLOCK))
    else:
        optimizer = 2 * payload_bytes(params)
    return {
        "kernels": payload_bytes(k, "uint16") + payload_bytes(n_dil) + payload_bytes(F),
        "features": payload_bytes(F),
        "weights": payload_bytes(params) + bias,
        "gradients": payload_bytes(params) + bias,
        "optimizer": optimizer + 2 * bias,
        "buffers": payload_bytes(length, "int8") + 4 * payload_bytes(length) + 2 * payload_bytes(C),
    }


def device_costs(length: int, n_classes: int, n_devices: int, board: Board | str, *, quantized_adam=False,
                 cycles_per_op: float | None = None, batch_size: int = 128, num_features: int = 10_000,
                 usable_sram_fraction: float | None = None):
    """One row per device: its kernels, features, SRAM by component, operations, bytes, time and energy.

    ``board``: a :class:`~tinydtl.devices.Board` or a board's name. ``usable_sram_bytes`` is the share
    of the board's SRAM a learner may use (``usable_sram_fraction``, default
    ``tinydtl.devices.ASSUMPTIONS.usable_sram_fraction``) and ``fits`` whether ``sram_bytes`` is within it.
    """
    import pandas as pd

    board = as_board(board)
    check_int("length", length, 9)
    check_int("n_classes", n_classes, 2)
    check_int("batch_size", batch_size, 1)
    d = check_n_devices(n_devices)
    if cycles_per_op is None:
        cycles_per_op = ASSUMPTIONS.cycles_per_op
    check_number("cycles_per_op", cycles_per_op, low=0, low_open=True)
    usable = usable_sram_bytes(board.sram_bytes, usable_sram_fraction)
    n_dil = len(rocknet_dilations(length))
    nb = biases_per_kernel(n_dil, num_features)
    bounds = split_kernels(d)
    logit_bytes = payload_bytes(n_classes)
    rows = []
    for j in range(d):
        k = int(bounds[j + 1] - bounds[j])
        F = k * n_dil * nb
        sram = _sram(k, F, n_dil, length, n_classes, j == 0, quantized_adam)
        ops_conv = n_dil * (9 * length + k * 4 * length)
        ops_ppv = F * length
        ops_head = 2 * n_classes * F + ADAM_OPS_PER_PARAMETER * n_classes * F / batch_size
        ops = ops_conv + ops_ppv + ops_head
        if d == 1:
            tx = rx = 0
        else:
            tx = logit_bytes + (length if j == 0 else 0)
            rx = (d - 1) * logit_bytes + (0 if j == 0 else length)
        cost = step_cost(board, cycles=ops * cycles_per_op, tx_bytes=int(tx), rx_bytes=int(rx))
        rows.append({
            "devices": d, "device": j, "kernels": k, "features": F,
            **{f"sram_{name}": v for name, v in sram.items()},
            "sram_bytes": sum(sram.values()),
            "usable_sram_bytes": usable, "fits": sum(sram.values()) <= usable,
            "ops_conv": ops_conv, "ops_ppv": ops_ppv, "ops_head": ops_head, "ops": ops,
            "tx_bytes": tx, "rx_bytes": rx,
            "compute_s": cost.compute_s, "radio_s": cost.radio_s, "seconds": cost.seconds,
            "joules": cost.joules,
        })
    return pd.DataFrame(rows)


def cost_vs_devices(length: int, n_classes: int, board: Board | str, devices=range(1, 21), **kwargs):
    """Per D: the busiest device's SRAM (and whether it fits the usable SRAM), operations, time, energy,
    and the step's bytes (both counts). ``kwargs`` go to :func:`device_costs`."""
    import pandas as pd

    board = as_board(board)
    rows = []
    for d in devices:
        per = device_costs(length, n_classes, d, board, **kwargs)
        traffic = series_traffic(length, n_classes, d)
        rows.append({
            "devices": d,
            "sram_bytes": int(per["sram_bytes"].max()),
            "usable_sram_bytes": int(per["usable_sram_bytes"].iloc[0]),
            "fits": bool(per["fits"].all()),
            "ops": float(per["ops"].max()),
            "seconds": float(per["seconds"].max()),
            "compute_s": float(per["compute_s"].max()),
            "radio_s": float(per["radio_s"].max()),
            "joules": float(per["joules"].max()) if per["joules"].notna().all() else np.nan,
            "bytes_on_air": 0 if d == 1 else length + d * payload_bytes(n_classes),
            "bytes_rule": traffic.bytes_up,
            "messages_rule": traffic.messages,
        })
    return pd.DataFrame(rows)
