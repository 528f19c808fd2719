"""An edge node's round (JSAC Algorithm 3), and all nodes simulated in one process.

In every round a node receives the global model ``w`` and τ, measures what the aggregator needs to
estimate the bound — its loss and gradient at ``w`` and, from its second round on, ``β̂_i`` and ``ρ̂_i``
from its previous local model (:func:`~tinydtl.papers.adaptive_tau.bound.local_estimates`) — then runs
τ local gradient steps and reports a :class:`NodeReport`. :func:`node_round` is that round; the
simulation (:class:`SimulatedNodes`, costs drawn from a :class:`~tinydtl.papers.adaptive_tau.costs.CostModel`)
and every node process of the real mode (:mod:`tinydtl.papers.adaptive_tau.edge_network`) run it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tinydtl.core.plans import plan_from_settings
from tinydtl.core.traffic import Traffic, payload_bytes, star_traffic
from tinydtl.core.validation import check_int_seed, check_number
from tinydtl.papers.adaptive_tau.bound import local_estimates
from tinydtl.papers.adaptive_tau.costs import CostModel

__all__ = ["DELTA_FROM", "NodeReport", "SimulatedNodes", "check_delta_from", "contiguous_rows", "model_message_bytes",
           "node_round"]

#: the gradients δ̂ may be computed from (:func:`node_round`)
DELTA_FROM = ("minibatch", "local_data")


def check_delta_from(delta_from) -> str:
    """``delta_from`` must be one of :data:`DELTA_FROM`."""
    if not isinstance(delta_from, str) or delta_from not in DELTA_FROM:
        raise ValueError(f"delta_from must be 'minibatch' or 'local_data', got {delta_from!r}")
    return delta_from


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

    def payload_bytes(self) -> int:
        """Bytes of the report's payload as sent: the model and the gradient in their own dtype, the
        loss, ``β̂_i`` and ``ρ̂_i`` as float64 and ``D_i`` as int64 (the byte rule of :mod:`tinydtl.core.traffic`)."""
        w, g = np.asarray(self.w), np.asarray(self.grad_at_global)
        return (payload_bytes(w.size, w.dtype) + payload_bytes(g.size, g.dtype)
                + payload_bytes(3, "float64") + payload_bytes(1, "int64"))


def model_message_bytes(w) -> int:
    """Bytes of the aggregator's message to one node: the global model in its dtype and τ as int64."""
    w = np.asarray(w)
    return payload_bytes(w.size, w.dtype) + payload_bytes(1, "int64")


def contiguous_rows(index):
    """``index`` as a slice when it is one increasing run of rows (``X[slice]`` is a view: no copy of a node's
    whole data every round), else ``index`` itself."""
    index = np.asarray(index)
    if index.ndim == 1 and index.size and index[-1] - index[0] + 1 == index.size and np.all(np.diff(index) == 1):
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _estimates_at_start(model, X, y, parts, plan, w, w_prev, delta_from):
    """Per client: loss and gradient at ``w`` (for ``δ̂``) and ``(β̂_i, ρ̂_i)`` (Algorithm 3, lines 9–12)."""
    head = []
    for i in range(len(plan.clients)):
        B = plan.batches(i)[0]
        loss_g, grad_g = model.loss_and_gradient(w, X[B], y[B])
        if delta_from == "local_data":
            own = contiguous_rows(parts[plan.clients[i]])
            _, grad_g = model.loss_and_gradient(w, X[own], y[own])
        beta = rho = None
        if w_prev is not None:
            loss_l, grad_l = model.loss_and_gradient(w_prev[i], X[B], y[B])
            beta, rho = local_estimates(w_prev[i], w, grad_l, grad_g, loss_l, loss_g)
        head.append((loss_g, grad_g, beta, rho))
    return head


def node_round(model, X, y, parts, plan, w, w_prev, lr, delta_from: str = "minibatch") -> list[NodeReport]:
    """JSAC Algorithm 3 for every client of ``plan``: estimates, then τ local steps from ``w``.

    On the first minibatch ``B`` of its round each node evaluates the loss and gradient at the new global
    model ``w`` and, from its second round on, at its previous local model ``w_prev[i]``: the two give
    ``β̂_i`` and ``ρ̂_i`` (:func:`~tinydtl.papers.adaptive_tau.bound.local_estimates`, both on the same
    data, as the definitions need) and ``∇F_i(w)`` for the aggregator's ``δ̂``. Then
    ``model.local_update`` runs the plan's τ steps. The same function serves the simulation (all nodes
    in one process) and each node process of the real mode.

    ``delta_from="minibatch"`` (the authors' code) sends the minibatch gradient at ``w`` for ``δ̂``;
    ``"local_data"`` sends ``∇F_i(w)`` over the node's whole local data, the quantity JSAC 2019 defines
    δ_i with (Definition 2: ``‖∇F_i(w) − ∇F(w)‖ ≤ δ_i``). With minibatches, ``δ̂`` also measures sampling
    noise: when every node holds the same data the true δ is 0 but the minibatch ``δ̂`` is not. The
    extra full pass is not timed as local work (it is outside the measured steps).
    """
    check_delta_from(delta_from)
    head = _estimates_at_start(model, X, y, parts, plan, w, w_prev, delta_from)
    K = len(plan.clients)
    start = time.perf_counter()
    new, _, _, _ = model.local_update(X, y, np.tile(np.asarray(w), (K, 1)), plan, lr)
    seconds = time.perf_counter() - start
    return [NodeReport(new[i], len(parts[c]), len(plan.batches(i)), *head[i], step_seconds=seconds)
            for i, c in enumerate(plan.clients)]


class SimulatedNodes:
    """All nodes in this process, resource costs drawn from a :class:`~tinydtl.papers.adaptive_tau.costs.CostModel`
    (one draw per round, as the authors' ``TimeGeneration``).
    :class:`tinydtl.papers.adaptive_tau.edge_network.NodeProcesses` is the real twin.

    ``X`` and ``y`` are read, never modified (not copied: the demo's data is large); ``parts`` is
    copied. :meth:`reset` starts a run: the cost stream is derived from ``seed`` again and no node has
    a previous model, so two runs from the same state are identical.
    """

    def __init__(self, model, X, y, parts, *, lr: float, costs: CostModel, seed=0, delta_from="minibatch"):
        check_number("lr", lr, low=0.0, low_open=True)
        if not isinstance(costs, CostModel):
            raise TypeError(f"costs must be a CostModel, got {type(costs).__name__}")
        self.model, self.X, self.y, self.lr = model, X, y, lr
        self.parts = [np.array(p) for p in parts]
        self.delta_from = check_delta_from(delta_from)
        self.costs, self.seed = costs, check_int_seed("seed", seed)
        self.reset()

    def reset(self) -> None:
        """A fresh run: the cost stream restarts from the seed, no node has a previous local model."""
        self.rng = np.random.default_rng([self.seed, 1])
        self.w_prev = None

    def round(self, w, settings, round_index: int):
        """One round of every node from the global model ``w``: ``(reports, step_cost, aggregation_cost)``."""
        plan = plan_from_settings(self.parts, round_index, settings, seed=self.seed)
        reports = node_round(self.model, self.X, self.y, self.parts, plan, w, self.w_prev, self.lr, self.delta_from)
        self.w_prev = np.stack([r.w for r in reports])
        steps = max(r.steps for r in reports)
        step_total, agg = self.costs.draw(self.rng, steps)
        return reports, step_total / steps, agg

    def traffic(self, w, reports) -> Traffic:
        """The round's traffic as counted by the byte rule: each report up, the model and τ down to each node."""
        return star_traffic([r.payload_bytes() for r in reports], model_message_bytes(w))

    def close(self):
        pass
