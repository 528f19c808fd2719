"""Federated averaging of the survey's MNIST learner, on TensorFlow Federated or on numpy.

The survey's second benchmark trains a dense + softmax classifier on MNIST with TensorFlow
Federated (TFF) and reports ~85 % accuracy "across all setups". The model is
``logits = x W + b`` on flattened pixels scaled to [0, 1] (a Keras ``Dense(10)``; the softmax sits in
the cross-entropy loss, ``from_logits=True``, which is the same model and numerically safer).

Training is weighted FedAvg (McMahan et al. 2017), as ``tff.learning.algorithms.build_weighted_fed_avg``
runs it. In round ``t`` with global weights ``w_t`` and selected clients ``S_t``:

1. each client ``k ∈ S_t`` starts from ``w_t`` and runs ``E`` local epochs of minibatch SGD
   (batch ``B``, rate ``η_c``) on its own data, giving ``w_t^k``; with the FedProx option
   (Li et al. 2020) its loss gains ``(μ/2)·||w - w_t||²``;
2. the server averages the updates weighted by the examples each client processed,
   ``Δ_t = Σ_k n_k (w_t^k - w_t) / Σ_k n_k``;
3. and applies them with a server SGD step on the pseudo-gradient ``-Δ_t``: with momentum ``β``,
   ``v ← β v - Δ_t``, ``w_{t+1} = w_t - η_s v`` (FedAvgM; ``β = 0`` and ``η_s = 1`` is plain FedAvg).

Both engines are one-round functions plugged into the package's single loop,
:func:`tinydtl.core.simulation.simulate`, and return the same :class:`~tinydtl.core.history.History` (row 0 =
the initial model). The model is :class:`tinydtl.learners.softmax.SoftmaxModel`, for any number of features
and classes (labels ``0..C-1``; ``C`` is the largest label + 1 unless ``n_classes`` is given).

``engine="tff"`` runs exactly this with TFF 0.87 (FedProx excepted: TFF 0.87's
``build_weighted_fed_prox`` adds ``μ(w_t - w)`` instead of ``μ(w - w_t)`` to the gradient); ``engine="numpy"`` runs it vectorised across
clients (all clients take their s-th minibatch step in one batched matrix product). Both use the
same initial weights, client sampling, batch order and weighting (:func:`plan_round`), so they
agree to float32 rounding (see ``tests/test_federated.py``).

TFF starts a C++ ``worker_binary`` that outlives Python; every TFF run here is wrapped in
:func:`tinydtl.runtime.processes.no_stray_processes`.
"""

from __future__ import annotations

import contextlib

import numpy as np

from tinydtl.core.aggregation import (
    AGGREGATOR_NAMES,
    ServerOptimizer,
    aggregate_updates,
)
from tinydtl.core.history import History, rounds_to_reach
from tinydtl.core.plans import PlanSettings, RoundPlan, plan_from_settings, plan_round
from tinydtl.core.simulation import Algorithm, simulate
from tinydtl.core.traffic import payload_bytes, star_traffic
from tinydtl.core.transforms import Attackers, Compression, apply_transforms
from tinydtl.core.validation import (
    as_features,
    check_int_seed,
    check_labels,
    check_number,
    check_parts,
    check_test_set,
    n_classes_of,
    scaled,
)
from tinydtl.learners.softmax import SoftmaxModel, evaluate_softmax, preprocess
from tinydtl.runtime.processes import no_stray_processes

__all__ = [
    "N_FEATURES",
    "N_CLASSES",
    "ENGINES",
    "FedHistory",
    "NumpyEngine",
    "RoundPlan",
    "TFFEngine",
    "centralized",
    "evaluate",
    "fedavg",
    "fedavg_algorithm",
    "fedavg_grid",
    "initial_weights",
    "keras_model",
    "local_sgd",
    "plan_round",
    "preprocess",
    "rounds_to_reach",
]

N_FEATURES = 28 * 28  # MNIST defaults of the helpers below; nothing is validated against them
N_CLASSES = 10
FedHistory = History  # the one history type (kept under its old name for the lessons)


# ----------------------------------------------------------------------------- model helpers (MNIST defaults)
def initial_weights(n_features: int = N_FEATURES, n_classes: int = N_CLASSES, seed=0):
    """Glorot-uniform ``W`` (as Keras' ``Dense`` default) and zero ``b``, float32, seeded."""
    model = SoftmaxModel(n_features, n_classes)
    W, b = model.unflatten(model.init(seed))
    return W.copy(), b.copy()


def keras_model(n_features: int = N_FEATURES, n_classes: int = N_CLASSES, weights=None):
    """The survey's learner as a Keras model: ``Dense(n_classes)`` on flat inputs (softmax in the loss)."""
    from tinydtl.runtime.tensorflow_env import import_tensorflow

    tf = import_tensorflow()

    model = tf.keras.Sequential(
        [tf.keras.layers.InputLayer(input_shape=(n_features,)), tf.keras.layers.Dense(n_classes)]
    )
    if weights is not None:
        model.set_weights(list(weights))
    return model


def evaluate(W, b, X, y, chunk: int = 8192):
    """Mean cross-entropy and accuracy of ``softmax(X W + b)`` on ``(X, y)`` (X preprocessed)."""
    return evaluate_softmax(W, b, X, y, chunk)


def local_sgd(X, y, W0, b0, plan: RoundPlan, lr, *, mu=0.0, anchor=None):
    """Minibatch SGD of the softmax learner on every client of ``plan`` (stacks ``W0 (K, F, C)``,
    ``b0 (K, C)``); :meth:`tinydtl.learners.softmax.SoftmaxModel.local_update` on ``(W, b)`` pairs.

    Returns ``(W, b, n_examples, loss_sum, correct)`` in plan order.
    """
    W0 = np.asarray(W0, dtype=np.float32)
    model = SoftmaxModel(W0.shape[1], W0.shape[2])
    K = len(W0)
    start = np.hstack([W0.reshape(K, -1), np.asarray(b0, np.float32)])
    anc = None
    if mu:
        anc = np.hstack([np.asarray(anchor[0], np.float32).reshape(K, -1), np.asarray(anchor[1], np.float32)])
    P, n, loss_sum, correct = model.local_update(X, y, start, plan, lr, mu=mu, anchor=anc)
    W, b = model.unflatten(P)
    return W, b, n, loss_sum, correct


# ----------------------------------------------------------------------------- engines: one round each
class NumpyEngine:
    """One FedAvg round with all clients trained at once as batched matrix products.

    Client updates pass through ``transforms`` (attackers, compression) and ``aggregator`` when any
    is set; otherwise the weighted mean is taken directly (the fast path).
    """

    def __init__(self, X, y, W0, b0, *, client_lr, server_lr, server_momentum, proximal_mu,
                 transforms=(), aggregator="mean", trim=0.2, threads=1):
        W0 = np.asarray(W0, np.float32)
        self.model = SoftmaxModel(*W0.shape, threads=threads)
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
            delta = aggregate_updates(updates, n, self.aggregator, trim=self.trim).astype(np.float32)
        self.last_bytes_up = sent
        self.params = self.server.step(self.params, delta)
        total = float(n.sum())
        return loss_sum / total, correct / total

    def weights(self):
        return self.model.unflatten(self.params)


class TFFEngine:
    """The reference: one round of ``tff.learning.algorithms.build_weighted_fed_avg`` (or ``..._fed_prox``)."""

    def __init__(self, X, y, W0, b0, *, client_lr, server_lr, server_momentum, proximal_mu):
        from tinydtl.runtime.tensorflow_env import import_tensorflow

        tff = import_tensorflow(federated=True)  # start-up lines dropped, real errors kept
        import tensorflow as tf

        self.tf, self.tff = tf, tff
        self.X, self.y = scaled(X), np.asarray(y).astype(np.int32)
        spec = (
            tf.TensorSpec([None, self.X.shape[1]], tf.float32),
            tf.TensorSpec([None], tf.int32),
        )

        def model_fn():
            return tff.learning.models.from_keras_model(
                keras_model(self.X.shape[1], W0.shape[1]),
                input_spec=spec,
                loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
            )

        client_opt = tff.learning.optimizers.build_sgdm(learning_rate=client_lr)
        server_opt = tff.learning.optimizers.build_sgdm(
            learning_rate=server_lr, momentum=server_momentum if server_momentum else None
        )
        if proximal_mu:
            self.process = tff.learning.algorithms.build_weighted_fed_prox(
                model_fn, proximal_strength=proximal_mu, client_optimizer_fn=client_opt, server_optimizer_fn=server_opt
            )
        else:
            self.process = tff.learning.algorithms.build_weighted_fed_avg(
                model_fn, client_optimizer_fn=client_opt, server_optimizer_fn=server_opt
            )
        state = self.process.initialize()
        start = tff.learning.models.ModelWeights(trainable=[W0, b0], non_trainable=[])
        self.state = self.process.set_model_weights(state, start)
        self.last_bytes_up = None

    def _dataset(self, orders, batch_size):
        tf = self.tf
        ds = None
        for order in orders:
            part = tf.data.Dataset.from_tensor_slices((self.X[order], self.y[order])).batch(batch_size)
            ds = part if ds is None else ds.concatenate(part)
        return ds

    def run_round(self, plan: RoundPlan):
        if plan.local_steps is not None:
            raise ValueError("local_steps is simulated on engine='numpy' only (TFF runs whole local epochs)")
        data = [self._dataset(o, plan.batch_size) for o in plan.orders]
        out = self.process.next(self.state, data)
        self.state = out.state
        train = out.metrics["client_work"]["train"]
        return float(train["loss"]), float(train["sparse_categorical_accuracy"])

    def weights(self):
        W, b = self.process.get_model_weights(self.state).trainable
        return np.asarray(W, dtype=np.float32), np.asarray(b, dtype=np.float32)


ENGINES = {"numpy": NumpyEngine, "tff": TFFEngine}


def fedavg_algorithm(engine_factory, parts, *, seed, n_params: int, x_test=None, y_test=None) -> Algorithm:
    """FedAvg as an :class:`~tinydtl.core.simulation.Algorithm`: ``engine_factory()`` builds the engine
    (state), each round plans from the settings and runs ``engine.run_round``; the server's download
    and the clients' uploads are counted by :func:`tinydtl.core.traffic.star_traffic`."""

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


# ----------------------------------------------------------------------------- front end
def fedavg(
    x_train,
    y_train,
    parts,
    *,
    x_test=None,
    y_test=None,
    engine: str = "numpy",
    rounds: int = 5,
    local_epochs: int = 1,
    batch_size: int = 20,
    client_lr: float = 0.02,
    server_lr: float = 1.0,
    server_momentum: float = 0.0,
    clients_per_round: int | None = None,
    proximal_mu: float = 0.0,
    compression: str = "none",
    error_feedback: bool = False,
    aggregator: str = "mean",
    trim: float = 0.2,
    attackers: int = 0,
    n_classes: int | None = None,
    local_steps: int | None = None,
    controller=None,
    threads: int = 1,
    seed: int = 0,
    progress: bool = False,
) -> History:
    """Train the softmax learner by weighted FedAvg over the clients in ``parts``.

    Parameters
    ----------
    x_train, y_train
        Samples (``uint8`` images, flattened and scaled by 1/255 inside, or real-valued features
        such as UCR series) and integer labels ``0..C-1``.
    parts
        One index array per client (see :mod:`tinydtl.data.partition`).
    x_test, y_test
        Held-out data; the global model is evaluated on it at round 0 and after every round.
    engine : {"numpy", "tff"}
        Same algorithm, two implementations.
    rounds, local_epochs, batch_size
        Communication rounds, local epochs per round (E) and minibatch size (B).
    client_lr, server_lr, server_momentum
        Client SGD rate η_c; server SGD rate η_s and momentum β (FedAvgM when β > 0).
    clients_per_round
        Clients sampled (uniformly, without replacement) each round; ``None`` = all.
    proximal_mu
        FedProx proximal strength μ (0 = FedAvg); numpy engine only, because TFF 0.87's FedProx
        applies the proximal gradient with the wrong sign (see the error it raises).
    compression, error_feedback
        Client-update compression (:class:`tinydtl.core.compression.Compressor` spec: ``"none"``,
        ``"q8"``/``"q4"``/``"q2"``, ``"top0.1"``), optionally with error feedback (which needs a
        compression); numpy engine only.
    aggregator, trim, attackers
        Server aggregation (``"mean"``, ``"median"``, ``"trimmed_mean"`` dropping the ``trim``
        fraction at each end; :func:`tinydtl.core.aggregation.aggregate_updates`) and the number of
        malicious clients (chosen by the seed) that send large random updates; numpy only.
    n_classes
        Number of classes ``C``; default: the largest label in ``y_train``/``y_test`` + 1.
    local_steps
        A fixed number of local minibatch steps per round instead of ``local_epochs`` (numpy only).
    controller
        ``controller(round_done, history, settings) -> settings`` to change the next round's
        :class:`~tinydtl.core.plans.PlanSettings` (see :func:`tinydtl.core.simulation.simulate`).
    threads
        numpy engine: train the round's clients in this many parallel threads (same numbers;
        faster on an idle multi-core machine).
    seed
        Seeds the initial weights, client sampling, batch order, attackers and compression.

    Returns
    -------
    History
        Row 0 = the initial model, then one row per round: test ``accuracy``/``loss`` of the global
        model, ``train_loss``/``train_accuracy`` (averaged over the examples the clients processed),
        ``bytes_up`` (clients' updates, compressed sizes), ``bytes_down`` (the model to each
        participant), ``messages``, ``participants``, ``seconds``; ``weights`` = final ``(W, b)``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {sorted(ENGINES)}, got {engine!r}")
    check_number("rounds", rounds, low=1, integer=True)
    check_number("client_lr", client_lr, low=0, low_open=True)
    check_number("server_lr", server_lr, low=0, low_open=True)
    check_number("server_momentum", server_momentum, low=0, high=0.999)
    check_number("proximal_mu", proximal_mu, low=0)
    check_number("trim", trim, low=0, high=0.5)
    if trim >= 0.5:
        raise ValueError(f"trim must be a number in [0, 0.5) (fraction dropped at each end), got {trim!r}")
    seed = check_int_seed("seed", seed)
    check_number("threads", threads, low=1, integer=True)
    settings = PlanSettings(local_epochs=local_epochs, batch_size=batch_size, local_steps=local_steps)
    if engine == "tff" and proximal_mu:
        raise ValueError(
            "proximal_mu > 0 is not available with engine='tff': TFF 0.87's build_weighted_fed_prox adds "
            "mu*(w_t - w) to the client gradient, the opposite sign of FedProx's gradient mu*(w - w_t) of "
            "(mu/2)||w - w_t||^2, so it pushes clients away from the global model (pinned in "
            "tests/test_federated.py). Use engine='numpy' for FedProx."
        )
    if engine == "tff" and (compression != "none" or aggregator != "mean" or attackers or local_steps is not None):
        raise ValueError("compression, robust aggregators, attackers and local_steps are simulated on engine='numpy' only")
    if aggregator not in AGGREGATOR_NAMES:
        raise ValueError(f"aggregator must be one of {sorted(AGGREGATOR_NAMES)}, got {aggregator!r}")
    if error_feedback and compression == "none":
        raise ValueError("error_feedback=True needs a compression ('q8', 'q4', 'q2' or 'top<fraction>'): "
                         "without one nothing is dropped, so there is no error to feed back")
    transforms = []
    check_number("attackers", attackers, low=0, high=len(parts), integer=True)
    if attackers:
        bad = np.random.default_rng([seed, 4242]).choice(len(parts), size=int(attackers), replace=False)
        transforms.append(Attackers(bad, seed=seed))
    if compression != "none":
        transforms.append(Compression(compression, error_feedback=error_feedback, seed=seed))
    X = as_features(x_train, "x_train")
    check_parts(parts, len(X))
    if clients_per_round is not None:
        check_number("clients_per_round", clients_per_round, low=1, high=len(parts), integer=True)
        settings = settings.replace(clients_per_round=clients_per_round)
    if aggregator == "trimmed_mean" and trim > 0:
        from tinydtl.core.robust import trimmed_count

        k = clients_per_round or len(parts)
        if trimmed_count(k, trim) == 0:
            raise ValueError(f"trim={trim} trims nothing with {k} clients per round (floor(trim·{k}) = 0): use "
                             f"trim >= {1 / k:.3g}, more clients, or trim=0 for the plain mean")
    y = check_labels(y_train, "y_train", len(X), n_classes)
    Xt, yt = check_test_set(x_test, y_test, X.shape[1], n_classes)
    C = n_classes_of(y, yt, n_classes=n_classes)

    config = dict(
        engine=engine, rounds=rounds, local_epochs=local_epochs, batch_size=batch_size, client_lr=client_lr,
        server_lr=server_lr, server_momentum=server_momentum, clients_per_round=clients_per_round,
        proximal_mu=proximal_mu, compression=compression, error_feedback=error_feedback, aggregator=aggregator,
        trim=trim, attackers=attackers, n_classes=C, local_steps=local_steps, threads=threads, seed=seed,
        n_clients=len(parts),
    )
    W0, b0 = initial_weights(X.shape[1], C, seed)
    common = dict(client_lr=client_lr, server_lr=server_lr, server_momentum=server_momentum, proximal_mu=proximal_mu)
    if engine == "numpy":
        def factory():
            return NumpyEngine(X, y, W0, b0, transforms=transforms, aggregator=aggregator, trim=trim,
                               threads=threads, **common)
    else:
        def factory():
            return TFFEngine(X, y, W0, b0, **common)
    algorithm = fedavg_algorithm(factory, parts, seed=seed, n_params=W0.size + b0.size, x_test=Xt, y_test=yt)
    algorithm.name = f"FedAvg ({engine})"
    guard = no_stray_processes() if engine == "tff" else contextlib.nullcontext()
    with guard:
        hist = simulate(algorithm, rounds, settings=settings, controller=controller, config=config, progress=progress)
    hist.algorithm = f"fedavg/{engine}"
    return hist


def centralized(x_train, y_train, *, x_test=None, y_test=None, epochs=5, batch_size=20, lr=0.02, seed=0, progress=False):
    """The same model trained centrally by minibatch SGD: the reference line of every plot.

    This is FedAvg with a single client that holds all the data (one round = one epoch), so it
    shares every detail of the federated runs.
    """
    parts = [np.arange(len(np.asarray(y_train)))]
    return fedavg(
        x_train, y_train, parts, x_test=x_test, y_test=y_test, engine="numpy", rounds=epochs,
        local_epochs=1, batch_size=batch_size, client_lr=lr, seed=seed, progress=progress,
    )


def fedavg_grid(x_train, y_train, splits: dict, client_counts, *, x_test, y_test, target=0.85, seed=0,
                progress=True, **fedavg_kwargs):
    """Run :func:`fedavg` over data distributions × numbers of clients.

    Parameters
    ----------
    splits : dict name -> callable ``(y, n_clients, seed) -> parts``
        e.g. ``{"IID": iid, "Dirichlet α=0.1": lambda y, n, seed: dirichlet(y, n, 0.1, seed)}``.
    client_counts : iterable of int
    target : float
        Accuracy whose first round is reported as ``rounds_to_target``.

    Returns
    -------
    table : pandas.DataFrame, one row per setup: ``distribution``, ``clients``, ``final_accuracy``,
        ``best_accuracy``, ``rounds_to_target``, ``megabytes``, ``seconds``
    histories : dict ``(distribution, clients) -> FedHistory``
    """
    import pandas as pd
    from tqdm.auto import tqdm

    setups = [(name, int(n)) for name in splits for n in client_counts]
    rows, histories = [], {}
    for name, n in tqdm(setups, desc="setups", disable=not progress):
        parts = splits[name](np.asarray(y_train), n, seed)
        h = fedavg(x_train, y_train, parts, x_test=x_test, y_test=y_test, seed=seed, **fedavg_kwargs)
        histories[(name, n)] = h
        rows.append(
            {
                "distribution": name,
                "clients": n,
                "final_accuracy": h.test_accuracy[-1],
                "best_accuracy": max(h.test_accuracy),
                "rounds_to_target": rounds_to_reach(h.test_accuracy, target),
                "megabytes": (sum(h.bytes_up) + sum(h.bytes_down)) / 1e6,
                "seconds": sum(h.seconds),
            }
        )
    return pd.DataFrame(rows), histories
