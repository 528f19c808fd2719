"""Aggregation: averaging models on a device, robust server aggregation and the server optimizer.

* :class:`ServerOptimizer` — the server's SGD step on the pseudo-gradient ``-Δ`` with momentum
  (FedAvgM, Hsu et al. 2019; ``β = 0``, ``η_s = 1`` is plain FedAvg, McMahan et al. 2017, Alg. 1);
* on a device, models averaged one by one:

A device that averages the models of ``N`` neighbours (FedAvg's server step, done locally in
decentralised learning) can

* **store all** received models, then average: memory grows as ``N × model``;
* use **Cumulative FedAvg** (the bilayer-gossip paper, arXiv 2501.04817): keep one running weighted
  sum ``S = Σ_k n_k w_k`` and the total weight ``n = Σ_k n_k``, folding each model in as it
  arrives; the average is ``S / n``. Memory is one accumulator plus the receive buffer, whatever
  ``N`` is.

Both classes expose ``nbytes``, the bytes they actually hold, which :mod:`tinydtl.devices.memory` must match.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import check_number

__all__ = ["StoreAllAggregator", "CumulativeFedAvg", "ServerOptimizer"]


def _as_arrays(weights):
    arrays = [np.asarray(w) for w in weights]
    if not arrays:
        raise ValueError("weights must be a non-empty list of arrays")
    for a in arrays:
        if a.dtype == bool or a.dtype.kind not in "iuf" or not np.isfinite(a).all():
            raise ValueError("weights must be finite numeric arrays (a model with NaN or inf would poison the sum)")
    return arrays


def _check_weight(n):
    ok = isinstance(n, (int, float, np.integer, np.floating)) and not isinstance(n, (bool, np.bool_))
    if not ok or not np.isfinite(n) or n <= 0:
        raise ValueError(f"n (the model's weight, e.g. its sample count) must be a finite number > 0, got {n!r}")


class StoreAllAggregator:
    """Keeps a copy of every received model; :meth:`result` averages them weighted by ``n``."""

    def __init__(self):
        self.models: list[list[np.ndarray]] = []
        self.counts: list[float] = []

    def add(self, weights, n: float = 1.0) -> None:
        _check_weight(n)
        arrays = _as_arrays(weights)
        if self.models and [a.shape for a in arrays] != [a.shape for a in self.models[0]]:
            raise ValueError("every model must have the same layer shapes")
        self.models.append([a.copy() for a in arrays])
        self.counts.append(float(n))

    def result(self) -> list[np.ndarray]:
        if not self.models:
            raise ValueError("no model has been added")
        total = sum(self.counts)
        return [
            sum(c * m[i] for c, m in zip(self.counts, self.models)) / total for i in range(len(self.models[0]))
        ]

    @property
    def nbytes(self) -> int:
        """Bytes of the stored models (the counts are a few bytes per model and not counted)."""
        return sum(a.nbytes for m in self.models for a in m)


class CumulativeFedAvg:
    """Cumulative FedAvg: one running weighted sum, folded in model by model.

    Parameters
    ----------
    dtype : numpy dtype, default float32
        Precision of the accumulator. float32 loses precision over very many accumulations; the
        bilayer-gossip lesson measures how much, against float64.
    """

    def __init__(self, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        self.sum: list[np.ndarray] | None = None
        self.total = 0.0
        self.n_models = 0

    def add(self, weights, n: float = 1.0) -> None:
        _check_weight(n)
        arrays = _as_arrays(weights)
        if self.sum is None:
            self.sum = [np.zeros(a.shape, dtype=self.dtype) for a in arrays]
        elif [a.shape for a in arrays] != [s.shape for s in self.sum]:
            raise ValueError("every model must have the same layer shapes")
        for s, a in zip(self.sum, arrays):
            s += self.dtype.type(n) * a.astype(self.dtype, copy=False)
        self.total += float(n)
        self.n_models += 1

    def result(self) -> list[np.ndarray]:
        if self.sum is None:
            raise ValueError("no model has been added")
        return [s / self.dtype.type(self.total) for s in self.sum]

    @property
    def nbytes(self) -> int:
        """Bytes of the accumulator (the running total is one more number, not counted)."""
        return 0 if self.sum is None else sum(s.nbytes for s in self.sum)


# ----------------------------------------------------------------------------- server side
class ServerOptimizer:
    """Server SGD with momentum on the pseudo-gradient ``-Δ``: ``v ← β v - Δ``, ``w ← w - η_s v``
    (FedAvgM); with ``β = 0`` it is ``w ← w + η_s Δ``. float32, as TFF's ``build_sgdm``."""

    def __init__(self, lr: float = 1.0, momentum: float = 0.0):
        check_number("server_lr", lr, low=0, low_open=True)
        check_number("server_momentum", momentum, low=0, high=1, high_open=True)
        self.lr, self.beta = np.float32(lr), np.float32(momentum)
        self.velocity = None

    def step(self, params, delta):
        if self.beta:
            if self.velocity is None:
                self.velocity = np.zeros_like(params)
            self.velocity = self.beta * self.velocity - delta
            return params - self.lr * self.velocity
        return params + self.lr * delta
