"""Privacy accounting: how much ε a run of DP-FedAvg spends, computed by Google's ``dp-accounting``.

One round of DP-FedAvg (McMahan et al. 2018) is a **subsampled Gaussian mechanism**: each client
is in the round with probability ``q`` (Poisson sampling), every update is clipped to L2 norm ``C``
and the server adds ``N(0, (z·C)²)`` to their sum, so one client moves the sum by at most ``C`` and
the noise is ``z`` times that. ``T`` rounds compose. An *accountant* turns ``(z, q, T)`` into the
smallest ``ε`` such that the whole run is ``(ε, δ)``-differentially private *at the level of a
client* (adding or removing one client's whole data changes the probability of any outcome by at
most a factor ``e^ε``, plus ``δ``).

Nothing here computes a Rényi divergence by hand: the events are ``dp_accounting``'s
(``PoissonSampledDpEvent(q, GaussianDpEvent(z))`` composed ``T`` times) and the accountants are its
``RdpAccountant`` (Rényi DP, Mironov 2017; Mironov, Talwar & Zhang 2019 for the subsampled
Gaussian — what TensorFlow Privacy and the TFF tutorial use) and ``PLDAccountant`` (privacy loss
distributions, tighter; Koskela et al. 2020, Doroshenko et al. 2022).

Sampling, and what the library supports (dp-accounting 0.4.3)
------------------------------------------------------------
* ``sampling="poisson"`` (each client independently with probability ``q``; the TFF tutorial's
  scheme): both accountants, neighbouring datasets differ by **adding or removing** one client.
* ``sampling="fixed"`` (exactly ``m = q·N`` of ``N`` clients, without replacement): only the RDP
  accountant, and only for neighbours that differ by **replacing** one client
  (``SampledWithoutReplacementDpEvent``, Wang, Balle & Kasiviswanathan 2019). Replacing a client
  moves a sum clipped at ``C`` by up to ``2C``, so the event's noise multiplier is ``z/2``. These ε
  are larger and are not comparable with the add/remove ε above; the PLD accountant refuses them.
* ``q = 1`` (every client every round): plain composition of ``T`` Gaussian mechanisms.

The History's per-round ``epsilon`` column uses :func:`epsilon_per_round` (RDP composes additively,
so the whole curve costs one accountant call); :func:`epsilon` with ``accountant="pld"`` gives the
tighter final number.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tinydtl.core.validation import check_choice, check_number

__all__ = ["ACCOUNTANTS", "SAMPLINGS", "clients_per_round_for", "dp_sgd_epsilon", "epsilon", "epsilon_per_round",
           "noise_multiplier_for", "round_event"]

ACCOUNTANTS = ("rdp", "pld")
SAMPLINGS = ("poisson", "fixed")


def check_accounting(noise_multiplier, sampling_rate, delta, *, sampling="poisson", population=None,
                     accountant="rdp", rounds=1):
    """The accounting arguments, checked (named errors); returns ``(sampling, population)``."""
    check_number("noise_multiplier", noise_multiplier, low=0)
    check_number("sampling_rate", sampling_rate, low=0, high=1, low_open=True)
    check_number("delta", delta, low=0, high=1, low_open=True, high_open=True)
    check_number("rounds", rounds, low=1, integer=True)
    check_choice("accountant", accountant, ACCOUNTANTS)
    check_choice("sampling", sampling, SAMPLINGS)
    if sampling == "fixed" and sampling_rate < 1:
        if population is None:
            raise ValueError("sampling='fixed' needs population= (the number of clients N; m = sampling_rate * N "
                             "are drawn without replacement each round)")
        check_number("population", population, low=1, integer=True)
        m = sampling_rate * population
        if abs(m - round(m)) > 1e-9 * population:
            raise ValueError(f"sampling='fixed': sampling_rate * population must be a whole number of clients, "
                             f"got {sampling_rate} * {population} = {m}")
        if accountant == "pld":
            raise ValueError("accountant='pld' cannot account sampling='fixed': dp-accounting 0.4.3's PLD accountant "
                             "does not support sampling without replacement; use accountant='rdp' (replace-one "
                             "neighbours) or Poisson sampling")
    return sampling, population


def round_event(noise_multiplier: float, sampling_rate: float, *, sampling: str = "poisson", population=None):
    """The ``dp_accounting`` event of one DP-FedAvg round and the neighbouring relation it is accounted under.

    Returns ``(event, relation)``: ``PoissonSampledDpEvent(q, GaussianDpEvent(z))`` under add/remove-one;
    for ``sampling="fixed"`` ``SampledWithoutReplacementDpEvent(N, m, GaussianDpEvent(z/2))`` under
    replace-one (sensitivity ``2C``); for ``q = 1`` ``GaussianDpEvent(z)``.
    """
    import dp_accounting

    sampling, population = check_accounting(noise_multiplier, sampling_rate, 0.5, sampling=sampling,
                                            population=population)
    relation = dp_accounting.NeighboringRelation
    gaussian = dp_accounting.GaussianDpEvent(float(noise_multiplier))
    if sampling_rate == 1:
        return gaussian, relation.ADD_OR_REMOVE_ONE
    if sampling == "poisson":
        return dp_accounting.PoissonSampledDpEvent(float(sampling_rate), gaussian), relation.ADD_OR_REMOVE_ONE
    m = int(round(sampling_rate * population))
    half = dp_accounting.GaussianDpEvent(float(noise_multiplier) / 2)  # replace-one: sensitivity 2C
    return dp_accounting.SampledWithoutReplacementDpEvent(int(population), m, half), relation.REPLACE_ONE


def _accountant(kind: str, relation):
    from dp_accounting import pld, rdp

    if kind == "rdp":
        return rdp.RdpAccountant(neighboring_relation=relation)
    return pld.PLDAccountant(neighboring_relation=relation)


def epsilon(noise_multiplier: float, sampling_rate: float, rounds: int, delta: float, accountant: str = "rdp", *,
            sampling: str = "poisson", population=None) -> float:
    """``ε`` of ``rounds`` DP-FedAvg rounds at ``δ`` (``inf`` when ``noise_multiplier`` is 0).

    Parameters
    ----------
    noise_multiplier : float >= 0
        ``z``: the noise's standard deviation over the clip norm.
    sampling_rate : float in (0, 1]
        ``q``: each client's chance to be in a round (Poisson), or ``m/N`` for ``sampling="fixed"``.
    rounds : int >= 1
    delta : float in (0, 1)
    accountant : {"rdp", "pld"}
    sampling, population
        See the module docstring; ``population`` (``N``) is needed for ``sampling="fixed"``.
    """
    from dp_accounting import SelfComposedDpEvent
    from dp_accounting.rdp import compute_epsilon

    check_accounting(noise_multiplier, sampling_rate, delta, sampling=sampling, population=population,
                     accountant=accountant, rounds=rounds)
    if noise_multiplier == 0:
        return math.inf
    if accountant == "rdp":  # RdpAccountant composes T rounds as T × one round's curve: ask for it once
        orders, one = _one_round_rdp(float(noise_multiplier), float(sampling_rate), sampling, population)
        return float(compute_epsilon(orders, int(rounds) * one, delta)[0])
    event, relation = round_event(noise_multiplier, sampling_rate, sampling=sampling, population=population)
    acc = _accountant(accountant, relation)
    acc.compose(SelfComposedDpEvent(event, int(rounds)))
    return float(acc.get_epsilon(delta))


@functools.lru_cache(maxsize=256)
def _one_round_rdp(noise_multiplier: float, sampling_rate: float, sampling: str, population):
    """The RDP curve (orders, values) of one round, computed once per mechanism by the library."""
    event, relation = round_event(noise_multiplier, sampling_rate, sampling=sampling, population=population)
    acc = _accountant("rdp", relation)
    acc.compose(event)
    return acc.orders, acc.rdp


def epsilon_per_round(noise_multiplier: float, sampling_rate: float, rounds: int, delta: float, *,
                      sampling: str = "poisson", population=None) -> np.ndarray:
    """``ε`` after rounds ``1..rounds`` (RDP accountant), as one array.

    RDP composes by addition (``T`` identical rounds have ``T`` times one round's RDP curve, which is
    how ``RdpAccountant`` composes ``SelfComposedDpEvent``), so the library is asked once for one
    round's curve and its ``compute_epsilon`` converts every prefix. Equal to :func:`epsilon` with
    ``accountant="rdp"`` round by round.
    """
    from dp_accounting.rdp import compute_epsilon

    check_accounting(noise_multiplier, sampling_rate, delta, sampling=sampling, population=population,
                     rounds=rounds)
    if noise_multiplier == 0:
        return np.full(int(rounds), np.inf)
    orders, one = _one_round_rdp(float(noise_multiplier), float(sampling_rate), sampling, population)
    return np.array([compute_epsilon(orders, t * one, delta)[0] for t in range(1, int(rounds) + 1)], dtype=float)


def noise_multiplier_for(epsilon: float, delta: float, sampling_rate: float, rounds: int, accountant: str = "rdp", *,
                         sampling: str = "poisson", population=None, tol: float = 1e-4) -> float:
    """The smallest ``z`` whose run of ``rounds`` rounds is ``(epsilon, delta)``-DP
    (``dp_accounting.calibrate_dp_mechanism``, Brent's method on the library's ε)."""
    import dp_accounting

    check_number("epsilon", epsilon, low=0, low_open=True)
    check_number("tol", tol, low=0, low_open=True)
    check_accounting(1.0, sampling_rate, delta, sampling=sampling, population=population, accountant=accountant,
                     rounds=rounds)

    def make_event(z):
        event, _ = round_event(z, sampling_rate, sampling=sampling, population=population)
        return dp_accounting.SelfComposedDpEvent(event, int(rounds))

    _, relation = round_event(1.0, sampling_rate, sampling=sampling, population=population)
    return float(dp_accounting.calibrate_dp_mechanism(
        lambda: _accountant(accountant, relation), make_event, float(epsilon), float(delta),
        bracket_interval=dp_accounting.ExplicitBracketInterval(1e-3, 1e3), tol=tol))


def clients_per_round_for(epsilon: float, delta: float, total_clients: int, rounds: int, *,
                          noise_to_clients_ratio: float = 0.01, accountant: str = "rdp") -> int:
    """The fewest expected clients per round ``m`` for ``(epsilon, delta)``-DP when the noise multiplier
    grows with ``m`` (``z = noise_to_clients_ratio · m``: the noise *per client* in the average stays
    fixed) — the TFF tutorial's search, by ``calibrate_dp_mechanism`` over integers."""
    import dp_accounting

    check_number("epsilon", epsilon, low=0, low_open=True)
    check_number("total_clients", total_clients, low=1, integer=True)
    check_number("noise_to_clients_ratio", noise_to_clients_ratio, low=0, low_open=True)
    check_accounting(1.0, 1.0, delta, accountant=accountant, rounds=rounds)

    def make_event(m):
        event, _ = round_event(m * noise_to_clients_ratio, m / total_clients)
        return dp_accounting.SelfComposedDpEvent(event, int(rounds))

    _, relation = round_event(1.0, 0.5)
    return int(dp_accounting.calibrate_dp_mechanism(
        lambda: _accountant(accountant, relation), make_event, float(epsilon), float(delta),
        bracket_interval=dp_accounting.ExplicitBracketInterval(1, int(total_clients)), discrete=True))


def dp_sgd_epsilon(n: int, batch_size: int, noise_multiplier: float, epochs: float, delta: float,
                   accountant: str = "rdp") -> float:
    """ε of DP-SGD (Abadi et al. 2016) on ``n`` examples, Poisson batches of expected size ``batch_size``:
    ``q = batch_size / n`` and ``ceil(epochs · n / batch_size)`` steps, as TensorFlow Privacy counts them."""
    check_number("n", n, low=1, integer=True)
    check_number("batch_size", batch_size, low=1, high=n, integer=True)
    check_number("epochs", epochs, low=0, low_open=True)
    steps = int(math.ceil(epochs * n / batch_size))
    return epsilon(noise_multiplier, batch_size / n, steps, delta, accountant)
