"""Devices that move: the random-waypoint model.

:func:`random_waypoint` moves devices towards random targets at a fixed speed; the positions feed
:class:`tinydtl.networks.transport.MovingDevices` (the links of each moment) and the swarm trainers
in :mod:`tinydtl.algorithms.swarm`.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import as_rng
from tinydtl.core.validation import check_number as _check_number

__all__ = ["random_waypoint"]


def random_waypoint(n: int, steps: int, *, speed: float = 0.02, side: float = 1.0, seed=0) -> np.ndarray:
    """Positions ``(steps + 1, n, 2)`` of ``n`` devices in ``[0, side]^2`` moving at ``speed`` per step."""
    _check_number("n", n, low=1, integer=True)
    _check_number("steps", steps, low=0, integer=True)
    _check_number("speed", speed, low=0)
    rng = as_rng("seed", seed)
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
