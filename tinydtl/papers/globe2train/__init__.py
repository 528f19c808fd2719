"""Globe2Train (Sudharsan, Breslin & Ali, IEEE SmartWorld 2021): one classifier trained by IoT devices.

The cloud (G2T-C) decomposes a K-class problem into K(K−1)/2 one-vs-one binary problems and hands
them to the devices; each device (G2T-D, the paper's Algorithm 1) trains its problems, accumulates
the trained weights up to a threshold that grows as its network worsens, then encodes and sends
them. The modules, one job each:

* :mod:`~tinydtl.papers.globe2train.ovo` — the decomposition, the one-vs-one vote and the
  scikit-learn classifier :class:`DistributedOneVsOne` that runs everything;
* :mod:`~tinydtl.papers.globe2train.mcu_learner` — the binary learner one device runs,
  :class:`MomentumLogisticRegression`;
* :mod:`~tinydtl.papers.globe2train.fleet` — the devices (capacity from SRAM, speed, both from the
  package's device assumptions :data:`tinydtl.devices.ASSUMPTIONS`), G2T-C's scheduling
  (:func:`assign_problems`) and what a problem costs in flops and data bytes;
* :mod:`~tinydtl.papers.globe2train.g2t` — G2T-D: threshold, encode/decode, and the simulated
  rounds :func:`run_g2t_d`;
* :mod:`~tinydtl.papers.globe2train.sgd_baselines` — the synchronous and asynchronous SGD baselines.

The network they share is :mod:`tinydtl.networks.netsim`.
"""

from tinydtl.papers.globe2train.fleet import (
    FLOPS_PER_CYCLE,
    USABLE_SRAM_FRACTION,
    Device,
    assign_problems,
    check_devices,
    device_capacity,
    make_devices,
    problem_costs,
    problem_data_bytes,
    sample_bytes,
)
from tinydtl.papers.globe2train.g2t import (
    EncodedVector,
    G2TResult,
    decode,
    encode,
    g2t_algorithm,
    model_vector,
    run_g2t_d,
    threshold,
    until_delivered,
)
from tinydtl.papers.globe2train.mcu_learner import (
    MomentumLogisticRegression,
    linear_scores,
)
from tinydtl.papers.globe2train.ovo import (
    DistributedOneVsOne,
    binary_confidence,
    class_pairs,
    n_problems,
    ovo_decision,
)
from tinydtl.papers.globe2train.sgd_baselines import (
    async_sgd_algorithm,
    iid_parts,
    run_async_sgd,
    run_sync_sgd,
    step_flops,
    sync_sgd_algorithm,
)

__all__ = [
    "FLOPS_PER_CYCLE",
    "USABLE_SRAM_FRACTION",
    "Device",
    "DistributedOneVsOne",
    "EncodedVector",
    "G2TResult",
    "MomentumLogisticRegression",
    "assign_problems",
    "async_sgd_algorithm",
    "binary_confidence",
    "check_devices",
    "class_pairs",
    "decode",
    "device_capacity",
    "encode",
    "g2t_algorithm",
    "iid_parts",
    "linear_scores",
    "make_devices",
    "model_vector",
    "n_problems",
    "ovo_decision",
    "problem_costs",
    "problem_data_bytes",
    "run_async_sgd",
    "run_g2t_d",
    "run_sync_sgd",
    "sample_bytes",
    "step_flops",
    "sync_sgd_algorithm",
    "threshold",
    "until_delivered",
]
