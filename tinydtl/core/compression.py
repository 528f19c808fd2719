"""Communication-efficient updates: quantisation, top-k sparsification, error feedback.

A device sends its model update ``Δ`` (``n`` float32 numbers, ``4n`` bytes). Compressors return the
value the receiver reconstructs and the bytes on the wire:

* :func:`quantize` — stochastic uniform quantisation to ``2^bits`` levels between the update's
  own min and max (0 is not added to the range; unbiased: ``E[Q(Δ)] = Δ``; Alistarh et al. 2017,
  QSGD, in its per-tensor min/max form): ``ceil(n·bits/8)`` bytes plus 8 for the range.
* :func:`top_k` — keep the ``k`` entries of largest magnitude (Stich et al. 2018): ``k`` values
  (4 bytes) and ``k`` indices (4 bytes).
* :class:`ErrorFeedback` — remembers what compression dropped and adds it to the next update
  (Seide et al. 2014; Karimireddy et al. 2019), so nothing is lost, only delayed.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydtl.core.traffic import FLOAT32_BYTES, payload_bytes
from tinydtl.core.validation import as_rng, check_bool

__all__ = ["quantize", "top_k", "Compressor", "ErrorFeedback"]



def _check_update(x, name="x"):
    try:
        x = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from None
    if x.size == 0:
        raise ValueError(f"{name} must have at least one entry, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must contain only finite numbers (found NaN or inf, or values beyond float32)")
    return x


def quantize(x, bits: int, rng=None):
    """Stochastic uniform quantisation of ``x`` to ``2**bits`` levels. Returns ``(x_hat, nbytes)``.

    The levels are ``lo + j·(hi - lo)/(2**bits - 1)``, ``j = 0..2**bits - 1``, with ``lo = min(x)`` and
    ``hi = max(x)`` — the update's own range, NOT widened to include 0 (so an all-positive update
    keeps its full resolution; 0 is a level only if it happens to fall on one). Each entry is
    rounded to one of its two neighbouring levels with the probability that makes the rounding
    unbiased, ``E[x_hat] = x`` (Alistarh et al. 2017, QSGD, Lemma 3.1, in its per-tensor min/max
    form). ``min(x)`` and ``max(x)`` are reproduced exactly. If all entries are equal, ``x`` is
    returned. Wire size: ``ceil(x.size · bits / 8)`` bytes of level indices plus 8 bytes for
    ``lo`` and ``hi`` (two float32).

    ``rng``: an integer >= 0 or a ``numpy.random.Generator``; ``None`` (the default) draws fresh OS
    entropy, so repeated calls round independently (pass a seed for repeatable numbers).
    """
    if not isinstance(bits, numbers.Integral) or isinstance(bits, bool) or not (1 <= bits <= 16):
        raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
    rng = as_rng("rng", rng, allow_none=True)
    x = _check_update(x)
    nbytes = 8 + (x.size * int(bits) + 7) // 8
    lo, hi = float(x.min()), float(x.max())
    levels = 2 ** int(bits) - 1
    if hi == lo:
        return x.copy(), nbytes
    # float32 arithmetic (as the device would do it); the clip only guards against rounding past the ends
    scaled = np.clip((x - lo) / (hi - lo) * levels, 0, levels).astype(np.float32)
    floor = np.floor(scaled)
    q = floor + (rng.random(x.shape) < (scaled - floor))  # round up with probability = remainder
    return (lo + q * (hi - lo) / levels).astype(np.float32), nbytes


def top_k(x, k: int):
    """Keep exactly the ``k`` largest-magnitude entries of ``x`` (ties by position). Returns ``(x_hat, nbytes)``.

    Wire size: ``k`` float32 values and ``k`` 4-byte indices, ``8k`` bytes.
    """
    x = _check_update(x)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not (1 <= k <= x.size):
        raise ValueError(f"k must be an integer in [1, {x.size}] (the number of entries), got {k!r}")
    flat = x.ravel()
    keep = np.argpartition(-np.abs(flat), k - 1)[:k]
    out = np.zeros_like(flat)
    out[keep] = flat[keep]
    return out.reshape(x.shape), int(k) * (FLOAT32_BYTES + 4)


class Compressor:
    """A named compression operator for model updates: ``"none"``, ``"q8"``/``"q4"``/``"q2"`` (bits),
    or ``"top0.1"`` (fraction of entries kept), optionally with error feedback."""

    def __init__(self, spec: str = "none", *, error_feedback: bool = False, seed=0):
        if not isinstance(spec, str):
            raise TypeError(f"spec must be a string ('none', 'q<bits>' or 'top<fraction>'), got {type(spec).__name__}")
        self.error_feedback = check_bool("error_feedback", error_feedback)
        if error_feedback and spec == "none":  # the one place this rule is checked
            raise ValueError("error_feedback=True needs a compressing spec ('q<bits>' or 'top<fraction>'): "
                             "with spec='none' nothing is dropped, so there is no error to feed back")
        self.spec = spec
        self.rng = as_rng("seed", seed)
        self.op = self.make_op(spec)
        self.feedback: dict = {}  # client -> ErrorFeedback (its residual)

    def make_op(self, spec):
        """The operator ``op(x) -> (x_hat, nbytes)`` named by ``spec`` (``None`` for ``"none"``)."""
        if spec == "none":
            return None
        if spec.startswith("q") and spec[1:].isdigit():
            bits = int(spec[1:])
            quantize(np.zeros(1), bits)  # validates
            return lambda v: quantize(v, bits, self.rng)
        if spec.startswith("top"):
            try:
                frac = float(spec[3:])
            except ValueError:
                frac = -1.0
            if not (0 < frac <= 1):
                raise ValueError(f"top-k spec must be 'top<fraction>' with a fraction in (0, 1], got {spec!r}")
            return lambda v: top_k(v, max(1, int(round(frac * v.size))))
        raise ValueError(f"spec must be 'none', 'q<bits>' or 'top<fraction>', got {spec!r}")

    def __call__(self, update, client=0):
        """Compress one client's update; returns ``(reconstructed, nbytes)``."""
        update = _check_update(update, "update")
        if self.op is None:
            return update, payload_bytes(update.size)
        if self.error_feedback:
            if client not in self.feedback:
                self.feedback[client] = ErrorFeedback(self.op)
            return self.feedback[client](update)
        return self.op(update)


class ErrorFeedback:
    """Error feedback around any ``op(x) -> (x_hat, nbytes)``: ``residual`` carries what was dropped."""

    def __init__(self, op):
        if not callable(op):
            raise TypeError(f"op must be a callable op(x) -> (x_hat, nbytes), got {type(op).__name__}")
        self.op = op
        self.residual = None

    def __call__(self, x):
        x = _check_update(x)
        if self.residual is not None and self.residual.shape != x.shape:
            raise ValueError(f"x must keep the shape of the first update {self.residual.shape}, got {x.shape}")
        corrected = x if self.residual is None else x + self.residual
        sent, nbytes = self.op(corrected)
        self.residual = corrected - sent
        return sent, nbytes
