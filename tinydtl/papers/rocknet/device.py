"""RockNet's devices: which kernels each device owns, its int8 data path, its slice of the linear head
and its Adam optimizer, and what one training step sends (Gräfe, Mager, Zimmerling & Trimpe,
"RockNet: Distributed Learning on Ultra-Low-Power Devices", arXiv 2510.13320).

Device ``j`` owns a contiguous block of MiniRocket's 84 kernels (:func:`split_kernels`), fits the
biases of its kernels on one broadcast series, computes only its features ``F_j`` and keeps only the
rows ``W_j`` of the head: its partial logits ``z_j = F_j W_j`` are summed over the devices.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from tinydtl.core.traffic import Traffic, payload_bytes
from tinydtl.core.validation import check_finite_array, check_int
from tinydtl.learners.minirocket_kernels import (
    KERNEL_LENGTH,
    N_KERNELS,
    PADDING_ALWAYS,
    fit_biases,
    ppv_features,
    quantiles,
)
from tinydtl.learners.quantized_adam import Adam

__all__ = [
    "MAX_DEVICES",
    "Int8Quantiser",
    "RockNetDevice",
    "biases_per_kernel",
    "check_n_devices",
    "rocknet_dilations",
    "series_traffic",
    "split_kernels",
]

#: At most one device per kernel.
MAX_DEVICES = N_KERNELS


def check_n_devices(n_devices) -> int:
    if not isinstance(n_devices, numbers.Integral) or isinstance(n_devices, bool) or not 1 <= n_devices <= MAX_DEVICES:
        raise ValueError(
            f"n_devices must be an integer in [1, {MAX_DEVICES}] (each device needs at least one of the "
            f"{N_KERNELS} kernels), got {n_devices!r}"
        )
    return int(n_devices)


def rocknet_dilations(length: int) -> np.ndarray:
    """RockNet's dilations ``2^i``, i = 0 … ⌊log2((L − 1)/8)⌋ (at most 32 of them)."""
    check_int("length", length, KERNEL_LENGTH)
    top = int(min(math.log2((length - 1) / (KERNEL_LENGTH - 1)), 31))
    return 2 ** np.arange(top + 1, dtype=np.int64)


def biases_per_kernel(n_dilations: int, num_features: int = 10_000) -> int:
    """``int(num_features / (n_dilations · 84))`` biases per kernel and dilation."""
    return int(num_features / (n_dilations * N_KERNELS))


def split_kernels(n_devices: int) -> np.ndarray:
    """Boundaries of the contiguous kernel blocks: device j owns kernels ``[b[j], b[j + 1])``."""
    n_devices = check_n_devices(n_devices)
    sizes = np.full(n_devices, N_KERNELS // n_devices)
    sizes[: N_KERNELS % n_devices] += 1
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


@dataclass
class Int8Quantiser:
    """int8 input quantisation with 99.9th-percentile scaling, then z-normalisation (RockNet's data path)."""

    percentile: float = 99.9
    offset_: float = field(default=np.nan, init=False)
    scale_: float = field(default=np.nan, init=False)
    mean_: float = field(default=np.nan, init=False)
    std_: float = field(default=np.nan, init=False)

    def fit(self, X):
        X = check_finite_array("X", X, allow_empty=False)
        self.offset_ = float(X.mean())
        self.scale_ = float(np.percentile(np.abs(X - self.offset_), self.percentile)) or 1.0
        q = self.quantise(X).astype(np.float64)
        self.mean_, self.std_ = float(q.mean()), float(q.std()) or 1.0
        return self

    def quantise(self, X) -> np.ndarray:
        """The int8 series a device stores and broadcasts."""
        q = np.rint((np.asarray(X, dtype=np.float64) - self.offset_) / self.scale_ * 127)
        return np.clip(q, -127, 127).astype(np.int8)

    def transform(self, X) -> np.ndarray:
        return ((self.quantise(X) - self.mean_) / self.std_).astype(np.float32)


class RockNetDevice:
    """One device: a contiguous block of kernels, their biases, the weight slice and its optimizer."""

    def __init__(self, index, kernels, dilations, n_biases, n_classes, *, owns_bias, adam_kwargs):
        self.index = index
        self.kernels = np.asarray(kernels, dtype=np.int64)
        self.dilations = np.asarray(dilations, dtype=np.int64)
        self.n_biases = int(n_biases)
        n_dil, n_k = len(self.dilations), len(self.kernels)
        self.n_features = n_dil * n_k * self.n_biases
        # features on the device, kernel-major: (kernel, dilation, bias)
        self.offsets = ((np.arange(n_k)[None, :] * n_dil + np.arange(n_dil)[:, None]) * self.n_biases).astype(np.int64)
        # quantile positions in the paper's global order: (dilation, kernel, bias)
        self.quantile_offsets = ((np.arange(n_dil)[:, None] * N_KERNELS + self.kernels[None, :]) * self.n_biases).astype(np.int64)
        self.n_classes = n_classes
        self.owns_bias = owns_bias
        self.adam_kwargs = adam_kwargs
        self.biases = None

    def fit_biases(self, series) -> None:
        """Biases from the quantiles of this device's convolution outputs on one (broadcast) series."""
        n_dil, n_k = len(self.dilations), len(self.kernels)
        q = quantiles(n_dil * N_KERNELS * self.n_biases)
        self.biases = fit_biases(
            np.asarray(series, dtype=np.float32)[None, :],
            np.zeros((n_dil, n_k), dtype=np.int64),
            self.dilations,
            np.full(n_dil, self.n_biases),
            self.kernels,
            self.offsets,
            q,
            self.quantile_offsets,
            interpolate=False,
        )

    def features(self, X) -> np.ndarray:
        return ppv_features(
            X, self.dilations, np.full(len(self.dilations), self.n_biases), self.biases, self.kernels,
            self.offsets, padding_mode=PADDING_ALWAYS,
        )

    def init_head(self, W_slice: np.ndarray) -> None:
        self.W = np.array(W_slice, dtype=np.float64)
        self.opt_W = Adam(self.W.shape, **self.adam_kwargs)
        if self.owns_bias:
            self.b = np.zeros(self.n_classes)
            self.opt_b = Adam(self.b.shape, **self.adam_kwargs)

    def partial_logits(self, F) -> np.ndarray:
        z = F @ self.W
        return z + self.b if self.owns_bias else z

    def update(self, F, G) -> None:
        """Adam step on this device's slice with its exact gradient ``F_jᵀ G`` (G = (p − y) / batch)."""
        self.opt_W.step(self.W, F.T @ G)
        if self.owns_bias:
            self.opt_b.step(self.b, G.sum(axis=0))

    def state(self):
        return (self.W.copy(), self.b.copy() if self.owns_bias else None)

    def restore(self, state) -> None:
        self.W = state[0].copy()
        if self.owns_bias:
            self.b = state[1].copy()


def series_traffic(length: int, n_classes: int, n_devices: int) -> Traffic:
    """One training step's traffic under the package rule (a broadcast to k receivers = k transmissions)."""
    check_int("length", length, 1)
    check_int("n_classes", n_classes, 2)
    d = check_n_devices(n_devices)
    series = Traffic(bytes_up=(d - 1) * length, messages=d - 1)
    logits = Traffic(bytes_up=d * (d - 1) * payload_bytes(n_classes), messages=d * (d - 1))
    return series + logits
