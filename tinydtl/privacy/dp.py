"""DP-FedAvg: clip each client's update, add Gaussian noise to the sum, divide by a fixed number.

McMahan, Ramage, Talwar & Zhang 2018 ("Learning Differentially Private Recurrent Language
Models", Algorithm 1, user-level DP) change FedAvg's server step in two places. With ``S_t`` the
clients sampled in round ``t`` (each with probability ``q``, so ``m = qN`` in expectation):

1. **clip** every client's model delta to L2 norm ``C``: ``Δ̃_k = Δ_k · min(1, C / ||Δ_k||₂)``, so
   no client can move the sum by more than ``C`` (its *sensitivity*);
2. **noise** the sum and divide by the *expected* number of clients, not the realised one:
   ``Δ_t = (Σ_{k∈S_t} Δ̃_k + N(0, (z·C)² I)) / m``. The denominator must not depend on who took
   part — dividing by ``|S_t|`` would leak it — which is why the average is **unweighted**
   (each client counts once, however much data it holds; TFF's ``DifferentiallyPrivateFactory``
   is an unweighted aggregator for the same reason).

``z`` is the *noise multiplier*. :mod:`tinydtl.privacy.accounting` turns ``(z, q, rounds, δ)`` into
the run's ε. The noise on each coordinate of the average has standard deviation ``z·C/m``: more
clients per round buy the same privacy with less noise per coordinate.

**Adaptive clipping** (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially Private Learning
with Adaptive Clipping"): instead of guessing ``C``, track the ``γ``-quantile of the update norms.
Each client also reports ``b_k = 1[||Δ_k|| ≤ C]``; the server estimates the unclipped fraction
privately, ``b̄ = (Σ_k (b_k − ½) + N(0, σ_b²)) / m + ½`` (clamped to [0, 1]), and updates the clip
geometrically, ``C ← C · exp(−η_C (b̄ − γ))``. The count query spends privacy too: for the whole
round to be a Gaussian mechanism with multiplier ``z``, the updates get the larger multiplier
``z_Δ = (z^{-2} − (2σ_b)^{-2})^{-1/2}`` (needs ``z < 2σ_b``; TFF's defaults ``σ_b = m/20``,
``η_C = 0.2``). This is what ``tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive`` and
the TFF tutorial's ``tff.learning.dp_aggregator`` compute (the latter also zeroes very large
updates first, a step that is not differentially private and that tinydtl leaves out).

:class:`DPAggregator` is the aggregation step the FedAvg engines call; its random numbers are
derived from ``(seed, round)``, so a run simulated twice gives the same history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydtl.core.validation import check_finite_array, check_int_seed, check_number

__all__ = ["DPAggregator", "DPConfig", "clip_updates"]


@dataclass(frozen=True)
class DPConfig:
    """Differential privacy for FedAvg (see the module docstring).

    Parameters
    ----------
    noise_multiplier : float >= 0
        ``z``: the noise on the sum has standard deviation ``z · clip`` (with adaptive clipping, the
        effective multiplier of the round, as in TFF).
    clip : float > 0
        ``C``: the L2 clip norm of each client's model delta (the initial clip when adaptive).
    clients_per_round : int or None
        Exactly this many clients per round (sampled without replacement). Give this or
        ``sampling_rate``.
    sampling_rate : float in (0, 1] or None
        Poisson sampling: each client takes part in a round with probability ``q``.
    adaptive_quantile : float in (0, 1) or None
        ``γ``: track this quantile of the update norms (Andrew et al. 2021); ``None`` = fixed clip.
    delta : float in (0, 1)
        The ``δ`` of the History's ``epsilon`` column.
    clip_learning_rate : float > 0
        ``η_C`` of the adaptive clip (TFF's default 0.2).
    clipped_count_stddev : float > 0 or None
        ``σ_b`` of the adaptive clip's count; ``None`` = expected clients / 20 (TFF's default).
    """

    noise_multiplier: float
    clip: float
    clients_per_round: int | None = None
    sampling_rate: float | None = None
    adaptive_quantile: float | None = None
    delta: float = 1e-5
    clip_learning_rate: float = 0.2
    clipped_count_stddev: float | None = None

    def __post_init__(self):
        check_number("noise_multiplier", self.noise_multiplier, low=0)
        check_number("clip", self.clip, low=0, low_open=True)
        if (self.clients_per_round is None) == (self.sampling_rate is None):
            raise ValueError("DPConfig needs exactly one of clients_per_round (fixed-size sampling) and sampling_rate "
                             f"(Poisson), got clients_per_round={self.clients_per_round!r}, "
                             f"sampling_rate={self.sampling_rate!r}")
        if self.clients_per_round is not None:
            check_number("clients_per_round", self.clients_per_round, low=1, integer=True)
        else:
            check_number("sampling_rate", self.sampling_rate, low=0, high=1, low_open=True)
        if self.adaptive_quantile is not None:
            check_number("adaptive_quantile", self.adaptive_quantile, low=0, high=1, low_open=True, high_open=True)
        check_number("delta", self.delta, low=0, high=1, low_open=True, high_open=True)
        check_number("clip_learning_rate", self.clip_learning_rate, low=0, low_open=True)
        if self.clipped_count_stddev is not None:
            check_number("clipped_count_stddev", self.clipped_count_stddev, low=0, low_open=True)

    # ------------------------------------------------------------------ derived numbers
    def check_clients(self, n_clients: int) -> None:
        """``clients_per_round`` must not exceed the clients there are."""
        check_number("n_clients", n_clients, low=1, integer=True)
        if self.clients_per_round is not None and self.clients_per_round > n_clients:
            raise ValueError(f"clients_per_round must be in [1, {n_clients}] (the number of clients), "
                             f"got {self.clients_per_round}")

    def expected_clients(self, n_clients: int) -> float:
        """``m``, the fixed denominator: ``clients_per_round`` or ``sampling_rate × n_clients``."""
        self.check_clients(n_clients)
        return float(self.clients_per_round) if self.clients_per_round is not None else self.sampling_rate * n_clients

    def accounting(self, n_clients: int) -> dict:
        """Keyword arguments of :func:`tinydtl.privacy.accounting.epsilon` for this configuration."""
        self.check_clients(n_clients)
        if self.sampling_rate is not None:
            return dict(sampling_rate=float(self.sampling_rate), sampling="poisson", population=None)
        q = self.clients_per_round / n_clients
        return dict(sampling_rate=float(q), sampling="fixed" if q < 1 else "poisson",
                    population=int(n_clients) if q < 1 else None)

    def count_stddev(self, n_clients: int) -> float:
        """``σ_b``: the noise of the adaptive clip's count (0 without noise, as in TFF)."""
        if self.noise_multiplier == 0:
            return 0.0
        if self.clipped_count_stddev is not None:
            return float(self.clipped_count_stddev)
        return 0.05 * self.expected_clients(n_clients)

    def value_noise_multiplier(self, n_clients: int) -> float:
        """``z_Δ``, the multiplier of the updates' noise: ``z`` with a fixed clip; with adaptive
        clipping ``(z^{-2} − (2σ_b)^{-2})^{-1/2}`` so that the round as a whole has multiplier ``z``."""
        z = float(self.noise_multiplier)
        if self.adaptive_quantile is None or z == 0:
            return z
        sb = self.count_stddev(n_clients)
        if z >= 2 * sb:
            raise ValueError(f"adaptive clipping needs noise_multiplier < 2 * clipped_count_stddev = {2 * sb:g} "
                             f"(clipped_count_stddev defaults to expected clients / 20); got noise_multiplier={z}. "
                             f"Raise clipped_count_stddev, use more clients per round, or a fixed clip")
        return (z ** -2 - (2 * sb) ** -2) ** -0.5


def clip_updates(updates, clip: float):
    """Scale each row of ``updates`` to L2 norm at most ``clip``: ``u · min(1, clip / ||u||)``.

    Returns ``(clipped, norms)`` (float32 rows as ``tf.clip_by_global_norm`` computes them, and the
    norms before clipping)."""
    U = check_finite_array("updates", updates, ndim=2, dtype=np.float32)
    check_number("clip", clip, low=0, low_open=True)
    norms = np.sqrt(np.einsum("kd,kd->k", U, U, dtype=np.float32))
    scale = np.float32(clip) / np.maximum(norms, np.float32(clip))
    return U * scale[:, None], norms


class DPAggregator:
    """The DP-FedAvg aggregation step for ``n_clients`` clients (one per run; it keeps the adaptive clip).

    ``aggregate(updates, round_index)`` returns the noised mean ``(Σ clip(u_k) + N(0, (z_Δ C)²)) / m``
    (float32) and the round's statistics: ``clip`` (the clip used), ``noise_std`` (of the mean, per
    coordinate: ``z_Δ C / m``) and ``clipped_fraction`` (a *diagnostic* of the simulation: the true
    share of clipped clients, which a real server never sees — it would leak).
    """

    def __init__(self, config: DPConfig, n_clients: int, *, seed: int = 0):
        if not isinstance(config, DPConfig):
            raise TypeError(f"config must be a tinydtl.privacy.DPConfig, got {type(config).__name__}")
        self.config = config
        self.n_clients = int(n_clients)
        self.expected = config.expected_clients(n_clients)
        self.z_value = config.value_noise_multiplier(n_clients)
        self.count_stddev = config.count_stddev(n_clients)
        self.seed = check_int_seed("seed", seed)
        self.clip = float(config.clip)

    def aggregate(self, updates, round_index: int):
        """``(mean, stats)`` of one round's client updates ``(K, d)`` (``K`` may be 0: noise only)."""
        U = np.asarray(updates, dtype=np.float32)
        if U.ndim != 2:
            raise ValueError(f"updates must be a (clients, n_params) stack, got shape {U.shape}")
        clip = self.clip
        rng = np.random.default_rng([self.seed, int(round_index), 7919, 3])
        if len(U):
            norms = np.sqrt(np.einsum("kd,kd->k", U, U, dtype=np.float32))
            scale = np.float32(clip) / np.maximum(norms, np.float32(clip))  # clip_updates' rule, summed at once
            total = (scale @ U).astype(np.float32)
        else:
            norms = np.zeros(0, np.float32)
            total = np.zeros(U.shape[1], np.float32)
        std = self.z_value * clip
        if std > 0:
            total = total + rng.normal(0.0, std, size=U.shape[1]).astype(np.float32)
        mean = (total / np.float32(self.expected)).astype(np.float32)
        stats = {"clip": clip, "noise_std": std / self.expected,
                 "clipped_fraction": float(np.mean(norms > clip)) if len(norms) else math.nan}
        if self.config.adaptive_quantile is not None:
            self.clip = self.next_clip(norms, rng)
        return mean, stats

    def next_clip(self, norms, rng) -> float:
        """Andrew et al.'s geometric update ``C ← C · exp(−η_C (b̄ − γ))`` from a noised unclipped fraction."""
        below = float(np.sum(norms <= self.clip)) - 0.5 * len(norms)
        if self.count_stddev > 0:
            below += rng.normal(0.0, self.count_stddev)
        fraction = min(max(below / self.expected + 0.5, 0.0), 1.0)
        return self.clip * math.exp(-self.config.clip_learning_rate * (fraction - self.config.adaptive_quantile))
