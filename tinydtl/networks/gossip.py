"""Gossip averaging and the spectral gap that governs its speed.

Decentralised learning replaces the server by neighbours averaging with neighbours. With a
symmetric, doubly stochastic mixing matrix ``W`` (``W_ij > 0`` only on links), synchronous gossip
``x_{t+1} = W x_t`` converges to the average ``x̄``, and (Xiao & Boyd 2004, eq. (3))

    ||x_t - x̄|| <= |λ₂(W)|^t ||x_0 - x̄||,     |λ₂| = second-largest eigenvalue modulus (SLEM),

so the **spectral gap** ``1 - |λ₂(W)|`` sets the rate, and the ε-averaging time is
``t(ε) = log(1/ε) / log(1/|λ₂|) ≈ log(1/ε) / gap``. Randomised pairwise gossip (Boyd, Ghosh,
Prabhakar & Shah 2006) wakes one device per tick to average with a random neighbour; its rate is
set by ``λ₂`` of the expected matrix ``E[W]`` (their eq. (10)): ``E||x_k - x̄||² <= λ₂(E[W])^k ||x_0 - x̄||²``.

Everything is ``scipy.sparse``; 100,000 devices are routine (see ``benchmarks/bench_gossip.py``).
"""

from __future__ import annotations

import math
import numbers

import networkx as nx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tinydtl.core.validation import (
    MIXING_TOL,
    as_rng,
    check_int,
    check_mixing_matrix,
    check_number,
)
from tinydtl.networks.topology import components

__all__ = [
    "adjacency",
    "metropolis_weights",
    "max_degree_weights",
    "lazy",
    "spectral_gap",
    "slem",
    "algebraic_connectivity",
    "consensus_errors",
    "pairwise_gossip_errors",
    "pairwise_expected_matrix",
    "predicted_rounds",
    "measured_rounds",
    "check_mixing_matrix",
    "MIXING_TOL",
]

DENSE_LIMIT = 2000  # below this many devices eigenvalues are computed densely (exact)


def adjacency(G) -> sp.csr_matrix:
    """0/1 symmetric adjacency of a networkx graph (nodes ``0..n-1``) or a sparse matrix, no self loops."""
    if sp.issparse(G):
        A = sp.csr_matrix(G, dtype=float, copy=True)
    elif isinstance(G, nx.Graph):
        if set(G.nodes) != set(range(G.number_of_nodes())):
            raise ValueError("graph nodes must be the integers 0..n-1 (use nx.convert_node_labels_to_integers)")
        A = nx.to_scipy_sparse_array(G, nodelist=range(G.number_of_nodes()), dtype=float, format="csr")
        A = sp.csr_matrix(A)
    else:
        raise TypeError(f"expected a networkx graph or a scipy.sparse matrix, got {type(G).__name__}")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {A.shape}")
    A = sp.csr_matrix(A - sp.diags(A.diagonal()))
    A.eliminate_zeros()
    A.data[:] = 1.0
    if (A != A.T).nnz:
        raise ValueError("the communication graph must be undirected (symmetric adjacency)")
    return A


def _with_diagonal(off: sp.csr_matrix) -> sp.csr_matrix:
    diag = 1.0 - np.asarray(off.sum(axis=1)).ravel()
    return sp.csr_matrix(off + sp.diags(diag))


def metropolis_weights(G) -> sp.csr_matrix:
    """Metropolis–Hastings weights (Xiao, Boyd & Kim 2007, eq. (6)): ``W_ij = 1 / (1 + max(d_i, d_j))`` on links,
    ``W_ii = 1 - Σ_j W_ij``. Symmetric and doubly stochastic; each device needs only its neighbours' degrees."""
    A = adjacency(G)
    deg = np.asarray(A.sum(axis=1)).ravel()
    coo = A.tocoo()
    w = 1.0 / (1.0 + np.maximum(deg[coo.row], deg[coo.col]))
    return _with_diagonal(sp.csr_matrix((w, (coo.row, coo.col)), shape=A.shape))


def max_degree_weights(G) -> sp.csr_matrix:
    """Constant weights ``1 / (d_max + 1)`` on every link (Xiao & Boyd 2004, eq. (17)); needs the global max degree."""
    A = adjacency(G)
    dmax = A.sum(axis=1).max() if A.nnz else 0.0
    return _with_diagonal(A / (dmax + 1.0))


def lazy(W, alpha: float = 0.5) -> sp.csr_matrix:
    """``(1 - alpha) I + alpha W``: keeps all eigenvalues in ``[1 - 2 alpha, 1]``, so no oscillation for alpha <= 1/2.

    ``W`` must be a symmetric doubly stochastic matrix with non-negative entries (tolerance
    :data:`MIXING_TOL`); the result then is one too.
    """
    check_number("alpha", alpha, low=0, high=1, low_open=True)
    W = check_mixing_matrix(W)
    return sp.csr_matrix((1 - alpha) * sp.identity(W.shape[0]) + alpha * W)


def slem(W) -> float:
    """Second-largest eigenvalue modulus ``|λ₂(W)| = max(λ₂, -λ_n)`` of a symmetric stochastic ``W`` (1.0 if disconnected).

    ``W`` must be symmetric, doubly stochastic and non-negative within :data:`MIXING_TOL` (a
    ``ValueError`` says which fails); then all eigenvalues lie in ``[-1, 1]`` and ``|λ₂| ∈ [0, 1]``.

    Up to ``DENSE_LIMIT`` devices: exact dense eigenvalues. Beyond: Lanczos with tolerance 1e-6 on
    ``λ₂`` (≈ 1), so the gap ``1 - |λ₂|`` is accurate to a few parts in 10⁶ absolute — to 3e-11
    relative on a 2,500-device geometric graph (gap 2e-3), to 4e-4 relative on a 2,600-device path
    (gap 5e-7, about the smallest a connected graph of that size can have).
    """
    W = check_mixing_matrix(W)
    n = W.shape[0]
    if n == 1:
        return 0.0
    off = sp.csr_matrix(W - sp.diags(W.diagonal()))
    off.eliminate_zeros()
    if len(components(off)) > 1:
        return 1.0  # eigenvalue 1 is repeated: no consensus across components
    if n <= DENSE_LIMIT:
        ev = np.linalg.eigvalsh(W.toarray())  # ascending; ev[-1] == 1
        return min(1.0, float(max(abs(ev[0]), abs(ev[-2]))))  # min: rounding may not push |λ₂| past 1
    # sparse: λ₂ by Lanczos on W deflated against the consensus vector (no factorisation needed)
    ones = np.full(n, 1.0 / np.sqrt(n))
    deflated = spla.LinearOperator((n, n), matvec=lambda v: W @ v - ones * (ones @ v), dtype=float)
    v0 = np.random.default_rng(0).standard_normal(n)
    lam2 = float(spla.eigsh(deflated, k=1, which="LA", v0=v0, ncv=40, tol=1e-6, return_eigenvectors=False)[0])
    # λ_n: Gershgorin gives λ_n >= min_i (2 W_ii - 1); when that already bounds |λ_n| below λ₂
    # (Metropolis weights on most graphs), λ_n cannot be the SLEM and need not be computed.
    if 1.0 - 2.0 * W.diagonal().min() <= lam2:
        return min(1.0, lam2)
    low = float(spla.eigsh(W, k=1, which="SA", v0=v0, return_eigenvectors=False, tol=1e-8)[0])
    return min(1.0, max(abs(lam2), abs(low)))


def _smallest_nonconsensus(M, seed=0) -> float:
    """Smallest eigenvalue of a PSD matrix ``M`` whose null space is the constant vector, on the
    complement of that vector: Lanczos on ``c I - M`` deflated, ``c`` = a Gershgorin bound of ``M``."""
    n = M.shape[0]
    ones = np.full(n, 1.0 / np.sqrt(n))
    c = float(np.max(np.asarray(abs(M).sum(axis=1)).ravel()))
    op = spla.LinearOperator((n, n), matvec=lambda v: c * v - M @ v - c * ones * (ones @ v), dtype=float)
    v0 = np.random.default_rng(seed).standard_normal(n)
    top = float(spla.eigsh(op, k=1, which="LA", v0=v0, ncv=40, tol=1e-9, return_eigenvectors=False)[0])
    return c - top


def spectral_gap(W) -> float:
    """``1 - |λ₂(W)|`` in ``[0, 1]``; 0.0 for a disconnected graph (no consensus), 1.0 for perfect one-step averaging.

    ``W`` is checked as in :func:`slem` (a matrix with negative entries could give a "gap" below 0).
    """
    return 1.0 - slem(W)


def algebraic_connectivity(G) -> float:
    """Fiedler value λ₂ of the graph Laplacian ``L = D - A`` (0 if disconnected)."""
    A = adjacency(G)
    n = A.shape[0]
    if n < 2:
        return 0.0
    L = sp.csr_matrix(sp.diags(np.asarray(A.sum(axis=1)).ravel()) - A)
    if len(components(A)) > 1:
        return 0.0
    if n <= DENSE_LIMIT:
        return float(np.linalg.eigvalsh(L.toarray())[1])
    return _smallest_nonconsensus(L)


def consensus_errors(W, x0, rounds: int) -> np.ndarray:
    """Relative consensus error ``||x_t - x̄|| / ||x_0 - x̄||`` for ``t = 0..rounds`` of ``x ← W x``.

    ``x0`` is ``(n,)`` or ``(n, d)`` (d values averaged at once, e.g. model weights).
    """
    W = check_mixing_matrix(W)
    check_int("rounds", rounds, 0)
    x = _check_values(x0, W.shape[0])
    mean = x.mean(axis=0)
    norm0 = np.linalg.norm(x - mean)
    if norm0 == 0:
        return np.zeros(rounds + 1)
    errs = np.empty(rounds + 1)
    errs[0] = 1.0
    for t in range(1, rounds + 1):
        x = W @ x
        errs[t] = np.linalg.norm(x - mean) / norm0
    return errs


def _check_values(x0, n):
    """``x0``: finite numbers, shape ``(n,)`` or ``(n, d)`` — one row per device."""
    try:
        x = np.array(x0, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"x0 must be an array of numbers, one row per device, got {type(x0).__name__}") from None
    if x.ndim not in (1, 2) or x.shape[0] != n:
        raise ValueError(f"x0 must have one row per device ({n}): shape ({n},) or ({n}, d), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must contain only finite numbers (found NaN or inf)")
    return x


def pairwise_expected_matrix(G) -> sp.csr_matrix:
    """``E[W]`` of randomised pairwise gossip with uniform neighbour choice (Boyd et al. 2006, eq. (10)):
    ``I - D/(2n) + (P + Pᵀ)/(2n)`` with ``P_ij = 1/d_i`` on links and ``D = diag(Σ_j (P_ij + P_ji))``."""
    A = adjacency(G)
    n = A.shape[0]
    deg = np.asarray(A.sum(axis=1)).ravel()
    if np.any(deg == 0):
        raise ValueError("every device needs at least one neighbour for pairwise gossip")
    P = sp.csr_matrix(sp.diags(1.0 / deg) @ A)
    S = P + P.T
    D = sp.diags(np.asarray(S.sum(axis=1)).ravel())
    return sp.csr_matrix(sp.identity(n) - D / (2 * n) + S / (2 * n))


def pairwise_gossip_errors(G, x0, rounds: int, *, seed=0) -> np.ndarray:
    """Randomised pairwise gossip: per round, ``n`` ticks; each tick a uniformly random device averages
    with a uniformly random neighbour. Returns the relative error after each round (length ``rounds + 1``).

    ``x0`` is ``(n,)`` or ``(n, d)``, one row per device; ``seed`` an integer >= 0 or a Generator.
    """
    A = adjacency(G)
    n = A.shape[0]
    check_int("rounds", rounds, 0)
    rng = as_rng("seed", seed)
    x = _check_values(x0, n)
    deg = np.diff(A.indptr)
    if np.any(deg == 0):
        raise ValueError("every device needs at least one neighbour for pairwise gossip")
    mean = x.mean(axis=0)
    norm0 = np.linalg.norm(x - mean)
    errs = [1.0]
    for _ in range(rounds):
        nodes = rng.integers(0, n, size=n)
        picks = rng.random(n)
        for i, u in zip(nodes, picks):
            j = A.indices[A.indptr[i] + int(u * deg[i])]
            avg = 0.5 * (x[i] + x[j])
            x[i] = avg
            x[j] = avg
        errs.append(np.linalg.norm(x - mean) / norm0 if norm0 else 0.0)
    return np.array(errs)


def _check_eps(eps):
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not (0 < eps < 1):
        raise ValueError(f"eps must be in (0, 1) (a number), got {eps!r}")


#: A gap this close to 1 is exact one-step averaging (|λ₂| ≈ 1e-16 is eigensolver rounding): one round.
ONE_STEP_GAP_TOL = 1e-12
#: A bound within this of a whole number of rounds counts as that number (the logarithms' rounding).
WHOLE_ROUND_TOL = 1e-9


def predicted_rounds(gap: float, eps: float, *, whole: bool = False):
    """ε-averaging time bound of synchronous gossip, ``t(ε) = log(1/ε) / log(1/(1 - gap))`` (Xiao & Boyd 2004).

    ``whole=False`` (default): the bound as a real number (inf if the gap is 0, 1.0 if it is 1).
    ``whole=True``: the whole gossip rounds the bound guarantees, ``⌈t(ε)⌉`` as an ``int`` — a round
    is whole, and after ``⌈t⌉`` rounds the error is at most ``ε``; a bound within
    :data:`WHOLE_ROUND_TOL` of a whole number counts as that number, a gap within
    :data:`ONE_STEP_GAP_TOL` of 1 takes one round, a gap of 0 never gets there (``math.inf``).
    """
    _check_eps(eps)
    check_number("gap", gap, low=0, high=1)
    if not isinstance(whole, bool):
        raise TypeError(f"whole must be True or False, got {type(whole).__name__} {whole!r}")
    if gap == 0:
        return math.inf
    if gap == 1 or (whole and gap >= 1 - ONE_STEP_GAP_TOL):
        return 1 if whole else 1.0
    t = math.log(1 / eps) / math.log(1 / (1 - gap))
    return max(1, math.ceil(t - WHOLE_ROUND_TOL)) if whole else t


def measured_rounds(errors, eps: float):
    """First round at which a relative-error curve is at or below ``eps`` (``None`` if never)."""
    _check_eps(eps)
    errors = np.asarray(errors, dtype=float)
    if errors.ndim != 1:
        raise ValueError(f"errors must be a 1-D curve (one value per round), got shape {errors.shape}")
    hit = np.flatnonzero(errors <= eps)
    return int(hit[0]) if hit.size else None
