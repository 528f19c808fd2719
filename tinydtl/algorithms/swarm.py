"""Swarm consensus: gossip on a swarm whose links change every round as its devices move.

:func:`swarm_consensus` gossips on the graph of each moment (positions from, e.g.,
:func:`tinydtl.networks.mobility.random_waypoint`). Metropolis weights on every snapshot keep each
step doubly stochastic, so the average is conserved even when a snapshot is disconnected — mixing
just happens over time, as devices meet. It runs on :func:`tinydtl.core.simulation.simulate` over
:class:`tinydtl.networks.transport.MovingDevices` (one gossip step per snapshot);
:func:`run_swarm_consensus` returns its full :class:`~tinydtl.core.history.History`.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.history import History
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.validation import check_finite_array
from tinydtl.networks.transport import MovingDevices, gossip
from tinydtl.runtime.deprecation import deprecated_alias

__all__ = ["run_swarm_consensus", "swarm_consensus", "swarm_history"]


def run_swarm_consensus(trajectory, radius: float, x0) -> History:
    """Gossip of the values ``x0`` (one row per device) on the moving swarm, one step per snapshot.

    Row ``t`` holds ``consensus_error`` = ``||x_t - x̄|| / ||x_0 - x̄||`` (0 if ``x_0`` is already
    in consensus) and the step's traffic (every device sends its value to each neighbour in range).
    """
    swarm = MovingDevices(trajectory, radius)
    x_init = np.array(check_finite_array("x0", x0), dtype=float)
    n = swarm.trajectory.shape[1]
    if x_init.shape[:1] != (n,) or x_init.ndim > 2:
        raise ValueError(f"x0 must hold one value (or one row) per device: {n} rows, got shape {x_init.shape}")
    mean = x_init.mean(axis=0)
    norm0 = np.linalg.norm(x_init - mean)

    def apply(x, t, settings):
        values, traffic = gossip(swarm.links(t + 1), x.reshape(n, -1), 1)
        return values.reshape(x.shape), {**traffic.as_row(), "live_devices": n}

    def measure(x):
        return {"consensus_error": float(np.linalg.norm(x - mean) / norm0) if norm0 else 0.0}

    algorithm = Algorithm("swarm-consensus", lambda: x_init.copy(), apply, measure, lambda x: x, live_devices=n)
    return simulate(algorithm, swarm.n_rounds, config=dict(radius=float(radius), n_devices=n))


def swarm_consensus(trajectory, radius: float, x0) -> np.ndarray:
    """Relative consensus error of gossip on the moving swarm's graph, one step per snapshot
    (``errors[0] = 1``; see :func:`run_swarm_consensus`)."""
    return np.array(run_swarm_consensus(trajectory, radius, x0).column("consensus_error"))


swarm_history = deprecated_alias("swarm_history", run_swarm_consensus)  # old name, one release
