"""Shamir's t-of-n secret sharing (Shamir 1979), vectorised with numpy.

To share a secret ``s`` among holders with public coordinates ``x = 1, 2, …``, draw a random
polynomial ``p(x) = s + a_1 x + … + a_{t-1} x^{t-1}`` over a prime field and give holder ``x`` the
value ``p(x)``. Any ``t`` shares determine ``p`` and hence ``s = p(0)`` (Lagrange interpolation:
``s = Σ_j y_j Π_{m≠j} x_m / (x_m − x_j)``); any ``t − 1`` shares are uniformly distributed whatever
``s`` is — they say nothing about it.

Here the field is GF(p) with ``p = 2³¹ − 1`` (products of two elements fit in int64), and a byte
string is shared as 16-bit chunks, each with its own random polynomial (so a 32-byte key becomes 16
field elements per share). Flower's SecAgg+ does the same over GF(2¹²⁸) blocks with PyCryptodome;
the guarantee is the same per chunk.
"""

from __future__ import annotations

import functools

import numpy as np

from tinydtl.core.validation import check_number

__all__ = ["PRIME", "combine", "lagrange_at_zero", "split"]

PRIME = 2**31 - 1
CHUNK_DTYPE = "<u2"  # 16-bit chunks: every chunk is a field element


def split(secret: bytes, threshold: int, holders, rng: np.random.Generator) -> np.ndarray:
    """Shares of ``secret`` for the holders at coordinates ``holders`` (integers >= 1), ``threshold`` needed.

    Returns an int64 array ``(len(holders), chunks)``: row ``i`` is holder ``holders[i]``'s share.
    """
    if not isinstance(secret, (bytes, bytearray)) or len(secret) % 2:
        raise ValueError(f"secret must be bytes of even length (16-bit chunks), got {type(secret).__name__}")
    xs = np.asarray(holders, dtype=np.int64)
    check_number("threshold", threshold, low=1, high=max(len(xs), 1), integer=True)
    if xs.ndim != 1 or (xs.size and (xs.min() < 1 or xs.max() >= PRIME)) or len(np.unique(xs)) != len(xs):
        raise ValueError("holders must be distinct integer coordinates in [1, 2^31 - 2]")
    s = np.frombuffer(bytes(secret), CHUNK_DTYPE).astype(np.int64)
    coeffs = rng.integers(0, PRIME, size=(threshold - 1, len(s)), dtype=np.int64)
    y = np.zeros((len(xs), len(s)), dtype=np.int64)
    x = xs[:, None]
    for a in coeffs[::-1]:  # Horner: (((a_{t-1}) x + a_{t-2}) x + … + a_1) x + s
        y = (y + a) * x % PRIME
    return (y + s) % PRIME


@functools.lru_cache(maxsize=4096)
def lagrange_at_zero(xs: tuple) -> np.ndarray:
    """Lagrange coefficients ``λ_j = Π_{m≠j} x_m / (x_m − x_j)`` mod p, for interpolating at 0."""
    lam = []
    for j, xj in enumerate(xs):
        num = den = 1
        for m, xm in enumerate(xs):
            if m != j:
                num = num * xm % PRIME
                den = den * (xm - xj) % PRIME
        lam.append(num * pow(den, PRIME - 2, PRIME) % PRIME)
    return np.array(lam, dtype=np.int64)


def combine(shares, holders) -> bytes:
    """The secret from shares ``(k, chunks)`` held at coordinates ``holders`` (``k >= threshold``:
    with fewer, the result is garbage — a ``ValueError`` when a chunk falls outside 16 bits)."""
    Y = np.asarray(shares, dtype=np.int64)
    xs = tuple(int(x) for x in holders)
    if Y.ndim != 2 or Y.shape[0] != len(xs) or not xs:
        raise ValueError(f"shares must be (holders, chunks) with one row per holder, got {Y.shape} for {len(xs)}")
    lam = lagrange_at_zero(xs)
    s = ((lam[:, None] * Y) % PRIME).sum(axis=0) % PRIME
    if s.max(initial=0) >= 2**16:
        raise ValueError("the shares do not reconstruct a secret (too few shares, or altered)")
    return s.astype(CHUNK_DTYPE).tobytes()
