"""What training spends: the resource cost of a local step and of an aggregation, against a budget.

JSAC 2019 (Section IV) counts ``M`` resources — time, energy, money, ... A local step spends ``c_m`` of
resource ``m`` and an aggregation ``b_m``; training must stop before any resource's budget ``R_m`` is
spent. The demo has one resource, time, with a 15 s budget. :class:`CostModel` draws the costs of a
simulated round (the authors measured them for their smooth SVM on MNIST); :class:`Budget` keeps
what has been spent, shared by the aggregation step (which spends) and the controller (which plans).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from tinydtl.core.validation import check_int, check_number

__all__ = ["Budget", "CostModel", "check_budget"]


def check_budget(budget, name: str = "budget") -> np.ndarray:
    """A budget per resource as a float64 vector: one number ``> 0`` or a non-empty list of them.

    Every entry must be a finite real number (bools and strings are refused, not converted).
    """
    values = list(budget) if isinstance(budget, (list, tuple, np.ndarray)) else [budget]
    if not values:
        raise ValueError(f"{name} must be a number > 0 or a non-empty list of them (one per resource), got {budget!r}")
    for v in values:
        check_number(name, v, low=0.0, low_open=True)
    return np.asarray(values, dtype=np.float64).reshape(-1)


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


class Budget:
    """Resources spent so far, shared by the aggregation step (which spends) and the controller (which plans).

    ``total`` is the budget per resource; ``spent`` what the rounds so far used; ``step_cost`` and
    ``aggregation_cost`` the last round's per-step and per-aggregation costs (``None`` before the first
    round). :meth:`reset` starts a new run (the algorithm's ``init`` calls it).
    """

    def __init__(self, budget):
        self.total = check_budget(budget)
        self.reset()

    def reset(self) -> None:
        """Nothing spent, no cost seen: the state before a run's first round."""
        self.spent = np.zeros_like(self.total)
        self.step_cost = self.aggregation_cost = None

    def spend(self, tau: int, step_cost, aggregation_cost) -> None:
        """Spend ``tau`` local steps at ``step_cost`` each and one aggregation at ``aggregation_cost``."""
        if not isinstance(tau, numbers.Integral):
            raise TypeError(f"tau must be an integer number of local steps, got {tau!r}")
        self.step_cost = np.atleast_1d(np.asarray(step_cost, dtype=np.float64))
        self.aggregation_cost = np.atleast_1d(np.asarray(aggregation_cost, dtype=np.float64))
        self.spent = self.spent + self.step_cost * tau + self.aggregation_cost
