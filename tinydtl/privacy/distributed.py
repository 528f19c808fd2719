"""Distributed differential privacy: the clients add the noise, secure aggregation hides who added what.

DP-FedAvg (:mod:`tinydtl.privacy.dp`) trusts the server to add the noise: it sees the clipped sum
before noising. Combining it with secure aggregation removes that trust (Kairouz, Liu & Steinke
2021, "The Distributed Discrete Gaussian Mechanism for Federated Learning with Secure
Aggregation"; TFF's ``tff.learning.ddp_secure_aggregator``): each of the ``m`` expected clients clips
its update to L2 norm ``C`` and adds ``N(0, (z·C)²/m)`` itself; the sum of ``m`` such noises is
``N(0, (z·C)²)``, exactly the central noise, and secure aggregation (:mod:`tinydtl.privacy.secagg`)
reveals only the noised sum. No single upload is noised enough to be private on its own — the
server never sees one.

What this simple version leaves out (said plainly): it adds *continuous* Gaussian noise and then
rounds stochastically to integers mod 2³², so the integer sum is not exactly the Gaussian
mechanism the accountant assumes (the distributed discrete Gaussian of Kairouz et al. is); values
beyond the encoding range are clipped (the range is set to ``C`` plus 8 local standard deviations,
so that almost never happens); and when clients drop out, fewer noise shares arrive, the total
noise is ``z·C·sqrt(|U|/m)`` and that round is less private than accounted (a real deployment
adds a margin of noise for the expected dropouts).
"""

from __future__ import annotations

import math

import numpy as np

from tinydtl.core.validation import check_finite_array, check_number, check_seed
from tinydtl.privacy.dp import clip_updates
from tinydtl.privacy.secagg import secure_aggregate

__all__ = ["distributed_dp_sum"]


def distributed_dp_sum(updates, *, clip: float, noise_multiplier: float, expected_clients: float, threshold: int,
                       dropped=(), neighbours=None, levels: int = 2**22, seed=0):
    """Clip, noise locally, aggregate securely. Returns ``(result, mean)``: the
    :class:`~tinydtl.privacy.secagg.SecAggResult` and the DP-FedAvg mean ``total / expected_clients``."""
    U = check_finite_array("updates", updates, ndim=2)
    check_number("expected_clients", expected_clients, low=0, low_open=True)
    check_number("noise_multiplier", noise_multiplier, low=0)
    check_seed("seed", seed, allow_none=True)
    clipped, _ = clip_updates(U, clip)
    local_std = noise_multiplier * clip / math.sqrt(expected_clients)
    rng = np.random.default_rng(None if seed is None else [seed, 7919, 5])
    noised = clipped.astype(np.float64) + rng.normal(0.0, local_std, size=U.shape) if local_std else clipped
    result = secure_aggregate(noised, threshold=threshold, dropped=dropped, neighbours=neighbours,
                              clip=float(clip + 8 * local_std), levels=levels, seed=seed)
    return result, result.total / expected_clients
