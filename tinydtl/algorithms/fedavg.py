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
from tinydtl.learners.softmax import KERNELS, SoftmaxModel, evaluate_softmax
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

    ``transforms`` are the per-run transform objects (attacker, compression with its error-feedback
    memory), made fresh by the algorithm's ``init``; with none and the mean aggregator the weighted
    mean is taken directly (the fast path).
    """

    def __init__(self, X, y, W0, b0, *, client_lr, server_lr, server_momentum, proximal_mu,
                 transforms=(), aggregator="mean", trim=0.2, threads=1, kernel="numba"):
        W0 = np.asarray(W0, np.float32)
        self.model = SoftmaxModel(*W0.shape, threads=threads, kernel=kernel)
        self.X, self.y = self.model.prepare(X), np.asarray(y).astype(np.intp)  # [x/255, 1] once per run
        self.params = self.model.flatten(W0, b0)
        self.lr = np.float32(client_lr)
        self.mu = np.float32(proximal_mu)
        self.server = ServerOptimizer(server_lr, server_momentum)
        self.transforms = list(transforms)
        self.aggregator, self.trim = aggregator, trim
        self.last_bytes_up = None

    def run_round(self, plan: RoundPlan):
        K = len(plan.clients)
        start = np.broadcast_to(self.params, (K, self.model.n_params))
        P, n, loss_sum, correct = self.model.local_update(self.X, self.y, start, plan, self.lr, mu=self.mu, anchor=start)
        if not self.transforms and self.aggregator == "mean":
            delta = np.tensordot(n / n.sum(), P - self.params, axes=1)
            sent = np.full(K, payload_bytes(self.model.n_params))
        else:
            updates, sent = apply_transforms(P - self.params, plan.clients, self.transforms)
            trim = self.trim if self.aggregator == "trimmed_mean" else None
            delta = aggregate(updates, n, self.aggregator, trim=trim).astype(np.float32)
        self.last_bytes_up = sent
        self.params = self.server.step(self.params, delta)
        total = float(n.sum())
        return loss_sum / total, correct / total

    def weights(self):
        return self.model.unflatten(self.params)


def fedavg_algorithm(engine_factory, parts, *, seed, n_params: int, x_test=None, y_test=None) -> Algorithm:
    """FedAvg as an :class:`~tinydtl.core.simulation.Algorithm`: ``init`` is ``engine_factory()``
    (a fresh engine, transforms and server state: the algorithm can be simulated again and gives the
    same history), each round plans from the settings and runs ``engine.run_round``; the server's
    download and the clients' uploads are counted by :func:`tinydtl.core.traffic.star_traffic`."""

    def apply(engine, r, settings):
        plan = plan_from_settings(parts, r, settings, seed=seed)
        loss, acc = engine.run_round(plan)
        K = len(plan.clients)
        up = engine.last_bytes_up if engine.last_bytes_up is not None else np.full(K, payload_bytes(n_params))
        traffic = star_traffic(up, payload_bytes(n_params))
        return engine, {**traffic.as_row(), "live_devices": K, "participants": K,
                        "train_loss": loss, "train_accuracy": acc}

    def measure(engine):
        if x_test is None:
            return {}
        loss, acc = evaluate_softmax(*engine.weights(), x_test, y_test)
        return {"accuracy": acc, "loss": loss}

    def final(engine):
        return tuple(np.array(w) for w in engine.weights())

    return Algorithm("fedavg", engine_factory, apply, measure, final, live_devices=len(parts))


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


def engine_factory(engine, X, y, W0, b0, rates, *, make_transforms, aggregator, trim, threads, kernel="numba"):
    """A function making a fresh engine (the algorithm's state) for ``engine``; TensorFlow is
    imported only when the TFF engine is asked for."""
    if engine == "numpy":
        def factory():
            return NumpyEngine(X, y, W0, b0, transforms=make_transforms(), aggregator=aggregator, trim=trim,
                               threads=threads, kernel=kernel, **rates)
    else:
        def factory():
            from tinydtl.algorithms.fedavg_tff import TFFEngine

            return TFFEngine(X, y, W0, b0, **rates)
    return factory


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
               server_momentum: float = 0.0, clients_per_round: int | None = None, proximal_mu: float = 0.0,
               compression: str = "none", error_feedback: bool = False, aggregator: str = "mean", trim: float = 0.2,
               attackers: int = 0, n_classes: int | None = None, local_steps: int | None = None, controller=None,
               threads: int = 1, kernel: str = "numba", seed: int = 0, progress: bool = False) -> History:
    """Train the softmax learner by weighted FedAvg over the clients in ``parts``.

    Parameters
    ----------
    x_train, y_train, parts, x_test, y_test
        Samples (``uint8`` images, scaled by 1/255 inside, or real-valued features), integer labels
        ``0..C-1``, one index array per client (:mod:`tinydtl.data.partition`), held-out data
        evaluated at round 0 and after every round.
    engine : {"numpy", "tff"}
        Same algorithm, two implementations.
    rounds, local_epochs, batch_size, local_steps
        Communication rounds, local epochs per round (E), minibatch size (B); ``local_steps`` a fixed
        number of local steps per round instead of epochs (numpy only).
    client_lr, server_lr, server_momentum
        Client SGD rate η_c; server SGD rate η_s and momentum β ∈ [0, 1) (FedAvgM when β > 0).
    clients_per_round
        Clients sampled (uniformly, without replacement) each round; ``None`` = all.
    proximal_mu
        FedProx proximal strength μ (0 = FedAvg); numpy engine only (TFF 0.87's sign is wrong).
    compression, error_feedback
        Update compression (``"none"``, ``"q8"``/``"q4"``/``"q2"``, ``"top0.1"``;
        :class:`tinydtl.core.compression.Compressor`), optionally with error feedback; numpy only.
    aggregator, trim, attackers
        ``"mean"``, ``"median"`` or ``"trimmed_mean"`` (dropping ``trim`` at each end;
        :func:`tinydtl.core.robust.aggregate`) and the number of malicious clients (chosen by the
        seed) that send large random updates; numpy only.
    n_classes
        Number of classes ``C``; default: the largest label + 1.
    controller
        ``controller(round_done, history, settings) -> settings`` (see :func:`tinydtl.core.simulation.simulate`).
    threads, kernel
        numpy engine: clients trained in this many threads, by the compiled (``"numba"``) or reference (``"numpy"``) update.
    seed
        Seeds the initial weights, client sampling, batch order, attackers and compression.

    Returns
    -------
    History
        Row 0 = the initial model, then one row per round: test ``accuracy``/``loss`` of the global
        model, ``train_loss``/``train_accuracy``, ``bytes_up`` (clients' updates, compressed
        sizes), ``bytes_down`` (the model to each participant), ``messages``, ``participants``,
        ``seconds``; ``weights`` = final ``(W, b)``.
    """
    X = as_features(x_train, "x_train")
    parts = check_parts(parts, len(X))
    seed = check_int_seed("seed", seed)
    check_server_options(engine=engine, rounds=rounds, client_lr=client_lr, server_lr=server_lr,
                         server_momentum=server_momentum, proximal_mu=proximal_mu, aggregator=aggregator, trim=trim,
                         clients_per_round=clients_per_round, n_clients=len(parts), threads=threads, kernel=kernel,
                         numpy_only={"compression": compression != "none", "error_feedback": bool(error_feedback),
                                     "robust aggregators": aggregator != "mean", "attackers": bool(attackers),
                                     "local_steps": local_steps is not None})
    check_bool("error_feedback", error_feedback)
    settings = PlanSettings(local_epochs=local_epochs, batch_size=batch_size, local_steps=local_steps,
                            clients_per_round=clients_per_round)
    make_transforms = transform_factory(len(parts), attackers=attackers, compression=compression,
                                        error_feedback=error_feedback, seed=seed)
    y = check_labels(y_train, "y_train", len(X), n_classes)
    Xt, yt = check_test_set(x_test, y_test, X.shape[1], n_classes)
    C = n_classes_of(y, yt, n_classes=n_classes)
    W0, b0 = initial_weights(X.shape[1], C, seed)
    rates = dict(client_lr=client_lr, server_lr=server_lr, server_momentum=server_momentum, proximal_mu=proximal_mu)
    factory = engine_factory(engine, X, y, W0, b0, rates, make_transforms=make_transforms, aggregator=aggregator,
                             trim=trim, threads=threads, kernel=kernel)
    algorithm = fedavg_algorithm(factory, parts, seed=seed, n_params=W0.size + b0.size, x_test=Xt, y_test=yt)
    algorithm.name = f"FedAvg ({engine})"
    config = dict(engine=engine, rounds=rounds, local_epochs=local_epochs, batch_size=batch_size, n_classes=C,
                  clients_per_round=clients_per_round, compression=compression, error_feedback=error_feedback,
                  aggregator=aggregator, trim=trim, attackers=attackers, local_steps=local_steps, threads=threads,
                  kernel=kernel, seed=seed, n_clients=len(parts), **rates)
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
