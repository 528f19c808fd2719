"""A frozen feature extractor trained only on data no device holds: our stand-in for a pretrained backbone.

The paper trains only a classifier head on a frozen MCUNet-in3 backbone. Neither MCUNet's weights nor
CIFAR-10 ship with this suite, so the substitute keeps what matters for the comparison: the devices
train a small head on **good, fixed features** that were learnt before deployment, on data that no
device holds. :class:`FrozenFeatures` trains a one-hidden-layer MLP
(:class:`tinydtl.learners.mlp.MLPModel`) by minibatch SGD on a held-out set, then keeps only its
hidden layer, ``φ(x) = relu(x W1 + b1)``, and never changes it again.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.plans import plan_round
from tinydtl.core.validation import as_features, check_labels, check_number, scaled
from tinydtl.learners.mlp import MLPModel

__all__ = ["FrozenFeatures"]


class FrozenFeatures:
    """``φ(x) = relu(x W1 + b1)``, ``W1`` learnt once on ``(X, y)`` with a softmax layer on top, then frozen.

    Parameters
    ----------
    width : int
        Number of features (hidden units).
    epochs, lr, batch_size, seed
        The extractor's own training (minibatch SGD, as :meth:`MLPModel.local_update`).
    """

    def __init__(self, width: int = 32, *, epochs: int = 5, lr: float = 0.1, batch_size: int = 32, seed: int = 0):
        for name, v in (("width", width), ("epochs", epochs), ("batch_size", batch_size)):
            check_number(name, v, low=1, integer=True)
        check_number("lr", lr, low=0, low_open=True)
        self.width, self.epochs, self.lr, self.batch_size, self.seed = width, epochs, lr, batch_size, seed

    def fit(self, X, y) -> "FrozenFeatures":
        """Train the extractor on ``(X, y)`` (data no device will hold); returns ``self``."""
        X = as_features(X, "X")
        y = check_labels(y, "y", len(X))
        self.n_inputs_ = X.shape[1]
        net = MLPModel(X.shape[1], self.width, int(y.max()) + 1)
        params = net.init(self.seed)[None]
        everything = [np.arange(len(X))]
        for epoch in range(self.epochs):
            plan = plan_round(everything, epoch, seed=self.seed, batch_size=self.batch_size)
            params = net.local_update(X, y, params, plan, self.lr)[0]
        self.W1_, self.b1_, _, _ = (a.copy() for a in net.unflatten(params[0]))
        self.accuracy_on_fit_ = net.evaluate(params[0], X, y)[1]
        return self

    def transform(self, X) -> np.ndarray:
        """The frozen features ``relu(x W1 + b1)`` of every row of ``X``, float32."""
        if not hasattr(self, "W1_"):
            raise ValueError("call fit() before transform()")
        X = as_features(X, "X")
        if X.shape[1] != self.n_inputs_:
            raise ValueError(f"X must have {self.n_inputs_} features (as fitted), got {X.shape[1]}")
        out = np.empty((len(X), self.width), np.float32)
        for s in range(0, len(X), 8192):
            out[s : s + 8192] = np.maximum(scaled(X[s : s + 8192]) @ self.W1_ + self.b1_, 0)
        return out
