"""The reference FedAvg engine: one round of TensorFlow Federated 0.87's weighted FedAvg.

``TFFEngine`` runs ``tff.learning.algorithms.build_weighted_fed_avg`` (or ``..._fed_prox``) on the
same initial weights and the same :class:`~tinydtl.core.plans.RoundPlan` (clients, batch order) as
the numpy engine of :mod:`tinydtl.algorithms.fedavg`, which is how the two are shown to agree to
float32 rounding. TFF starts a C++ ``worker_binary`` that outlives Python: the front end wraps every
TFF run in :func:`tinydtl.runtime.processes.no_stray_processes`.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.plans import RoundPlan
from tinydtl.core.validation import scaled
from tinydtl.learners.softmax import evaluate_softmax
from tinydtl.runtime.tensorflow_env import import_tensorflow

__all__ = ["TFFEngine", "keras_model"]


def keras_model(n_features: int = 784, n_classes: int = 10, weights=None):
    """The survey's learner as a Keras model: ``Dense(n_classes)`` on flat inputs (softmax in the loss)."""
    tf = import_tensorflow()

    model = tf.keras.Sequential(
        [tf.keras.layers.InputLayer(input_shape=(n_features,)), tf.keras.layers.Dense(n_classes)]
    )
    if weights is not None:
        model.set_weights(list(weights))
    return model


class TFFEngine:
    """The reference: one round of ``tff.learning.algorithms.build_weighted_fed_avg`` (or ``..._fed_prox``).

    With ``privacy`` (a :class:`tinydtl.privacy.DPAggregator`: its configuration, not its state, is
    used) the process is ``build_unweighted_fed_avg`` with
    ``tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed`` (or ``gaussian_adaptive``) as the
    model aggregator: the same clipping, noise and fixed denominator as the numpy engine, with TFF's
    own random numbers. TFF's ``tff.learning.dp_aggregator`` would also zero out updates with an entry
    above an adaptive threshold first; that step is not differentially private and is left out.
    """

    def __init__(self, X, y, W0, b0, *, client_lr, server_lr, server_momentum, proximal_mu, privacy=None):
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
        self.privacy, self.last_stats = privacy, {}
        if privacy is not None:
            self.process = tff.learning.algorithms.build_unweighted_fed_avg(
                model_fn, client_optimizer_fn=client_opt, server_optimizer_fn=server_opt,
                model_aggregator=dp_factory(tff, privacy))
        elif proximal_mu:
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

    def dataset(self, orders, batch_size):
        tf = self.tf
        ds = None
        for order in orders:
            part = tf.data.Dataset.from_tensor_slices((self.X[order], self.y[order])).batch(batch_size)
            ds = part if ds is None else ds.concatenate(part)
        return ds

    def run_round(self, plan: RoundPlan):
        if plan.local_steps is not None:
            raise ValueError("local_steps is simulated on engine='numpy' only (TFF runs whole local epochs)")
        data = [self.dataset(o, plan.batch_size) for o in plan.orders]
        out = self.process.next(self.state, data)
        self.state = out.state
        train = out.metrics["client_work"]["train"]
        if self.privacy is not None:
            self.last_stats = dp_stats(self.privacy, out.metrics["aggregator"], len(plan.clients))
        if not plan.clients.size:  # Poisson sampling drew nobody: no training metrics
            return float("nan"), float("nan")
        return float(train["loss"]), float(train["sparse_categorical_accuracy"])

    def weights(self):
        W, b = self.process.get_model_weights(self.state).trainable
        return np.asarray(W, dtype=np.float32), np.asarray(b, dtype=np.float32)

    def evaluate(self, X, y):
        """``(loss, accuracy)`` of the global model on ``(X, y)`` (the package's own evaluation)."""
        return evaluate_softmax(*self.weights(), X, y)


def dp_factory(tff, privacy):
    """TFF's DP aggregator for a :class:`tinydtl.privacy.DPAggregator`'s configuration."""
    cfg, m = privacy.config, float(privacy.expected)
    if cfg.adaptive_quantile is None:
        return tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
            noise_multiplier=float(cfg.noise_multiplier), clients_per_round=m, clip=float(cfg.clip))
    return tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive(
        noise_multiplier=float(cfg.noise_multiplier), clients_per_round=m, initial_l2_norm_clip=float(cfg.clip),
        target_unclipped_quantile=float(cfg.adaptive_quantile), learning_rate=float(cfg.clip_learning_rate),
        clipped_count_stddev=float(privacy.count_stddev))


def dp_stats(privacy, metrics, K: int) -> dict:
    """The DP columns of a TFF round (the clip TFF reports; its noise std; no clipped fraction: TFF hides it)."""
    clip = metrics.get("dp_query_metrics", {}).get("clip", privacy.config.clip) if hasattr(metrics, "get") else None
    clip = float(privacy.config.clip if clip is None else clip)
    return {"clip": clip, "noise_std": privacy.z_value * clip / privacy.expected, "clipped_fraction": float("nan")}
