"""RockNet (arXiv 2510.13320): MiniRocket trained from scratch across D microcontrollers.

RockNet's variant of MiniRocket as this package builds it (the paper's abstract, the source text this suite
holds, does not give these details; they are this package's choices):

* dilations ``2^i`` for i = 0 … ⌊log2((L − 1)/8)⌋ (at most 32), the same for every kernel;
* ``int(10000 / (n_dilations · 84))`` biases per kernel and dilation, at the quantile positions
  ``frac(k φ)`` of the paper's global order (dilation, kernel, bias); every device computes its own
  biases from the convolution output of one training series (sorted, element ``int(L q)``);
* every kernel/dilation pair is zero padded (no alternation);
* the input is quantised to int8, ``clip(round((x − mean) / s · 127), −127, 127)`` with ``s`` the
  99.9th percentile of ``|x − mean|`` on the training set, then z-normalised with the training mean
  and standard deviation of the quantised values.

Distributed training (as this package implements it): the 84 kernels are split into D contiguous blocks
(the first ``84 mod D`` devices get one more). For each training series, device 0 broadcasts the
series; every device j computes its features F_j and its partial logits ``z_j = F_j W_j`` (device 0
adds the class bias b); every device broadcasts its C partial logits; all devices sum them,

    z = Σ_j z_j,    p = softmax(z),    L = −Σ_c y_c log p_c,    ∂L/∂W_j = F_jᵀ (p − y)

so each device computes its own slice's exact gradient and updates only W_j with Adam. No weights or
gradients travel; the result is *exactly* centralised training of the linear head (up to the
order of the floating-point sum of the partial logits), which tests/test_rocket.py checks
for every D in 1 … 20.

:func:`nn_baseline` is a small untuned network on the raw series (a one-hidden-layer tanh MLP with
RockNet's Adam settings). It is *not* the paper's baseline, which the abstract does not specify, and
it is weak: lesson 08 compares RockNet with baselines tuned on validation data the same way as RockNet
(``tinydtl.lab.lessons.l08_rocknet``).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.utils.validation import check_is_fitted, check_random_state

from tinydtl.core.plans import PlanSettings
from tinydtl.core.simulation import Algorithm, EarlyStopping, simulate
from tinydtl.core.validation import check_int, check_number
from tinydtl.learners.functional import check_converging, cross_entropy, softmax
from tinydtl.learners.minirocket import check_series
from tinydtl.learners.minirocket_kernels import N_KERNELS
from tinydtl.papers.rocknet.device import (
    Int8Quantiser,
    RockNetDevice,
    biases_per_kernel,
    check_n_devices,
    rocknet_dilations,
    series_traffic,
    split_kernels,
)

__all__ = ["RockNetClassifier", "nn_baseline"]

class RockNetClassifier(ClassifierMixin, BaseEstimator):
    """RockNet: RockNet-MiniRocket features split over ``n_devices``, linear head trained by partial logits.

    Parameters
    ----------
    n_devices : int in [1, 84]
        D, the number of devices sharing the 84 kernels (1 is centralised training).
    max_epochs : int
        Upper bound on epochs; training stops after ``patience`` epochs without a lower validation loss
        and keeps the weights of the best epoch.
    patience : int
        Early-stopping patience (epochs).
    validation_fraction : float
        Fraction of the (shuffled) training set held out for early stopping (RockNet: 0.2).
    batch_size : int or None
        Mini-batch size; ``None`` is RockNet's ``min(128, N)``.
    lr, beta1, beta2, eps : float
        Adam's settings (RockNet: 1e-3, 0.9, 0.999, 1e-8, bias-corrected).
    quantized_adam : bool
        Keep Adam's m and v as 8-bit block-wise dynamic-tree codes (block 256).
    num_features : int
        Feature budget for the biases per kernel (``int(num_features / (n_dil · 84))``).
    random_state : int or None
        Seeds the validation split, the bias series, the weight initialisation and the batch order.

    Attributes
    ----------
    classes_, devices_ (list of :class:`RockNetDevice`), quantiser_, best_epoch_ (0: the initial
    weights), n_features_ (total features over all devices), history_: a
    :class:`tinydtl.core.history.History`, one row per epoch: validation ``accuracy`` and ``loss``,
    ``train_loss``, the epoch's traffic (:func:`series_traffic` per training and validation series,
    the package's byte rule), ``live_devices`` = D, ``seconds``, ``cpu_seconds``; its ``weights``
    are the restored head (:meth:`weights`). Training runs on :func:`tinydtl.core.simulation.simulate`
    (see :meth:`fit`).
    """

    def __init__(
        self,
        n_devices=1,
        *,
        max_epochs=300,
        patience=30,
        validation_fraction=0.2,
        batch_size=None,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        quantized_adam=False,
        num_features=10_000,
        random_state=None,
    ):
        self.n_devices = n_devices
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.batch_size = batch_size
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.quantized_adam = quantized_adam
        self.num_features = num_features
        self.random_state = random_state

    def _check_params(self):
        check_n_devices(self.n_devices)
        check_int("max_epochs", self.max_epochs, 1)
        check_int("patience", self.patience, 1)
        check_number("validation_fraction", self.validation_fraction, low=0, high=1, low_open=True)
        if self.validation_fraction >= 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1)
        check_int("num_features", self.num_features, N_KERNELS)

    def _features(self, Xn):
        return [dev.features(Xn) for dev in self.devices_]

    def _logits(self, feats):
        """Σ_j z_j: the partial logits every device broadcasts, summed."""
        z = None
        for dev, F in zip(self.devices_, feats):
            zj = dev.partial_logits(F)
            z = zj if z is None else z + zj
        return z

    def fit(self, X, y, controller=None):
        """Train the distributed linear head on the series ``X`` (n_series, length) with labels ``y``.

        Training runs on the core's loop (:func:`tinydtl.core.simulation.simulate`, one round = one epoch)
        with early stopping as its controller (:class:`tinydtl.core.simulation.EarlyStopping` on the
        validation loss). ``controller(epoch_done, history, settings) -> settings``, optional, is called
        after every epoch before the early-stopping check: it may raise
        :class:`~tinydtl.core.simulation.StopTraining` (e.g. an energy budget) or change
        ``settings.batch_size`` for the next epochs.
        """
        self._check_params()
        if controller is not None and not callable(controller):
            raise TypeError("controller must be callable as controller(epoch_done, history, settings) -> settings")
        X = check_series(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per series ({len(X)}), got shape {y.shape}")
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y must contain at least 2 classes, got {len(self.classes_)}")
        rng = check_random_state(self.random_state)
        n = len(X)
        n_val = int(round(n * self.validation_fraction))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"X has {n} series; the validation split ({self.validation_fraction}) needs at least one "
                "series on each side"
            )
        self.quantiser_ = Int8Quantiser().fit(X)
        Xn = self.quantiser_.transform(X)
        perm = rng.permutation(n)
        fit_rows, val_rows = perm[: n - n_val], perm[n - n_val :]
        C = len(self.classes_)
        length = X.shape[1]
        dilations = rocknet_dilations(length)
        nb = biases_per_kernel(len(dilations), self.num_features)
        if nb < 1:
            raise ValueError(f"num_features={self.num_features} gives no bias per kernel at {len(dilations)} dilations")
        bounds = split_kernels(self.n_devices)
        adam_kwargs = dict(lr=self.lr, beta1=self.beta1, beta2=self.beta2, eps=self.eps, quantized=self.quantized_adam)
        self.devices_ = [
            RockNetDevice(j, np.arange(bounds[j], bounds[j + 1]), dilations, nb, C, owns_bias=(j == 0), adam_kwargs=adam_kwargs)
            for j in range(self.n_devices)
        ]
        self.n_features_ = sum(d.n_features for d in self.devices_)
        self.n_features_in_ = length
        bias_series = Xn[fit_rows[rng.randint(len(fit_rows))]]  # device 0 broadcasts it
        for dev in self.devices_:
            dev.fit_biases(bias_series)
        # Xavier-uniform init of the whole head from the shared seed; device j keeps its rows
        bound = math.sqrt(6.0 / (self.n_features_ + C))
        W = rng.uniform(-bound, bound, size=(self.n_features_, C))
        start = 0
        for dev in self.devices_:
            dev.init_head(W[start : start + dev.n_features])
            start += dev.n_features
        F_all = [F.astype(np.float64) for F in self._features(Xn)]  # float64 once, as the head: no cast per batch
        F_fit = [F[fit_rows] for F in F_all]
        F_val = [F[val_rows] for F in F_all]
        Y_fit = np.eye(C)[y_idx[fit_rows]]
        y_val = y_idx[val_rows]
        batch = self.batch_size or min(128, len(fit_rows))
        step = series_traffic(length, C, self.n_devices)  # one series: broadcast + partial logits
        series = len(fit_rows) + len(val_rows)  # every training and validation series, every epoch
        algorithm = self._algorithm(rng.get_state(), F_fit, Y_fit, F_val, y_val, step, series)
        stopper = EarlyStopping(self.patience, column="loss")

        def control(epoch_done, history, settings):
            if controller is not None:
                settings = controller(epoch_done, history, settings)
            return stopper(epoch_done, history, settings)

        history = simulate(algorithm, self.max_epochs, settings=PlanSettings(batch_size=batch), controller=control,
                           config=self.get_params())
        self.best_epoch_, best = history.weights
        for dev, st in zip(self.devices_, best):
            dev.restore(st)
        history.weights = self.weights()
        self.history_ = history
        return self

    def _algorithm(self, rng_state, F_fit, Y_fit, F_val, y_val, step, series) -> Algorithm:
        """One epoch of distributed training as an :class:`~tinydtl.core.simulation.Algorithm`.

        ``init`` puts every device back to its initial head (fresh Adam moments) and makes the epoch
        generator from ``rng_state``, so the algorithm can be simulated again and gives the same
        history. The devices' weight slices and Adam moments then change in place; the state also
        keeps the best validation loss so far and the devices' weights at that epoch, which ``final``
        returns as ``(best_epoch, states)`` (the weights early stopping restores). A validation loss
        that is NaN or infinite raises :class:`~tinydtl.learners.functional.DivergenceError`
        (the untrained head is never kept silently).
        """
        devices = self.devices_
        initial = [dev.state() for dev in devices]

        def snapshot():
            return [dev.state() for dev in devices]

        def init():
            for dev, (W, _) in zip(devices, initial):
                dev.init_head(W)
            rng = np.random.RandomState()
            rng.set_state(rng_state)
            return {"epoch": 0, "best_loss": None, "best_epoch": 0, "best": None, "rng": rng}

        def apply(state, epoch, settings):
            order = state["rng"].permutation(len(Y_fit))
            train_loss = 0.0
            for s in range(0, len(order), settings.batch_size):
                rows = order[s : s + settings.batch_size]
                F_rows = [F[rows] for F in F_fit]  # each device's features of the batch, copied once
                z = self._logits(F_rows)
                train_loss += float(cross_entropy(z, Y_fit[rows].argmax(1)).sum())
                G = (softmax(z) - Y_fit[rows]) / len(rows)
                for dev, F in zip(devices, F_rows):
                    dev.update(F, G)
            stats = dict(train_loss=train_loss / len(order), bytes_up=step.bytes_up * series, bytes_down=0,
                         messages=step.messages * series, live_devices=len(devices))
            return {**state, "epoch": epoch + 1}, stats

        def validate(state):
            """Validation accuracy and loss of the summed partial logits; remembers the best epoch's weights."""
            zv = self._logits(F_val)
            loss = float(cross_entropy(zv, y_val).mean())
            check_converging("the validation loss", loss, when=f"after epoch {state['epoch']}")
            if state["best_loss"] is None or loss < state["best_loss"]:  # EarlyStopping's rule (strictly lower)
                state.update(best_loss=loss, best_epoch=state["epoch"], best=snapshot())
            return {"accuracy": float((zv.argmax(1) == y_val).mean()), "loss": loss}

        return Algorithm(f"rocknet/D={len(devices)}", init, apply, validate,
                         final=lambda state: (state["best_epoch"], state["best"]), live_devices=len(devices))

    def decision_function(self, X) -> np.ndarray:
        """The summed partial logits ``Σ_j z_j`` (n_series, n_classes)."""
        check_is_fitted(self, "devices_")
        X = check_series(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has series of length {X.shape[1]}, RockNet was fitted on length {self.n_features_in_}")
        return self._logits(self._features(self.quantiser_.transform(X)))

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def weights(self) -> np.ndarray:
        """The full head ``[W_0; W_1; …]`` (n_features, n_classes) as a central model would hold it."""
        check_is_fitted(self, "devices_")
        return np.vstack([dev.W for dev in self.devices_])


def nn_baseline(random_state=None, *, hidden=64, max_iter=500, batch_size=None, n_series=None):
    """An untuned one-hidden-layer tanh MLP on the raw series, trained on one device (not the paper's baseline).

    Adam (lr 1e-3, 0.9/0.999, 1e-8), batch ``min(128, N)`` (N: the series left for training after the
    split, when ``n_series`` is given), early stopping on a 20 % validation split (scikit-learn's
    ``MLPClassifier``: it monitors validation *accuracy*, patience 10 epochs).
    """
    check_int("hidden", hidden, 1)
    if batch_size is None:
        batch_size = min(128, n_series - math.ceil(0.2 * n_series)) if n_series else 128
    return MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation="tanh",
        solver="adam",
        learning_rate_init=1e-3,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        batch_size=batch_size,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=10,
        max_iter=max_iter,
        random_state=random_state,
    )
