"""Federated averaging of the survey's MNIST learner, on numpy or on TensorFlow Federated.

The survey's second benchmark trains a dense + softmax classifier on MNIST with TensorFlow
Federated (TFF) and reports ~85 % accuracy "across all setups". The model is
``logits = x W + b`` on flattened pixels scaled to [0, 1] (a Keras ``Dense(10)``; the softmax sits in
the cross-entropy loss, ``from_logits=True``, which is the same model and numerically safer).

Training is weighted FedAvg (McMahan et al. 2017, Algorithm 1), as
``tff.learning.algorithms.build_weighted_fed_avg`` runs it. In round ``t`` with global weights
``w_t`` and selected clients ``S_t``:

1. each client ``k ∈ S_t`` starts from ``w_t`` and runs ``E`` local epochs of minibatch SGD
   (batch ``B``, rate ``η_c``) on its own data, giving ``w_t^k``; with the FedProx option
   (Li et al. 2020, eq. 2) its loss gains ``(μ/2)·||w - w_t||²``;
2. each update ``w_t^k - w_t`` passes the transforms (a Byzantine attacker, compression with
   error feedback) and the server combines them: ``Δ_t = Σ_k n_k (w_t^k - w_t) / Σ_k n_k``
   (or a robust median / trimmed mean);
3. and applies ``Δ_t`` with a server SGD step on the pseudo-gradient ``-Δ_t``: with momentum ``β``,
   ``v ← β v - Δ_t``, ``w_{t+1} = w_t - η_s v`` (FedAvgM, Hsu et al. 2019; ``β = 0``, ``η_s = 1``
   is plain FedAvg).

Both engines are one-round objects plugged into the package's one loop,
:func:`tinydtl.core.simulation.simulate`: ``engine="numpy"`` trains every client of a round at once
(batched matrix products, :class:`tinydtl.learners.softmax.SoftmaxModel`); ``engine="tff"``
(:mod:`tinydtl.algorithms.fedavg_tff`) is the reference. Both use the same initial weights, client
sampling, batch order and weighting (:func:`tinydtl.core.plans.plan_from_settings`), so they agree
to float32 rounding (``tests/test_federated.py``).
"""

from __future__ import annotations

import contextlib

import numpy as np

from tinydtl.core.aggregation import ServerOptimizer
from tinydtl.core.history import History
from tinydtl.core.plans import PlanSettings, RoundPlan, plan_from_settings
from tinydtl.core.robust import AGGREGATORS, aggregate, check_trim
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import payload_bytes, star_traffic
from tinydtl.core.transforms import Attackers, Compression, apply_transforms
from tinydtl.core.validation import (
    as_features,
    check_bool,
    check_choice,
    check_int_seed,
    check_labels,
    check_number,
    check_parts,
    check_test_set,
    n_classes_of,
)
from tinydtl.learners.softmax import KERNELS, SoftmaxModel
from tinydtl.privacy.accounting import epsilon
from tinydtl.privacy.dp import DPAggregator, DPConfig
from tinydtl.runtime.deprecation import deprecated_alias
from tinydtl.runtime.processes import no_stray_processes

__all__ = [
    "ENGINES",
    "NumpyEngine",
    "centralized",
    "fedavg",
    "fedavg_algorithm",
    "fedavg_grid",
    "initial_weights",
    "run_centralized",
    "run_fedavg",
    "run_fedavg_grid",
]

ENGINES = ("numpy", "tff")


def initial_weights(n_features: int = 784, n_classes: int = 10, seed=0):
    """Glorot-uniform ``W`` (as Keras' ``Dense`` default) and zero ``b``, float32, seeded."""
    model = SoftmaxModel(n_features, n_classes)
    W, b = model.unflatten(model.init(seed))
    return W.copy(), b.copy()


# ----------------------------------------------------------------------------- the numpy engine: one round
class NumpyEngine:
    """One FedAvg round with all clients trained at once as batched matrix products.

    ``weights`` are the initial arrays of ``model`` (default: the softmax learner's ``W, b``, a
    :class:`~tinydtl.learners.softmax.SoftmaxModel`; any learner with ``prepare``, ``flatten``,
    ``unflatten``, ``local_update`` and ``evaluate``, e.g. :class:`~tinydtl.learners.mlp.DeepMLPModel`).
    ``transforms`` are the per-run transform objects (attacker, compression with its error-feedback
    memory), made fresh by the algorithm's ``init``; with none and the mean aggregator the weighted
    mean is taken directly (the fast path). ``privacy`` (a :class:`tinydtl.privacy.DPAggregator`)
    replaces the weighted mean by DP-FedAvg's clipped, noised, unweighted mean.
    """

    def __init__(self, X, y, *weights, model=None, client_lr, server_lr, server_momentum, proximal_mu,
                 transforms=(), aggregator="mean", trim=0.2, threads=1, privacy=None, kernel="numba"):
        if model is None:
            W0 = np.asarray(weights[0], np.float32)
            model = SoftmaxModel(*W0.shape, threads=threads, kernel=kernel)
        self.model = model
        self.X, self.y = self.model.prepare(X), np.asarray(y).astype(np.intp)  # [x/255, 1] once per run
        self.params = self.model.flatten(*weights)
        self.lr = np.float32(client_lr)
        self.mu = np.float32(proximal_mu)
        self.server = ServerOptimizer(server_lr, server_momentum)
        self.transforms = list(transforms)
        self.aggregator, self.trim = aggregator, trim
        self.privacy = privacy
        self.last_bytes_up = None
        self.last_stats = {}

    def run_round(self, plan: RoundPlan):
        K = len(plan.clients)
        if K == 0:  # Poisson sampling drew nobody: DP still adds its noise, plain FedAvg has no update
            self.last_bytes_up = np.zeros(0, dtype=np.int64)
            delta = np.zeros_like(self.params)
            if self.privacy is not None:
                delta, self.last_stats = self.privacy.aggregate(np.zeros((0, delta.size), np.float32), plan.round)
            self.params = self.server.step(self.params, delta)
            return float("nan"), float("nan")
        start = np.broadcast_to(self.params, (K, self.model.n_params))
        P, n, loss_sum, correct = self.model.local_update(self.X, self.y, start, plan, self.lr, mu=self.mu, anchor=start)
        self.params = self.server.step(self.params, self.aggregate(P - self.params, n, plan))
        total = float(n.sum())
        return loss_sum / total, correct / total

    def aggregate(self, updates, n, plan: RoundPlan):
        """The server's combination of the round's updates (sets ``last_bytes_up`` and ``last_stats``)."""
        if self.transforms:
            updates, self.last_bytes_up = apply_transforms(updates, plan.clients, self.transforms)
        else:
            self.last_bytes_up = np.full(len(updates), payload_bytes(self.model.n_params))
        if self.privacy is not None:
            delta, self.last_stats = self.privacy.aggregate(updates, plan.round)
            return delta
        if self.aggregator == "mean" and not self.transforms:
            return np.tensordot(n / n.sum(), updates, axes=1)
        trim = self.trim if self.aggregator == "trimmed_mean" else None
        return aggregate(updates, n, self.aggregator, trim=trim).astype(np.float32)

    def weights(self):
        return self.model.unflatten(self.params)

    def evaluate(self, X, y):
        """``(loss, accuracy)`` of the global model on ``(X, y)``."""
        return self.model.evaluate(self.params, X, y)


def fedavg_algorithm(engine_factory, parts, *, seed, n_params: int, x_test=None, y_test=None,
                     dp: DPConfig | None = None) -> Algorithm:
    """FedAvg as an :class:`~tinydtl.core.simulation.Algorithm`: ``init`` is ``engine_factory()``
    (a fresh engine, transforms and server state: the algorithm can be simulated again and gives the
    same history), each round plans from the settings and runs ``engine.run_round``; the server's
    download and the clients' uploads are counted by :func:`tinydtl.core.traffic.star_traffic`.
    With ``dp`` each row also holds the DP aggregator's ``clip``, ``noise_std`` and
    ``clipped_fraction`` and ``epsilon``, the privacy spent so far (RDP accountant, at ``dp.delta``)."""
    ledger = dp.accounting(len(parts)) if dp is not None else None
    if dp is not None:  # the accountant's import and one round's RDP curve now, not in round 1's time
        epsilon(dp.noise_multiplier, rounds=1, delta=dp.delta, **ledger)

    def apply(engine, r, settings):
        plan = plan_from_settings(parts, r, settings, seed=seed)
        loss, acc = engine.run_round(plan)
        K = len(plan.clients)
        up = engine.last_bytes_up if engine.last_bytes_up is not None else np.full(K, payload_bytes(n_params))
        traffic = star_traffic(up, payload_bytes(n_params))
        stats = {**traffic.as_row(), "live_devices": K, "participants": K, "train_loss": loss, "train_accuracy": acc}
        if dp is not None:
            stats.update(engine.last_stats, epsilon=epsilon(dp.noise_multiplier, rounds=r + 1, delta=dp.delta, **ledger))
        return engine, stats

    def measure(engine):
        if x_test is None:
            return {}
        loss, acc = engine.evaluate(x_test, y_test)
        return {"accuracy": acc, "loss": loss}

    def final(engine):
        return tuple(np.array(w) for w in engine.weights())

    initial = {"epsilon": 0.0} if dp is not None else None
    return Algorithm("fedavg", engine_factory, apply, measure, final, live_devices=len(parts), initial_stats=initial)


# ----------------------------------------------------------------------------- front ends
def transform_factory(n_clients: int, *, attackers: int, compression: str, error_feedback: bool, seed: int):
    """A function making the run's transforms afresh (attackers chosen by the seed, then compression)."""
    check_number("attackers", attackers, low=0, high=n_clients, integer=True)
    bad = np.random.default_rng([seed, 4242]).choice(n_clients, size=int(attackers), replace=False)
    if compression != "none" or error_feedback:
        Compression(compression, error_feedback=error_feedback, seed=seed)  # checks the spec now, not at init

    def make():
        out = [Attackers(bad, seed=seed)] if attackers else []
        if compression != "none" or error_feedback:
            out.append(Compression(compression, error_feedback=error_feedback, seed=seed))
        return out

    return make


def engine_factory(engine, X, y, weights, rates, *, make_transforms, aggregator, trim, threads, model=None,
                   make_privacy=None, kernel="numba"):
    """A function making a fresh engine (the algorithm's state) for ``engine``; TensorFlow is
    imported only when the TFF engine is asked for. ``make_privacy`` makes the run's DP aggregator."""
    make_privacy = make_privacy or (lambda: None)
    if engine == "numpy":
        def factory():
            return NumpyEngine(X, y, *weights, model=model, transforms=make_transforms(), aggregator=aggregator,
                               trim=trim, threads=threads, privacy=make_privacy(), kernel=kernel, **rates)
    else:
        def factory():
            from tinydtl.algorithms.fedavg_tff import TFFEngine

            return TFFEngine(X, y, *weights, privacy=make_privacy(), **rates)
    return factory


def privacy_settings(dp, n_clients: int, *, clients_per_round, sampling_rate, aggregator, seed: int):
    """``(clients_per_round, sampling_rate, make_privacy)`` of a run: ``dp``'s sampling (a conflicting
    ``clients_per_round`` / ``sampling_rate`` is refused) and a maker of fresh :class:`DPAggregator` objects."""
    if dp is None:
        return clients_per_round, sampling_rate, None
    if not isinstance(dp, DPConfig):
        raise TypeError(f"dp must be a tinydtl.privacy.DPConfig or None, got {type(dp).__name__}")
    dp.check_clients(n_clients)
    if aggregator != "mean":
        raise ValueError(f"dp needs aggregator='mean' (DP-FedAvg clips and noises the mean), got {aggregator!r}")
    for name, mine, theirs in (("clients_per_round", clients_per_round, dp.clients_per_round),
                               ("sampling_rate", sampling_rate, dp.sampling_rate)):
        if mine is not None and mine != theirs:
            raise ValueError(f"{name}={mine!r} contradicts dp.{name}={theirs!r}: the DPConfig sets the sampling "
                             f"(leave {name} out)")
    DPAggregator(dp, n_clients, seed=seed)  # checks the adaptive clip's noise now, not at init
    return dp.clients_per_round, dp.sampling_rate, lambda: DPAggregator(dp, n_clients, seed=seed)


def initial_model_weights(model, n_features: int, n_classes: int, seed: int):
    """The run's initial arrays: the softmax learner's ``(W, b)``, or ``model.init(seed)`` unflattened."""
    if model is None:
        return initial_weights(n_features, n_classes, seed)
    for name in ("init", "prepare", "flatten", "unflatten", "local_update", "evaluate", "n_params"):
        if not hasattr(model, name):
            raise TypeError(f"model must be a learner with {name} (e.g. tinydtl.learners.mlp.DeepMLPModel), "
                            f"got {type(model).__name__}")
    if (model.n_features, model.n_classes) != (n_features, n_classes):
        raise ValueError(f"model has {model.n_features} features and {model.n_classes} classes, the data "
                         f"{n_features} and {n_classes}")
    return tuple(np.array(a) for a in model.unflatten(model.init(seed)))


def check_server_options(*, engine, rounds, client_lr, server_lr, server_momentum, proximal_mu, aggregator, trim,
                         clients_per_round, n_clients, threads, numpy_only: dict, kernel="numba"):
    """The front end's checks of everything but the data (see :func:`run_fedavg`)."""
    check_choice("engine", engine, ENGINES)
    check_choice("kernel", kernel, KERNELS)
    check_number("rounds", rounds, low=1, integer=True)
    check_number("client_lr", client_lr, low=0, low_open=True)
    check_number("server_lr", server_lr, low=0, low_open=True)
    check_number("server_momentum", server_momentum, low=0, high=1, high_open=True)
    check_number("proximal_mu", proximal_mu, low=0)
    check_number("threads", threads, low=1, integer=True)
    check_choice("aggregator", aggregator, tuple(AGGREGATORS))
    if clients_per_round is not None:
        check_number("clients_per_round", clients_per_round, low=1, high=n_clients, integer=True)
    check_number("trim", trim, low=0, high=0.5, high_open=True)
    if aggregator == "trimmed_mean":
        check_trim(trim, clients_per_round or n_clients)
    if engine == "tff" and proximal_mu:
        raise ValueError(
            "proximal_mu > 0 is not available with engine='tff': TFF 0.87's build_weighted_fed_prox adds "
            "mu*(w_t - w) to the client gradient, the opposite sign of FedProx's gradient mu*(w - w_t) of "
            "(mu/2)||w - w_t||^2, so it pushes clients away from the global model (pinned in "
            "tests/test_federated.py). Use engine='numpy' for FedProx.")
    used = [name for name, on in numpy_only.items() if on]
    if engine == "tff" and used:
        raise ValueError(f"{', '.join(used)} are simulated on engine='numpy' only (got engine='tff')")


def run_fedavg(x_train, y_train, parts, *, x_test=None, y_test=None, engine: str = "numpy", rounds: int = 5,
               local_epochs: int = 1, batch_size: int = 20, client_lr: float = 0.02, server_lr: float = 1.0,
               server_momentum: float = 0.0, clients_per_round: int | None = None, sampling_rate: float | None = None,
               proximal_mu: float = 0.0, compression: str = "none", error_feedback: bool = False,
               aggregator: str = "mean", trim: float = 0.2, attackers: int = 0, n_classes: int | None = None,
               local_steps: int | None = None, model=None, dp: DPConfig | None = None, controller=None,
               threads: int = 1, kernel: str = "numba", seed: int = 0, progress: bool = False) -> History:
    """Train the softmax learner (or ``model``) by weighted FedAvg over the clients in ``parts``.

    Parameters
    ----------
    x_train, y_train, parts, x_test, y_test
        Samples (``uint8`` images, scaled by 1/255 inside, or real-valued features), integer labels
        ``0..C-1``, one index array per client (:mod:`tinydtl.data.partition`), held-out data
        evaluated at round 0 and after every round.
    engine : {"numpy", "tff"}
        Same algorithm, two implementations.
    rounds, local_epochs, batch_size, local_steps
        Rounds, local epochs (E), minibatch size (B); ``local_steps``: that many steps instead (numpy only).
    client_lr, server_lr, server_momentum
        Client SGD rate η_c; server SGD rate η_s and momentum β ∈ [0, 1) (FedAvgM when β > 0).
    clients_per_round, sampling_rate
        Clients drawn without replacement each round (``None`` = all), or Poisson sampling at this rate.
    proximal_mu, compression, error_feedback, aggregator, trim, attackers, model
        Numpy only: FedProx's μ (TFF 0.87's sign is wrong); update compression (``"q8"``, ``"top0.1"``,
        :class:`tinydtl.core.compression.Compressor`) with optional error feedback; ``"mean"``,
        ``"median"`` or ``"trimmed_mean"`` (``trim`` at each end); the number of malicious clients;
        a learner instead of the softmax layer (e.g. :class:`tinydtl.learners.mlp.DeepMLPModel`).
    n_classes, dp
        Number of classes ``C`` (default: the largest label + 1).
        ``dp``, a :class:`tinydtl.privacy.DPConfig`: DP-FedAvg (McMahan et al. 2018; clipped updates, Gaussian
        noise on the sum, the **unweighted** sum over the expected clients per round), which also sets
        the sampling. Both engines (TFF: ``build_unweighted_fed_avg`` with ``DifferentiallyPrivateFactory``).
    controller, threads, kernel, seed, progress
        See :func:`tinydtl.core.simulation.simulate`; numpy threads (same numbers); the compiled
        (``"numba"``) or the reference (``"numpy"``) local update, equal to float32 rounding; the one seed
        of weights, sampling, batch order, attackers, compression and DP noise.

    Returns
    -------
    History
        Row 0 = the initial model, then per round: test ``accuracy``/``loss``, ``train_loss``/
        ``train_accuracy``, ``bytes_up``, ``bytes_down``, ``messages``, ``participants``, ``seconds``;
        with ``dp`` also ``epsilon``, ``clip``, ``noise_std``, ``clipped_fraction`` (:func:`fedavg_algorithm`).
    """
    X = as_features(x_train, "x_train")
    parts = check_parts(parts, len(X))
    seed = check_int_seed("seed", seed)
    check_server_options(engine=engine, rounds=rounds, client_lr=client_lr, server_lr=server_lr,
                         server_momentum=server_momentum, proximal_mu=proximal_mu, aggregator=aggregator, trim=trim,
                         clients_per_round=clients_per_round, n_clients=len(parts), threads=threads, kernel=kernel,
                         numpy_only={"compression": compression != "none", "error_feedback": bool(error_feedback),
                                     "robust aggregators": aggregator != "mean", "attackers": bool(attackers),
                                     "local_steps": local_steps is not None, "model": model is not None})
    check_bool("error_feedback", error_feedback)
    per_round, rate, make_privacy = privacy_settings(dp, len(parts), clients_per_round=clients_per_round,
                                                     sampling_rate=sampling_rate, aggregator=aggregator, seed=seed)
    settings = PlanSettings(local_epochs=local_epochs, batch_size=batch_size, local_steps=local_steps,
                            clients_per_round=per_round, sampling_rate=rate)
    make_transforms = transform_factory(len(parts), attackers=attackers, compression=compression,
                                        error_feedback=error_feedback, seed=seed)
    y = check_labels(y_train, "y_train", len(X), n_classes)
    Xt, yt = check_test_set(x_test, y_test, X.shape[1], n_classes)
    C = n_classes_of(y, yt, n_classes=n_classes)
    weights = initial_model_weights(model, X.shape[1], C, seed)
    rates = dict(client_lr=client_lr, server_lr=server_lr, server_momentum=server_momentum, proximal_mu=proximal_mu)
    factory = engine_factory(engine, X, y, weights, rates, make_transforms=make_transforms, aggregator=aggregator,
                             trim=trim, threads=threads, model=model, make_privacy=make_privacy, kernel=kernel)
    algorithm = fedavg_algorithm(factory, parts, seed=seed, n_params=sum(w.size for w in weights), x_test=Xt,
                                 y_test=yt, dp=dp)
    algorithm.name = f"FedAvg ({engine})"
    config = dict(engine=engine, rounds=rounds, local_epochs=local_epochs, batch_size=batch_size, n_classes=C,
                  clients_per_round=per_round, sampling_rate=rate, compression=compression,
                  error_feedback=error_feedback, aggregator=aggregator, trim=trim, attackers=attackers,
                  local_steps=local_steps, threads=threads, kernel=kernel, seed=seed, n_clients=len(parts),
                  model=type(model).__name__ if model is not None else "softmax", dp=dp, **rates)
    with no_stray_processes() if engine == "tff" else contextlib.nullcontext():
        hist = simulate(algorithm, rounds, settings=settings, controller=controller, config=config, progress=progress)
    hist.algorithm = f"fedavg/{engine}"
    return hist


def run_centralized(x_train, y_train, *, x_test=None, y_test=None, epochs=5, batch_size=20, lr=0.02, seed=0,
                    progress=False) -> History:
    """The same model trained centrally by minibatch SGD: the reference line of every plot.

    This is FedAvg with a single client that holds all the data (one round = one epoch), so it
    shares every detail of the federated runs.
    """
    parts = [np.arange(len(np.asarray(y_train)))]
    return run_fedavg(x_train, y_train, parts, x_test=x_test, y_test=y_test, engine="numpy", rounds=epochs,
                      local_epochs=1, batch_size=batch_size, client_lr=lr, seed=seed, progress=progress)


def run_fedavg_grid(x_train, y_train, splits: dict, client_counts, *, x_test, y_test, target=0.85, seed=0,
                    progress=True, **fedavg_kwargs):
    """Run :func:`run_fedavg` over data distributions × numbers of clients.

    ``splits`` maps a name to ``(y, n_clients, seed) -> parts``; ``target`` is the accuracy whose
    first round is reported. Returns ``(table, histories)``: a DataFrame with one row per setup
    (``distribution, clients, final_accuracy, best_accuracy, rounds_to_target, megabytes, seconds``)
    and ``{(distribution, clients): History}``.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    setups = [(name, int(n)) for name in splits for n in client_counts]
    rows, histories = [], {}
    for name, n in tqdm(setups, desc="setups", disable=not progress):
        parts = splits[name](np.asarray(y_train), n, seed)
        h = run_fedavg(x_train, y_train, parts, x_test=x_test, y_test=y_test, seed=seed, **fedavg_kwargs)
        histories[(name, n)] = h
        acc = h.column("accuracy", initial=False)
        rows.append({"distribution": name, "clients": n, "final_accuracy": acc[-1], "best_accuracy": max(acc),
                     "rounds_to_target": h.rounds_to_reach(target),
                     "megabytes": (h.cumulative("bytes_up")[-1] + h.cumulative("bytes_down")[-1]) / 1e6,
                     "seconds": float(np.sum(h.column("seconds")))})
    return pd.DataFrame(rows), histories


# old names, one release
fedavg = deprecated_alias("fedavg", run_fedavg)
centralized = deprecated_alias("centralized", run_centralized)
fedavg_grid = deprecated_alias("fedavg_grid", run_fedavg_grid)
