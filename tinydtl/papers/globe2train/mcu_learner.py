"""The learner one Globe2Train device runs: binary logistic regression by SGD with momentum, in float32.

Globe2Train's devices are microcontrollers (Sudharsan, Breslin & Ali, IEEE SmartWorld 2021): each
trains the binary problems G2T-C hands it with a learner small enough for a few hundred KB of SRAM.
This module holds that learner, :class:`MomentumLogisticRegression`, a scikit-learn binary classifier:

* minibatch gradient of the mean log-loss plus an L2 penalty,
  ``g = Xᵀ(σ(Xw + b) − y)/|B| + alpha w`` (the bias is not penalised);
* heavy-ball momentum with one buffer, ``v ← μ v + g``, ``w ← w − η v``;
* everything in float32, as on the device: weights, gradient and one momentum buffer are
  ``3(d + 1)`` floats, which is what :func:`tinydtl.papers.globe2train.fleet.device_capacity`
  charges a board for training.

Weights start at zero, so a feature that is zero in every training sample keeps a weight of exactly
zero — what G2T-D's encode step (:func:`tinydtl.papers.globe2train.g2t.encode`) exploits.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from tinydtl.core.validation import check_int, check_number

__all__ = ["MomentumLogisticRegression", "linear_scores"]


def linear_scores(estimator, X) -> np.ndarray:
    """``X w + b`` of a fitted :class:`MomentumLogisticRegression` in float32 (as on the device), returned
    as float64. ``X`` must already be validated (no per-call checks: the one-vs-one model calls this
    for thousands of binary classifiers on the same, once-validated ``X``)."""
    return (X.astype(np.float32, copy=False) @ estimator.coef_[0] + estimator.intercept_[0]).astype(np.float64)


class MomentumLogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression trained by minibatch SGD with momentum, in float32, as on an MCU.

    Per minibatch ``B`` the gradient of the mean log-loss plus ``alpha/2 ||w||²`` is
    ``g = Xᵀ(σ(Xw + b) − y)/|B| + alpha w`` (bias: no penalty); heavy-ball momentum keeps one buffer,
    ``v ← momentum · v + g``, ``w ← w − learning_rate · v``. Weights start at zero, so a feature that is
    zero in every training sample keeps a weight of exactly zero (what G2T-D's encode step exploits).

    Parameters
    ----------
    learning_rate : float > 0
        The step size η (scikit-learn's spelling for an estimator parameter; the package's front
        ends call it ``lr``).
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
        check_number("momentum", self.momentum, low=0, high=1, high_open=True)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_number("alpha", self.alpha, low=0)
        check_int("random_state", self.random_state, 0)

    def _check_binary(self, y):
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:
            raise ValueError(f"y holds 1 class ({self.classes_[0]!r}); MomentumLogisticRegression needs exactly 2")
        if len(self.classes_) != 2:
            raise ValueError(
                f"Only binary classification is supported. MomentumLogisticRegression needs y with exactly 2 "
                f"classes, got {len(self.classes_)} (wrap it in DistributedOneVsOne or OneVsOneClassifier for more)"
            )

    def fit(self, X, y):
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        self._check_binary(y)
        return self._train(X.astype(np.float32), (y == self.classes_[1]).astype(np.float32))

    def fit_prepared(self, X32, t):
        """Fit on features already validated and cast to float32 and 0/1 float32 targets (both present).

        The same arithmetic as :meth:`fit` without scikit-learn's per-call input validation:
        :class:`~tinydtl.papers.globe2train.ovo.DistributedOneVsOne` validates ``X`` once and trains
        thousands of binary problems on its rows. ``classes_`` becomes ``[0, 1]``.
        """
        self._check_params()
        if not (isinstance(X32, np.ndarray) and X32.dtype == np.float32 and X32.ndim == 2):
            raise TypeError("X32 must be a 2-D float32 array (validated features)")
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X32.shape[1]
        return self._train(X32, np.asarray(t, dtype=np.float32))

    def _train(self, X, t):
        """Minibatch SGD with momentum on float32 ``X`` and 0/1 targets ``t`` (see the class docstring)."""
        n, d = X.shape
        w = np.zeros(d, dtype=np.float32)
        b = np.float32(0.0)
        vw = np.zeros(d, dtype=np.float32)
        vb = np.float32(0.0)
        lr, mom, alpha = np.float32(self.learning_rate), np.float32(self.momentum), np.float32(self.alpha)
        rng = np.random.default_rng(self.random_state)
        B = self.batch_size
        for epoch in range(self.epochs):
            order = rng.permutation(n)
            with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported below, by name
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
            if not (np.isfinite(w).all() and np.isfinite(b)):
                raise ValueError(f"MomentumLogisticRegression diverged in epoch {epoch + 1} (float32 weights overflowed "
                                 f"to inf/NaN): lower learning_rate ({self.learning_rate!r}) or momentum, or scale "
                                 "the features (e.g. StandardScaler)")
        self.coef_ = w[None, :]
        self.intercept_ = np.array([b], dtype=np.float32)
        self.n_iter_ = self.epochs
        return self

    def decision_function(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return linear_scores(self, X)

    def predict_proba(self, X):
        z = self.decision_function(X)
        p1 = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
        return np.column_stack([1 - p1, p1])

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
