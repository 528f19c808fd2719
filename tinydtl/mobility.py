"""Swarms: devices that move, so who can talk to whom changes every round.

:func:`random_waypoint` moves devices towards random targets at a fixed speed (the random-waypoint
model); :func:`swarm_consensus` gossips on the graph of each moment. Metropolis weights on every
snapshot keep each step doubly stochastic, so the average is conserved even when a snapshot is
disconnected — mixing just happens over time, as devices meet.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_number as _check_number
from .gossip import metropolis_weights
from .topology import geometric_adjacency

__all__ = ["random_waypoint", "swarm_consensus"]


def random_waypoint(n: int, steps: int, *, speed: float = 0.02, side: float = 1.0, seed=0) -> np.ndarray:
    """Positions ``(steps + 1, n, 2)`` of ``n`` devices in ``[0, side]^2`` moving at ``speed`` per step."""
    _check_number("n", n, low=1, integer=True)
    _check_number("steps", steps, low=0, integer=True)
    _check_number("speed", speed, low=0)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, side, (n, 2))
    target = rng.uniform(0, side, (n, 2))
    out = [pos.copy()]
    for _ in range(steps):
        d = target - pos
        dist = np.linalg.norm(d, axis=1, keepdims=True)
        arrive = dist[:, 0] <= speed
        pos = np.where(arrive[:, None], target, pos + speed * d / np.maximum(dist, 1e-12))
        target[arrive] = rng.uniform(0, side, (int(arrive.sum()), 2))
        out.append(pos.copy())
    return np.stack(out)


def swarm_consensus(trajectory, radius: float, x0) -> np.ndarray:
    """Relative consensus error of gossip on the moving swarm's graph, one step per snapshot."""
    x = np.array(x0, dtype=float)
    mean = x.mean(axis=0)
    norm0 = np.linalg.norm(x - mean)
    errs = [1.0]
    for pos in trajectory[1:]:
        x = metropolis_weights(geometric_adjacency(pos, radius)) @ x
        errs.append(np.linalg.norm(x - mean) / norm0 if norm0 else 0.0)
    return np.array(errs)
