"""Privacy and security for federated learning: the attack, secure aggregation, differential privacy.

=================  ====================================================================================
module             job
=================  ====================================================================================
``attack``         a client's input read back from its softmax gradient or one-step update (Phong et
                   al. 2017; Zhu et al. 2019); what a minibatch average still reveals
``dp``             DP-FedAvg's aggregation step (McMahan et al. 2018): clipping, Gaussian noise, the fixed
                   denominator; adaptive clipping (Andrew et al. 2021); :class:`DPConfig`
``accounting``     ε of a run from ``dp-accounting`` (RDP and PLD), the noise multiplier for a target ε
``shamir``         t-of-n Shamir secret sharing over GF(2³¹ − 1), vectorised
``crypto``         X25519 key agreement, HKDF, the ChaCha20 mask generator, AES-GCM for shares
``secagg``         secure aggregation (Bonawitz et al. 2017) with dropouts; SecAgg+ (Bell et al. 2020)
``distributed``    distributed DP: clients clip and noise their own updates, SecAgg sums them
``device_cost``    what SecAgg and SecAgg+ cost a microcontroller: RAM, bytes, air time
=================  ====================================================================================

The layer sits between the building blocks (core, learners, networks, devices) and the trainers:
``tinydtl.algorithms.fedavg`` takes a :class:`DPConfig` (``run_fedavg(..., dp=DPConfig(...))``).
"""

from tinydtl.privacy.accounting import (
    clients_per_round_for,
    dp_sgd_epsilon,
    epsilon,
    epsilon_per_round,
    noise_multiplier_for,
)
from tinydtl.privacy.attack import (
    class_reconstructions,
    cosine_similarity,
    invert_softmax_gradient,
    invert_softmax_update,
    softmax_gradient,
)
from tinydtl.privacy.device_cost import ClientCost, client_cost, cost_table, secagg_plus_degree
from tinydtl.privacy.distributed import distributed_dp_sum
from tinydtl.privacy.dp import DPAggregator, DPConfig, clip_updates
from tinydtl.privacy.secagg import SecAggResult, dequantize, neighbour_graph, quantize, secure_aggregate

__all__ = [
    "ClientCost",
    "DPAggregator",
    "DPConfig",
    "SecAggResult",
    "class_reconstructions",
    "client_cost",
    "clients_per_round_for",
    "clip_updates",
    "cosine_similarity",
    "cost_table",
    "dequantize",
    "distributed_dp_sum",
    "dp_sgd_epsilon",
    "epsilon",
    "epsilon_per_round",
    "invert_softmax_gradient",
    "invert_softmax_update",
    "neighbour_graph",
    "noise_multiplier_for",
    "quantize",
    "secagg_plus_degree",
    "secure_aggregate",
    "softmax_gradient",
]
