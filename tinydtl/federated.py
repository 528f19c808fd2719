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

``engine="tff"`` runs exactly this with TFF 0.87 (FedProx excepted: TFF 0.87's
``build_weighted_fed_prox`` adds ``μ(w_t - w)`` instead of ``μ(w - w_t)`` to the gradient); ``engine="numpy"`` runs it vectorised across
clients (all clients take their s-th minibatch step in one batched matrix product). Both use the
same initial weights, client sampling, batch order and weighting (:func:`plan_round`), so they
agree to float32 rounding (see ``tests/test_federated.py``).

TFF starts a C++ ``worker_binary`` that outlives Python; every TFF run here is wrapped in
:func:`tinydtl.processes.no_stray_processes`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_number as _check_number
from .processes import no_stray_processes

__all__ = [
    "N_FEATURES",
    "N_CLASSES",
    "FedHistory",
    "RoundPlan",
    "centralized",
    "evaluate",
    "fedavg",
    "fedavg_grid",
    "initial_weights",
    "keras_model",
    "local_sgd",
    "plan_round",
    "preprocess",
    "rounds_to_reach",
]

N_FEATURES = 28 * 28
N_CLASSES = 10
FLOAT32_BYTES = 4


# ----------------------------------------------------------------------------- model pieces
def preprocess(x) -> np.ndarray:
    """Flatten images and scale to [0, 1] float32: ``uint8`` pixels are divided by 255.

    Float input is taken as already scaled (it must be finite and within [0, 1]).
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must hold one image or vector per row (ndim >= 2), got shape {x.shape}")
    flat = x.reshape(len(x), -1)
    if flat.dtype == np.uint8:
        return flat.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(flat.dtype, np.floating) and not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"x must be uint8 pixels or floats in [0, 1], got dtype {flat.dtype}")
    flat = flat.astype(np.float32)
    if not np.isfinite(flat).all() or flat.min(initial=0) < 0 or flat.max(initial=0) > 1:
        raise ValueError("float x must be finite and scaled to [0, 1] (pass uint8 pixels to have them scaled)")
    return flat


def _flat_pixels(x):
    """Flattened uint8 pixels (no copy) if ``x`` is uint8, else the float32 ``preprocess(x)``."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x.reshape(len(x), -1))
    return preprocess(x)


def initial_weights(n_features: int = N_FEATURES, n_classes: int = N_CLASSES, seed=0):
    """Glorot-uniform ``W`` (as Keras' ``Dense`` default) and zero ``b``, float32, seeded."""
    limit = np.sqrt(6.0 / (n_features + n_classes))
    rng = np.random.default_rng([seed, 7919])
    W = rng.uniform(-limit, limit, size=(n_features, n_classes)).astype(np.float32)
    return W, np.zeros(n_classes, dtype=np.float32)


def keras_model(n_features: int = N_FEATURES, n_classes: int = N_CLASSES, weights=None):
    """The survey's learner as a Keras model: ``Dense(n_classes)`` on flat inputs (softmax in the loss)."""
    import tensorflow as tf

    model = tf.keras.Sequential(
        [tf.keras.layers.InputLayer(input_shape=(n_features,)), tf.keras.layers.Dense(n_classes)]
    )
    if weights is not None:
        model.set_weights(list(weights))
    return model


def evaluate(W, b, X, y, chunk: int = 8192):
    """Mean cross-entropy and accuracy of ``softmax(X W + b)`` on ``(X, y)`` (X preprocessed)."""
    loss, correct = 0.0, 0
    for s in range(0, len(X), chunk):
        logits = X[s : s + chunk] @ W + b
        yy = y[s : s + chunk]
        m = logits.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
        loss += float((lse - logits[np.arange(len(yy)), yy]).sum())
        correct += int((logits.argmax(axis=1) == yy).sum())
    return loss / len(X), correct / len(X)


# ----------------------------------------------------------------------------- the round plan
@dataclass(frozen=True)
class RoundPlan:
    """Who trains in a round, and in which order each client visits its samples.

    ``orders[i]`` holds one permutation of client ``clients[i]``'s indices per local epoch; each
    epoch is cut into minibatches of ``batch_size`` (the last one may be smaller).
    """

    round: int
    clients: np.ndarray
    orders: tuple
    batch_size: int

    def batches(self, i: int) -> list[np.ndarray]:
        B = self.batch_size
        return [order[s : s + B] for order in self.orders[i] for s in range(0, len(order), B)]

    def n_examples(self, i: int) -> int:
        return int(sum(len(o) for o in self.orders[i]))


def plan_round(parts, round_index: int, *, seed, local_epochs: int, batch_size: int, clients_per_round=None) -> RoundPlan:
    """Sample the round's clients and their batch orders (shared by both engines)."""
    n = len(parts)
    if clients_per_round is None or clients_per_round >= n:
        clients = np.arange(n)
    else:
        rng = np.random.default_rng([seed, round_index, 0])
        clients = np.sort(rng.choice(n, size=clients_per_round, replace=False))
    orders = []
    for k in clients:
        rng = np.random.default_rng([seed, round_index, 1, int(k)])
        idx = np.asarray(parts[k])
        orders.append(tuple(idx[rng.permutation(len(idx))] for _ in range(local_epochs)))
    return RoundPlan(round_index, clients, tuple(orders), batch_size)


# ----------------------------------------------------------------------------- history
@dataclass
class FedHistory:
    """Per-round record of a federated run; every list has one entry per round."""

    engine: str
    config: dict
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    bytes_up: list[int] = field(default_factory=list)
    bytes_down: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    clients: list[int] = field(default_factory=list)
    weights: tuple | None = None

    @property
    def rounds(self) -> int:
        return len(self.seconds)

    def to_frame(self):
        import pandas as pd

        cols = ["train_loss", "train_accuracy", "test_loss", "test_accuracy", "bytes_up", "bytes_down", "seconds", "clients"]
        df = pd.DataFrame({c: getattr(self, c) for c in cols})
        df.index = pd.RangeIndex(1, len(df) + 1, name="round")
        return df


def local_sgd(X, y, W0, b0, plan: RoundPlan, lr, *, mu=0.0, anchor=None):
    """Minibatch SGD of the softmax learner on every client of ``plan``, all clients at once.

    Client ``plan.clients[i]`` starts from ``W0[i], b0[i]`` (stacks ``(K, F, C)`` and ``(K, C)``) and
    follows its batches in ``plan``; with ``mu > 0`` its gradient gains ``mu (w - anchor_i)`` (FedProx).
    Shared by FedAvg (every client starts from the global model) and decentralised training (each
    device from its own). ``X`` is uint8 pixels (scaled per batch) or float32.

    Returns ``(W, b, n_examples, loss_sum, correct)`` with ``W, b`` in plan order.
    """
    K, B = len(plan.clients), plan.batch_size
    F, C = W0.shape[1:]
    lr = np.float32(lr)
    mu = np.float32(mu)
    batches = [plan.batches(i) for i in range(K)]
    # Clients with more steps first: at step s the clients still training are a prefix
    # [:active[s]], so skewed partitions cost no work for clients that are done.
    steps = np.array([len(bs) for bs in batches])
    by_steps = np.argsort(-steps, kind="stable")
    batches = [batches[i] for i in by_steps]
    S = int(steps.max())
    active = (steps[None, :] > np.arange(S)[:, None]).sum(axis=1)
    idx = np.zeros((S, K, B), dtype=np.intp)
    mask = np.zeros((S, K, B), dtype=np.float32)
    for i, bs in enumerate(batches):
        for s, batch in enumerate(bs):
            idx[s, i, : len(batch)] = batch
            mask[s, i, : len(batch)] = 1.0
    # per-step normaliser: 1/(samples in the client's batch), 0 where the client is done
    cnt = mask.sum(axis=2)
    scale = (mask / np.maximum(cnt, 1.0)[..., None])[..., None]  # (S, K, B, 1)
    W = np.asarray(W0, dtype=np.float32)[by_steps]  # fancy indexing: private copies
    b = np.asarray(b0, dtype=np.float32)[by_steps]
    if mu:
        aW = np.asarray(anchor[0], dtype=np.float32)[by_steps]
        ab = np.asarray(anchor[1], dtype=np.float32)[by_steps]
    # buffers reused every step: fresh large arrays each step would cost page faults
    xs = np.empty((K, B, F), dtype=np.float32)
    logits = np.empty((K, B, C), dtype=np.float32)
    gW = np.empty((K, F, C), dtype=np.float32)
    raw = np.empty((K * B, F), dtype=X.dtype)
    pixels = X.dtype == np.uint8
    rows = np.arange(K)[:, None]
    cols = np.arange(B)[None, :]
    loss_sum = correct = 0.0
    for s in range(S):
        k = int(active[s])
        m = mask[s, :k]
        x_k, l_k, g_k, W_k, b_k = xs[:k], logits[:k], gW[:k], W[:k], b[:k]
        r_k = rows[:k]
        np.take(X, idx[s, :k].reshape(-1), axis=0, out=raw[: k * B])
        if pixels:
            np.divide(raw[: k * B].reshape(k, B, F), np.float32(255.0), out=x_k)
        else:
            x_k[...] = raw[: k * B].reshape(k, B, F)
        ys = y[idx[s, :k]]
        np.matmul(x_k, W_k, out=l_k)
        l_k += b_k[:, None, :]
        l_k -= l_k.max(axis=2, keepdims=True)
        true_logit = l_k[r_k, cols, ys]
        correct += float(((l_k.argmax(axis=2) == ys) * m).sum())
        np.exp(l_k, out=l_k)
        z = l_k.sum(axis=2, keepdims=True)
        loss_sum += float(((np.log(z[..., 0]) - true_logit) * m).sum())
        l_k /= z  # softmax probabilities
        l_k[r_k, cols, ys] -= 1.0  # d loss / d logits
        l_k *= scale[s, :k]
        np.matmul(x_k.transpose(0, 2, 1), l_k, out=g_k)
        gb = l_k.sum(axis=1)
        if mu:
            g_k += mu * (W_k - aW[:k])
            gb += mu * (b_k - ab[:k])
        g_k *= lr
        W_k -= g_k
        b_k -= lr * gb
    n = mask.sum(axis=(0, 2))
    order = np.empty_like(by_steps)
    order[by_steps] = np.arange(K)  # back to plan order
    return W[order], b[order], n[order], loss_sum, correct


# ----------------------------------------------------------------------------- engines
class _NumpyEngine:
    """FedAvg with all clients of a round trained at once as batched matrix products."""

    def __init__(self, X, y, W0, b0, *, client_lr, server_lr, server_momentum, proximal_mu,
                 compressor=None, aggregator="mean", attackers=(), seed=0):
        # X may be raw uint8 pixels (scaled per batch: 4x less memory traffic than float32,
        # and bit-identical to preprocess()) or already-scaled float32.
        self.X, self.y = X, y.astype(np.intp)
        self.W, self.b = W0.copy(), b0.copy()
        self.lr = np.float32(client_lr)
        self.server_lr = np.float32(server_lr)
        self.beta = np.float32(server_momentum)
        self.mu = np.float32(proximal_mu)
        self.vW = np.zeros_like(self.W)
        self.vb = np.zeros_like(self.b)
        self.compressor = compressor
        self.aggregator = aggregator
        self.attackers = set(int(a) for a in attackers)
        self.rng = np.random.default_rng([seed, 31337])
        self.last_bytes_up = None

    def _robust_delta(self, plan, W, b, n):
        """Client updates through compression, attackers and a robust aggregator (the lesson-01 path)."""
        from .robust import aggregate

        F, C = self.W.shape
        deltas = np.hstack([(W - self.W).reshape(len(W), -1), b - self.b])
        sent = np.empty_like(deltas)
        total_bytes = 0
        for i, client in enumerate(plan.clients):
            d = deltas[i]
            if int(client) in self.attackers:  # a malicious device: large random garbage
                d = self.rng.normal(0.0, 10.0, size=d.shape).astype(np.float32)
            if self.compressor is not None:
                d, nbytes = self.compressor(d, int(client))
            else:
                nbytes = d.size * FLOAT32_BYTES
            sent[i] = d
            total_bytes += int(nbytes)
        self.last_bytes_up = total_bytes
        mean = aggregate(sent, n, self.aggregator).astype(np.float32)
        return mean[: F * C].reshape(F, C), mean[F * C :]

    def run_round(self, plan: RoundPlan):
        K = len(plan.clients)
        start_W = np.broadcast_to(self.W, (K,) + self.W.shape)
        start_b = np.broadcast_to(self.b, (K,) + self.b.shape)
        W, b, n, loss_sum, correct = local_sgd(
            self.X, self.y, start_W, start_b, plan, self.lr, mu=self.mu, anchor=(start_W, start_b)
        )
        if self.compressor is None and self.aggregator == "mean" and not self.attackers:
            weights = n / n.sum()
            dW = np.tensordot(weights, W - self.W, axes=1)
            db = weights @ (b - self.b)
        else:
            dW, db = self._robust_delta(plan, W, b, n)
        if self.beta:
            self.vW = self.beta * self.vW - dW
            self.vb = self.beta * self.vb - db
            self.W = self.W - self.server_lr * self.vW
            self.b = self.b - self.server_lr * self.vb
        else:
            self.W = self.W + self.server_lr * dW
            self.b = self.b + self.server_lr * db
        total = float(n.sum())
        return loss_sum / total, correct / total

    def weights(self):
        return self.W, self.b


class _TFFEngine:
    """The reference: ``tff.learning.algorithms.build_weighted_fed_avg`` (or ``..._fed_prox``)."""

    def __init__(self, X, y, W0, b0, *, client_lr, server_lr, server_momentum, proximal_mu):
        import tensorflow as tf
        import tensorflow_federated as tff

        self.tf, self.tff = tf, tff
        self.X, self.y = X, y.astype(np.int32)
        spec = (
            tf.TensorSpec([None, X.shape[1]], tf.float32),
            tf.TensorSpec([None], tf.int32),
        )

        def model_fn():
            return tff.learning.models.from_keras_model(
                keras_model(X.shape[1], W0.shape[1]),
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

    def _dataset(self, orders, batch_size):
        tf = self.tf
        ds = None
        for order in orders:
            part = tf.data.Dataset.from_tensor_slices((self.X[order], self.y[order])).batch(batch_size)
            ds = part if ds is None else ds.concatenate(part)
        return ds

    def run_round(self, plan: RoundPlan):
        data = [self._dataset(o, plan.batch_size) for o in plan.orders]
        out = self.process.next(self.state, data)
        self.state = out.state
        train = out.metrics["client_work"]["train"]
        return float(train["loss"]), float(train["sparse_categorical_accuracy"])

    def weights(self):
        W, b = self.process.get_model_weights(self.state).trainable
        return np.asarray(W, dtype=np.float32), np.asarray(b, dtype=np.float32)


ENGINES = {"numpy": _NumpyEngine, "tff": _TFFEngine}


# ----------------------------------------------------------------------------- front end
def _check_parts(parts, n_samples):
    if len(parts) < 1:
        raise ValueError("parts must hold at least one client's indices")
    for k, idx in enumerate(parts):
        idx = np.asarray(idx)
        if idx.ndim != 1 or idx.size == 0:
            raise ValueError(f"client {k} has no samples (parts[{k}] is empty)")
        if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n_samples:
            raise ValueError(f"parts[{k}] must hold integer indices in [0, {n_samples - 1}]")


def _check_labels(y, name, n):
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the images, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError(f"{name} must hold integer labels in [0, {N_CLASSES - 1}]")
    return y


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
    attackers: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> FedHistory:
    """Train the softmax learner by weighted FedAvg over the clients in ``parts``.

    Parameters
    ----------
    x_train, y_train
        Images (``uint8``, as :func:`tinydtl.datasets.load_mnist` returns them; flattened and scaled
        inside) and labels 0..9.
    parts
        One index array per client (see :mod:`tinydtl.partition`).
    x_test, y_test
        Held-out data; the global model is evaluated on it after every round.
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
        Client-update compression (:class:`tinydtl.compression.Compressor` spec: ``"none"``,
        ``"q8"``/``"q4"``/``"q2"``, ``"top0.1"``), optionally with error feedback; numpy engine only.
    aggregator, attackers
        Server aggregation (``"mean"``, ``"median"``, ``"trimmed_mean"``; :mod:`tinydtl.robust`) and
        the number of malicious clients (chosen by the seed) that send large random updates; numpy only.
    seed
        Seeds the initial weights, client sampling and batch order.

    Returns
    -------
    FedHistory
        Per-round train loss/accuracy (averaged over the examples the clients processed),
        test loss/accuracy of the global model, bytes sent up and down (float32 weights), wall
        time, and the final weights ``(W, b)``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {sorted(ENGINES)}, got {engine!r}")
    _check_number("rounds", rounds, low=1, integer=True)
    _check_number("local_epochs", local_epochs, low=1, integer=True)
    _check_number("batch_size", batch_size, low=1, integer=True)
    _check_number("client_lr", client_lr, low=0, low_open=True)
    _check_number("server_lr", server_lr, low=0, low_open=True)
    _check_number("server_momentum", server_momentum, low=0, high=0.999)
    _check_number("proximal_mu", proximal_mu, low=0)
    if engine == "tff" and proximal_mu:
        raise ValueError(
            "proximal_mu > 0 is not available with engine='tff': TFF 0.87's build_weighted_fed_prox adds "
            "mu*(w_t - w) to the client gradient, the opposite sign of FedProx's gradient mu*(w - w_t) of "
            "(mu/2)||w - w_t||^2, so it pushes clients away from the global model (pinned in "
            "tests/test_federated.py). Use engine='numpy' for FedProx."
        )
    if engine == "tff" and (compression != "none" or aggregator != "mean" or attackers):
        raise ValueError("compression, robust aggregators and attackers are simulated on engine='numpy' only")
    from .compression import Compressor
    from .robust import AGGREGATORS

    compressor = None if compression == "none" else Compressor(compression, error_feedback=error_feedback, seed=seed)
    if aggregator not in AGGREGATORS:
        raise ValueError(f"aggregator must be one of {sorted(AGGREGATORS)}, got {aggregator!r}")
    _check_number("attackers", attackers, low=0, high=len(parts), integer=True)
    X = _flat_pixels(x_train)  # uint8 stays uint8 (scaled per batch); floats are checked
    y = _check_labels(y_train, "y_train", len(X))
    _check_parts(parts, len(X))
    if clients_per_round is not None:
        _check_number("clients_per_round", clients_per_round, low=1, high=len(parts), integer=True)
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    Xt = yt = None
    if x_test is not None:
        Xt = preprocess(x_test)
        yt = _check_labels(y_test, "y_test", len(Xt))
        if Xt.shape[1] != X.shape[1]:
            raise ValueError(f"x_test has {Xt.shape[1]} features per sample, x_train has {X.shape[1]}")

    config = dict(
        engine=engine, rounds=rounds, local_epochs=local_epochs, batch_size=batch_size, client_lr=client_lr,
        server_lr=server_lr, server_momentum=server_momentum, clients_per_round=clients_per_round,
        proximal_mu=proximal_mu, compression=compression, error_feedback=error_feedback, aggregator=aggregator,
        attackers=attackers, seed=seed, n_clients=len(parts),
    )
    hist = FedHistory(engine=engine, config=config)
    W0, b0 = initial_weights(X.shape[1], N_CLASSES, seed)
    n_params = W0.size + b0.size
    guard = no_stray_processes() if engine == "tff" else contextlib.nullcontext()
    with guard:
        extra = {}
        if engine == "numpy":
            bad = np.random.default_rng([seed, 4242]).choice(len(parts), size=int(attackers), replace=False)
            extra = dict(compressor=compressor, aggregator=aggregator, attackers=bad, seed=seed)
        runner = ENGINES[engine](
            X if engine == "numpy" else preprocess(X), y, W0, b0, client_lr=client_lr, server_lr=server_lr,
            server_momentum=server_momentum, proximal_mu=proximal_mu, **extra,
        )
        from tqdm.auto import trange

        for r in trange(rounds, desc=f"FedAvg ({engine})", disable=not progress, leave=False):
            plan = plan_round(
                parts, r, seed=seed, local_epochs=local_epochs, batch_size=batch_size,
                clients_per_round=clients_per_round,
            )
            t0 = time.perf_counter()
            loss, acc = runner.run_round(plan)
            hist.seconds.append(time.perf_counter() - t0)
            hist.train_loss.append(loss)
            hist.train_accuracy.append(acc)
            hist.clients.append(len(plan.clients))
            sent = getattr(runner, "last_bytes_up", None)
            hist.bytes_up.append(sent if sent is not None else len(plan.clients) * n_params * FLOAT32_BYTES)
            hist.bytes_down.append(len(plan.clients) * n_params * FLOAT32_BYTES)
            W, b = runner.weights()
            if Xt is not None:
                tl, ta = evaluate(W, b, Xt, yt)
                hist.test_loss.append(tl)
                hist.test_accuracy.append(ta)
        hist.weights = tuple(np.array(w) for w in runner.weights())
        del runner
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


def rounds_to_reach(accuracy, target: float):
    """First round (1-based) at which ``accuracy`` reaches ``target``; ``None`` if it never does."""
    acc = np.asarray(accuracy)
    hit = np.flatnonzero(acc >= target)
    return int(hit[0]) + 1 if hit.size else None


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
