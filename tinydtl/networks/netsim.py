"""A small network simulator for devices across the globe: latency, bandwidth, congestion, drops, churn.

Each device ``k`` has a :class:`Link` to the cloud derived from its network quality ``q_k ∈ (0, 1]``
(1 = a good network) by :func:`link_for_quality`:

=================  =====================================================================
latency            ``latency_s / q``  (one way, seconds)
bandwidth          ``bandwidth_Bps × q``  (bytes per second)
drop probability   ``drop_prob × (1 − q)``  per transmission attempt
congestion         every attempt's latency is multiplied by ``1 + E``, ``E`` exponential
                   with mean ``congestion × (1/q − 1)`` (queueing on a busy path)
=================  =====================================================================

A transmission of ``n`` bytes started at ``t`` takes ``latency·(1 + E) + n / bandwidth``; a dropped
attempt is noticed after an acknowledgement timeout of ``2 × latency + n / bandwidth`` and sent
again, so every attempt's bytes count (:meth:`Network.transmit`). Device churn: device ``k`` leaves
at the events of a Poisson process of rate ``churn_rate`` (per second) and comes back ``downtime_s``
later (:meth:`Network.next_dropout`, :meth:`Network.online`).

Every random draw comes from a per-device, per-purpose generator seeded by ``(seed, k, purpose)``,
so a run is reproducible and one device's traffic does not shift another's draws. A network's
generators advance as it is used; :meth:`Network.fresh` gives the same network with its draws from
the start (what a simulation's ``init()`` uses, so that running it twice gives the same history).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydtl.core.validation import check_finite_array, check_int, check_number

__all__ = ["Link", "Network", "Transfer", "check_network", "link_for_quality", "make_network"]


@dataclass(frozen=True)
class Link:
    """A device's path to the cloud (see the module docstring)."""

    latency_s: float
    bandwidth_Bps: float
    drop_prob: float
    congestion: float

    def __post_init__(self):
        check_number("latency_s", self.latency_s, low=0)
        check_number("bandwidth_Bps", self.bandwidth_Bps, low=0, low_open=True)
        check_number("drop_prob", self.drop_prob, low=0, high=1)
        if self.drop_prob >= 1:
            raise ValueError(f"drop_prob must be in [0, 1) (1 would never deliver), got {self.drop_prob!r}")
        check_number("congestion", self.congestion, low=0)

    def expected_seconds(self, nbytes) -> float:
        """Mean time to get ``nbytes`` through: ``latency·(1 + congestion) + n/bandwidth`` plus, for the
        ``p/(1 − p)`` expected drops, an acknowledgement timeout ``2·latency + n/bandwidth`` each."""
        nbytes = check_finite_array("nbytes", nbytes)
        if nbytes.size and nbytes.min() < 0:
            raise ValueError(f"nbytes must be finite and >= 0, got {nbytes.min()!r}")
        size = nbytes / self.bandwidth_Bps
        retries = self.drop_prob / (1 - self.drop_prob)
        return self.latency_s * (1 + self.congestion) + size + retries * (2 * self.latency_s + size)


def link_for_quality(quality: float, *, latency_s: float = 0.05, bandwidth_Bps: float = 250_000.0,
                     drop_prob: float = 0.2, congestion: float = 1.0) -> Link:
    """The :class:`Link` of a device with network quality ``quality`` ∈ (0, 1] (module docstring table)."""
    check_number("quality", quality, low=0, high=1, low_open=True)
    check_number("latency_s", latency_s, low=0)
    check_number("bandwidth_Bps", bandwidth_Bps, low=0, low_open=True)
    check_number("drop_prob", drop_prob, low=0, high=1)
    check_number("congestion", congestion, low=0)
    return Link(latency_s / quality, bandwidth_Bps * quality, drop_prob * (1 - quality), congestion * (1 / quality - 1))


@dataclass(frozen=True)
class Transfer:
    """One message through the network: when it arrived, how many attempts and bytes it took."""

    start: float
    arrival: float
    attempts: int
    bytes_sent: int


class Network:
    """Links of ``n`` devices to the cloud, with seeded drops, congestion and churn.

    Parameters
    ----------
    links : list of :class:`Link`
    churn_rate : float >= 0
        Drop-outs per device per second (0: devices never leave).
    downtime_s : float > 0
        How long a device stays away after dropping out.
    max_attempts : int >= 1
        A message not through after this many attempts raises RuntimeError (never silently lost).
    dropouts : dict {device: list of times}, optional
        Scripted drop-out times for some devices (instead of the random churn), e.g. to make a device
        leave in the middle of a round.
    seed : int
    """

    def __init__(self, links, *, churn_rate: float = 0.0, downtime_s: float = 60.0, max_attempts: int = 1000,
                 dropouts=None, seed: int = 0):
        self.links = list(links)
        if not self.links or not all(isinstance(link, Link) for link in self.links):
            raise ValueError("links must be a non-empty list of tinydtl.networks.netsim.Link")
        check_number("churn_rate", churn_rate, low=0)
        check_number("downtime_s", downtime_s, low=0, low_open=True)
        check_int("max_attempts", max_attempts, 1)
        check_int("seed", seed, 0)
        self.churn_rate = float(churn_rate)
        self.downtime_s = float(downtime_s)
        self.max_attempts = max_attempts
        self.seed = seed
        self.dropouts = {}  # the scripted drop-outs, as given (a copy), for fresh()
        n = len(self.links)
        self._traffic = [np.random.default_rng([seed, k, 1]) for k in range(n)]
        self._churn = [np.random.default_rng([seed, k, 2]) for k in range(n)]
        self._leaves = [[] for _ in range(n)]  # drop-out times, generated lazily in order
        self._scripted = set()
        for k, times in (dropouts or {}).items():
            if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k < n:
                raise ValueError(f"dropouts keys must be device indices in [0, {n - 1}], got {k!r}")
            times = sorted(float(x) for x in times)
            if any(not np.isfinite(x) or x < 0 for x in times):
                raise ValueError(f"dropouts[{k}] must hold finite times >= 0, got {times}")
            self._leaves[k] = times
            self._scripted.add(int(k))
            self.dropouts[int(k)] = list(times)

    def __len__(self):
        return len(self.links)

    def fresh(self) -> Network:
        """A new network with the same links, churn, scripted drop-outs and seed, its random draws
        from the start. A simulation takes one in its ``init()``, so running the same algorithm
        twice replays the same traffic and churn (and the network passed in is never advanced)."""
        return Network(self.links, churn_rate=self.churn_rate, downtime_s=self.downtime_s,
                       max_attempts=self.max_attempts, dropouts=self.dropouts, seed=self.seed)

    # ------------------------------------------------------------------ traffic
    def check_device(self, k) -> int:
        """``k`` checked as a device index in ``[0, n − 1]`` (ValueError naming it and the range otherwise)."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, (bool, np.bool_)) or not 0 <= k < len(self.links):
            raise ValueError(f"device must be a device index in [0, {len(self.links) - 1}], got {k!r}")
        return int(k)

    @staticmethod
    def check_time(t) -> float:
        """``t`` checked as a finite time ``>= 0`` (an infinite one would never be reached: churn up to it never ends)."""
        check_number("t", t, low=0)
        return float(t)

    def transmit(self, k: int, nbytes: int, t: float) -> Transfer:
        """Send ``nbytes`` between device ``k`` and the cloud starting at ``t`` (either direction)."""
        k, t = self.check_device(k), self.check_time(t)
        check_number("nbytes", nbytes, low=0, integer=True)
        link, rng = self.links[k], self._traffic[k]
        size = nbytes / link.bandwidth_Bps
        now, attempts = float(t), 0
        while True:
            attempts += 1
            if attempts > self.max_attempts:
                raise RuntimeError(f"device {k}: message of {nbytes} bytes not delivered after "
                                   f"{self.max_attempts} attempts")
            extra = rng.exponential(link.congestion) if link.congestion > 0 else 0.0
            dropped = rng.random() < link.drop_prob
            if not dropped:
                return Transfer(float(t), now + link.latency_s * (1 + extra) + size, attempts, int(nbytes) * attempts)
            now += 2 * link.latency_s + size  # acknowledgement timeout, then send again

    # ------------------------------------------------------------------ churn
    def _leave_times_until(self, k: int, horizon: float) -> list[float]:
        leaves = self._leaves[k]
        if self.churn_rate == 0 or k in self._scripted:
            return leaves
        while not leaves or leaves[-1] <= horizon:
            last = leaves[-1] + self.downtime_s if leaves else 0.0
            leaves.append(last + self._churn[k].exponential(1 / self.churn_rate))
        return leaves

    def online(self, k: int, t: float) -> bool:
        """Is device ``k`` online at time ``t``?"""
        k, t = self.check_device(k), self.check_time(t)
        for leave in self._leave_times_until(k, t):
            if leave <= t < leave + self.downtime_s:
                return False
        return True

    def next_dropout(self, k: int, t: float) -> float:
        """The first time ``>= t`` device ``k`` leaves (``inf`` without churn)."""
        k, t = self.check_device(k), self.check_time(t)
        for leave in self._leave_times_until(k, t):
            if leave >= t:
                return leave
        return float("inf")

    def next_online(self, k: int, t: float) -> float:
        """The first time ``>= t`` device ``k`` is online."""
        k, t = self.check_device(k), self.check_time(t)
        for leave in self._leave_times_until(k, t):
            if leave <= t < leave + self.downtime_s:
                return leave + self.downtime_s
        return float(t)


def make_network(qualities, *, churn_rate: float = 0.0, downtime_s: float = 60.0, seed: int = 0,
                 max_attempts: int = 1000, dropouts=None, **link_kwargs) -> Network:
    """A :class:`Network` with one :func:`link_for_quality` link per entry of ``qualities``.

    ``link_kwargs``: ``latency_s``, ``bandwidth_Bps``, ``drop_prob``, ``congestion`` at quality 1.
    """
    qualities = [qualities] if np.ndim(qualities) == 0 else list(qualities)
    if not qualities:
        raise ValueError("qualities must list one network quality per device")
    for k, q in enumerate(qualities):
        check_number(f"qualities[{k}]", q, low=0, high=1, low_open=True)
    links = []
    for k, q in enumerate(qualities):
        try:
            links.append(link_for_quality(q, **link_kwargs))
        except ValueError as err:
            raise ValueError(f"device {k}: {err}") from None
    return Network(links, churn_rate=churn_rate, downtime_s=downtime_s, seed=seed, max_attempts=max_attempts,
                   dropouts=dropouts)


def check_network(network, n_devices: int) -> Network:
    """``network`` must be a :class:`Network` with one link per device (``n_devices``)."""
    if not isinstance(network, Network):
        raise TypeError(f"network must be a tinydtl.networks.netsim.Network, got {type(network).__name__}")
    if len(network) != n_devices:
        raise ValueError(f"network has {len(network)} links for {n_devices} devices")
    return network
