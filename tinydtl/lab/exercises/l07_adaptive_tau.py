"""Exercise checks of lesson 07 (adaptive τ under a resource budget).

* :func:`check_budget_buys` — ``budget_buys(tau, c, b, R) -> (T, K)``: the local steps ``T`` and aggregations ``K``
  a budget buys at τ local steps per aggregation when there are several resources (``c``, ``b``, ``R`` hold one
  entry per resource: a local step costs ``c[m]``, an aggregation ``b[m]``, the budget is ``R[m]``) and only whole
  rounds run (a round is started only if it fits in every resource).
* :func:`check_tau_star` — ``tau_star(beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=100) -> int``: the
  controller's choice (JSAC 2019 Algorithm 2, line 16), the student's own search over their own ``G(τ)``.
* :func:`check_energy_binds` — a two-resource :class:`~tinydtl.papers.adaptive_tau.CostModel` under which energy,
  not time, stops training (measured by training with it).

Each check runs its own cases, names the common mistakes, never crashes on malformed answers, and refuses the
package's own :func:`~tinydtl.papers.adaptive_tau.optimal_tau`, :func:`~tinydtl.papers.adaptive_tau.objective_G`,
:func:`~tinydtl.papers.adaptive_tau.h` and :func:`~tinydtl.papers.adaptive_tau.rounds_allowed`.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.papers.adaptive_tau import CostModel, h, objective_G, optimal_tau, rounds_allowed, run_adaptive_tau

__all__ = ["BUDGET_CASES", "TAU_CASES", "check_budget_buys", "check_energy_binds", "check_tau_star", "reference_tau_star"]

_WHY = "write the search with your own G(τ) (section 2's G_scratch), not the package's controller"

#: (description, tau, c, b, R) — the check's own cases for budget_buys (c, b, R: one entry per resource)
BUDGET_CASES = (
    ("time only, the authors' costs, τ = 10", 10, [0.0130], [0.1316], [15.0]),
    ("time only, the authors' costs, τ = 1", 1, [0.0130], [0.1316], [15.0]),
    ("three resources, the second binds, τ = 5", 5, [0.0002, 0.3, 1e-4], [0.004, 2.0, 1e-3], [10.0, 50.0, 5.0]),
    ("time [s] and energy [J], energy binds, τ = 10", 10, [0.0130, 0.05], [0.1316, 0.9], [15.0, 20.0]),
    ("time [s] and energy [J], time binds, τ = 100", 100, [0.0130, 0.002], [0.1316, 0.1], [15.0, 500.0]),
    ("free aggregations, exactly four rounds fit, τ = 3", 3, [1.0, 1.0], [0.0, 0.5], [12.0, 30.0]),
)

_TYPICAL = dict(beta=5.0, delta=0.5, rho=0.1, eta=0.01, phi=0.025, c=0.0130, b=0.1316, R=15.0)
#: (description, keyword arguments of tau_star) — the check's own cases for tau_star
TAU_CASES = (
    ("typical estimates, the authors' costs, τ_prev = 10", dict(_TYPICAL, tau_prev=10)),
    ("0.5 s of delay added to every aggregation", dict(_TYPICAL, b=0.1316 + 0.5, tau_prev=10)),
    ("identical data (δ = 0), τ_prev = 5", dict(_TYPICAL, delta=0.0, tau_prev=5)),
    ("identical data (δ = 0), τ_prev = 20", dict(_TYPICAL, delta=0.0, tau_prev=20)),
    ("strongly divergent data (δ = 2)", dict(_TYPICAL, delta=2.0, tau_prev=10)),
    ("a fast machine: c = 0.2 ms, b = 4 ms, R = 10 s", dict(_TYPICAL, c=0.0002, b=0.004, R=10.0, tau_prev=10)),
    ("the first estimates, τ_prev = 1", dict(_TYPICAL, tau_prev=1)),
    ("a short budget, R = 1 s", dict(_TYPICAL, R=1.0, tau_prev=10)),
)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and np.isfinite(float(x))


# ------------------------------------------------------------------------------------------ budget_buys
def _buys(tau, c, b, R):
    """The right answer: whole rounds, the first resource to run out stops training."""
    K = int(min(np.floor(np.asarray(R, float) / (np.asarray(c, float) * tau + np.asarray(b, float)))))
    return K * tau, K


def _budget_mistakes(tau, c, b, R):
    """What common wrong answers return for one case, with the message each deserves."""
    c, b, R = (np.asarray(v, float) for v in (c, b, R))
    per = R / (c * tau + b)  # rounds each resource alone would pay for (fractional)
    K_max = np.floor(per).max()
    return [
        ((per.min() * tau, per.min()), "K is not a whole number: a round either fits in full or is not started "
                                       "(round the rounds each resource pays for down)"),
        ((np.ceil(per.min()) * tau, np.ceil(per.min())), "you rounded up: the last round you count would overrun the "
                                                          "budget; round down"),
        ((np.round(per.min()) * tau, np.round(per.min())), "you rounded to the nearest whole number: a round that "
                                                            "does not fit in full is not started, round down"),
        ((K_max * tau, K_max), "you took the resource that lasts longest: training stops when the FIRST resource runs "
                               "out, so take the smallest number of rounds over the resources"),
        ((np.floor(per[0]) * tau, np.floor(per[0])), "you used only the first resource (time): every resource must "
                                                      "pay for a round"),
        ((np.floor(R.sum() / (c * tau + b).sum()) * tau, np.floor(R.sum() / (c * tau + b).sum())),
         "you added the resources together: seconds and joules are separate budgets, each must cover every round"),
        ((np.floor(per.min()), np.floor(per.min()) * tau), "T and K are swapped: T counts local steps (τ per round), "
                                                           "K counts aggregations (rounds)"),
    ]


def _as_costs(c, b, R):
    return [list(map(float, v)) for v in (c, b, R)]


def check_budget_buys(fn) -> Feedback:
    """Check ``fn(tau, c, b, R) -> (T, K)`` on :data:`BUDGET_CASES` (several resources, whole rounds only)."""
    name = "budget_buys: local steps T and aggregations K a budget of several resources buys"
    if not callable(fn):
        return Feedback(name, False, [f"give a function budget_buys(tau, c, b, R), got {type(fn).__name__}"])
    with refuse_package(rounds_allowed, objective_G, optimal_tau, why="compute T and K from c, b, R and τ yourself"):
        for what, tau, c, b, R in BUDGET_CASES:
            got, feedback = call_student(name, fn, tau, *_as_costs(c, b, R))
            if feedback is not None:
                return feedback
            if not isinstance(got, (tuple, list, np.ndarray)) or len(got) != 2 or not all(_is_number(v) for v in got):
                return Feedback(name, False, [f"return two finite numbers (T, K), got {got!r} for {what}"])
            T, K = (float(v) for v in got)
            true = _buys(tau, c, b, R)
            if np.allclose((T, K), true, rtol=1e-9, atol=1e-9):
                continue
            for wrong, message in _budget_mistakes(tau, c, b, R):
                if np.allclose((T, K), wrong, rtol=1e-9, atol=1e-9) and not np.allclose(wrong, true, rtol=1e-9, atol=1e-9):
                    return Feedback(name, False, [f"{what}: {message}"])
            return Feedback(name, False, [f"{what}: (T, K) = ({T:.6g}, {K:.6g}) is not what the budget buys: K whole "
                                          "rounds of τ local steps and one aggregation each must fit in every resource"])
    return Feedback(name, True, [f"right on all {len(BUDGET_CASES)} cases: K = the whole rounds the scarcest resource "
                                 "pays for, T = K·τ local steps"])


# --------------------------------------------------------------------------------------------- tau_star
def _g_values(n, *, beta, delta, rho, eta, phi, c, b, R, holdback=True, steps=True):
    """G(τ) for τ = 1 … n (vectorised), with the variants the common mistakes make."""
    taus = np.arange(1, n + 1, dtype=float)
    T = (R - c - b if holdback else R) * taus / (c * taus + b)
    if not steps:
        T = T / taus
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        hh = (np.maximum(0.0, delta / beta * ((eta * beta + 1.0) ** taus - 1.0) - eta * delta * taus)
              if delta > 0 else np.zeros_like(taus))
        G = (1 + np.sqrt(np.maximum(0.0, 1 + 4 * T**2 * phi * rho * eta * hh / taus))) / (2 * T * eta * phi) + rho * hh
    G[~np.isfinite(G) | (T <= 0)] = np.inf
    return G


def reference_tau_star(beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=100, *, window=True, cap=True,
                       holdback=True, steps=True, index=False) -> int:
    """The controller's τ* (all flags at their defaults) or what a common mistake gives (one flag changed)."""
    G = _g_values(10 * tau_prev if window else tau_max, beta=beta, delta=delta, rho=rho, eta=eta, phi=phi, c=c, b=b,
                  R=R, holdback=holdback, steps=steps)
    i = int(np.argmin(G))
    tau = i if index else i + 1
    return min(tau, tau_max) if cap else tau


_TAU_MISTAKES = (
    (dict(index=True), "your τ is one below the controller's: np.argmin gives an index, and the search starts at "
                       "τ = 1, so τ = index + 1"),
    (dict(window=False), "you searched τ = 1 … τ_max whatever τ_prev was: Algorithm 2 searches τ = 1 … 10·τ_prev "
                         "(τ may grow at most tenfold from one round to the next)"),
    (dict(cap=False), "τ* must be capped at tau_max: return min(τ, tau_max)"),
    (dict(steps=False), "your T counts aggregations, R/(cτ + b); in G, T is the number of local steps the budget "
                        "buys (K·τ)"),
    (dict(holdback=False), "T must hold back one local step and one aggregation for the final evaluation round: "
                           "use R − c − b, as section 2's G does"),
)


def check_tau_star(fn) -> Feedback:
    """Check ``fn(beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=100)`` against the controller on
    :data:`TAU_CASES`; the package's controller is refused while ``fn`` runs. A mistake is named when the answers
    match what that mistake gives in every case."""
    name = "tau_star: the controller's choice of τ"
    if not callable(fn):
        return Feedback(name, False, [f"give a function tau_star(beta, delta, rho, eta, phi, c, b, R, tau_prev), "
                                      f"got {type(fn).__name__}"])
    truths = [optimal_tau(k["beta"], k["delta"], k["rho"], k["eta"], k["phi"], k["c"], k["b"], k["R"], k["tau_prev"])
              for _, k in TAU_CASES]
    answers = []
    with refuse_package(optimal_tau, objective_G, h, rounds_allowed, why=_WHY):
        for what, kw in TAU_CASES:
            got, feedback = call_student(name, lambda: fn(**kw))
            if feedback is not None:
                return feedback
            if isinstance(got, bool) or not _is_number(got) or not float(got).is_integer():
                return Feedback(name, False, [f"{what}: return a whole number of local steps (an int), got {got!r}"])
            answers.append(int(got))
    if answers == truths:
        return Feedback(name, True, [f"your tau_star picks the controller's τ in all {len(TAU_CASES)} cases ("
                                     + "; ".join(w for w, _ in TAU_CASES) + ")"])
    for flags, message in _TAU_MISTAKES:
        if answers == [reference_tau_star(**kw, **flags) for _, kw in TAU_CASES]:
            return Feedback(name, False, [message])
    what, got = next((w, a) for (w, _), a, t in zip(TAU_CASES, answers, truths) if a != t)
    return Feedback(name, False, [f"{what}: your function returns τ = {got}, not the controller's choice; compare your "
                                  "G(τ) with section 2's on these arguments"])


# ------------------------------------------------------------------------------------------ energy binds
def _toy_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=600) > 0, 1.0, -1.0)
    return X, y, np.array_split(np.arange(600), 5)


def check_energy_binds(cost_model) -> Feedback:
    """Train on a small problem with ``cost_model`` (time first, then energy) and measure whether training stopped
    with time to spare (energy ran out first)."""
    name = "a cost model where energy, not time, stops training"
    if cost_model is None:
        return Feedback(name, False, ["not answered yet: give my_two_resources = ad.CostModel(...)"])
    if not isinstance(cost_model, CostModel):
        return Feedback(name, False, [f"give an ad.CostModel(...), not a {type(cost_model).__name__}"])
    if cost_model.n_resources < 2:
        return Feedback(name, False, ["one resource only: give budget=(time, energy) and one cost per resource in "
                                      "step_mean, step_std, aggregation_mean, aggregation_std and names"])
    X, y, parts = _toy_problem()
    hist, feedback = call_student(name, lambda: run_adaptive_tau(X, y, parts, x_test=X[:200], y_test=y[:200],
                                                                  costs=cost_model, batch_size=20, seed=0))
    if feedback is not None:
        return feedback
    spent, time_budget = float(hist.column("spent", initial=False)[-1]), float(cost_model.budget[0])
    if spent >= 0.9 * time_budget:
        return Feedback(name, False, [f"training stopped after {spent:.1f} of {time_budget:g} time units: time ran out, "
                                      "not energy — make energy dearer per step or per aggregation, or its budget "
                                      "smaller (time is the first resource)"])
    return Feedback(name, True, [f"training stopped after {hist.rounds} rounds with {spent:.1f} of {time_budget:g} "
                                 "time units spent: energy ran out first"])
