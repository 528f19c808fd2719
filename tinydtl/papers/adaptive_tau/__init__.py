"""Adaptive aggregation frequency τ under a resource budget (Wang, Tuor et al.).

Sources: S. Wang, T. Tuor, T. Salonidis, K. K. Leung, C. Makaya, T. He, K. Chan, "When Edge Meets
Learning: Adaptive Control for Resource-Constrained Distributed Machine Learning", IEEE INFOCOM 2018,
its extended version "Adaptive Federated Learning in Resource Constrained Edge Computing Systems",
IEEE JSAC 37(6), 2019 (equation and algorithm numbers in this package are the JSAC version's), and the
demo abstract by Tuor, Wang et al., "Distributed Machine Learning at Resource-Limited Edge Nodes"
(INFOCOM 2018 demos), whose set-up the lesson follows: 5 edge nodes and an aggregator, smooth SVM on
MNIST even-vs-odd, time as the resource, a 15 s budget. The authors' code (IBM/adaptive-federated-
learning) fixed the details the papers leave open; where a module follows it, its docstring says so.

Distributed gradient descent (JSAC Algorithm 1): node ``i`` holds ``D_i`` samples and runs ``τ`` local
steps ``w_i ← w_i − η ∇F_i(w_i)`` from the last global model, then the aggregator sets
``w = Σ_i D_i w_i / D`` (eq. 5). Local steps cost ``c`` and an aggregation ``b`` of the resource; the
budget ``R`` is spent when ``T(cτ + b) ≈ R``. The aggregator picks τ from a convergence bound it
re-estimates while training. The modules, one job each, in the order a reader meets them:

* :mod:`.bound` — the bound ``h(τ)``, ``G(τ)``, ``τ*`` and the estimates ``β̂, ρ̂, δ̂`` (eq. 12, 20–22);
* :mod:`.costs` — what a step and an aggregation cost (:class:`CostModel`) and what is spent (:class:`Budget`);
* :mod:`.cases` — the demo's data: even/odd labels and the four ways to deal MNIST to the nodes;
* :mod:`.svm` — the demo's smooth SVM;
* :mod:`.node` — a node's round (Algorithm 3) and all nodes simulated in one process;
* :mod:`.controller` — the choice of τ and the budget rule (Algorithm 2, lines 14–25);
* :mod:`.train` — the aggregation step on the simulation core and the front end :func:`run_adaptive_tau`;
* :mod:`.protocol` and :mod:`.edge_network` — the real mode: node processes over 127.0.0.1.
"""

from tinydtl.papers.adaptive_tau.bound import (
    BETA_FLOOR,
    NORM_GUARD,
    aggregate_estimates,
    h,
    local_estimates,
    objective_G,
    optimal_tau,
    rounds_allowed,
)
from tinydtl.papers.adaptive_tau.cases import CASES, data_case, even_odd
from tinydtl.papers.adaptive_tau.controller import AdaptiveTau
from tinydtl.papers.adaptive_tau.costs import Budget, CostModel
from tinydtl.papers.adaptive_tau.edge_network import NodeProcesses
from tinydtl.papers.adaptive_tau.node import NodeReport, SimulatedNodes, node_round
from tinydtl.papers.adaptive_tau.svm import SmoothSVM
from tinydtl.papers.adaptive_tau.train import (
    adaptive_algorithm,
    run_adaptive_tau,
    train,
)

__all__ = [
    "BETA_FLOOR",
    "CASES",
    "NORM_GUARD",
    "AdaptiveTau",
    "Budget",
    "CostModel",
    "NodeProcesses",
    "NodeReport",
    "SimulatedNodes",
    "SmoothSVM",
    "adaptive_algorithm",
    "aggregate_estimates",
    "data_case",
    "even_odd",
    "h",
    "local_estimates",
    "node_round",
    "objective_G",
    "optimal_tau",
    "rounds_allowed",
    "run_adaptive_tau",
    "train",
]
