"""The demo's model: a smooth (squared-hinge) support vector machine with labels ±1.

JSAC 2019's bound needs a smooth loss (β finite) with a bounded gradient (ρ finite); the demo trains
a squared-hinge SVM, which is smooth and, with λ > 0, strongly convex. The class follows the simulation
core's model interface, so the same training loop runs it and the core's softmax model.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import check_int, check_number

__all__ = ["SmoothSVM", "check_svm_labels"]


def check_svm_labels(y, name: str, n: int) -> np.ndarray:
    """``y`` as ``n`` float64 labels, each ``-1`` or ``+1`` (bools and strings are refused, not converted)."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the samples, got {y.shape}")
    if y.dtype == bool or y.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold the numbers -1 and +1 for the SVM (see even_odd), got dtype {y.dtype}")
    if not np.all(np.isin(y, (-1.0, 1.0))):
        values = np.unique(y[~np.isin(y, (-1.0, 1.0))])[:5]
        raise ValueError(f"{name} must hold labels -1 and +1 for the SVM (see even_odd), got also {values.tolist()}")
    return y.astype(np.float64, copy=False)


class SmoothSVM:
    """The demo's smooth SVM as a model of the simulation core (labels ±1, no bias, λ = 0.1).

    ``F(w) = (λ/2)‖w‖² + (1/2|B|) Σ_{j∈B} max(0, 1 − y_j wᵀx_j)²`` with gradient
    ``λw − (1/|B|) Σ_j y_j x_j max(0, 1 − y_j wᵀx_j)``, as the authors' ``ModelSVMSmooth``; zero initial
    weights. It is λ-strongly convex and smooth, the setting of the paper's bound. Parameters are one
    float64 row of ``n_features`` values. The core's model interface: :meth:`init`, :meth:`local_update`
    (minibatch gradient steps of every client of a round plan), :meth:`evaluate` and :meth:`arrays`; the
    controller's estimates use :meth:`loss_and_gradient`.
    """

    def __init__(self, n_features: int, lam: float = 0.1):
        check_int("n_features", n_features, 1)
        check_number("lam", lam, low=0.0)
        self.n_features, self.lam = int(n_features), float(lam)

    @property
    def n_params(self) -> int:
        return self.n_features

    def init(self, seed=0) -> np.ndarray:
        return np.zeros(self.n_features)

    def arrays(self, params) -> list[np.ndarray]:
        return [np.asarray(params)]

    def loss_and_gradient(self, w, X, y):
        """``(F(w; X, y), ∇F(w; X, y))`` on the rows ``X`` with labels ``y`` (±1)."""
        loss, grad, _ = self._loss_gradient_scores(w, X, y)
        return loss, grad

    def _loss_gradient_scores(self, w, X, y):
        """Loss, gradient and the scores ``Xw`` they were computed from (one product ``Xw`` serves all three)."""
        z = X @ w
        margin = np.maximum(0.0, 1.0 - y * z)
        loss = float(0.5 * self.lam * (w @ w) + 0.5 * np.mean(margin**2))
        return loss, self.lam * w - (X.T @ (y * margin)) / len(y), z

    def evaluate(self, params, X, y):
        """``(loss, accuracy)`` of ``sign(Xw)`` on labels ±1."""
        w = np.asarray(params, dtype=np.float64)
        z = X @ w
        loss = float(0.5 * self.lam * (w @ w) + 0.5 * np.mean(np.maximum(0.0, 1.0 - y * z) ** 2))
        return loss, float(np.mean(np.sign(z) == y))

    def local_update(self, X, y, params, plan, lr):
        """Every client of ``plan`` runs its minibatch steps ``w ← w − η∇F(w; B)`` from its row of ``params``.

        Returns ``(params, n_examples, loss_sum, correct)`` like :meth:`tinydtl.learners.softmax.SoftmaxModel.local_update`.
        """
        P = np.array(params, dtype=np.float64)
        n = np.zeros(len(plan.clients))
        loss_sum = correct = 0.0
        for i in range(len(plan.clients)):
            for batch in plan.batches(i):
                Xb, yb = X[batch], y[batch]
                loss, grad, z = self._loss_gradient_scores(P[i], Xb, yb)
                loss_sum += loss * len(batch)
                correct += float(np.sum(np.sign(z) == yb))
                P[i] -= lr * grad
                n[i] += len(batch)
        return P, n, loss_sum, correct
