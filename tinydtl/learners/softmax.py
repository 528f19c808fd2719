"""Models the simulation core trains: plain objects with init / local update / evaluate.

A model for :mod:`tinydtl.core.simulation` keeps each device's parameters as **one flat float32 row**
(a stack ``(devices, n_params)`` for many devices), so communication and aggregation never need to
know the layers: they move and average rows. The model object knows how to

* ``init(seed)``: the initial parameters (one row);
* ``local_update(X, y, params, plan, lr)``: minibatch SGD of every client of a
  :class:`~tinydtl.core.plans.RoundPlan`, by one of two kernels that agree to float32 rounding:
  ``"numba"`` (default), each client's whole round in one compiled call
  (:mod:`tinydtl.learners.softmax_kernels`), or ``"numpy"``, the reference, all clients at once in
  batched matrix products;
* ``evaluate(params, X, y)``: ``(loss, accuracy)``;
* ``arrays(params)``: the arrays a device holds (for memory accounting, :mod:`tinydtl.devices.memory`).

:class:`SoftmaxModel` is the survey's learner ``softmax(x W + b)`` for any number of features and
classes (MNIST pixels, UCR time series, ...). The softmax cross-entropy gradient and the
Glorot-uniform initialisation live here once and are reused by split learning.
"""

from __future__ import annotations

import threading

import numpy as np

from tinydtl.core.validation import check_choice, check_int_seed, check_number, scaled
from tinydtl.learners.flat_params import FlatParameters, dense_shapes
from tinydtl.learners.functional import (
    cross_entropy,
    glorot_uniform,
    softmax_cross_entropy_grad,
)

__all__ = ["KERNELS", "AugmentedFeatures", "SoftmaxModel", "evaluate_softmax", "flat_batches", "preprocess"]


# ----------------------------------------------------------------------------- preprocessing
#: The two implementations of :meth:`SoftmaxModel.local_update` (same numbers to float32 rounding).
KERNELS = ("numba", "numpy")


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


# ----------------------------------------------------------------------------- the softmax learner
class AugmentedFeatures:
    """Features ready for :meth:`SoftmaxModel.local_update`, made once per run by
    :meth:`SoftmaxModel.prepare` so no round converts or copies them again.

    ``rows`` are the float32 rows ``[x, 1]`` (pixels scaled by 1/255) the ``"numpy"`` kernel gathers.
    ``uint8`` pixels are kept as they are in ``pixels`` (a copy: a quarter of the memory) and scaled
    batch by batch by the ``"numba"`` kernel; ``rows`` are then made the first time they are asked for.
    """

    def __init__(self, X):
        X = np.asarray(X)
        self.n_features = X.shape[1]
        self.pixels, self._rows, self._lock = None, None, threading.Lock()
        if X.dtype == np.uint8:
            self.pixels = np.array(X, order="C")
        else:
            self._rows = np.empty((len(X), X.shape[1] + 1), dtype=np.float32)
            self._rows[:, :-1] = X
            self._rows[:, -1] = 1.0

    @property
    def rows(self) -> np.ndarray:
        with self._lock:  # threads of one update may ask at once: one makes the rows, all see them whole
            if self._rows is None:
                rows = np.empty((len(self.pixels), self.n_features + 1), dtype=np.float32)
                np.divide(self.pixels, np.float32(255.0), out=rows[:, :-1])  # bit-identical to preprocess()
                rows[:, -1] = 1.0
                self._rows = rows
        return self._rows

    def __len__(self):
        return len(self.pixels) if self.pixels is not None else len(self._rows)

    def __getstate__(self):  # pickle and deepcopy: everything but the lock
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())


class SoftmaxModel(FlatParameters):
    """``softmax(x W + b)`` with ``W (n_features, n_classes)``, ``b (n_classes,)``; params are one
    flat float32 row ``[W.ravel(), b]``.

    The update is minibatch SGD on the mean cross-entropy (optionally with FedProx's
    ``(μ/2)||w - anchor||²``, Li et al. 2020, eq. (2)).
    """

    def __init__(self, n_features: int, n_classes: int, *, threads: int = 1, kernel: str = "numba"):
        check_number("n_features", n_features, low=1, integer=True)
        check_number("n_classes", n_classes, low=2, integer=True)
        check_number("threads", threads, low=1, integer=True)
        check_choice("kernel", kernel, KERNELS)
        self.n_features, self.n_classes, self.threads = int(n_features), int(n_classes), int(threads)
        self.kernel = kernel

    params_rule = "n_params = n_features * n_classes + n_classes"

    @property
    def shapes(self):
        return dense_shapes((self.n_features, self.n_classes))

    def init(self, seed=0) -> np.ndarray:
        """Glorot-uniform ``W`` and zero ``b`` (seeded), flat."""
        seed = check_int_seed("seed", seed)
        W = glorot_uniform(self.n_features, self.n_classes, np.random.default_rng([seed, 7919]))
        return self.flatten(W, np.zeros(self.n_classes, dtype=np.float32))

    def prepare(self, X) -> AugmentedFeatures:
        """``X`` (from :func:`as_features`) as :class:`AugmentedFeatures`, for repeated local updates."""
        if isinstance(X, AugmentedFeatures):
            return X
        if np.shape(X)[1:] != (self.n_features,):
            raise ValueError(f"X must have {self.n_features} features per row, got shape {np.shape(X)}")
        return AugmentedFeatures(X)

    def loss_and_gradient(self, params, X, y):
        """Mean cross-entropy on ``(X, y)`` and its gradient with respect to one flat row of parameters."""
        W, b = self.unflatten(np.asarray(params, dtype=np.float32))
        X = scaled(X) if np.asarray(X).dtype == np.uint8 else np.asarray(X, dtype=np.float32)
        logits = X @ W + b
        loss = float(np.mean(cross_entropy(logits, y)))
        g = softmax_cross_entropy_grad(logits, y)
        return loss, self.flatten(X.T @ g, g.sum(axis=0))

    def evaluate(self, params, X, y, chunk: int = 8192):
        """Mean cross-entropy and accuracy on ``(X, y)`` (features from :func:`as_features`)."""
        self.check_params(params)
        if np.shape(X)[1:] != (self.n_features,):
            raise ValueError(f"X must have {self.n_features} features per row, got shape {np.shape(X)}")
        W, b = self.unflatten(params)
        return evaluate_softmax(W, b, X, y, chunk)

    def _buffers(self, K, B):
        """Work arrays reused across steps and calls (fresh large arrays would cost page faults);
        one set per thread."""
        key = (K, B, threading.get_ident())
        cache = self.__dict__.setdefault("_work", {})
        if key not in cache:
            F, C = self.n_features, self.n_classes
            xs = np.empty((K, B, F + 1), dtype=np.float32)  # minibatch rows [x, 1]
            for old in [k for k in cache if k[2] == key[2]]:
                del cache[old]  # keep one set per thread: the shapes of the current run
            cache[key] = (xs, np.empty((K, B, C), np.float32), np.empty((K, F + 1, C), np.float32))
        return cache[key]

    def local_update(self, X, y, params, plan, lr, *, mu=0.0, anchor=None, copy=True):
        """Minibatch SGD on every client of ``plan``, all clients at once.

        Client ``plan.clients[i]`` starts from row ``params[i]`` and follows its batches in ``plan``;
        with ``mu > 0`` its gradient gains ``mu (w - anchor_i)`` (FedProx). ``X`` is uint8 pixels or
        float32 features (:func:`as_features`), or :class:`AugmentedFeatures` prepared once. ``copy=False`` lets it update a float32 C-contiguous
        ``params`` in place (the caller's array is then overwritten).

        The flat row ``[W.ravel(), b]`` is the augmented matrix ``[[W], [b]]`` of shape
        ``(F + 1, C)``, and the features carry a constant 1 (:class:`AugmentedFeatures`, made once per
        run with :meth:`prepare`), so ``logits = [x, 1] @ [[W], [b]]`` and one matrix product gives the
        gradients of ``W`` and ``b`` together.

        Two kernels compute it (constructor's ``kernel``): ``"numba"`` (default) trains each client's
        whole round in one compiled call (:mod:`tinydtl.learners.softmax_kernels`); ``"numpy"``, the
        reference, steps all clients together with batched numpy products. They agree to float32
        rounding (``tests/test_softmax_kernels.py``).

        With ``threads > 1`` (constructor) the clients are split into that many groups trained in
        parallel threads (both kernels release the GIL); every client's arithmetic is the same, so
        the parameters do not depend on the number of threads.

        Returns ``(params, n_examples, loss_sum, correct)``, rows in plan order.
        """
        K = len(plan.clients)
        self.check_params(params, rows=K)
        check_number("lr", lr, low=0, low_open=True)
        check_number("mu", mu, low=-np.inf)  # the front end refuses mu < 0; a test negates it on purpose
        X = self.prepare(X)
        if self.kernel == "numba":
            return self._compiled_update(X, y, params, plan, lr, mu=mu, anchor=anchor, copy=copy)
        if self.threads > 1 and K >= 2 * self.threads:
            return self._threaded_update(X, y, params, plan, lr, mu=mu, anchor=anchor)
        return self._update(X, y, params, plan, lr, mu=mu, anchor=anchor, copy=copy)

    def _thread_pool(self):
        from concurrent.futures import ThreadPoolExecutor

        pool = self.__dict__.get("_pool")
        if pool is None:
            pool = self.__dict__["_pool"] = ThreadPoolExecutor(self.threads)
        return pool

    def _compiled_update(self, X, y, params, plan, lr, *, mu, anchor, copy):
        """The ``"numba"`` kernel: each group of clients trained by one compiled call
        (:func:`tinydtl.learners.softmax_kernels.sgd_clients`), the groups in parallel threads."""
        from tinydtl.learners.softmax_kernels import sgd_clients

        K = len(plan.clients)
        P = np.array(params, dtype=np.float32, order="C") if copy else np.require(params, np.float32, ["C", "W"])
        lr, lr_mu = np.float32(lr), np.float32(lr) * np.float32(mu)
        A = np.ascontiguousarray(anchor, dtype=np.float32) if lr_mu != 0 else P
        order, batch_ptr, client_ptr = flat_batches(plan)
        if order.size and order.min() < 0:
            raise ValueError(f"the plan's sample indices must be >= 0, got {order.min()}")
        labels = np.asarray(y)[order].astype(np.intp, copy=False)  # labels in the order they are visited
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(f"y must hold labels in [0, {self.n_classes - 1}], got {labels.min()}..{labels.max()}")
        source = X.pixels if X.pixels is not None else X.rows
        stats = np.zeros((K, 3))

        def run(a, b):  # clients a..b-1: rows of P and stats, their batches through client_ptr
            sgd_clients(source, labels, P[a:b], A[a:b], order, batch_ptr, client_ptr[a : b + 1], lr, lr_mu, stats[a:b])

        bounds = np.linspace(0, K, min(self.threads, K) + 1).round().astype(int)
        if len(bounds) > 2:
            for job in [self._thread_pool().submit(run, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
                job.result()
        elif K:
            run(0, K)
        return P, stats[:, 2].astype(np.float32), float(stats[:, 0].sum()), float(stats[:, 1].sum())

    def _threaded_update(self, X, y, params, plan, lr, *, mu, anchor):
        K = len(plan.clients)
        groups = np.array_split(np.arange(K), self.threads)
        pool = self._thread_pool()
        params = np.asarray(params, dtype=np.float32)
        jobs = [pool.submit(self._update, X, y, params[g], plan.subset(g), lr, mu=mu,
                            anchor=None if anchor is None else np.asarray(anchor)[g], copy=False) for g in groups]
        out = [j.result() for j in jobs]
        return (np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out]),
                sum(o[2] for o in out), sum(o[3] for o in out))

    def _update(self, X, y, params, plan, lr, *, mu=0.0, anchor=None, copy=True):
        K, B = len(plan.clients), plan.batch_size
        F, C = self.n_features, self.n_classes
        lr = np.float32(lr)
        mu = np.float32(mu)
        y = np.asarray(y)
        batches = [plan.batches(i) for i in range(K)]
        # Clients with more steps first: at step s the clients still training are a prefix
        # [:active[s]], so skewed partitions cost no work for clients that are done.
        steps = np.array([len(bs) for bs in batches])
        by_steps = np.argsort(-steps, kind="stable")
        in_order = bool(np.array_equal(by_steps, np.arange(K)))
        batches = [batches[i] for i in by_steps]
        S = int(steps.max())
        active = (steps[None, :] > np.arange(S)[:, None]).sum(axis=1)
        idx = np.zeros((S, K, B), dtype=np.intp)
        mask = np.zeros((S, K, B), dtype=np.float32)
        for i, bs in enumerate(batches):
            for s, batch in enumerate(bs):
                idx[s, i, : len(batch)] = batch
                mask[s, i, : len(batch)] = 1.0
        cnt = mask.sum(axis=2)
        # per-sample factor lr / (samples in the client's batch), 0 on padding and for finished clients;
        # onehot_lr[s, i, b] = factor * onehot(y): the gradient step on the logits is p * factor - onehot_lr
        factor = (mask * (lr / np.maximum(cnt, np.float32(1.0)))[..., None]).astype(np.float32)[..., None]
        Y = y[idx]  # (S, K, B) labels, gathered once
        onehot_lr = np.zeros((S, K, B, C), dtype=np.float32)
        np.put_along_axis(onehot_lr, Y[..., None], factor, axis=3)
        if in_order:
            P = np.array(params, dtype=np.float32, copy=copy, order="C")
        else:
            P = np.asarray(params, dtype=np.float32)[by_steps]  # fancy indexing: private copies
        W = P.reshape(K, F + 1, C)  # augmented [[W], [b]] per client, a view
        if mu:
            aW = np.asarray(anchor, dtype=np.float32)[by_steps].reshape(K, F + 1, C)
            lr_mu = lr * mu
        xs, logits, gW = self._buffers(K, B)
        rows_X = X.rows
        # training metrics, written per step and summed once at the end
        true_logit = np.zeros((S, K, B), dtype=np.float32)
        log_z = np.zeros((S, K, B), dtype=np.float32)
        pred = np.zeros((S, K, B), dtype=np.intp)
        rows = np.arange(K)[:, None]
        cols = np.arange(B)[None, :]
        for s in range(S):
            k = int(active[s])
            x_k, l_k, g_k, W_k = xs[:k], logits[:k], gW[:k], W[:k]
            # the minibatch rows [x, 1] straight into the work buffer (mode="clip": indices are valid,
            # and "raise" would buffer the output, one more copy per step)
            np.take(rows_X, idx[s, :k].reshape(-1), axis=0, out=x_k.reshape(k * B, F + 1), mode="clip")
            np.matmul(x_k, W_k, out=l_k)  # x W + b
            l_k -= l_k.max(axis=2, keepdims=True)
            true_logit[s, :k] = l_k[rows[:k], cols, Y[s, :k]]
            np.argmax(l_k, axis=2, out=pred[s, :k])
            np.exp(l_k, out=l_k)
            z = l_k.sum(axis=2, keepdims=True)
            np.log(z[..., 0], out=log_z[s, :k])
            l_k /= z  # softmax probabilities
            l_k *= factor[s, :k]
            l_k -= onehot_lr[s, :k]  # lr * d loss / d logits
            np.matmul(x_k.transpose(0, 2, 1), l_k, out=g_k)  # lr * [x, 1]^T g: steps for W and b
            if mu:
                g_k += lr_mu * (W_k - aW[:k])
            W_k -= g_k
        loss_sum = float(((log_z - true_logit) * mask).sum())
        correct = float(((pred == Y) * mask).sum())
        n = mask.sum(axis=(0, 2))
        if in_order:
            return P, n, loss_sum, correct
        order = np.empty_like(by_steps)
        order[by_steps] = np.arange(K)  # back to plan order
        return P[order], n[order], loss_sum, correct


def flat_batches(plan):
    """Every client's minibatches as flat arrays: ``order`` (the samples, batch after batch, client
    after client), ``batch_ptr`` (batch ``s`` is ``order[batch_ptr[s]:batch_ptr[s + 1]]``) and
    ``client_ptr`` (client ``i`` runs batches ``client_ptr[i]`` to ``client_ptr[i + 1] - 1``)."""
    batches = [plan.batches(i) for i in range(len(plan.clients))]
    flat = [b for bs in batches for b in bs]
    client_ptr = np.zeros(len(batches) + 1, dtype=np.intp)
    np.cumsum(np.fromiter(map(len, batches), np.intp, len(batches)), out=client_ptr[1:])
    batch_ptr = np.zeros(len(flat) + 1, dtype=np.intp)
    np.cumsum(np.fromiter(map(len, flat), np.intp, len(flat)), out=batch_ptr[1:])
    order = np.concatenate(flat).astype(np.intp, copy=False) if flat else np.zeros(0, dtype=np.intp)
    return order, batch_ptr, client_ptr


def evaluate_softmax(W, b, X, y, chunk: int = 8192):
    """Mean cross-entropy and accuracy of ``softmax(X W + b)`` on ``(X, y)``."""
    if len(X) == 0:
        raise ValueError("X must hold at least one sample to evaluate on")
    loss, correct = 0.0, 0
    for s in range(0, len(X), chunk):
        logits = scaled(X[s : s + chunk]) @ W + b
        yy = y[s : s + chunk]
        loss += float(cross_entropy(logits, yy).sum())
        correct += int((logits.argmax(axis=1) == yy).sum())
    return loss / len(X), correct / len(X)





