"""Adaptive aggregation frequency τ under a resource budget.

Sources: S. Wang, T. Tuor, T. Salonidis, K. K. Leung, C. Makaya, T. He, K. Chan, "When Edge Meets
Learning: Adaptive Control for Resource-Constrained Distributed Machine Learning", IEEE INFOCOM 2018,
its extended version "Adaptive Federated Learning in Resource Constrained Edge Computing Systems",
IEEE JSAC 37(6), 2019 (equation and algorithm numbers below are the JSAC version's), and the demo
abstract by Tuor, Wang et al., "Distributed Machine Learning at Resource-Limited Edge Nodes"
(INFOCOM 2018 demos), whose set-up the lesson follows: 5 edge nodes and an aggregator, smooth SVM on
MNIST even-vs-odd, time as the resource, a 15 s budget. The authors' code (IBM/adaptive-federated-
learning) fixed the details the papers leave open; where this module follows it, the docstring says so.

Distributed gradient descent (JSAC Algorithm 1, logical view). Node ``i`` holds ``D_i`` samples and the
local loss ``F_i``; the global loss is ``F(w) = Σ_i D_i F_i(w) / D``. Each node runs ``τ`` local steps
``w_i ← w_i − η ∇F_i(w_i)`` from the last global model, then the aggregator sets
``w = Σ_i D_i w_i / D`` (eq. 5). Local steps cost ``c`` and an aggregation costs ``b`` of the resource;
the budget ``R`` is spent when ``T(cτ + b) ≈ R`` for ``T`` aggregations.

The convergence bound (Theorem 1 and 2) depends on three quantities the aggregator estimates while
training: ``β``, the smoothness of the ``F_i``; ``ρ``, their Lipschitz constant; and ``δ``, the gradient
divergence ``Σ_i D_i ‖∇F_i(w) − ∇F(w)‖ / D``. With them

* ``h(τ) = (δ/β)((ηβ + 1)^τ − 1) − ηδτ`` (eq. 12), the gap between the distributed and a
  centralised run after τ local steps (clamped at 0 here, as in the authors' code);
* ``G(τ) = (1 + sqrt(1 + 4 T² φ ρ η h(τ)/τ)) / (2 T η φ) + ρ h(τ)`` with ``T`` the number of
  aggregations the budget allows for this τ (the approximate optimisation problem, eq. 20–22), and
* ``τ* = argmin_τ G(τ)`` over ``1 … 10·τ_prev`` (Algorithm 2, line 16), capped at ``τ_max``.

This module holds the pure parts: :func:`h`, :func:`objective_G`, :func:`optimal_tau`, the node and
aggregator estimators (Algorithm 3 lines 9–12; Algorithm 2 lines 11–13), the resource model and the
demo's four data cases. The training loop runs on the simulation core (see ``docs/architecture.md``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from tinydtl.core.validation import check_int, check_number

__all__ = [
    "BETA_FLOOR",
    "CostModel",
    "aggregate_estimates",
    "data_case",
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
    gradient descent started at the same point, τ local steps after an aggregation.
    """
    check_number("tau", tau, low=0)
    _check_estimates(beta, delta, 0.0, eta)
    value = (delta / beta) * ((eta * beta + 1.0) ** tau - 1.0) - eta * delta * tau
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
    """How many aggregations ``T`` the budget allows at a given τ (Algorithm 2, line 16).

    ``T = R·τ/(cτ + b)`` counts local steps in units of τ; in min-loss mode one local step and one
    aggregation are held back for the extra round that evaluates the last model, ``T = (R − c − b)·τ/(cτ + b)``
    (the authors' code). With ``M`` resources (``c``, ``b``, ``budget`` as equal-length lists) the
    binding one counts: ``T = min_m T_m`` (JSAC Section IV-B). The result may be fractional, as in the paper.
    """
    check_number("tau", tau, low=1)
    c, b, budget = _costs(c, b, budget)
    usable = budget - c - b if use_min_loss else budget
    return float(np.min(usable * tau / (c * tau + b)))


def objective_G(tau, *, beta, delta, rho, eta, phi, c, b, budget, use_min_loss=True) -> float:
    """``G(τ)``, the approximate bound minimised by the controller (JSAC eq. 20–22).

    ``G(τ) = (1 + sqrt(max(0, 1 + 4 T² φ ρ η h(τ)/τ))) / (2 T η φ) + ρ h(τ)``, with ``T`` from
    :func:`rounds_allowed`. Returns ``inf`` when the budget leaves no aggregation (``T ≤ 0``).
    """
    _check_estimates(beta, delta, rho, eta)
    check_number("phi", phi, low=0.0, low_open=True)
    T = rounds_allowed(tau, c=c, b=b, budget=budget, use_min_loss=use_min_loss)
    if T <= 0:
        return math.inf
    ht = h(tau, beta=beta, delta=delta, eta=eta)
    root = math.sqrt(max(0.0, 1.0 + 4.0 * T * T * phi * rho * eta * ht / tau))
    return (1.0 + root) / (2.0 * T * eta * phi) + rho * ht


def optimal_tau(beta, delta, rho, eta, phi, c, b, budget, tau_prev, tau_max=100, use_min_loss=True) -> int:
    """``τ* = argmin_{1 ≤ τ ≤ 10·τ_prev} G(τ)``, capped at ``τ_max`` (JSAC Algorithm 2, line 16).

    Ties go to the smallest τ (the first minimum met, as in the authors' code). ``c`` and ``b`` are the
    estimated resource costs of one local step and of one aggregation, ``budget`` is the resource ``R``
    (the whole budget, as the authors' code passes it, not what remains); with several resources
    they are equal-length lists and the binding resource sets ``T`` (:func:`rounds_allowed`).
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


def _flat(a, name):
    a = np.asarray(a, dtype=np.float64).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def local_estimates(w_local, w_global, grad_local, grad_global, loss_local, loss_global):
    """A node's ``(β̂_i, ρ̂_i)`` (JSAC Algorithm 3, lines 9–12).

    ``β̂_i = ‖∇F_i(w_i) − ∇F_i(w)‖ / ‖w_i − w‖`` and ``ρ̂_i = |F_i(w_i) − F_i(w)| / ‖w_i − w‖``, where
    ``w_i`` is the node's last local model and ``w`` the global model it started the round from (the
    authors' code evaluates both on the same minibatch). When ``‖w_i − w‖ < 1e-10`` both are
    undefined; β̂ is then the floor :data:`BETA_FLOOR` and ρ̂ is 0. β̂ is never below the floor.
    """
    wl, wg = _flat(w_local, "w_local"), _flat(w_global, "w_global")
    gl, gg = _flat(grad_local, "grad_local"), _flat(grad_global, "grad_global")
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
    betas, rhos = _flat(betas, "betas"), _flat(rhos, "rhos")
    grads = np.asarray(grads_at_global, dtype=np.float64)
    if grads.ndim != 2 or not np.all(np.isfinite(grads)):
        raise ValueError("grads_at_global must be a finite (n_nodes, n_params) array")
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


@dataclass(frozen=True)
class CostModel:
    """The resource spent by one local step and by one aggregation.

    ``M`` resources (JSAC Section IV generalises to several; the demo has one: time) with per-step costs
    ``c_m``, per-aggregation costs ``b_m`` and budgets ``R_m``. Costs are drawn per round from normal
    distributions clipped at ``minimum`` (the authors' ``TimeGeneration``), so a simulated run spends
    what the authors measured for their smooth SVM on MNIST: a local step ``N(0.0130, 0.0069)`` s and an
    aggregation ``N(0.1316, 0.0539)`` s; ``delay`` adds a fixed communication delay per aggregation (the
    demo's "add delay" knob). With ``std = 0`` the costs are deterministic.
    """

    step_mean: tuple = (0.013015156,)
    step_std: tuple = (0.006946299,)
    aggregation_mean: tuple = (0.131604348,)
    aggregation_std: tuple = (0.053873234,)
    budget: tuple = (15.0,)
    delay: float = 0.0
    minimum: float = 1e-10
    names: tuple = ("time [s]",)

    def __post_init__(self):
        m = len(self.budget)
        for name in ("step_mean", "step_std", "aggregation_mean", "aggregation_std", "names"):
            if len(getattr(self, name)) != m:
                raise ValueError(f"{name} must have one entry per resource ({m}), got {len(getattr(self, name))}")
        for name in ("step_mean", "aggregation_mean", "budget"):
            for v in getattr(self, name):
                check_number(name, v, low=0.0, low_open=True)
        for name in ("step_std", "aggregation_std"):
            for v in getattr(self, name):
                check_number(name, v, low=0.0)
        check_number("delay", self.delay, low=0.0)
        check_number("minimum", self.minimum, low=0.0, low_open=True)

    @property
    def n_resources(self) -> int:
        return len(self.budget)

    def draw(self, rng, tau: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-resource cost of ``tau`` local steps and of one aggregation, drawn for one round."""
        check_int("tau", tau, 1)
        steps = np.array([
            np.maximum(rng.normal(m, s, tau), self.minimum).sum() for m, s in zip(self.step_mean, self.step_std)
        ])
        agg = np.array([
            max(rng.normal(m, s), self.minimum) for m, s in zip(self.aggregation_mean, self.aggregation_std)
        ])
        agg[0] += self.delay  # the delay is a time cost; time is the first resource
        return steps, agg


CASES = {
    1: "uniform: samples dealt round-robin over the nodes",
    2: "by label: each node holds whole labels (node 1: 0 and 5, node 2: 1 and 6, ...)",
    3: "replicated: every node holds the full data set",
    4: "half and half: labels below the middle spread uniformly over the first nodes, the others by label over the rest",
}


def data_case(labels, n_nodes: int, case: int) -> list[np.ndarray]:
    """Index sets per node for the demo's four data distributions (the authors' ``get_indices_each_node_case``).

    ``case`` 1–4 as in :data:`CASES`. Case 2 sends label ``l`` to node ``l mod n``; case 4 sends labels
    below the middle of the label range to nodes ``0 … ceil(min(n, L)/2) − 1`` round-robin and the others
    to the remaining nodes by label. For ``n_nodes`` > number of labels the authors' rebalancing (least
    filled node of the same residue) is applied.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError("labels must be a non-empty 1-D array of integers")
    check_int("n_nodes", n_nodes, 1)
    if not isinstance(case, numbers.Integral) or isinstance(case, bool) or case not in CASES:
        raise ValueError(f"case must be one of {sorted(CASES)}, got {case!r}")
    lo, hi = int(labels.min()), int(labels.max())
    n_labels = hi - lo + 1
    idx = np.arange(labels.size)
    if case == 1:
        target = idx % n_nodes
    elif case == 3:
        return [idx.copy() for _ in range(n_nodes)]
    elif case == 2:
        target = (labels - lo) % n_nodes
    else:
        first = int(math.ceil(min(n_nodes, n_labels) / 2))
        rest = min(n_nodes, n_labels) - first
        low = labels < (lo + hi) / 2
        target = np.where(low, idx % first, ((labels - lo) % max(rest, 1)) + first) if n_nodes > 1 else idx * 0
    parts = [[] for _ in range(n_nodes)]
    if n_nodes > n_labels and case in (2, 4):
        for i, t in enumerate(target):
            same = [n for n in range(n_nodes) if n % n_labels == t]
            k = min(same, key=lambda n: len(parts[n]))
            parts[k].append(i)
    else:
        for i, t in enumerate(target):
            parts[int(t)].append(i)
    return [np.asarray(p, dtype=np.int64) for p in parts]


# ----------------------------------------------------------------------------- the demo's model
class SmoothSVM:
    """The demo's smooth SVM as a model of the simulation core (labels ±1, no bias, λ = 0.1).

    ``F(w) = (λ/2)‖w‖² + (1/2|B|) Σ_{j∈B} max(0, 1 − y_j wᵀx_j)²`` with gradient
    ``λw − (1/|B|) Σ_j y_j x_j max(0, 1 − y_j wᵀx_j)``, as the authors' ``ModelSVMSmooth``; zero initial
    weights. It is λ-strongly convex and smooth, the setting of the paper's bound. Parameters are one
    float64 row of ``n_features`` values. The core's model interface: :meth:`init`, :meth:`local_update`
    (minibatch gradient steps of every client of a round plan), :meth:`evaluate` and :meth:`arrays`; the
    controller's estimates use :meth:`loss_and_gradient`.
    """

    def __init__(self, n_features: int, lam: float = 0.1):
        check_int("n_features", n_features, 1)
        check_number("lam", lam, low=0.0)
        self.n_features, self.lam = int(n_features), float(lam)

    @property
    def n_params(self) -> int:
        return self.n_features

    def init(self, seed=0) -> np.ndarray:
        return np.zeros(self.n_features)

    def arrays(self, params) -> list[np.ndarray]:
        return [np.asarray(params)]

    def loss_and_gradient(self, w, X, y):
        margin = np.maximum(0.0, 1.0 - y * (X @ w))
        loss = float(0.5 * self.lam * (w @ w) + 0.5 * np.mean(margin**2))
        return loss, self.lam * w - (X.T @ (y * margin)) / len(y)

    def evaluate(self, params, X, y):
        """``(loss, accuracy)`` of ``sign(Xw)`` on labels ±1."""
        w = np.asarray(params, dtype=np.float64)
        z = X @ w
        loss = float(0.5 * self.lam * (w @ w) + 0.5 * np.mean(np.maximum(0.0, 1.0 - y * z) ** 2))
        return loss, float(np.mean(np.sign(z) == y))

    def local_update(self, X, y, params, plan, lr):
        """Every client of ``plan`` runs its minibatch steps ``w ← w − η∇F(w; B)`` from its row of ``params``.

        Returns ``(params, n_examples, loss_sum, correct)`` like :meth:`tinydtl.learners.softmax.SoftmaxModel.local_update`.
        """
        P = np.array(params, dtype=np.float64)
        n = np.zeros(len(plan.clients))
        loss_sum = correct = 0.0
        for i in range(len(plan.clients)):
            for batch in plan.batches(i):
                Xb, yb = X[batch], y[batch]
                loss, grad = self.loss_and_gradient(P[i], Xb, yb)
                loss_sum += loss * len(batch)
                correct += float(np.sum(np.sign(Xb @ P[i]) == yb))
                P[i] -= lr * grad
                n[i] += len(batch)
        return P, n, loss_sum, correct


def even_odd(labels) -> np.ndarray:
    """MNIST digits as the demo's binary task: even → +1, odd → −1."""
    labels = np.asarray(labels)
    return np.where(labels % 2 == 0, 1.0, -1.0)


# ----------------------------------------------------------------------------- the edge nodes (Algorithm 3)
@dataclass
class NodeReport:
    """What a node sends the aggregator after a round (JSAC Algorithm 3, line 14).

    ``beta`` and ``rho`` are ``None`` in a node's first round (no previous local model to compare with);
    ``step_seconds`` is the measured time of its local steps.
    """

    w: np.ndarray
    size: int
    steps: int
    loss_at_global: float
    grad_at_global: np.ndarray
    beta: float | None
    rho: float | None
    step_seconds: float = 0.0


def node_round(model, X, y, parts, plan, w, w_prev, lr, delta_from: str = "minibatch") -> list[NodeReport]:
    """JSAC Algorithm 3 for every client of ``plan``: estimates, then τ local steps from ``w``.

    On the first minibatch ``B`` of its round each node evaluates the loss and gradient at the new global
    model ``w`` and, from its second round on, at its previous local model ``w_prev[i]``: the two give
    ``β̂_i`` and ``ρ̂_i`` (:func:`local_estimates`, both on the same data, as the definitions need) and
    ``∇F_i(w)`` for the aggregator's ``δ̂``. Then ``model.local_update`` runs the plan's τ steps. The same
    function serves the simulation (all nodes in one process) and each node process of the real mode.

    ``delta_from="minibatch"`` (the authors' code) sends the minibatch gradient at ``w`` for ``δ̂``;
    ``"local_data"`` sends ``∇F_i(w)`` over the node's whole local data, the quantity JSAC 2019 defines
    δ_i with (Definition 2: ``‖∇F_i(w) − ∇F(w)‖ ≤ δ_i``). With minibatches, ``δ̂`` also measures sampling
    noise: when every node holds the same data the true δ is 0 but the minibatch ``δ̂`` is not. The
    extra full pass is not timed as local work (it is outside the measured steps).
    """
    import time

    if delta_from not in ("minibatch", "local_data"):
        raise ValueError(f"delta_from must be 'minibatch' or 'local_data', got {delta_from!r}")
    K = len(plan.clients)
    head = []
    for i in range(K):
        B = plan.batches(i)[0]
        loss_g, grad_g = model.loss_and_gradient(w, X[B], y[B])
        if delta_from == "local_data":
            own = parts[plan.clients[i]]
            _, grad_g = model.loss_and_gradient(w, X[own], y[own])
        beta = rho = None
        if w_prev is not None:
            loss_l, grad_l = model.loss_and_gradient(w_prev[i], X[B], y[B])
            beta, rho = local_estimates(w_prev[i], w, grad_l, grad_g, loss_l, loss_g)
        head.append((loss_g, grad_g, beta, rho))
    start = time.perf_counter()
    new, _, _, _ = model.local_update(X, y, np.tile(np.asarray(w), (K, 1)), plan, lr)
    seconds = time.perf_counter() - start
    return [NodeReport(new[i], len(parts[c]), len(plan.batches(i)), *head[i], step_seconds=seconds)
            for i, c in enumerate(plan.clients)]


class SimulatedNodes:
    """All nodes in this process, resource costs drawn from a :class:`CostModel` (one draw per round, as
    the authors' ``TimeGeneration``). :class:`tinydtl.papers.adaptive_tau.edge_network.NodeProcesses` is the real twin."""

    def __init__(self, model, X, y, parts, *, lr: float, costs: CostModel, seed=0, delta_from="minibatch"):
        self.model, self.X, self.y, self.parts, self.lr = model, X, y, parts, lr
        self.delta_from = delta_from
        self.costs, self.seed = costs, seed
        self.rng = np.random.default_rng([seed, 1])
        self.w_prev = None

    def round(self, w, settings, round_index: int):
        from tinydtl.core.plans import plan_from_settings

        plan = plan_from_settings(self.parts, round_index, settings, seed=self.seed)
        reports = node_round(self.model, self.X, self.y, self.parts, plan, w, self.w_prev, self.lr, self.delta_from)
        self.w_prev = np.stack([r.w for r in reports])
        steps = max(r.steps for r in reports)
        step_total, agg = self.costs.draw(self.rng, steps)
        return reports, step_total / steps, agg

    def close(self):
        pass


# ----------------------------------------------------------------------------- the aggregator (Algorithm 2)
class Budget:
    """Resources spent so far, shared by the aggregation step (which spends) and the controller (which plans)."""

    def __init__(self, budget):
        self.total = np.atleast_1d(np.asarray(budget, dtype=np.float64))
        for r in self.total:
            check_number("budget", float(r), low=0.0, low_open=True)
        self.spent = np.zeros_like(self.total)
        self.step_cost = self.aggregation_cost = None

    def spend(self, tau: int, step_cost, aggregation_cost) -> None:
        self.step_cost = np.atleast_1d(np.asarray(step_cost, dtype=np.float64))
        self.aggregation_cost = np.atleast_1d(np.asarray(aggregation_cost, dtype=np.float64))
        self.spent = self.spent + self.step_cost * tau + self.aggregation_cost


def adaptive_algorithm(model, nodes, budget: Budget, *, X_test, y_test, use_min_loss: bool = True):
    """Distributed gradient descent as a core :class:`~tinydtl.core.simulation.Algorithm` (JSAC Algorithm 2, lines 5–13).

    Each round the nodes report (:func:`node_round`, through ``nodes``: simulated or real processes),
    the aggregator averages ``w = Σ D_i w_i / D`` (eq. 5), tracks the global loss ``Σ D_i F_i(w) / D`` of
    the model the round started from and keeps the lowest-loss model (min-loss mode, Theorem 2),
    computes ``β̂, ρ̂, δ̂`` (:func:`aggregate_estimates`) and spends the round's resources. Its stats row
    adds ``tau, train_loss, beta, rho, delta, step_cost, aggregation_cost, spent`` to the core's columns.
    """
    from tinydtl.core.robust import aggregate
    from tinydtl.core.simulation import Algorithm
    from tinydtl.core.traffic import payload_bytes, star_traffic

    n_params = model.n_params

    def init():
        return {"w": model.init(), "w_best": None, "loss_best": np.inf}

    def apply(state, round_index, settings):
        reports, step_cost, agg_cost = nodes.round(state["w"], settings, round_index)
        sizes = np.array([r.size for r in reports], dtype=np.float64)
        w_new = aggregate(np.stack([r.w for r in reports]), sizes, "mean")
        if not np.all(np.isfinite(w_new)):  # the authors' code keeps the previous model
            w_new = state["w"]
        weights = sizes / sizes.sum()
        loss_prev = float(weights @ np.array([r.loss_at_global for r in reports]))
        if use_min_loss and loss_prev < state["loss_best"]:
            state = {**state, "w_best": state["w"], "loss_best": loss_prev}
        beta = rho = delta = None
        if all(r.beta is not None for r in reports):
            beta, rho, delta = aggregate_estimates(sizes, [r.beta for r in reports], [r.rho for r in reports],
                                                   np.stack([r.grad_at_global for r in reports]))
        tau = max(r.steps for r in reports)
        budget.spend(tau, step_cost, agg_cost)
        # up: model, gradient at w, loss, β̂_i, ρ̂_i, D_i; down: model and τ
        traffic = star_traffic([payload_bytes(2 * n_params + 4)] * len(reports), payload_bytes(n_params + 1))
        stats = {**traffic.as_row(), "live_devices": len(reports), "tau": tau, "train_loss": loss_prev,
                 "beta": beta, "rho": rho, "delta": delta, "step_cost": float(budget.step_cost[0]),
                 "aggregation_cost": float(budget.aggregation_cost[0]), "spent": float(budget.spent[0])}
        return {**state, "w": w_new}, stats

    def evaluate(state):
        loss, acc = model.evaluate(state["w"], X_test, y_test)
        return {"loss": loss, "accuracy": acc}

    def final(state):
        return state["w_best"] if use_min_loss and state["w_best"] is not None else state["w"]

    return Algorithm("adaptive-tau", init, apply, evaluate, final, live_devices=len(getattr(nodes, "parts", [])))


class AdaptiveTau:
    """The aggregator's choice of τ and its budget rule, as a core controller hook (JSAC Algorithm 2, lines 14–25).

    Called after every round with the history so far: it takes the round's ``β̂, ρ̂, δ̂`` and costs,
    picks ``τ* = argmin G(τ)`` (:func:`optimal_tau`; a fixed ``tau`` skips this), then applies the
    authors' budget rule: if the next round (plus, in min-loss mode, a final evaluation round) would
    overspend any resource, τ is shortened to what remains and that round is the last; in min-loss mode
    one more round with τ = 1 measures the last model's loss. It raises
    :class:`~tinydtl.core.simulation.StopTraining` when the budget is spent.
    """

    def __init__(self, budget: Budget, *, eta: float, phi: float, tau=None, tau_max: int = 100,
                 use_min_loss: bool = True):
        check_number("eta", eta, low=0.0, low_open=True)
        check_number("phi", phi, low=0.0, low_open=True)
        check_int("tau_max", tau_max, 1)
        if tau is not None:
            check_int("tau", tau, 1)
        self.budget, self.eta, self.phi = budget, float(eta), float(phi)
        self.fixed_tau, self.tau_max, self.use_min_loss = tau, int(tau_max), bool(use_min_loss)
        self.last_round = self.eval_only = False

    @property
    def first_tau(self) -> int:
        return 1 if self.fixed_tau is None else int(self.fixed_tau)

    def __call__(self, round_done, history, settings):
        from tinydtl.core.simulation import StopTraining

        if self.last_round:
            raise StopTraining("resource budget spent")
        tau = settings.local_steps
        row = {c: history.column(c)[-1] for c in ("beta", "rho", "delta")}
        if self.fixed_tau is None and not any(v is None or v != v for v in row.values()):
            tau = optimal_tau(row["beta"], row["delta"], row["rho"], self.eta, self.phi, self.budget.step_cost,
                              self.budget.aggregation_cost, self.budget.total, settings.local_steps,
                              tau_max=self.tau_max, use_min_loss=self.use_min_loss)
        b = self.budget
        if self.eval_only:
            tau, self.last_round = 1, True
        else:
            extra = (b.step_cost * (tau + 1) + 2 * b.aggregation_cost) if self.use_min_loss else (
                b.step_cost * tau + b.aggregation_cost)
            if np.any(b.spent + extra >= b.total):
                held = (2 * b.aggregation_cost + b.step_cost) if self.use_min_loss else b.aggregation_cost
                fit = int(np.min((b.total - b.spent - held) // b.step_cost))
                tau = min(max(fit, 1), tau)
                if self.use_min_loss:
                    self.eval_only = True
                else:
                    self.last_round = True
        return settings.replace(local_steps=int(tau))


# ----------------------------------------------------------------------------- the front end
def _check_parts(parts, n):
    if not isinstance(parts, (list, tuple)) or len(parts) == 0:
        raise ValueError("parts must be a non-empty list of index arrays, one per node")
    out = []
    for k, p in enumerate(parts):
        p = np.asarray(p)
        if p.ndim != 1 or p.size == 0 or not np.issubdtype(p.dtype, np.integer) or p.min() < 0 or p.max() >= n:
            raise ValueError(f"parts[{k}] must be a non-empty array of sample indices in [0, {n})")
        out.append(p)
    return out


def train(X, y, parts, *, X_test, y_test, tau=None, budget=15.0, eta=0.01, phi=0.025, batch_size=100,
          costs: CostModel | None = None, real: bool = False, delay: float = 0.0, model=None, seed=0,
          use_min_loss=True, tau_max=100, delta_from="minibatch", progress=False):
    """Distributed gradient descent with adaptive (``tau=None``) or fixed τ under a resource budget.

    Runs on the simulation core (:func:`tinydtl.core.simulation.simulate`) with :func:`adaptive_algorithm` and
    the :class:`AdaptiveTau` controller. ``real=False`` simulates the nodes in this process with costs
    drawn from ``costs`` (default: the authors' measured SVM times, budget ``budget``, ``delay`` added
    per aggregation). ``real=True`` runs every node as its own process talking to this one over
    127.0.0.1 (:mod:`tinydtl.papers.adaptive_tau.edge_network`) and spends measured wall-clock seconds, with ``delay`` seconds
    of added latency per report. ``model`` defaults to :class:`SmoothSVM` (labels ±1); the core's
    :class:`tinydtl.learners.softmax.SoftmaxModel` works too (integer labels). ``delta_from`` chooses the gradient
    behind ``δ̂`` (:func:`node_round`): the authors' minibatch (default) or the node's whole local data.

    Returns the core's :class:`~tinydtl.core.history.History` (row 0 = the initial model; one row per
    aggregation, with ``tau, train_loss, beta, rho, delta, step_cost, aggregation_cost, spent``);
    ``history.weights`` is the returned model (lowest observed loss in min-loss mode) and
    ``history.config["final_loss"]``/``["final_accuracy"]`` its test metrics.
    """
    from tinydtl.core.plans import PlanSettings
    from tinydtl.core.simulation import simulate

    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (len(X),):
        raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    model = SmoothSVM(X.shape[1]) if model is None else model
    if isinstance(model, SmoothSVM) and not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("y must hold labels -1 and +1 for the SVM (see even_odd)")
    parts = _check_parts(parts, len(X))
    check_number("delay", delay, low=0.0)
    check_int("batch_size", batch_size, 1)
    if delta_from not in ("minibatch", "local_data"):
        raise ValueError(f"delta_from must be 'minibatch' or 'local_data', got {delta_from!r}")
    if costs is None:
        b = tuple(float(v) for v in np.atleast_1d(budget))
        if len(b) != 1:
            raise ValueError("with several budgets, pass a CostModel with one cost per resource")
        costs = CostModel(budget=b, delay=delay)
    if real:
        from tinydtl.papers.adaptive_tau.edge_network import NodeProcesses

        if not isinstance(model, SmoothSVM):
            raise ValueError("real mode runs the SVM nodes of the demo; pass model=None")
        if delta_from != "minibatch":
            raise ValueError("real mode sends the authors' minibatch gradient for δ̂; use delta_from='minibatch'")
        nodes = NodeProcesses(X, y, parts, eta=eta, lam=model.lam, delay=delay, seed=seed)
        spend = Budget(costs.budget[:1])
    else:
        nodes = SimulatedNodes(model, X, y, parts, lr=eta, costs=costs, seed=seed, delta_from=delta_from)
        spend = Budget(costs.budget)
    controller = AdaptiveTau(spend, eta=eta, phi=phi, tau=tau, tau_max=tau_max, use_min_loss=use_min_loss)
    algorithm = adaptive_algorithm(model, nodes, spend, X_test=X_test, y_test=y_test, use_min_loss=use_min_loss)
    config = dict(tau="adaptive" if tau is None else tau, budget=list(spend.total), eta=eta, phi=phi,
                  batch_size=batch_size, real=real, delay=delay, seed=seed, use_min_loss=use_min_loss,
                  delta_from=delta_from)
    try:
        hist = simulate(algorithm, None, settings=PlanSettings(batch_size=batch_size, local_steps=controller.first_tau),
                        controller=controller, config=config, progress=progress)
    finally:
        nodes.close()
    loss, acc = model.evaluate(hist.weights, X_test, y_test)
    hist.config.update(final_loss=loss, final_accuracy=acc)
    return hist
