"""Distributed gradient descent with adaptive τ on the simulation core, and its front end.

:func:`adaptive_algorithm` is JSAC 2019 Algorithm 2's aggregation step as a core
:class:`~tinydtl.core.simulation.Algorithm`: the nodes report (simulated in this process or real
processes), the aggregator averages their models, tracks the best model and the estimates, and spends
the round's resources. :class:`~tinydtl.papers.adaptive_tau.controller.AdaptiveTau` then picks the next
τ. :func:`run_adaptive_tau` checks the input, builds both and runs them (see ``docs/architecture.md``).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.plans import PlanSettings
from tinydtl.core.robust import weighted_mean
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.validation import (
    check_bool,
    check_finite_array,
    check_int_seed,
    check_labels,
    check_number,
    check_parts,
)
from tinydtl.papers.adaptive_tau.bound import aggregate_estimates
from tinydtl.papers.adaptive_tau.controller import AdaptiveTau
from tinydtl.papers.adaptive_tau.costs import Budget, CostModel, check_budget
from tinydtl.papers.adaptive_tau.edge_network import NodeProcesses
from tinydtl.papers.adaptive_tau.node import SimulatedNodes, check_delta_from
from tinydtl.papers.adaptive_tau.svm import SmoothSVM, check_svm_labels
from tinydtl.runtime.deprecation import deprecated_alias, renamed_keywords

__all__ = ["adaptive_algorithm", "run_adaptive_tau", "train"]

#: what a model needs for this training loop (the core's model interface plus the estimates' gradient)
MODEL_METHODS = ("init", "local_update", "evaluate", "loss_and_gradient")


def _aggregate(state, reports, use_min_loss):
    """Average the reports (eq. 5), track the lowest-loss model, and compute ``β̂, ρ̂, δ̂`` (Algorithm 2, lines 6–13)."""
    sizes = np.array([r.size for r in reports], dtype=np.float64)
    w_new = weighted_mean(np.stack([r.w for r in reports]), sizes)
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
    return {**state, "w": w_new}, dict(train_loss=loss_prev, beta=beta, rho=rho, delta=delta)


def adaptive_algorithm(model, nodes, budget: Budget, *, x_test, y_test, use_min_loss: bool = True) -> Algorithm:
    """Distributed gradient descent as a core :class:`~tinydtl.core.simulation.Algorithm` (JSAC Algorithm 2, lines 5–13).

    Each round the nodes report (:func:`~tinydtl.papers.adaptive_tau.node.node_round`, through ``nodes``:
    :class:`~tinydtl.papers.adaptive_tau.node.SimulatedNodes` or
    :class:`~tinydtl.papers.adaptive_tau.edge_network.NodeProcesses`), the aggregator averages
    ``w = Σ D_i w_i / D`` (eq. 5), tracks the global loss ``Σ D_i F_i(w) / D`` of the model the round
    started from and keeps the lowest-loss model (min-loss mode, Theorem 2), computes ``β̂, ρ̂, δ̂``
    (:func:`~tinydtl.papers.adaptive_tau.bound.aggregate_estimates`) and spends the round's resources.
    Its stats row adds ``tau, train_loss, beta, rho, delta, step_cost, aggregation_cost, spent`` to the
    core's columns; the traffic columns are what ``nodes.traffic`` reports (counted by the byte rule in
    simulation, measured on the sockets in real mode). ``init`` resets ``nodes`` and ``budget``, so
    simulating one algorithm twice gives the same history.
    """

    def init():
        nodes.reset()
        budget.reset()
        return {"w": model.init(), "w_best": None, "loss_best": np.inf}

    def apply(state, round_index, settings):
        reports, step_cost, agg_cost = nodes.round(state["w"], settings, round_index)
        traffic = nodes.traffic(state["w"], reports)
        state, estimates = _aggregate(state, reports, use_min_loss)
        tau = max(r.steps for r in reports)
        budget.spend(tau, step_cost, agg_cost)
        stats = {**traffic.as_row(), "live_devices": len(reports), "tau": tau, **estimates,
                 "step_cost": float(budget.step_cost[0]), "aggregation_cost": float(budget.aggregation_cost[0]),
                 "spent": float(budget.spent[0])}
        return state, stats

    def evaluate(state):
        loss, acc = model.evaluate(state["w"], x_test, y_test)
        return {"loss": loss, "accuracy": acc}

    def final(state):
        return state["w_best"] if use_min_loss and state["w_best"] is not None else state["w"]

    return Algorithm("adaptive-tau", init, apply, evaluate, final, live_devices=len(getattr(nodes, "parts", [])))


def _features(name, x, n_features=None):
    """Rows of finite real features (float arrays keep their dtype, integers become float64)."""
    raw = np.asarray(x)
    dtype = raw.dtype if raw.dtype.kind == "f" else np.float64
    return check_finite_array(name, raw, shape=(None, n_features), dtype=dtype, allow_empty=False)


def _labels(model, y, name, n):
    if isinstance(model, SmoothSVM):
        return check_svm_labels(y, name, n)
    return check_labels(y, name, n, getattr(model, "n_classes", None))


def _check_data(x_train, y_train, parts, x_test, y_test, model):
    """Data, parts and model checked against each other before any work: ``(X, y, parts, Xt, yt, model)``."""
    X = _features("x_train", x_train)
    Xt = _features("x_test", x_test, X.shape[1])
    if model is None:
        model = SmoothSVM(X.shape[1])
    missing = [m for m in MODEL_METHODS if not callable(getattr(model, m, None))]
    if missing:
        raise TypeError(f"model must have the methods {', '.join(MODEL_METHODS)}; {type(model).__name__} lacks {missing}")
    if getattr(model, "n_features", X.shape[1]) != X.shape[1]:
        raise ValueError(f"model expects {model.n_features} features per sample, x_train has {X.shape[1]}")
    y = _labels(model, y_train, "y_train", len(X))
    yt = _labels(model, y_test, "y_test", len(Xt))
    return X, y, check_parts(parts, len(X)), Xt, yt, model


def _check_settings(*, tau, budget, eta, phi, batch_size, costs, real, delay, seed, use_min_loss, tau_max,
                    delta_from, progress):
    """Every knob of :func:`run_adaptive_tau`, checked before any work."""
    check_number("eta", eta, low=0.0, low_open=True)
    check_number("phi", phi, low=0.0, low_open=True)
    if tau is not None:
        check_number("tau", tau, low=1, integer=True)
    check_number("tau_max", tau_max, low=1, integer=True)
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("delay", delay, low=0.0)
    check_int_seed("seed", seed)
    for name, flag in (("real", real), ("use_min_loss", use_min_loss), ("progress", progress)):
        check_bool(name, flag)
    check_delta_from(delta_from)
    totals = check_budget(budget)
    if costs is not None and not isinstance(costs, CostModel):
        raise TypeError(f"costs must be a CostModel or None, got {type(costs).__name__}")
    if costs is None and totals.size != 1:
        raise ValueError("with several budgets, pass a CostModel with one cost per resource")
    return costs if costs is not None else CostModel(budget=tuple(float(v) for v in totals), delay=delay)


def run_adaptive_tau(x_train, y_train, parts, *, x_test, y_test, tau=None, budget=15.0, eta=0.01, phi=0.025,
                     batch_size=100, costs: CostModel | None = None, real: bool = False, delay: float = 0.0,
                     model=None, seed=0, use_min_loss=True, tau_max=100, delta_from="minibatch", progress=False):
    """Distributed gradient descent with adaptive (``tau=None``) or fixed τ under a resource budget.

    Runs on the simulation core (:func:`tinydtl.core.simulation.simulate`) with :func:`adaptive_algorithm` and
    the :class:`~tinydtl.papers.adaptive_tau.controller.AdaptiveTau` controller. ``real=False``
    simulates the nodes in this process with costs drawn from ``costs`` (default: the authors' measured
    SVM times, budget ``budget``, ``delay`` added per aggregation) and counts bytes by the byte rule
    (the values sent, in their dtype). ``real=True`` runs every node as its own process talking to this
    one over 127.0.0.1 (:mod:`tinydtl.papers.adaptive_tau.edge_network`), spends measured wall-clock
    seconds with ``delay`` seconds of added latency per report, and reports the bytes measured on the
    sockets (whole messages). ``model`` defaults to
    :class:`~tinydtl.papers.adaptive_tau.svm.SmoothSVM` (labels ±1); the core's
    :class:`tinydtl.learners.softmax.SoftmaxModel` works too (integer labels). ``delta_from`` chooses the
    gradient behind ``δ̂`` (:func:`~tinydtl.papers.adaptive_tau.node.node_round`): the authors'
    minibatch (default) or the node's whole local data. Every argument is checked before any work;
    the data are read, never modified.

    Returns the core's :class:`~tinydtl.core.history.History` (row 0 = the initial model; one row per
    aggregation, with ``tau, train_loss, beta, rho, delta, step_cost, aggregation_cost, spent``);
    ``history.weights`` is the returned model (lowest observed loss in min-loss mode) and
    ``history.config["final_loss"]``/``["final_accuracy"]`` its test metrics.
    """
    costs = _check_settings(tau=tau, budget=budget, eta=eta, phi=phi, batch_size=batch_size, costs=costs, real=real,
                            delay=delay, seed=seed, use_min_loss=use_min_loss, tau_max=tau_max,
                            delta_from=delta_from, progress=progress)
    X, y, parts, Xt, yt, model = _check_data(x_train, y_train, parts, x_test, y_test, model)
    if real and not isinstance(model, SmoothSVM):
        raise ValueError("real mode runs the SVM nodes of the demo; pass model=None")
    if real and delta_from != "minibatch":
        raise ValueError("real mode sends the authors' minibatch gradient for δ̂; use delta_from='minibatch'")
    if real:
        nodes = NodeProcesses(X, y, parts, eta=eta, lam=model.lam, delay=delay, seed=seed)
        spend = Budget(costs.budget[:1])
    else:
        nodes = SimulatedNodes(model, X, y, parts, lr=eta, costs=costs, seed=seed, delta_from=delta_from)
        spend = Budget(costs.budget)
    controller = AdaptiveTau(spend, eta=eta, phi=phi, tau=tau, tau_max=tau_max, use_min_loss=use_min_loss)
    algorithm = adaptive_algorithm(model, nodes, spend, x_test=Xt, y_test=yt, use_min_loss=use_min_loss)
    config = dict(tau="adaptive" if tau is None else tau, budget=list(spend.total), eta=eta, phi=phi,
                  batch_size=batch_size, real=real, delay=delay, seed=seed, use_min_loss=use_min_loss,
                  delta_from=delta_from, bytes="measured on the sockets" if real else "payload (byte rule)")
    try:
        hist = simulate(algorithm, None, settings=PlanSettings(batch_size=batch_size, local_steps=controller.first_tau),
                        controller=controller, config=config, progress=progress)
    finally:
        nodes.close()
    loss, acc = model.evaluate(hist.weights, Xt, yt)
    hist.config.update(final_loss=loss, final_accuracy=acc)
    return hist


train = renamed_keywords(X_test="x_test")(deprecated_alias("train", run_adaptive_tau))  # old name, one release
