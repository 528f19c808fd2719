"""The convergence bound behind adaptive τ, and the estimates it is evaluated with.

Wang et al. (JSAC 2019) bound how far distributed gradient descent with τ local steps between
aggregations ends from the optimum after a resource budget is spent. The bound depends on three
properties of the nodes' losses ``F_i`` that nobody knows in advance — ``β`` (smoothness), ``ρ``
(Lipschitz constant) and ``δ`` (gradient divergence between nodes) — so the aggregator *estimates*
them while training and re-evaluates the bound after every aggregation:

* ``h(τ) = (δ/β)((ηβ + 1)^τ − 1) − ηδτ`` (eq. 12): how far the nodes' models drift from a centralised
  gradient descent in τ local steps. No divergence (``δ = 0``) means no drift; the drift grows
  geometrically in τ.
* ``T = R·τ/(cτ + b)``: how many **local steps** the budget ``R`` buys when a local step costs ``c`` and an
  aggregation ``b`` — ``K = R/(cτ + b)`` rounds of τ steps and one aggregation each, ``T = Kτ`` (Algorithm 2,
  line 16). The costs enter only through ``R/c`` and ``b/c``.
* ``G(τ) = (1 + sqrt(1 + 4 T² φ ρ η h(τ)/τ)) / (2 T η φ) + ρ h(τ)`` (eq. 20–22): the approximate
  bound. Long τ buys more local steps per aggregation (small first term), but more drift (``h``).
* ``τ* = argmin G(τ)`` over ``1 … 10·τ_prev`` (Algorithm 2, line 16), capped at ``τ_max``.

The estimates come from the nodes (:func:`local_estimates`, Algorithm 3 lines 9–12) and are averaged
by the aggregator (:func:`aggregate_estimates`, Algorithm 2 lines 11–13). Where the papers leave a
detail open, the authors' code (IBM/adaptive-federated-learning) decides, as each docstring says.
"""

from __future__ import annotations

import math

import numpy as np

from tinydtl.core.validation import check_finite_array, check_int, check_number

__all__ = [
    "BETA_FLOOR",
    "NORM_GUARD",
    "aggregate_estimates",
    "h",
    "local_estimates",
    "objective_G",
    "optimal_tau",
    "rounds_allowed",
]

#: β̂ is floored at this value (the authors' code): a flat estimate would make h(τ) 0/0.
BETA_FLOOR = 1e-5
#: ‖w_i − w‖ below this leaves β̂_i and ρ̂_i undefined (no local progress); the code then reports the floor.
NORM_GUARD = 1e-10


def _check_estimates(beta, delta, rho, eta):
    check_number("beta", beta, low=0.0, low_open=True)
    check_number("delta", delta, low=0.0)
    check_number("rho", rho, low=0.0)
    check_number("eta", eta, low=0.0, low_open=True)


def h(tau, *, beta: float, delta: float, eta: float) -> float:
    """``h(τ) = max(0, (δ/β)((ηβ + 1)^τ − 1) − ηδτ)`` (JSAC eq. 12; ``h(0) = h(1) = 0``).

    The bound on ``‖w_i(t) − v(t)‖`` summed over nodes between the distributed run and a centralised
    gradient descent started at the same point, τ local steps after an aggregation (clamped at 0, as
    in the authors' code).

    The drift grows like ``(1 + ηβ)^τ``. JSAC's analysis assumes ``ηβ ≤ 1``, but ``β̂`` is a noisy
    estimate and training does reach ``ηβ̂ > 1``; with the search range up to ``10·τ_prev = 1000``
    steps, ``(1 + ηβ̂)^τ`` then exceeds the largest float (about ``1.8·10³⁰⁸``, reached once
    ``τ·ln(1 + ηβ̂) > 709.8``). The bound is then larger than any number: ``h(τ) = +∞`` for ``δ > 0``
    (the distributed run may drift arbitrarily far) and ``0`` for ``δ = 0`` (no divergence, no drift,
    whatever the growth factor).
    """
    check_number("tau", tau, low=0)
    _check_estimates(beta, delta, 0.0, eta)
    beta, delta, eta = float(beta), float(delta), float(eta)
    if delta == 0.0:
        return 0.0
    try:
        growth = (eta * beta + 1.0) ** float(tau)
    except OverflowError:
        return math.inf
    value = (delta / beta) * (growth - 1.0) - eta * delta * tau
    return max(0.0, float(value))


def _costs(c, b, budget):
    c, b, budget = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (c, b, budget))
    if not (c.shape == b.shape == budget.shape) or c.ndim != 1:
        raise ValueError(f"c, b and budget must be numbers or equal-length lists (one per resource), got {c}, {b}, {budget}")
    for name, v, low_open in (("c", c, True), ("b", b, False), ("budget", budget, True)):
        for x in v:
            check_number(name, float(x), low=0.0, low_open=low_open)
    return c, b, budget


def rounds_allowed(tau, *, c, b, budget, use_min_loss: bool = True) -> float:
    """How many local steps ``T`` the budget allows at a given τ (JSAC Algorithm 2, line 16).

    ``T = R·τ/(cτ + b)``: ``K = R/(cτ + b)`` rounds fit in the budget, each of τ local steps and one
    aggregation, so ``T = Kτ`` local steps (the name is historical: it counts steps, not rounds). In
    min-loss mode one local step and one aggregation are held back for the extra round that evaluates the
    last model, ``T = (R − c − b)·τ/(cτ + b)`` (the authors' code). With ``M`` resources (``c``, ``b``,
    ``budget`` as equal-length lists) the binding one counts: ``T = min_m T_m`` (JSAC Section IV-B). The
    result may be fractional, as in the paper.
    """
    check_number("tau", tau, low=1)
    c, b, budget = _costs(c, b, budget)
    usable = budget - c - b if use_min_loss else budget
    return float(np.min(usable * tau / (c * tau + b)))


def objective_G(tau, *, beta, delta, rho, eta, phi, c, b, budget, use_min_loss=True) -> float:
    """``G(τ)``, the approximate bound minimised by the controller (JSAC eq. 20–22).

    ``G(τ) = (1 + sqrt(max(0, 1 + 4 T² φ ρ η h(τ)/τ))) / (2 T η φ) + ρ h(τ)``, with ``T`` from
    :func:`rounds_allowed`. Returns ``inf`` when the budget leaves no aggregation (``T ≤ 0``) and when
    the drift bound :func:`h` is infinite while ``ρ > 0`` (then no finite bound holds for this τ). With
    ``ρ = 0`` the drift does not enter the bound and ``G(τ) = 1/(T η φ)`` whatever ``h(τ)`` is.
    """
    _check_estimates(beta, delta, rho, eta)
    check_number("phi", phi, low=0.0, low_open=True)
    T = rounds_allowed(tau, c=c, b=b, budget=budget, use_min_loss=use_min_loss)
    if T <= 0:
        return math.inf
    ht = h(tau, beta=beta, delta=delta, eta=eta)
    if math.isinf(ht):
        return math.inf if rho > 0 else (1.0 + 1.0) / (2.0 * T * eta * phi)
    root = math.sqrt(max(0.0, 1.0 + 4.0 * T * T * phi * rho * eta * ht / tau))
    return (1.0 + root) / (2.0 * T * eta * phi) + rho * ht


def optimal_tau(beta, delta, rho, eta, phi, c, b, budget, tau_prev, tau_max=100, use_min_loss=True) -> int:
    """``τ* = argmin_{1 ≤ τ ≤ 10·τ_prev} G(τ)``, capped at ``τ_max`` (JSAC Algorithm 2, line 16).

    Ties go to the smallest τ (the first minimum met, as in the authors' code). ``c`` and ``b`` are the
    estimated resource costs of one local step and of one aggregation, ``budget`` is the resource ``R``
    (the whole budget, as the authors' code passes it, not what remains); with several resources
    they are equal-length lists and the binding resource sets ``T`` (:func:`rounds_allowed`).

    A τ whose bound is infinite (:func:`h` beyond the float range once ``ηβ̂ > 1``) is never chosen;
    ``h(1) = 0``, so ``G(1)`` is finite whenever the budget buys a round and a τ is always found. If
    no τ has a finite bound (the budget buys no round), ``τ* = 1``.
    """
    _check_estimates(beta, delta, rho, eta)
    check_number("phi", phi, low=0.0, low_open=True)
    _costs(c, b, budget)
    check_int("tau_prev", tau_prev, 1)
    check_int("tau_max", tau_max, 1)
    best_tau, best = 1, math.inf
    for tau in range(1, 10 * tau_prev + 1):
        g = objective_G(tau, beta=beta, delta=delta, rho=rho, eta=eta, phi=phi, c=c, b=b, budget=budget,
                        use_min_loss=use_min_loss)
        if g < best:
            best_tau, best = tau, g
    return min(best_tau, tau_max)


def local_estimates(w_local, w_global, grad_local, grad_global, loss_local, loss_global):
    """A node's ``(β̂_i, ρ̂_i)`` (JSAC Algorithm 3, lines 9–12).

    ``β̂_i = ‖∇F_i(w_i) − ∇F_i(w)‖ / ‖w_i − w‖`` and ``ρ̂_i = |F_i(w_i) − F_i(w)| / ‖w_i − w‖``, where
    ``w_i`` is the node's last local model and ``w`` the global model it started the round from (the
    authors' code evaluates both on the same minibatch). When ``‖w_i − w‖ < 1e-10`` both are
    undefined; β̂ is then the floor :data:`BETA_FLOOR` and ρ̂ is 0. β̂ is never below the floor.
    """
    names = ("w_local", "w_global", "grad_local", "grad_global")
    wl, wg, gl, gg = (check_finite_array(n, v, dtype=np.float64).ravel()
                      for n, v in zip(names, (w_local, w_global, grad_local, grad_global)))
    if not (wl.shape == wg.shape == gl.shape == gg.shape):
        raise ValueError(
            f"w_local, w_global, grad_local and grad_global must have one shape, got "
            f"{wl.shape}, {wg.shape}, {gl.shape}, {gg.shape}"
        )
    check_number("loss_local", loss_local, low=-np.inf)
    check_number("loss_global", loss_global, low=-np.inf)
    dist = float(np.linalg.norm(wl - wg))
    if dist < NORM_GUARD:
        return BETA_FLOOR, 0.0
    beta = float(np.linalg.norm(gl - gg)) / dist
    rho = abs(float(loss_local) - float(loss_global)) / dist
    return max(beta, BETA_FLOOR), rho


def aggregate_estimates(sizes, betas, rhos, grads_at_global):
    """The aggregator's ``(β̂, ρ̂, δ̂)`` from the nodes' estimates (JSAC Algorithm 2, lines 11–13).

    ``β̂ = Σ D_i β̂_i / D``, ``ρ̂ = Σ D_i ρ̂_i / D`` and
    ``δ̂ = Σ D_i ‖∇F_i(w) − ∇F(w)‖ / D`` with ``∇F(w) = Σ D_i ∇F_i(w) / D``.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.ndim != 1 or sizes.size == 0 or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise ValueError(f"sizes must be a non-empty list of positive sample counts, got {sizes!r}")
    betas = check_finite_array("betas", betas, dtype=np.float64).ravel()
    rhos = check_finite_array("rhos", rhos, dtype=np.float64).ravel()
    grads = check_finite_array("grads_at_global", grads_at_global, ndim=2, dtype=np.float64)
    n = sizes.size
    if betas.size != n or rhos.size != n or grads.shape[0] != n:
        raise ValueError(
            f"sizes, betas, rhos and grads_at_global must have one entry per node ({n}), got "
            f"{betas.size}, {rhos.size}, {grads.shape[0]}"
        )
    if np.any(betas <= 0) or np.any(rhos < 0):
        raise ValueError("betas must be > 0 and rhos >= 0")
    weights = sizes / sizes.sum()
    beta = float(weights @ betas)
    rho = float(weights @ rhos)
    grad_global = weights @ grads
    delta = float(weights @ np.linalg.norm(grads - grad_global, axis=1))
    return beta, rho, delta
