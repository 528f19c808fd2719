"""Devices that move: the random-waypoint and the random-direction models.

* :func:`random_waypoint` moves devices towards random targets at a fixed speed;
* :func:`random_direction` is the model of the bilayer-gossip paper's public simulator
  (arXiv 2501.04817): every device keeps a heading, turns to a new random heading with a small
  probability each step, turns back (heading + π) when it has left the field, and moves ``speed``
  along its heading.

The positions feed :class:`tinydtl.networks.transport.MovingDevices` (the links of each moment) and
the decentralised and swarm trainers (:mod:`tinydtl.algorithms.decentralized`,
:mod:`tinydtl.algorithms.swarm`).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import as_rng
from tinydtl.core.validation import check_number as _check_number

__all__ = ["random_direction", "random_waypoint"]


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


def random_direction(start, steps: int, *, speed: float = 1.0, side: float = 100.0, turn_probability: float = 0.05,
                     seed=0) -> np.ndarray:
    """Positions ``(steps + 1, n, 2)`` of devices that start at ``start`` (``(n, 2)``) and move ``speed``
    per step along a heading.

    Each step, in this order (as the paper's simulator moves a device once per round): with probability
    ``turn_probability`` the device draws a new heading uniform in ``[0, 2π)``; if it is outside
    ``[0, side]^2`` its heading turns by π; it moves ``speed`` along the heading. Devices may therefore
    stray up to one step outside the field before they turn back. Initial headings are uniform.
    """
    start = np.array(start, dtype=float)
    if start.ndim != 2 or start.shape[1] != 2 or not np.isfinite(start).all():
        raise ValueError(f"start must be finite (n, 2) positions, got shape {start.shape}")
    _check_number("steps", steps, low=0, integer=True)
    _check_number("speed", speed, low=0)
    _check_number("side", side, low=0, low_open=True)
    _check_number("turn_probability", turn_probability, low=0, high=1)
    rng = as_rng("seed", seed)
    n = len(start)
    heading = rng.uniform(0, 2 * np.pi, n)
    pos, out = start.copy(), [start.copy()]
    for _ in range(steps):
        turn = rng.random(n) < turn_probability
        heading = np.where(turn, rng.uniform(0, 2 * np.pi, n), heading)
        outside = (pos < 0).any(axis=1) | (pos > side).any(axis=1)
        heading = np.where(outside, heading + np.pi, heading)
        pos = pos + speed * np.column_stack([np.cos(heading), np.sin(heading)])
        out.append(pos.copy())
    return np.stack(out)
