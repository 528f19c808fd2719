"""MiniRocket's kernels and its numba core: the 84 fixed kernels, dilations, biases from quantiles and
the PPV features (Dempster, Schmidt & Webb, KDD 2021, Sec. 3-4; see :mod:`tinydtl.learners.minirocket`).

:func:`ppv_features` computes any subset of kernels (RockNet's devices each compute a contiguous block
of them); the feature order is given by an offsets table, so the same loop serves both layouts.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations

import numpy as np
from numba import njit

__all__ = [
    "KERNEL_INDICES",
    "KERNEL_LENGTH",
    "N_KERNELS",
    "PADDING_ALTERNATE",
    "PADDING_ALWAYS",
    "conv_output",
    "dilation_major_offsets",
    "fit_biases",
    "fit_dilations",
    "kernel_weights",
    "ppv_features",
    "quantiles",
]

KERNEL_LENGTH = 9
#: The positions that carry weight 2 in each of the 84 kernels (all other positions carry −1).
KERNEL_INDICES = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.int64)
N_KERNELS = len(KERNEL_INDICES)

#: How the padding is chosen: MiniRocket alternates, RockNet always pads.
PADDING_ALTERNATE = 0
PADDING_ALWAYS = 1

#: On short ranges (< SHORT_RANGE points) with many biases (>= SORTED_BIASES_FROM) PPV counts by ranking
#: each value among the sorted biases (L log nb + nb) instead of comparing every value with every bias
#: (L nb): ItalyPowerDemand (L = 24, ~60 biases per pair) was 5x slower than aeon with the direct
#: count, < 2x with this. Long ranges keep the direct count, which vectorises.
SORTED_BIASES_FROM = 8
SHORT_RANGE = 64


def kernel_weights(kernel_index: int) -> np.ndarray:
    """The nine weights of kernel ``kernel_index`` (2 at its three positions, −1 elsewhere)."""
    w = -np.ones(KERNEL_LENGTH)
    w[KERNEL_INDICES[kernel_index]] = 2.0
    return w


def quantiles(n: int) -> np.ndarray:
    """The low-discrepancy quantile positions ``frac(k φ)``, k = 1..n (MiniRocket Sec. 3.2.2)."""
    k = np.arange(1, n + 1, dtype=np.float64)
    return ((k * (np.sqrt(5.0) + 1.0) / 2.0) % 1.0).astype(np.float32)


def fit_dilations(length: int, num_features: int = 10_000, max_dilations_per_kernel: int = 32):
    """Dilations ``floor(2^e)`` for e evenly spaced in [0, log2((L − 1)/8)] and features per dilation.

    As in the paper (Sec. 3.2.1): ``num_features // 84`` features per kernel are spread over at most
    ``max_dilations_per_kernel`` exponentially spaced dilations; repeated dilations (short series) merge
    and keep their share of features; the remainder goes one by one to the smallest dilations.
    """
    per_kernel = num_features // N_KERNELS
    n_dil = min(per_kernel, max_dilations_per_kernel)
    multiplier = per_kernel / n_dil
    max_exponent = np.log2((length - 1) / (KERNEL_LENGTH - 1))
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, n_dil, base=2).astype(np.int64), return_counts=True
    )
    per_dilation = (counts * multiplier).astype(np.int64)
    remainder = per_kernel - per_dilation.sum()
    i = 0
    while remainder > 0:
        per_dilation[i] += 1
        remainder -= 1
        i = (i + 1) % len(per_dilation)
    return dilations, per_dilation


@njit(cache=True, fastmath=True)
def _dilation_basis(x, dilation, c_alpha, c_gamma):
    """C_α = −Σ_p shift_p(X) and C_γ[p] = 3 shift_p(X) for the nine dilated positions (zero padded)."""
    n = x.shape[0]
    for t in range(n):
        c_alpha[t] = 0.0
    for p in range(KERNEL_LENGTH):
        offset = (p - KERNEL_LENGTH // 2) * dilation
        for t in range(n):
            s = t + offset
            if s >= 0 and s < n:
                v = x[s]
                c_alpha[t] -= v
                c_gamma[p, t] = 3.0 * v
            else:
                c_gamma[p, t] = 0.0


@njit(cache=True, fastmath=True)
def _kernel_output(c_alpha, c_gamma, kernel_indices, kernel, out):
    i0 = kernel_indices[kernel, 0]
    i1 = kernel_indices[kernel, 1]
    i2 = kernel_indices[kernel, 2]
    for t in range(out.shape[0]):
        out[t] = c_alpha[t] + c_gamma[i0, t] + c_gamma[i1, t] + c_gamma[i2, t]


@njit(cache=True, fastmath=True)
def _conv_output_core(x, dilation, kernel, kernel_indices):
    n = x.shape[0]
    c_alpha = np.empty(n, dtype=np.float32)
    c_gamma = np.empty((KERNEL_LENGTH, n), dtype=np.float32)
    out = np.empty(n, dtype=np.float32)
    _dilation_basis(x, dilation, c_alpha, c_gamma)
    _kernel_output(c_alpha, c_gamma, kernel_indices, kernel, out)
    return out


def conv_output(x, dilation: int, kernel: int) -> np.ndarray:
    """The zero-padded ('same') convolution of one series with kernel ``kernel`` at ``dilation``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return _conv_output_core(x, np.int64(dilation), np.int64(kernel), KERNEL_INDICES)


@njit(cache=True, fastmath=True)
def _count_above(c, lo, hi, b):
    """How many of ``c[lo:hi]`` exceed ``b``.

    Measured with numba 0.68: the array form vectorises best on long series, but its temporary array
    dominates on short ones (L = 24: 5x slower than a scalar loop), so short ranges use the loop.
    """
    if hi - lo < SHORT_RANGE:
        count = np.float32(0.0)
        for t in range(lo, hi):
            count += np.float32(1.0) if c[t] > b else np.float32(0.0)
        return count
    return np.float32(np.sum(c[lo:hi] > b))



@njit(cache=True, fastmath=True)
def _count_above_sorted(c, lo, hi, sorted_biases, order, start, nb, hist):
    """``hist[m]`` = how many of ``c[lo:hi]`` exceed the m-th smallest bias of the block at ``start``."""
    for m in range(nb + 1):
        hist[m] = 0
    for t in range(lo, hi):
        v = c[t]
        a, b = 0, nb  # number of sorted biases strictly below v (binary search)
        while a < b:
            mid = (a + b) >> 1
            if sorted_biases[start + mid] < v:
                a = mid + 1
            else:
                b = mid
        hist[a] += 1
    running = 0
    for m in range(nb - 1, -1, -1):  # v > bias_m  <=>  rank(v) > m
        running += hist[m + 1]
        hist[m + 1] = running
    for m in range(nb):
        hist[m] = hist[m + 1]


@njit(cache=True)
def _sort_blocks(biases, offsets, n_biases):
    sorted_biases = np.empty_like(biases)
    order = np.empty(biases.shape[0], dtype=np.int64)
    for d in range(offsets.shape[0]):
        nb = n_biases[d]
        for j in range(offsets.shape[1]):
            start = offsets[d, j]
            idx = np.argsort(biases[start : start + nb])
            for m in range(nb):
                order[start + m] = idx[m]
                sorted_biases[start + m] = biases[start + idx[m]]
    return sorted_biases, order


@njit(cache=True, fastmath=True, nogil=True)
def _ppv_features_core(X, dilations, n_biases, biases, sorted_biases, order, kernels, offsets, padding_mode,
                       kernel_indices, features):
    # serial on purpose: inside a numba prange the PPV count loop lost its vectorisation (5x slower);
    # ppv_features runs chunks of series on threads instead (nogil)
    n_series, n = X.shape
    n_dil = dilations.shape[0]
    for s in range(n_series):
        x = X[s]
        c_alpha = np.empty(n, dtype=np.float32)
        c_gamma = np.empty((KERNEL_LENGTH, n), dtype=np.float32)
        c = np.empty(n, dtype=np.float32)
        hist = np.empty(n_biases.max() + 1, dtype=np.int64)
        for d in range(n_dil):
            dilation = dilations[d]
            pad = ((KERNEL_LENGTH - 1) * dilation) // 2
            nb = n_biases[d]
            _dilation_basis(x, dilation, c_alpha, c_gamma)
            for j in range(kernels.shape[0]):
                kernel = kernels[j]
                _kernel_output(c_alpha, c_gamma, kernel_indices, kernel, c)
                start = offsets[d, j]
                padded = padding_mode == PADDING_ALWAYS or (d + kernel) % 2 == 0
                lo = 0 if padded else pad
                hi = n if padded else n - pad
                inv = 1.0 / (hi - lo)
                if nb < SORTED_BIASES_FROM or hi - lo >= SHORT_RANGE:
                    for f in range(nb):
                        features[s, start + f] = _count_above(c, lo, hi, biases[start + f]) * inv
                else:
                    _count_above_sorted(c, lo, hi, sorted_biases, order, start, nb, hist)
                    for f in range(nb):
                        features[s, start + order[start + f]] = hist[f] * inv


def ppv_features(X, dilations, n_biases, biases, kernels, offsets, *, padding_mode=PADDING_ALTERNATE, n_jobs=1):
    """PPV features (eq. 1) of every series in ``X`` for the given kernels and dilations.

    ``offsets[d, j]`` is where the ``n_biases[d]`` features (and biases) of dilation ``d`` and kernel
    ``kernels[j]`` start in the output row. With ``padding_mode`` ``PADDING_ALTERNATE`` (MiniRocket)
    the pair (d, k) is zero padded when ``d + k`` is even and otherwise uses only the valid part of the
    convolution (the first and last ``4 · dilation`` points dropped); ``PADDING_ALWAYS`` (RockNet) pads
    every pair. ``n_jobs`` threads share the series (``-1``: all cores; the numba core releases the GIL).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    biases = np.asarray(biases, dtype=np.float32)
    features = np.zeros((X.shape[0], biases.shape[0]), dtype=np.float32)
    offsets = np.asarray(offsets, dtype=np.int64)
    n_biases = np.asarray(n_biases, dtype=np.int64)
    sorted_biases, order = _sort_blocks(biases, offsets, n_biases)
    args = (
        np.asarray(dilations, dtype=np.int64),
        n_biases,
        biases,
        sorted_biases,
        order,
        np.asarray(kernels, dtype=np.int64),
        offsets,
        np.int64(padding_mode),
        KERNEL_INDICES,
    )
    threads = os.cpu_count() or 1 if n_jobs == -1 else n_jobs
    threads = max(1, min(threads, X.shape[0]))
    if threads == 1:
        _ppv_features_core(X, *args, features)
        return features
    chunks = np.array_split(np.arange(X.shape[0]), threads)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda rows: _ppv_features_core(X[rows[0] : rows[-1] + 1], *args, features[rows[0] : rows[-1] + 1]), chunks))
    return features


@njit(cache=True, fastmath=True)
def _fit_biases_core(X, examples, dilations, n_biases, kernels, offsets, q, q_offsets, interpolate, kernel_indices):
    n = X.shape[1]
    biases = np.zeros(offsets.max() + n_biases.max() + 1, dtype=np.float32)
    c_alpha = np.empty(n, dtype=np.float32)
    c_gamma = np.empty((KERNEL_LENGTH, n), dtype=np.float32)
    c = np.empty(n, dtype=np.float32)
    for d in range(dilations.shape[0]):
        for j in range(kernels.shape[0]):
            _dilation_basis(X[examples[d, j]], dilations[d], c_alpha, c_gamma)
            _kernel_output(c_alpha, c_gamma, kernel_indices, kernels[j], c)
            sorted_c = np.sort(c)
            for f in range(n_biases[d]):
                qq = q[q_offsets[d, j] + f]
                if interpolate:  # numpy's default ('linear') quantile, as the paper's code
                    pos = qq * (n - 1)
                    lo = int(np.floor(pos))
                    hi = min(lo + 1, n - 1)
                    frac = pos - lo
                    value = sorted_c[lo] + (sorted_c[hi] - sorted_c[lo]) * frac
                else:  # RockNet on device: the sorted output at index int(n q), clipped
                    value = sorted_c[min(int(n * qq), n - 1)]
                biases[offsets[d, j] + f] = value
    return biases


def fit_biases(X, examples, dilations, n_biases, kernels, offsets, q, q_offsets, *, interpolate=True):
    """Biases: quantiles ``q`` of the convolution output of training series ``examples[d, j]``.

    ``q_offsets[d, j]`` is where pair (d, kernels[j])'s quantile positions start in ``q`` (the global
    dilation-major order of the paper, so a device computing a block of kernels gets the same biases
    as the central computation). Returns the biases laid out like the features (``offsets``).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    offsets = np.asarray(offsets, dtype=np.int64)
    n_biases = np.asarray(n_biases, dtype=np.int64)
    out = _fit_biases_core(
        X,
        np.asarray(examples, dtype=np.int64),
        np.asarray(dilations, dtype=np.int64),
        n_biases,
        np.asarray(kernels, dtype=np.int64),
        offsets,
        np.asarray(q, dtype=np.float32),
        np.asarray(q_offsets, dtype=np.int64),
        bool(interpolate),
        KERNEL_INDICES,
    )
    n_out = int(sum(n_biases[d] * offsets.shape[1] for d in range(len(n_biases))))
    return out[:n_out]


def dilation_major_offsets(n_biases, n_kernels=N_KERNELS):
    """Offsets of each (dilation, kernel) block in the paper's order: dilation, then kernel, then bias."""
    n_biases = np.asarray(n_biases, dtype=np.int64)
    offsets = np.zeros((len(n_biases), n_kernels), dtype=np.int64)
    start = 0
    for d, nb in enumerate(n_biases):
        offsets[d] = start + nb * np.arange(n_kernels)
        start += nb * n_kernels
    return offsets
