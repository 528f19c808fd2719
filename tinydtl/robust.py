"""Aggregators that a minority of malicious devices cannot drag away.

FedAvg's weighted mean can be moved arbitrarily far by one device sending garbage. The
coordinate-wise median and the trimmed mean (Yin et al. 2018) look at each coordinate separately
and ignore the extremes, so they tolerate a minority of arbitrary (Byzantine) updates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AGGREGATORS", "aggregate", "weighted_mean", "coordinate_median", "trimmed_mean"]


def _stack(updates):
    U = np.asarray(updates, dtype=np.float64)
    if U.ndim < 2 or len(U) == 0:
        raise ValueError("updates must be a non-empty stack, one update per device")
    return U


def weighted_mean(updates, weights=None):
    U = _stack(updates)
    w = np.ones(len(U)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(U),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(U)} non-negative numbers with a positive sum")
    return np.tensordot(w / w.sum(), U, axes=1)


def coordinate_median(updates, weights=None):
    """Median of each coordinate over devices (weights ignored)."""
    return np.median(_stack(updates), axis=0)


def trimmed_mean(updates, weights=None, trim: float = 0.2):
    """Mean of each coordinate after dropping the ``trim`` fraction largest and smallest values."""
    U = _stack(updates)
    if not (0 <= trim < 0.5):
        raise ValueError(f"trim must be in [0, 0.5), got {trim!r}")
    k = int(np.floor(trim * len(U)))
    S = np.sort(U, axis=0)
    return S[k : len(U) - k].mean(axis=0)


AGGREGATORS = {"mean": weighted_mean, "median": coordinate_median, "trimmed_mean": trimmed_mean}


def aggregate(updates, weights=None, method: str = "mean"):
    """Aggregate a stack of updates with ``method`` in :data:`AGGREGATORS`."""
    if method not in AGGREGATORS:
        raise ValueError(f"method must be one of {sorted(AGGREGATORS)}, got {method!r}")
    return AGGREGATORS[method](updates, weights)
