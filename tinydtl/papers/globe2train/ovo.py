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
* :class:`DistributedOneVsOne` — the scikit-learn classifier that runs all of it: the binary
  learner one device runs (:mod:`tinydtl.papers.globe2train.mcu_learner`), the devices and G2T-C's
  scheduling (:mod:`tinydtl.papers.globe2train.fleet`), the device side (G2T-D,
  :mod:`tinydtl.papers.globe2train.g2t`) and the network (:mod:`tinydtl.networks.netsim`), simulated.

With a deterministic base estimator the assembled model predicts exactly what
``sklearn.multiclass.OneVsOneClassifier`` predicts (same binary problems, same labels 0/1, same
vote), whatever the devices and the network did: a dropped device's unfinished or unsent problems
are reassigned, never lost.
"""

from __future__ import annotations

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
from tinydtl.core.validation import check_bool, check_int, check_number
from tinydtl.networks.netsim import make_network
from tinydtl.papers.globe2train.fleet import check_devices, make_devices, problem_costs, problem_data_bytes
from tinydtl.papers.globe2train.g2t import run_g2t_d
from tinydtl.papers.globe2train.mcu_learner import (
    MomentumLogisticRegression,
    linear_scores,
)

__all__ = ["DistributedOneVsOne", "binary_confidence", "class_pairs", "n_problems", "ovo_decision"]

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
    binary = (predictions == 0) | (predictions == 1)
    if not binary.all():
        raise ValueError(f"predictions must hold 0 or 1 (the pair's first or second class), got values "
                         f"{np.unique(predictions[~binary])[:5].tolist()}")
    if not np.isfinite(confidences).all():
        raise ValueError("confidences must be finite: found NaN or infinite decision values")
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


# ----------------------------------------------------------------------------- the classifier
class DistributedOneVsOne(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Globe2Train: a one-vs-one classifier whose binary problems are trained by simulated IoT devices.

    ``fit`` decomposes the K classes into K(K−1)/2 binary problems (G2T-C), assigns them round by
    round to the devices online with :func:`tinydtl.papers.globe2train.fleet.assign_problems`, and simulates each device training its
    problems, accumulating the trained weights until they exceed its threshold ``W_t`` and sending
    them encoded (G2T-D, :func:`tinydtl.papers.globe2train.g2t.run_g2t_d`) over a simulated network
    (:class:`tinydtl.networks.netsim.Network`). Problems a device did not deliver before dropping out return
    to the pool and are reassigned. Prediction is one-vs-one voting (:func:`ovo_decision`).

    Parameters
    ----------
    estimator : scikit-learn binary classifier
        Cloned once per problem; e.g. :class:`~tinydtl.papers.globe2train.mcu_learner.MomentumLogisticRegression` (the MCU learner) or
        ``LogisticRegression(solver="lbfgs")``.
    n_devices : int >= 1
        Number of devices (used when ``devices`` is None).
    boards : list of board names, optional
        Boards of the devices, cycled to ``n_devices`` (default: three Cortex-M boards of
        ``data/boards.toml``).
    qualities : float or list of floats in (0, 1], optional
        Network quality of each device (default 1, a good network).
    devices : list of :class:`tinydtl.papers.globe2train.fleet.Device`, optional
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
        check_int("n_devices", self.n_devices, 1)
        if self.devices is not None:
            devices = list(self.devices)
            check_devices(devices)
            return devices
        boards = list(self.boards) if self.boards is not None else list(self.DEFAULT_BOARDS)
        if not boards:
            raise ValueError("boards must list at least one board name")
        boards = [boards[k % len(boards)] for k in range(self.n_devices)]
        q = self.qualities
        if q is None or np.ndim(q) == 0:
            if q is not None:
                check_number("qualities", q, low=0, high=1, low_open=True)
            q = np.full(self.n_devices, 1.0 if q is None else float(q))
        return make_devices(boards, n_features, qualities=q)

    def fit(self, X, y):
        base = self._estimator()
        if not is_classifier(base):
            raise TypeError(f"estimator must be a scikit-learn classifier, got {type(base).__name__}")
        check_number("threshold_bytes", self.threshold_bytes, low=0, low_open=True)
        check_number("churn_rate", self.churn_rate, low=0)
        check_int("random_state", self.random_state, 0)
        check_int("feature_bytes", self.feature_bytes, 1)
        check_bool("ship_data", self.ship_data)
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
        # the MCU learner skips scikit-learn's per-problem validation and cloning (X is validated
        # once here): the same weights, a fraction of the time for thousands of problems
        fast = type(base) is MomentumLogisticRegression
        X32, params = (X.astype(np.float32), base.get_params()) if fast else (None, None)

        def train(p):
            """Fit problem ``p`` once (the base estimator is deterministic for a fixed seed, so a
            reassigned problem retrains to the same classifier; the simulation charges device time
            for every (re)training)."""
            if p not in fitted:
                i, j = self.pairs_[p]
                rows = (codes == i) | (codes == j)
                yb = (codes[rows] == j).astype(int)  # 0 for class i, 1 for class j, as scikit-learn
                if fast:
                    fitted[p] = MomentumLogisticRegression(**params).fit_prepared(X32[rows], yb)
                else:
                    fitted[p] = clone(base).fit(X[rows], yb)
            return fitted[p]

        data_bytes = problem_data_bytes(codes, self.pairs_, d, self.feature_bytes)
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
                conf[:, k] = linear_scores(est, X)
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
