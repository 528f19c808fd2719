"""Aggregators that a minority of malicious devices cannot drag away.

FedAvg's weighted mean can be moved arbitrarily far by one device sending garbage. The
coordinate-wise median and the trimmed mean (Yin et al. 2018, "Byzantine-robust distributed
learning", Definitions 1 and 2) look at each coordinate separately and ignore the extremes, so they
tolerate a minority of arbitrary (Byzantine) updates.

All aggregators take a stack ``updates`` of shape ``(m, ...)`` (one update per device, finite
numbers) and return one update; they are permutation-invariant (the order of the devices does not
matter). Bad input is a ``ValueError``/``TypeError`` naming the parameter.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["AGGREGATORS", "aggregate", "check_trim", "weighted_mean", "coordinate_median", "trimmed_mean", "trimmed_count"]


def _stack(updates):
    try:
        U = np.asarray(updates, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            "updates must be a stack of equally shaped numeric arrays, one update per device"
        ) from None
    if U.ndim < 2 or len(U) == 0:
        raise ValueError(f"updates must be a non-empty stack (m, ...) with one update per device, got shape {U.shape}")
    if not np.all(np.isfinite(U)):
        raise ValueError("updates must contain only finite numbers (found NaN or inf)")
    return U


def _weights(weights, m):
    """``None`` (equal weights) or ``m`` finite non-negative numbers with a positive sum."""
    if weights is None:
        return np.ones(m)
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"weights must be {m} numbers, one per update, got {type(weights).__name__}") from None
    if w.shape != (m,):
        raise ValueError(f"weights must be {m} numbers, one per update, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be finite and >= 0 with a positive sum, got {w.tolist() if m <= 10 else w}")
    return w


def weighted_mean(updates, weights=None):
    """``Σ_i w_i u_i / Σ_i w_i`` (FedAvg's aggregate, McMahan et al. 2017, with ``w_i = n_i``).

    ``weights``: ``None`` (plain mean) or one finite weight ``>= 0`` per update, not all zero;
    NaN, inf, negative or all-zero weights are a ``ValueError``.
    """
    U = _stack(updates)
    w = _weights(weights, len(U))
    return np.tensordot(w / w.sum(), U, axes=1)


def coordinate_median(updates, weights=None):
    """Median of each coordinate over devices (Yin et al. 2018, Definition 1; ``weights`` checked, then ignored)."""
    U = _stack(updates)
    _weights(weights, len(U))
    return np.median(U, axis=0)


def trimmed_count(m: int, trim: float) -> int:
    """How many values :func:`trimmed_mean` drops at EACH end of a coordinate: ``floor(trim · m)``."""
    return int(math.floor(trim * m + 1e-12))  # 1e-12: 0.3 * 10 is 2.999... in floating point


def check_trim(trim, m: int) -> int:
    """``trim`` must be in ``[0, 0.5)`` and, if positive, drop at least one of ``m`` values per side; returns that count."""
    if not isinstance(trim, numbers.Real) or isinstance(trim, bool) or not (0 <= trim < 0.5):
        raise ValueError(f"trim must be in [0, 0.5) (a number), got {trim!r}")
    k = trimmed_count(m, trim)
    if trim > 0 and k == 0:
        inv = 1 / trim
        need = f"at least {math.ceil(inv - 1e-12)} updates" if inv < 1e12 else "more updates"
        raise ValueError(
            f"trim={trim} trims floor({trim}·{m}) = 0 of {m} updates per side, i.e. nothing: "
            f"use {need}, trim >= {1 / m:.3g}, or trim=0 for the plain mean"
        )
    return k


def trimmed_mean(updates, weights=None, trim: float = 0.2):
    """Coordinate-wise trimmed mean (Yin et al. 2018, Definition 2): for each coordinate, drop the
    ``k = floor(trim · m)`` largest and ``k`` smallest of the ``m`` values and average the rest.

    ``trim`` must be in ``[0, 0.5)``, so ``2k < m`` and never everything is trimmed; ``trim > 0``
    that would trim nothing (``trim · m < 1``, e.g. the default 0.2 with fewer than 5 updates) is a
    ``ValueError`` rather than a silent plain mean. ``weights`` are checked, then ignored.
    """
    U = _stack(updates)
    _weights(weights, len(U))
    k = check_trim(trim, len(U))
    S = np.sort(U, axis=0)
    return S[k : len(U) - k].mean(axis=0)


AGGREGATORS = {"mean": weighted_mean, "median": coordinate_median, "trimmed_mean": trimmed_mean}


def aggregate(updates, weights=None, method: str = "mean", *, trim: float | None = None):
    """Aggregate a stack of updates with ``method`` in :data:`AGGREGATORS`.

    ``trim`` (only with ``method="trimmed_mean"``) overrides its default 0.2.
    """
    if not isinstance(method, str) or method not in AGGREGATORS:
        raise ValueError(f"method must be one of {sorted(AGGREGATORS)}, got {method!r}")
    if trim is not None:
        if method != "trimmed_mean":
            raise ValueError(f"trim applies to method='trimmed_mean' only, got method={method!r}")
        return trimmed_mean(updates, weights, trim=trim)
    return AGGREGATORS[method](updates, weights)
