"""The aggregator's control loop: choose the next τ, and stop when the budget is spent.

After every aggregation the aggregator has fresh estimates ``β̂, ρ̂, δ̂`` and the round's measured (or
drawn) costs. JSAC 2019 Algorithm 2 (lines 14–25) then picks the next ``τ* = argmin G(τ)``
(:func:`~tinydtl.papers.adaptive_tau.bound.optimal_tau`) and checks that the next round still fits in
the budget; if it does not, τ is shortened to what remains and that round is the last. This is a
controller of the simulation core: called with the history after each round, it returns the next
round's settings or raises :class:`~tinydtl.core.simulation.StopTraining`.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.simulation import StopTraining
from tinydtl.core.validation import check_bool, check_number
from tinydtl.papers.adaptive_tau.bound import optimal_tau
from tinydtl.papers.adaptive_tau.costs import Budget

__all__ = ["AdaptiveTau"]


class AdaptiveTau:
    """The aggregator's choice of τ and its budget rule, as a core controller hook (JSAC Algorithm 2, lines 14–25).

    Called after every round with the history so far: it takes the round's ``β̂, ρ̂, δ̂`` and costs,
    picks ``τ* = argmin G(τ)`` (:func:`~tinydtl.papers.adaptive_tau.bound.optimal_tau`; a fixed ``tau``
    skips this), then applies the authors' budget rule: if the next round (plus, in min-loss mode, a
    final evaluation round) would overspend any resource, τ is shortened to what remains and that round
    is the last; in min-loss mode one more round with τ = 1 measures the last model's loss. It raises
    :class:`~tinydtl.core.simulation.StopTraining` when the budget is spent. Its call after round 1
    starts a new plan, so one controller can drive several runs.
    """

    def __init__(self, budget: Budget, *, eta: float, phi: float, tau=None, tau_max: int = 100,
                 use_min_loss: bool = True):
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a Budget, got {type(budget).__name__}")
        check_number("eta", eta, low=0.0, low_open=True)
        check_number("phi", phi, low=0.0, low_open=True)
        check_number("tau_max", tau_max, low=1, integer=True)
        if tau is not None:
            check_number("tau", tau, low=1, integer=True)
        self.budget, self.eta, self.phi = budget, float(eta), float(phi)
        self.fixed_tau, self.tau_max = None if tau is None else int(tau), int(tau_max)
        self.use_min_loss = check_bool("use_min_loss", use_min_loss)
        self.last_round = self.eval_only = False

    @property
    def first_tau(self) -> int:
        return 1 if self.fixed_tau is None else self.fixed_tau

    def next_tau(self, history, tau_prev: int) -> int:
        """``τ*`` from the last row's estimates (Algorithm 2, line 16), or ``tau_prev`` when there are none
        yet (round 1) or τ is fixed."""
        row = {c: history.column(c)[-1] for c in ("beta", "rho", "delta")}
        if self.fixed_tau is not None or any(v is None or v != v for v in row.values()):
            return tau_prev
        b = self.budget
        return optimal_tau(row["beta"], row["delta"], row["rho"], self.eta, self.phi, b.step_cost,
                           b.aggregation_cost, b.total, tau_prev, tau_max=self.tau_max, use_min_loss=self.use_min_loss)

    def fit_budget(self, tau: int) -> int:
        """The authors' budget rule (Algorithm 2, lines 17–22): shorten τ to what remains if the next
        round (and, in min-loss mode, the closing evaluation round) would overspend a resource.

        As in the authors' code (``if tau_config < 1: tau_config = 1``), the shortened round keeps at
        least one local step. So the budget holds exactly (``spent <= total``) whenever what remains at
        this decision, ``r = total - spent``, holds one step and the closing aggregations
        (``r >= c + b``; in min-loss mode ``r >= 2(c + b)``). When it does not, the last round(s) run
        with τ = 1 anyway and the run ends over budget by ``c + b - r < c + b`` (min-loss:
        ``2(c + b) - r < 2(c + b)``), with the costs of those rounds as ``c`` and ``b``."""
        b = self.budget
        if self.eval_only:
            self.last_round = True
            return 1
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
        return tau

    def __call__(self, round_done, history, settings):
        if round_done == 1:  # a new run: forget the previous run's closing phase
            self.last_round = self.eval_only = False
        if self.last_round:
            raise StopTraining("resource budget spent")
        tau = self.fit_budget(self.next_tau(history, settings.local_steps))
        return settings.replace(local_steps=int(tau))
