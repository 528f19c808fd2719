"""Globe2Train's cloud side (G2T-C): one K-class problem as K(K−1)/2 binary problems on many devices.

Globe2Train (Sudharsan, Breslin & Ali, "Globe2Train: A Framework for Distributed ML Model Training
using IoT Devices Across the Globe", IEEE SmartWorld 2021) trains one classifier on idle IoT devices.
Its cloud component G2T-C *decomposes* a K-class problem into the one-vs-one binary problems

    P = {(i, j) : 0 <= i < j < K},   |P| = K(K−1)/2,                                   (decomposition)

hands them to devices, and assembles the returned binary classifiers into one K-class model that
predicts by one-vs-one voting. This module holds the pieces:

* :func:`class_pairs` — the problems, in scikit-learn's order (``i`` outer, ``j`` inner);
* :func:`ovo_decision` — the vote: class ``i`` of pair ``(i, j)`` gets a vote when the binary
  classifier predicts 0, class ``j`` when it predicts 1; the binary confidences ``c`` are summed,
  ``s_i -= c``, ``s_j += c``, squashed by ``s / (3(|s| + 1))`` into (−1/3, 1/3) and added to the
  votes, so a confidence sum only breaks ties and never overturns a one-vote difference. This is
  exactly scikit-learn's ``_ovr_decision_function`` (``sklearn/utils/multiclass.py``), rewritten
  here because that name is private; the tests check the two agree bit for bit;
* :class:`MomentumLogisticRegression` — a binary learner that fits on a microcontroller: logistic
  regression by minibatch SGD with (heavy-ball) momentum in float32, ``v ← μ v + ∇L``, ``w ← w − η v``,
  as on-MCU one-vs-one implementations train (weights, gradient and one momentum buffer: 3(d+1)
  floats);
* :func:`device_capacity` and :func:`assign_problems` — how many trained binary classifiers a board
  can hold (from :func:`tinydtl.devices.mcu.profile`) and a capacity-aware, speed-aware assignment of
  problems to the devices online in a round;
* :class:`DistributedOneVsOne` — the scikit-learn classifier that runs all of it, with the device
  side (G2T-D, :mod:`tinydtl.papers.globe2train.g2t`) and the network (:mod:`tinydtl.networks.netsim`) simulated.

With a deterministic base estimator the assembled model predicts exactly what
``sklearn.multiclass.OneVsOneClassifier`` predicts (same binary problems, same labels 0/1, same
vote), whatever the devices and the network did: a dropped device's unfinished or unsent problems
are reassigned, never lost.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    clone,
    is_classifier,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from tinydtl.core.traffic import FLOAT32_BYTES
from tinydtl.core.validation import check_int, check_number

__all__ = [
    "Device",
    "DistributedOneVsOne",
    "MomentumLogisticRegression",
    "assign_problems",
    "binary_confidence",
    "class_pairs",
    "device_capacity",
    "make_devices",
    "n_problems",
    "ovo_decision",
    "problem_costs",
]

# ----------------------------------------------------------------------------- decomposition
def n_problems(n_classes: int) -> int:
    """K(K−1)/2, the number of one-vs-one binary problems of a K-class problem."""
    check_int("n_classes", n_classes, 2)
    return n_classes * (n_classes - 1) // 2


def class_pairs(n_classes: int) -> np.ndarray:
    """The binary problems ``(i, j)``, ``i < j``, as an array ``(K(K−1)/2, 2)`` in scikit-learn's order."""
    check_int("n_classes", n_classes, 2)
    i, j = np.triu_indices(n_classes, k=1)
    return np.column_stack([i, j])


def ovo_decision(predictions, confidences, n_classes: int) -> np.ndarray:
    """One-vs-one votes plus squashed confidence sums, scikit-learn's tie rule.

    Parameters
    ----------
    predictions : array (n_samples, n_problems) of 0/1
        Binary predictions, 0 for the pair's first class ``i``, 1 for its second ``j``.
    confidences : array (n_samples, n_problems)
        Decision values (or positive-class probabilities) of the binary classifiers.
    n_classes : int
        K; ``n_problems`` must be K(K−1)/2 in :func:`class_pairs` order.

    Returns ``votes + s / (3 (|s| + 1))`` of shape (n_samples, K); ``argmax`` is the prediction
    (first index on exact ties, as ``numpy.argmax``).
    """
    predictions = np.asarray(predictions)
    confidences = np.asarray(confidences, dtype=float)
    pairs = class_pairs(n_classes)
    if predictions.ndim != 2 or predictions.shape != confidences.shape or predictions.shape[1] != len(pairs):
        raise ValueError(
            f"predictions and confidences must both have shape (n_samples, {len(pairs)}) for n_classes={n_classes}, "
            f"got {predictions.shape} and {confidences.shape}"
        )
    n = predictions.shape[0]
    votes = np.zeros((n, n_classes))
    sums = np.zeros((n, n_classes))
    # the same accumulation order as scikit-learn, so the floating-point sums are identical
    for k, (i, j) in enumerate(pairs):
        sums[:, i] -= confidences[:, k]
        sums[:, j] += confidences[:, k]
        votes[predictions[:, k] == 0, i] += 1
        votes[predictions[:, k] == 1, j] += 1
    return votes + sums / (3 * (np.abs(sums) + 1))


def binary_confidence(estimator, X) -> np.ndarray:
    """The binary classifier's confidence for class 1: ``decision_function``, else ``predict_proba[:, 1]``."""
    try:
        return np.ravel(estimator.decision_function(X))
    except (AttributeError, NotImplementedError):
        return estimator.predict_proba(X)[:, 1]


# ----------------------------------------------------------------------------- the MCU learner
class MomentumLogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression trained by minibatch SGD with momentum, in float32, as on an MCU.

    Per minibatch ``B`` the gradient of the mean log-loss plus ``alpha/2 ||w||²`` is
    ``g = Xᵀ(σ(Xw + b) − y)/|B| + alpha w`` (bias: no penalty); heavy-ball momentum keeps one buffer,
    ``v ← momentum · v + g``, ``w ← w − learning_rate · v``. Weights start at zero, so a feature that is
    zero in every training sample keeps a weight of exactly zero (what G2T-D's encode step exploits).

    Parameters
    ----------
    learning_rate : float > 0
    momentum : float in [0, 1)
    epochs : int >= 1
    batch_size : int >= 1
    alpha : float >= 0
        L2 penalty.
    random_state : int
        Seed of the per-epoch shuffles (same seed, same weights).
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, epochs=10, batch_size=32, alpha=1e-4, random_state=0):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.epochs = epochs
        self.batch_size = batch_size
        self.alpha = alpha
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _check_params(self):
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("momentum", self.momentum, low=0, high=1)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_number("alpha", self.alpha, low=0)
        check_int("random_state", self.random_state, 0)

    def fit(self, X, y):
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:
            raise ValueError(f"y holds 1 class ({self.classes_[0]!r}); MomentumLogisticRegression needs exactly 2")
        if len(self.classes_) != 2:
            raise ValueError(
                f"Only binary classification is supported. MomentumLogisticRegression needs y with exactly 2 "
                f"classes, got {len(self.classes_)} (wrap it in DistributedOneVsOne or OneVsOneClassifier for more)"
            )
        X = X.astype(np.float32)
        t = (y == self.classes_[1]).astype(np.float32)
        n, d = X.shape
        w = np.zeros(d, dtype=np.float32)
        b = np.float32(0.0)
        vw = np.zeros(d, dtype=np.float32)
        vb = np.float32(0.0)
        lr, mom, alpha = np.float32(self.learning_rate), np.float32(self.momentum), np.float32(self.alpha)
        rng = np.random.default_rng(self.random_state)
        B = self.batch_size
        for _ in range(self.epochs):
            order = rng.permutation(n)
            for s in range(0, n, B):
                idx = order[s : s + B]
                xb = X[idx]
                z = xb @ w + b
                p = np.float32(1.0) / (np.float32(1.0) + np.exp(-np.clip(z, -30, 30)))
                err = (p - t[idx]) / np.float32(len(idx))
                gw = xb.T @ err + alpha * w
                gb = err.sum(dtype=np.float32)
                vw = mom * vw + gw
                vb = mom * vb + gb
                w = w - lr * vw
                b = np.float32(b - lr * vb)
        self.coef_ = w[None, :]
        self.intercept_ = np.array([b], dtype=np.float32)
        self.n_iter_ = self.epochs
        return self

    def decision_function(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._scores(X)

    def _scores(self, X):
        """``X w + b`` in float32 (as on the device), returned as float64; ``X`` already validated."""
        return (X.astype(np.float32, copy=False) @ self.coef_[0] + self.intercept_[0]).astype(np.float64)

    def predict_proba(self, X):
        z = self.decision_function(X)
        p1 = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
        return np.column_stack([1 - p1, p1])

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


# ----------------------------------------------------------------------------- devices and capacity
@dataclass(frozen=True)
class Device:
    """A device that can train binary problems.

    ``capacity``: trained binary classifiers it can hold at once (its accumulation buffer, see
    :func:`device_capacity`); ``flops``: floating-point operations per second it sustains;
    ``availability``: the fraction of its time it lends to training (idle time), in (0, 1];
    ``quality``: its network quality in (0, 1] (1 = good; see :mod:`tinydtl.networks.netsim`).
    """

    name: str
    board: str
    capacity: int
    flops: float
    availability: float = 1.0
    quality: float = 1.0

    @property
    def speed(self) -> float:
        """Effective floating-point operations per second lent to training."""
        return self.flops * self.availability


def device_capacity(board, n_features: int, *, batch_size: int = 32, usable_sram_fraction: float = 0.5,
                    weights_per_problem: int | None = None) -> int:
    """How many trained binary linear classifiers ``board`` can hold while training the next one.

    Training needs the :func:`tinydtl.devices.mcu.profile` of a ``n_features → 1`` dense layer with the
    momentum optimizer and ``batch_size`` samples (weights, gradients, one momentum buffer, the
    activations and the input batch, float32); every finished classifier waiting in the
    accumulation buffer needs ``(n_features + 1) × 4`` bytes. With ``S`` = usable SRAM
    (``usable_sram_fraction`` of the board's; the rest is stack, RTOS and radio), the capacity is
    ``floor((S − training) / ((n_features + 1) × 4))``, 0 when training alone does not fit.
    """
    from tinydtl.core.traffic import payload_bytes
    from tinydtl.devices.mcu import fits, mlp_layers, profile

    check_int("n_features", n_features, 1)
    check_int("batch_size", batch_size, 1)
    check_number("usable_sram_fraction", usable_sram_fraction, low=0, high=1, low_open=True)
    prof = profile(mlp_layers([n_features, 1]), optimizer="momentum", batch_size=batch_size, comm_buffers=0,
                   name="binary logistic regression")
    fit = fits(prof, board, usable_sram_fraction=usable_sram_fraction)
    per = payload_bytes(weights_per_problem if weights_per_problem is not None else n_features + 1)
    free = fit.sram_available - fit.sram_needed
    return max(0, free // per) if fit.flash_headroom >= 0 else 0


def make_devices(boards, n_features: int, *, qualities=None, availability=None, flops_per_cycle: float = 0.25,
                 batch_size: int = 32, usable_sram_fraction: float = 0.5, max_capacity: int | None = None,
                 seed: int = 0) -> list[Device]:
    """Devices from a list of :class:`tinydtl.devices.mcu.Board` (or board names, read by :func:`tinydtl.devices.mcu.load_boards`).

    Speed: ``clock_hz × flops_per_cycle`` (0.25: a float multiply-add every ~8 cycles with loads and
    stores, a rough figure for a Cortex-M4F running plain C loops; a modelling assumption, the same
    for every algorithm compared). ``qualities`` and ``availability`` default to 1; ``max_capacity``
    caps what a device accepts per round. Raises ValueError naming a device that cannot hold even
    one binary classifier.
    """
    from tinydtl.devices.mcu import load_boards

    boards = list(boards)
    if not boards:
        raise ValueError("boards must list at least one board")
    known = None
    resolved = []
    for b in boards:
        if isinstance(b, str):
            known = known or load_boards()
            if b not in known:
                raise ValueError(f"unknown board {b!r}; known: {sorted(known)}")
            b = known[b]
        resolved.append(b)
    n = len(resolved)
    qualities = np.ones(n) if qualities is None else np.asarray(qualities, dtype=float)
    availability = np.ones(n) if availability is None else np.asarray(availability, dtype=float)
    if qualities.shape != (n,) or availability.shape != (n,):
        raise ValueError(f"qualities and availability must have one entry per board ({n}), "
                         f"got shapes {qualities.shape} and {availability.shape}")
    check_number("flops_per_cycle", flops_per_cycle, low=0, low_open=True)
    devices = []
    for k, (board, q, a) in enumerate(zip(resolved, qualities, availability)):
        check_number(f"qualities[{k}]", float(q), low=0, high=1, low_open=True)
        check_number(f"availability[{k}]", float(a), low=0, high=1, low_open=True)
        cap = device_capacity(board, n_features, batch_size=batch_size, usable_sram_fraction=usable_sram_fraction)
        if max_capacity is not None:
            cap = min(cap, max_capacity)
        speed = board.clock_hz * flops_per_cycle
        devices.append(Device(f"device {k}", board.name, int(cap), speed, float(a), float(q)))
    check_devices(devices)
    return devices


def check_devices(devices) -> None:
    """Every device must be able to hold at least one binary classifier and compute at a positive speed."""
    if not devices:
        raise ValueError("devices must list at least one Device")
    for d in devices:
        if not isinstance(d, Device):
            raise TypeError(f"devices must be tinydtl.papers.globe2train.ovo.Device objects, got {type(d).__name__}")
        if d.capacity < 1:
            raise ValueError(
                f"{d.name} ({d.board}) has no capacity: it cannot hold a single binary classifier "
                "while training (capacity must be >= 1; pick a larger board or fewer features)"
            )
        check_number(f"{d.name}: flops", d.flops, low=0, low_open=True)
        check_number(f"{d.name}: availability", d.availability, low=0, high=1, low_open=True)
        check_number(f"{d.name}: quality", d.quality, low=0, high=1, low_open=True)


def problem_costs(y_codes, pairs, n_features: int, epochs: int) -> np.ndarray:
    """Floating-point operations to train each binary problem: ``epochs × n_ij × (d + 1) × 6``.

    ``n_ij`` is the number of samples of classes ``i`` and ``j``; per sample and weight SGD with
    momentum does a multiply-add forward, one backward and one momentum update (≈ 6 flops).
    """
    counts = np.bincount(np.asarray(y_codes), minlength=int(np.max(pairs)) + 1)
    n_ij = counts[pairs[:, 0]] + counts[pairs[:, 1]]
    return epochs * n_ij.astype(float) * (n_features + 1) * 6.0


def assign_problems(pending, costs, devices, online=None, *, data_bytes=None, links=None) -> dict[int, list[int]]:
    """Capacity-aware greedy assignment of ``pending`` problems to the devices ``online``.

    Longest problem first (LPT); each goes to the online device with spare capacity that would
    finish it earliest, ties to the lower device index. Problem ``p`` keeps device ``k`` busy for
    ``cost_p / speed_k`` seconds (speed includes availability), plus, when ``links``
    (:class:`tinydtl.networks.netsim.Link` per device) and ``data_bytes`` are given, the time to receive its
    data, :meth:`tinydtl.networks.netsim.Link.expected_seconds` (latency, congestion, bandwidth and expected
    retransmissions) — so devices on poor networks get less to do.
    A device receives at most ``capacity`` problems (it must hold all of them until they are sent).
    Problems that find no device stay unassigned (the next round takes them).

    Returns ``{device index: [problem indices in training order]}``.
    """
    pending = [int(p) for p in pending]
    costs = np.asarray(costs, dtype=float)
    online = list(range(len(devices))) if online is None else [int(k) for k in online]
    extra = np.zeros((len(costs), len(devices)))
    if links is not None and data_bytes is not None:
        db = np.asarray(data_bytes, dtype=float)
        for k in online:
            extra[:, k] = links[k].expected_seconds(db)
    load = {k: 0.0 for k in online}
    plan: dict[int, list[int]] = {k: [] for k in online}
    order = sorted(pending, key=lambda p: (-costs[p], p))
    for p in order:
        best, best_t = None, np.inf
        for k in online:
            if len(plan[k]) >= devices[k].capacity:
                continue
            t = load[k] + costs[p] / devices[k].speed + extra[p, k]
            if t < best_t:
                best, best_t = k, t
        if best is None:
            continue
        plan[best].append(p)
        load[best] = best_t
    return {k: v for k, v in plan.items() if v}


# ----------------------------------------------------------------------------- the classifier
class DistributedOneVsOne(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Globe2Train: a one-vs-one classifier whose binary problems are trained by simulated IoT devices.

    ``fit`` decomposes the K classes into K(K−1)/2 binary problems (G2T-C), assigns them round by
    round to the devices online with :func:`assign_problems`, and simulates each device training its
    problems, accumulating the trained weights until they exceed its threshold ``W_t`` and sending
    them encoded (G2T-D, :func:`tinydtl.papers.globe2train.g2t.run_g2t_d`) over a simulated network
    (:class:`tinydtl.networks.netsim.Network`). Problems a device did not deliver before dropping out return
    to the pool and are reassigned. Prediction is one-vs-one voting (:func:`ovo_decision`).

    Parameters
    ----------
    estimator : scikit-learn binary classifier
        Cloned once per problem; e.g. :class:`MomentumLogisticRegression` (the MCU learner) or
        ``LogisticRegression(solver="lbfgs")``.
    n_devices : int >= 1
        Number of devices (used when ``devices`` is None).
    boards : list of board names, optional
        Boards of the devices, cycled to ``n_devices`` (default: three Cortex-M boards of
        ``data/boards.toml``).
    qualities : float or list of floats in (0, 1], optional
        Network quality of each device (default 1, a good network).
    devices : list of :class:`Device`, optional
        Overrides ``n_devices``/``boards``/``qualities``.
    threshold_bytes : float > 0
        ``W_0``, G2T-D's threshold at quality 1; a device of quality ``q`` uses ``W_t = W_0 / q``.
    churn_rate : float >= 0
        Drop-outs per device per simulated second (see :class:`tinydtl.networks.netsim.Network`).
    network : dict, optional
        Keyword arguments for :func:`tinydtl.networks.netsim.make_network` (latency, bandwidth, drops, ...).
    epochs_cost : int >= 1
        Epochs used by the compute-time model (the learner's own ``epochs`` if it has one).
    feature_bytes : int >= 1
        Bytes per feature value when a problem's data is sent to a device (4: float32; 1: uint8
        pixels); each label adds 1 byte.
    ship_data : bool
        Count (and time) sending each problem's training data to its device.
    random_state : int
        Seed of the network simulation.

    Attributes
    ----------
    classes_, n_features_in_, pairs_ (K(K−1)/2, 2), estimators_ (in :func:`class_pairs` order),
    devices_, costs_ (flops per problem), data_bytes_ (bytes of each problem's data), assignment_
    (device index that delivered each problem), simulation_ (the
    :class:`tinydtl.papers.globe2train.g2t.G2TResult`: per-round history, bytes, messages, completion time, reassigned
    problems).
    """

    def __init__(self, estimator=None, *, n_devices=3, boards=None, qualities=None, devices=None,
                 threshold_bytes=2048.0, churn_rate=0.0, network=None, epochs_cost=None, feature_bytes=FLOAT32_BYTES,
                 ship_data=True, random_state=0):
        self.estimator = estimator
        self.n_devices = n_devices
        self.boards = boards
        self.qualities = qualities
        self.devices = devices
        self.threshold_bytes = threshold_bytes
        self.churn_rate = churn_rate
        self.network = network
        self.epochs_cost = epochs_cost
        self.feature_bytes = feature_bytes
        self.ship_data = ship_data
        self.random_state = random_state

    DEFAULT_BOARDS = ("Arduino Nano 33 BLE Sense", "STM32F746 Discovery", "ESP32")

    def _estimator(self):
        return MomentumLogisticRegression() if self.estimator is None else self.estimator

    def _make_devices(self, n_features):
        if self.devices is not None:
            devices = list(self.devices)
            check_devices(devices)
            return devices
        check_int("n_devices", self.n_devices, 1)
        boards = list(self.boards) if self.boards is not None else list(self.DEFAULT_BOARDS)
        if not boards:
            raise ValueError("boards must list at least one board name")
        boards = [boards[k % len(boards)] for k in range(self.n_devices)]
        q = self.qualities
        if q is None or isinstance(q, numbers.Real):
            q = np.full(self.n_devices, 1.0 if q is None else float(q))
        return make_devices(boards, n_features, qualities=q)

    def fit(self, X, y):
        from tinydtl.networks.netsim import make_network
        from tinydtl.papers.globe2train.g2t import run_g2t_d

        base = self._estimator()
        if not is_classifier(base):
            raise TypeError(f"estimator must be a scikit-learn classifier, got {type(base).__name__}")
        check_number("threshold_bytes", self.threshold_bytes, low=0, low_open=True)
        check_number("churn_rate", self.churn_rate, low=0)
        check_int("random_state", self.random_state, 0)
        check_int("feature_bytes", self.feature_bytes, 1)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K < 2:
            raise ValueError(f"DistributedOneVsOne needs K >= 2 classes in y, got K = {K} "
                             "(1 class: nothing to decompose)")
        self.pairs_ = class_pairs(K)
        d = X.shape[1]
        self.devices_ = self._make_devices(d)
        epochs = self.epochs_cost if self.epochs_cost is not None else getattr(base, "epochs", 1)
        check_int("epochs_cost", epochs, 1)
        costs = problem_costs(codes, self.pairs_, d, epochs)
        net = make_network([dev.quality for dev in self.devices_], churn_rate=self.churn_rate,
                           seed=self.random_state, **(self.network or {}))
        fitted: dict[int, object] = {}

        def train(p):
            """Fit problem ``p`` once (the base estimator is deterministic for a fixed seed, so a
            reassigned problem retrains to the same classifier; the simulation charges device time
            for every (re)training)."""
            if p not in fitted:
                i, j = self.pairs_[p]
                rows = (codes == i) | (codes == j)
                yb = (codes[rows] == j).astype(int)  # 0 for class i, 1 for class j, as scikit-learn
                fitted[p] = clone(base).fit(X[rows], yb)
            return fitted[p]

        counts = np.bincount(codes, minlength=K)
        data_bytes = (counts[self.pairs_[:, 0]] + counts[self.pairs_[:, 1]]) * (d * self.feature_bytes + 1)
        self.costs_, self.data_bytes_ = costs, data_bytes
        self.simulation_ = run_g2t_d(
            train, costs, self.devices_, net, threshold_bytes=self.threshold_bytes, data_bytes=data_bytes,
            ship_data=bool(self.ship_data),
        )
        self.estimators_ = [fitted[p] for p in range(len(self.pairs_))]
        self.assignment_ = np.asarray(self.simulation_.delivered_by)
        return self

    def decision_function(self, X):
        """Votes plus squashed confidence sums, (n_samples, K); for K = 2 the column of the second class."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        preds, conf = self._binary_outputs(X)
        Y = ovo_decision(preds, conf, len(self.classes_))
        return Y[:, 1] if len(self.classes_) == 2 else Y

    def _binary_outputs(self, X):
        """Each binary classifier's 0/1 prediction and confidence, (n_samples, n_problems) each.

        The MCU learner's are computed straight from its weights (no per-classifier input
        validation, the same arithmetic as its ``decision_function``); any other estimator is asked
        through ``predict`` and ``decision_function`` / ``predict_proba``.
        """
        preds = np.empty((X.shape[0], len(self.estimators_)), dtype=np.int64)
        conf = np.empty((X.shape[0], len(self.estimators_)))
        for k, est in enumerate(self.estimators_):
            if type(est) is MomentumLogisticRegression:
                conf[:, k] = est._scores(X)
                preds[:, k] = est.classes_[(conf[:, k] > 0).astype(int)]
            else:
                preds[:, k] = est.predict(X)
                conf[:, k] = binary_confidence(est, X)
        return preds, conf

    def resimulate(self, devices=None, *, threshold_bytes=None, churn_rate=None, network=None, random_state=None):
        """Run G2T-D again for the fitted binary classifiers on other devices or another network.

        The binary problems and their trained weights are those of ``fit`` (a deterministic learner
        retrains to the same weights), so only the simulation changes: use it to sweep network
        quality, ``W_t`` or the number of devices without refitting. Returns a
        :class:`tinydtl.papers.globe2train.g2t.G2TResult`; the fitted model is unchanged.
        """
        from tinydtl.networks.netsim import make_network
        from tinydtl.papers.globe2train.g2t import run_g2t_d

        check_is_fitted(self)
        devices = self.devices_ if devices is None else list(devices)
        check_devices(devices)
        churn = self.churn_rate if churn_rate is None else churn_rate
        seed = self.random_state if random_state is None else random_state
        net = make_network([dev.quality for dev in devices], churn_rate=churn, seed=seed,
                           **((self.network or {}) if network is None else network))
        return run_g2t_d(lambda p: self.estimators_[p], self.costs_, devices, net,
                         threshold_bytes=self.threshold_bytes if threshold_bytes is None else threshold_bytes,
                         data_bytes=self.data_bytes_, ship_data=bool(self.ship_data))

    def predict(self, X):
        check_is_fitted(self)
        Y = self.decision_function(X)
        if len(self.classes_) == 2:
            est = self.estimators_[0]
            thresh = 0.0 if hasattr(est, "decision_function") and is_classifier(est) else 0.5
            return self.classes_[(Y > thresh).astype(int)]
        return self.classes_[Y.argmax(axis=1)]
