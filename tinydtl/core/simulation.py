"""The one training loop of the package.

An algorithm is an :class:`Algorithm`: three plain functions over a state of its choosing, in the
style of fedjax's ``FederatedAlgorithm(init, apply)`` (Ro et al. 2021) and Flower's strategy
(configure a round, aggregate its results):

* ``init() -> state``;
* ``apply(state, round_index, settings) -> (state, stats)``: run one round as ``settings``
  (a :class:`~tinydtl.core.plans.PlanSettings`) asks; ``stats`` is a dict of the round's columns
  (``bytes_up``, ``bytes_down``, ``messages``, ``live_devices`` and any extra ones);
* ``evaluate(state) -> dict``: the columns measured on the state (``accuracy``, ``loss``, ...).

:func:`simulate` runs ``rounds`` rounds and records one :class:`~tinydtl.core.history.History` row per
round, row 0 being ``evaluate(init())`` with zero traffic. Between rounds an optional
**controller** ``controller(round_done, history, settings) -> settings`` may change the next round's
plan (local steps, participants, ...): adaptive aggregation frequency (Wang et al. 2019) is one.

Every trainer in the package (FedAvg numpy and TFF engines, D-PSGD, local SGD with gossip, bilayer
gossip, ILVQ prototype exchange, split learning, swarm consensus) is an ``Algorithm`` run by
:func:`simulate`; see ``docs/architecture.md`` for how to add one.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable

from tqdm.auto import tqdm

from tinydtl.core.history import History
from tinydtl.core.plans import PlanSettings
from tinydtl.core.validation import check_number

__all__ = ["Algorithm", "EarlyStopping", "StopTraining", "simulate"]


class StopTraining(Exception):
    """Raised by a controller to end the run after the round just recorded (e.g. a resource budget is spent)."""


@dataclass
class Algorithm:
    """A training algorithm as plain functions (see the module docstring).

    ``final(state)`` (optional) returns what :attr:`History.weights` should hold at the end.
    ``live_devices`` is the device count recorded in row 0. ``initial_stats`` (optional) are extra
    columns of row 0 next to its zero traffic, e.g. the zeros of counters that ``apply`` reports
    per round (without it they are ``NaN`` in row 0).
    """

    name: str
    init: Callable[[], Any]
    apply: Callable[[Any, int, PlanSettings], tuple]
    evaluate: Callable[[Any], dict] | None = None
    final: Callable[[Any], Any] | None = None
    live_devices: int = 0
    initial_stats: dict | None = None

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {type(self.name).__name__}")
        for field_name in ("init", "apply"):
            if not callable(getattr(self, field_name)):
                raise TypeError(f"{field_name} must be callable")
        for field_name in ("evaluate", "final"):
            if getattr(self, field_name) is not None and not callable(getattr(self, field_name)):
                raise TypeError(f"{field_name} must be callable or None")
        if self.initial_stats is not None and not isinstance(self.initial_stats, dict):
            raise TypeError(f"initial_stats must be a dict of row-0 columns or None, got {type(self.initial_stats).__name__}")


class EarlyStopping:
    """Controller: end the run (:class:`StopTraining`) after ``patience`` rounds without a better ``column``.

    "Better" is strictly lower (``mode="min"``, e.g. a validation loss) or strictly higher
    (``mode="max"``) than the best value so far, row 0 (the initial model) included — the rule of
    Keras' ``EarlyStopping(patience=p, min_delta=0)``. The run stops after the round in which the
    stall reaches ``patience``; that round is recorded. ``best_round`` and ``best_value`` say which
    row was best so far (an algorithm that keeps its best weights compares the same way). One
    stopper may serve several runs: :func:`simulate` calls :meth:`reset` when a run starts.
    """

    def __init__(self, patience: int, column: str = "loss", mode: str = "min"):
        check_number("patience", patience, low=1, integer=True)
        if not isinstance(column, str):
            raise TypeError(f"column must be a History column name, got {type(column).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.column, self.mode = int(patience), column, mode
        self.reset()

    def reset(self) -> None:
        """Forget the previous run (called by :func:`simulate` at the start of every run)."""
        self.best_round: int | None = None
        self.best_value = None
        self.checked = 0  # last row compared

    def better(self, value, best) -> bool:
        """Is ``value`` strictly better than ``best``?"""
        return value < best if self.mode == "min" else value > best

    def __call__(self, round_done, history, settings):
        values = history.column(self.column)
        if self.best_round is None:  # first call: row 0 is the first best
            self.best_round, self.best_value, self.checked = 0, values[0], 0
        for r in range(self.checked + 1, round_done + 1):  # the rows recorded since the last call
            if self.better(values[r], self.best_value):
                self.best_round, self.best_value = r, values[r]
        self.checked = round_done
        if round_done - self.best_round >= self.patience:
            raise StopTraining(f"no better {self.column} for {self.patience} rounds (best: round {self.best_round})")
        return settings


def simulate(algorithm: Algorithm, rounds: int | None, *, settings: PlanSettings | None = None, controller=None,
             config: dict | None = None, progress: bool = False) -> History:
    """Run ``algorithm`` for ``rounds`` rounds; one :class:`History` row per round plus row 0.

    ``seconds`` is the wall time of ``apply`` only (training and communication, not evaluation);
    ``cpu_seconds`` the CPU time this process spent in it (all its threads; less sensitive to other
    jobs on a shared machine).
    A controller may end the run early by raising :class:`StopTraining`; with ``rounds=None`` the run
    lasts until it does. A controller with a ``reset()`` method is reset when the run starts, so one
    controller object can serve several runs.

    Everything random and everything mutable of a run lives in the state ``algorithm.init()`` makes,
    so simulating the same algorithm twice gives the same history (``tests/test_core.py``).
    """
    if rounds is None:
        if controller is None:
            raise ValueError("rounds=None needs a controller that raises StopTraining")
    else:
        check_number("rounds", rounds, low=0, integer=True)
    if not isinstance(algorithm, Algorithm):
        raise TypeError(f"algorithm must be a tinydtl.core.simulation.Algorithm, got {type(algorithm).__name__}")
    if controller is not None and not callable(controller):
        raise TypeError("controller must be callable as controller(round_done, history, settings) -> settings")
    settings = PlanSettings() if settings is None else settings
    if not isinstance(settings, PlanSettings):
        raise TypeError(f"settings must be a PlanSettings, got {type(settings).__name__}")
    hist = History(algorithm=algorithm.name, config=dict(config or {}))
    if callable(getattr(controller, "reset", None)):
        controller.reset()  # a stateful controller (EarlyStopping, AdaptiveTau) starts every run afresh
    state = algorithm.init()
    measured = algorithm.evaluate(state) if algorithm.evaluate else {}
    hist.record(0, bytes_up=0, bytes_down=0, messages=0, live_devices=algorithm.live_devices, seconds=0.0,
                cpu_seconds=0.0, **(algorithm.initial_stats or {}), **measured)
    round_indices = itertools.count() if rounds is None else range(rounds)
    for r in tqdm(round_indices, total=rounds, desc=algorithm.name, disable=not progress, leave=False):
        t0, c0 = time.perf_counter(), time.process_time()
        state, stats = algorithm.apply(state, r, settings)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        measured = algorithm.evaluate(state) if algorithm.evaluate else {}
        hist.record(r + 1, seconds=seconds, cpu_seconds=cpu, **stats, **measured)
        if controller is not None:
            try:
                settings = controller(r + 1, hist, settings)
            except StopTraining:
                break
            if not isinstance(settings, PlanSettings):
                raise TypeError(f"controller must return a PlanSettings, got {type(settings).__name__}")
    if algorithm.final is not None:
        hist.weights = algorithm.final(state)
    return hist
