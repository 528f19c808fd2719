"""The round plan: who trains in a round, and on which minibatches, in which order.

A :class:`PlanSettings` holds the knobs a controller may change between rounds (local epochs or a
fixed number of local steps, participants per round, batch size); :func:`plan_round` turns them into
a seeded :class:`RoundPlan` that every engine follows, so the numpy and TFF engines (and any new
algorithm) visit exactly the same samples in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from tinydtl.core.validation import check_number

__all__ = ["PlanSettings", "RoundPlan", "plan_round"]


@dataclass(frozen=True)
class PlanSettings:
    """What a round asks of the devices; a controller returns a changed copy (``dataclasses.replace``).

    Parameters
    ----------
    local_epochs : int >= 1
        Passes over the local data per round (used when ``local_steps`` is ``None``).
    batch_size : int >= 1
        Minibatch size ``B``.
    clients_per_round : int >= 1 or None
        Devices sampled uniformly without replacement each round; ``None`` = all.
    local_steps : int >= 1 or None
        A fixed number of minibatch steps per device per round (``τ`` in Wang et al. 2019), drawn
        from successive shuffled epochs; overrides ``local_epochs``.
    sampling_rate : float in (0, 1] or None
        Poisson sampling instead: each device takes part in a round with probability ``q``,
        independently (the number of participants varies and may be 0; DP-FedAvg's privacy
        accounting assumes it). Excludes ``clients_per_round``.
    """

    local_epochs: int = 1
    batch_size: int = 20
    clients_per_round: int | None = None
    local_steps: int | None = None
    sampling_rate: float | None = None

    def __post_init__(self):
        check_number("local_epochs", self.local_epochs, low=1, integer=True)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        if self.clients_per_round is not None:
            check_number("clients_per_round", self.clients_per_round, low=1, integer=True)
        if self.local_steps is not None:
            check_number("local_steps", self.local_steps, low=1, integer=True)
        if self.sampling_rate is not None:
            check_number("sampling_rate", self.sampling_rate, low=0, high=1, low_open=True)
            if self.clients_per_round is not None:
                raise ValueError("give clients_per_round (a fixed number) or sampling_rate (Poisson), not both; got "
                                 f"clients_per_round={self.clients_per_round!r}, sampling_rate={self.sampling_rate!r}")

    def replace(self, **changes) -> "PlanSettings":
        """A copy with ``changes`` applied (validated)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class RoundPlan:
    """Who trains in a round, and in which order each client visits its samples.

    ``orders[i]`` holds one permutation of client ``clients[i]``'s indices per local epoch; each
    epoch is cut into minibatches of ``batch_size`` (the last one may be smaller). With
    ``local_steps`` set, the client's batches are the first ``local_steps`` of that sequence. With
    ``step`` set, the plan holds only that one step (what D-PSGD does between two mixing steps).
    """

    round: int
    clients: np.ndarray
    orders: tuple
    batch_size: int
    local_steps: int | None = None
    step: int | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)  # client position -> batches

    def batches(self, i: int) -> list[np.ndarray]:
        out = self._cache.get(i)
        if out is None:
            B = self.batch_size
            out = [order[s : s + B] for order in self.orders[i] for s in range(0, len(order), B)]
            if self.local_steps is not None:
                out = out[: self.local_steps]
            self._cache[i] = out
        if self.step is not None:
            out = [out[self.step % len(out)]]
        return out

    def n_examples(self, i: int) -> int:
        return int(sum(len(b) for b in self.batches(i)))

    def n_steps(self) -> int:
        """Most minibatch steps any client of the plan takes."""
        return max((len(self.batches(i)) for i in range(len(self.clients))), default=0)

    def only_step(self, s: int) -> "RoundPlan":
        """The plan restricted to every client's ``s``-th minibatch (shares the batch lists)."""
        return replace(self, step=int(s), _cache=self._cache)

    def subset(self, positions) -> "RoundPlan":
        """The plan restricted to the clients at ``positions`` (indices into ``clients``)."""
        positions = np.asarray(positions, dtype=int)
        return replace(self, clients=self.clients[positions], orders=tuple(self.orders[i] for i in positions),
                       _cache={})


def plan_round(parts, round_index: int, *, seed, local_epochs: int = 1, batch_size: int = 20,
               clients_per_round=None, local_steps=None, sampling_rate=None) -> RoundPlan:
    """Sample the round's clients and their batch orders (shared by every engine and algorithm).

    Seeded by ``(seed, round_index)``: the same arguments always give the same plan.
    """
    settings = PlanSettings(local_epochs=local_epochs, batch_size=batch_size,
                            clients_per_round=clients_per_round, local_steps=local_steps, sampling_rate=sampling_rate)
    return plan_from_settings(parts, round_index, settings, seed=seed)


def plan_from_settings(parts, round_index: int, settings: PlanSettings, *, seed) -> RoundPlan:
    """:func:`plan_round` with the knobs in a :class:`PlanSettings`."""
    if not isinstance(settings, PlanSettings):
        raise TypeError(f"settings must be a PlanSettings, got {type(settings).__name__}")
    check_number("round_index", round_index, low=0, integer=True)
    from tinydtl.core.validation import check_int_seed

    check_int_seed("seed", seed)
    n = len(parts)
    if n < 1:
        raise ValueError("parts must hold at least one client's indices")
    k = settings.clients_per_round
    if settings.sampling_rate is not None:  # Poisson: each client independently, its own stream
        clients = np.flatnonzero(np.random.default_rng([seed, round_index, 2]).random(n) < settings.sampling_rate)
    elif k is None or k >= n:
        clients = np.arange(n)
    else:
        rng = np.random.default_rng([seed, round_index, 0])
        clients = np.sort(rng.choice(n, size=k, replace=False))
    orders = []
    B = settings.batch_size
    for c in clients:
        rng = np.random.default_rng([seed, round_index, 1, int(c)])
        idx = np.asarray(parts[c])
        epochs = settings.local_epochs
        if settings.local_steps is not None:
            epochs = max(1, math.ceil(settings.local_steps / math.ceil(len(idx) / B)))
        orders.append(tuple(idx[rng.permutation(len(idx))] for _ in range(epochs)))
    return RoundPlan(round_index, clients, tuple(orders), B, settings.local_steps)


__all__.append("plan_from_settings")
