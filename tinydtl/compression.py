"""Communication-efficient updates: quantisation, top-k sparsification, error feedback.

A device sends its model update ``Δ`` (``n`` float32 numbers, ``4n`` bytes). Compressors return the
value the receiver reconstructs and the bytes on the wire:

* :func:`quantize` — stochastic uniform quantisation to ``2^bits`` levels between the update's
  min and max (unbiased: ``E[Q(Δ)] = Δ``; Alistarh et al. 2017, QSGD, in its per-tensor min/max form):
  ``n·bits/8`` bytes plus 8 for the range.
* :func:`top_k` — keep the ``k`` entries of largest magnitude (Stich et al. 2018): ``k`` values
  (4 bytes) and ``k`` indices (4 bytes).
* :class:`ErrorFeedback` — remembers what compression dropped and adds it to the next update
  (Seide et al. 2014; Karimireddy et al. 2019), so nothing is lost, only delayed.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import as_rng

__all__ = ["quantize", "top_k", "Compressor", "ErrorFeedback", "FLOAT32_BYTES"]

FLOAT32_BYTES = 4


def quantize(x, bits: int, rng=None):
    """Stochastic uniform quantisation of ``x`` to ``2**bits`` levels. Returns ``(x_hat, nbytes)``.

    ``rng``: an integer >= 0 or a ``numpy.random.Generator``; ``None`` (the default) draws fresh OS
    entropy, so repeated calls round independently (pass a seed for repeatable numbers).
    """
    if not isinstance(bits, numbers.Integral) or not (1 <= bits <= 16):
        raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
    x = np.asarray(x, dtype=np.float32)
    rng = as_rng("rng", rng, allow_none=True)
    lo, hi = float(x.min(initial=0.0)), float(x.max(initial=0.0))
    levels = 2**bits - 1
    if hi == lo:
        return np.full_like(x, lo), 8 + (x.size * bits + 7) // 8
    scaled = (x - lo) / (hi - lo) * levels
    floor = np.floor(scaled)
    q = floor + (rng.random(x.shape) < (scaled - floor))  # round up with probability = remainder
    return (lo + q * (hi - lo) / levels).astype(np.float32), 8 + (x.size * bits + 7) // 8


def top_k(x, k: int):
    """Keep exactly the ``k`` largest-magnitude entries of ``x`` (ties by position). Returns ``(x_hat, nbytes)``."""
    x = np.asarray(x, dtype=np.float32)
    if not isinstance(k, numbers.Integral) or not (1 <= k <= x.size):
        raise ValueError(f"k must be an integer in [1, {x.size}] (the number of entries), got {k!r}")
    flat = x.ravel()
    keep = np.argpartition(-np.abs(flat), k - 1)[:k]
    out = np.zeros_like(flat)
    out[keep] = flat[keep]
    return out.reshape(x.shape), k * (FLOAT32_BYTES + 4)


class Compressor:
    """A named compression operator for model updates: ``"none"``, ``"q8"``/``"q4"``/``"q2"`` (bits),
    or ``"top0.1"`` (fraction of entries kept), optionally with error feedback."""

    def __init__(self, spec: str = "none", *, error_feedback: bool = False, seed=0):
        self.spec = spec
        self.error_feedback = error_feedback
        self.rng = as_rng("seed", seed)
        if spec == "none":
            self._op = None
        elif spec.startswith("q") and spec[1:].isdigit():
            bits = int(spec[1:])
            quantize(np.zeros(1), bits)  # validates
            self._op = lambda v: quantize(v, bits, self.rng)
        elif spec.startswith("top"):
            try:
                frac = float(spec[3:])
            except ValueError:
                frac = -1.0
            if not (0 < frac <= 1):
                raise ValueError(f"top-k spec must be 'top<fraction>' with a fraction in (0, 1], got {spec!r}")
            self._op = lambda v: top_k(v, max(1, int(round(frac * v.size))))
        else:
            raise ValueError(f"spec must be 'none', 'q<bits>' or 'top<fraction>', got {spec!r}")
        self._memory: dict = {}

    def __call__(self, update, client=0):
        """Compress one client's update; returns ``(reconstructed, nbytes)``."""
        update = np.asarray(update, dtype=np.float32)
        if self._op is None:
            return update, update.size * FLOAT32_BYTES
        if self.error_feedback:
            corrected = update + self._memory.get(client, 0.0)
            sent, nbytes = self._op(corrected)
            self._memory[client] = corrected - sent
            return sent, nbytes
        return self._op(update)


class ErrorFeedback:
    """Error feedback around any ``op(x) -> (x_hat, nbytes)``: ``residual`` carries what was dropped."""

    def __init__(self, op):
        self.op = op
        self.residual = None

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float32)
        corrected = x if self.residual is None else x + self.residual
        sent, nbytes = self.op(corrected)
        self.residual = corrected - sent
        return sent, nbytes
