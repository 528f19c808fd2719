"""Parameter checks shared by the modules: a clear error naming the parameter and its allowed range.

This is the one module other modules may import helpers from (treat its functions as public within
the package). Seeds go through :func:`check_seed` / :func:`as_rng`, mixing matrices through
:func:`check_mixing_matrix`, so every function accepts and rejects the same things.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_int", "check_number", "check_seed", "as_rng", "check_mixing_matrix", "MIXING_TOL"]

#: Absolute tolerance of :func:`check_mixing_matrix`: entries ``>= -MIXING_TOL``,
#: ``|W - Wᵀ| <= MIXING_TOL`` and ``|row sum - 1| <= MIXING_TOL``.
MIXING_TOL = 1e-9


def check_int(name, value, low):
    """``value`` must be an integer (not a bool) ``>= low``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_number(name, value, *, low, high=np.inf, low_open=False, integer=False):
    """``value`` must be a finite number (an integer if ``integer``) in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        lo = f"({low}" if low_open else f"[{low}"
        hi = "∞)" if high == np.inf else f"{high}]"
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {what} in {lo}, {hi}, got {value!r}")


def check_seed(name, seed, *, allow_none=False):
    """Validate a seed and return it unchanged.

    Accepted: an integer ``>= 0`` (Python or NumPy integer, not a bool), a
    :class:`numpy.random.Generator` or :class:`numpy.random.SeedSequence`, and ``None`` (fresh OS
    entropy: different numbers every call) only where the caller documents it (``allow_none=True``).
    Anything else raises ``TypeError`` (wrong type: str, float, bool, ``None`` where not allowed,
    ``RandomState``) or ``ValueError`` (negative integer), naming the parameter.
    """
    if seed is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be an integer >= 0 or a numpy.random.Generator (same seed, same numbers), got None")
    if isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if seed < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {seed!r}")
        return seed
    allowed = "an integer >= 0, a numpy.random.Generator" + (" or None" if allow_none else "")
    raise TypeError(f"{name} must be {allowed}, got {type(seed).__name__} {seed!r}")


def as_rng(name, seed, *, allow_none=False) -> np.random.Generator:
    """:func:`check_seed`, then ``np.random.default_rng(seed)`` (a Generator is returned as is, state shared)."""
    return np.random.default_rng(check_seed(name, seed, allow_none=allow_none))


def check_mixing_matrix(W, name="W", *, symmetric=True, tol=MIXING_TOL):
    """A gossip mixing matrix as CSR: square, finite, entries ``>= -tol``, rows summing to 1 within ``tol``
    and, if ``symmetric``, ``|W - Wᵀ| <= tol`` (so columns sum to 1 too: doubly stochastic).

    Dense arrays and ``scipy.sparse`` matrices are accepted. ``ValueError`` names what fails and by how much.
    """
    import scipy.sparse as sp

    if not sp.issparse(W):
        try:
            arr = np.asarray(W, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a square matrix of numbers (numpy array or scipy.sparse), got {type(W).__name__}") from None
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a square 2-D matrix, got shape {arr.shape}")
        W = arr
    W = sp.csr_matrix(W, dtype=float)
    n, m = W.shape
    if n != m or n == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {W.shape}")
    if not np.all(np.isfinite(W.data)):
        raise ValueError(f"{name} must contain only finite numbers (found NaN or inf)")
    if W.nnz and W.data.min() < -tol:
        raise ValueError(
            f"{name} must have non-negative entries (mixing weights are convex-combination weights), "
            f"found {W.data.min():.3g}"
        )
    if symmetric and W.nnz:
        asym = abs(W - W.T).max()
        if asym > tol:
            raise ValueError(f"{name} must be symmetric within {tol:g} (use metropolis_weights or max_degree_weights), "
                             f"found |W - Wᵀ| up to {asym:.2e}")
    rows = np.asarray(W.sum(axis=1)).ravel()
    dev = float(np.max(np.abs(rows - 1)))
    if dev > tol:
        kind = "doubly stochastic" if symmetric else "row stochastic"
        raise ValueError(f"{name} must be {kind}: every row must sum to 1 within {tol:g}, "
                         f"row sums deviate by up to {dev:.2e}")
    return W
