"""The maths every learner shares, written once: softmax, cross-entropy, its gradient, Glorot init.

For logits ``z`` (last axis = classes) and integer labels ``y``:

* ``softmax(z)_c = exp(z_c - m) / Σ_k exp(z_k - m)`` with ``m = max_k z_k`` (the shift leaves the
  value unchanged and keeps ``exp`` from overflowing);
* ``cross_entropy(z, y) = log Σ_k exp(z_k) - z_y`` per sample (log-sum-exp, same shift);
* ``∂ mean CE / ∂ z = (softmax(z) - onehot(y)) / B`` (:func:`softmax_cross_entropy_grad`);
* Glorot-uniform weights ``U(-√(6/(n_in+n_out)), +√(6/(n_in+n_out)))`` (Glorot & Bengio 2010, eq. 16;
  Keras' ``Dense`` default).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DivergenceError", "check_converging", "cross_entropy", "glorot_uniform", "logsumexp", "softmax",
           "softmax_cross_entropy_grad"]


class DivergenceError(ValueError):
    """Training produced NaN or infinite values (as scikit-learn's SGD raises instead of returning NaN
    weights): lower the learning rate, or check the data's scale."""


def check_converging(name: str, values, *, when: str = "") -> None:
    """Raise :class:`DivergenceError` if ``values`` hold NaN or inf (a diverging optimiser)."""
    arr = np.asarray(values)
    if not np.isfinite(arr).all():
        where = f" {when}" if when else ""
        raise DivergenceError(f"{name} became NaN or infinite{where}: training diverged; lower the learning rate "
                              "or check the data's scale")


def logsumexp(logits) -> np.ndarray:
    """``log Σ_k exp(z_k)`` over the last axis, shifted by the maximum (no overflow)."""
    z = np.asarray(logits)
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def softmax(logits) -> np.ndarray:
    """Class probabilities over the last axis (shifted by the maximum)."""
    z = np.asarray(logits)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(logits, y) -> np.ndarray:
    """Per-sample cross-entropy ``logsumexp(z) - z_y`` of 2-D ``logits (n, C)`` and labels ``y (n,)``."""
    z = np.asarray(logits)
    y = np.asarray(y)
    return logsumexp(z) - z[np.arange(len(y)), y]


def softmax_cross_entropy_grad(logits, y) -> np.ndarray:
    """Gradient of the mean cross-entropy over the batch with respect to the logits:
    ``(softmax(z) - onehot(y)) / B`` (last axis = classes)."""
    p = softmax(logits)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    return p


def glorot_uniform(n_in: int, n_out: int, rng) -> np.ndarray:
    """Glorot-uniform ``(n_in, n_out)`` float32 weights, as Keras' ``Dense`` default."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(np.float32)
