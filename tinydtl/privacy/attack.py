"""Why federated learning is not private by itself: an update gives the client's data away.

For the survey's softmax learner ``logits = x W + b`` (``W`` of shape ``(F, C)``) and the
cross-entropy loss of **one** sample ``(x, y)``, the gradient is an outer product:

.. math::
    g = \\partial L / \\partial \\text{logits} = \\text{softmax}(xW + b) - \\text{onehot}(y), \\qquad
    \\partial L/\\partial W = x^\\top g, \\qquad \\partial L / \\partial b = g .

Every column ``c`` of ``∂L/∂W`` is the input times one number, ``x · g_c``, and ``∂L/∂b_c = g_c``, so
``x = (∂L/∂W)[:, c] / (∂L/∂b)_c`` for any class with ``g_c ≠ 0`` — exactly, whatever the weights
(Phong et al. 2017, "Privacy-Preserving Deep Learning via Additively Homomorphic Encryption",
sec. 3; the analytic case of Zhu, Liu & Han 2019, "Deep Leakage from Gradients"). A client's
one-step update ``Δ = -η ∇`` is the gradient scaled by ``-η``, and the ratio cancels ``η``: the
server reads the client's image off its update. :func:`invert_softmax_gradient` uses all classes
at once (the least-squares ratio ``∂L/∂W · g / (g·g)``, exact for one sample and better
conditioned than one column).

With a **minibatch** of ``B`` samples the gradient is the average ``(1/B) Σ_i x_iᵀ g_i``, no longer
an outer product: the ratio mixes the images. But column ``c`` weighs the samples labelled ``c``
by ``p_c - 1 < 0`` and the others by small ``p_c > 0``, so minus the column still shows that
class's images (:func:`class_reconstructions`): averaging over a batch blurs the leak, it does not
remove it.
Secure aggregation hides individual updates from the server; differential privacy bounds what
even the aggregate reveals (:mod:`tinydtl.privacy.secagg`, :mod:`tinydtl.privacy.dp`).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import check_finite_array, check_number

__all__ = ["class_reconstructions", "cosine_similarity", "invert_softmax_gradient", "invert_softmax_update",
           "softmax_gradient"]


def softmax_gradient(W, b, x, y):
    """``(∂L/∂W, ∂L/∂b)`` of the mean cross-entropy of ``softmax(x W + b)`` on the samples ``(x, y)``
    (``x`` of shape ``(B, F)`` or one sample ``(F,)``), in float32 as a device computes it."""
    W = check_finite_array("W", W, ndim=2, dtype=np.float32)
    b = check_finite_array("b", b, shape=(W.shape[1],), dtype=np.float32)
    x = check_finite_array("x", x, dtype=np.float32)
    x = x[None, :] if x.ndim == 1 else x
    y = np.atleast_1d(np.asarray(y))
    if x.ndim != 2 or x.shape[1] != W.shape[0] or y.shape != (len(x),):
        raise ValueError(f"x must have {W.shape[0]} features per sample and y one label per sample, "
                         f"got x {x.shape}, y {y.shape}")
    logits = x @ W + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(x)), y] -= 1.0
    p /= np.float32(len(x))
    return (x.T @ p).astype(np.float32), p.sum(axis=0).astype(np.float32)


def _check_pair(grad_W, grad_b):
    gW = check_finite_array("grad_W", grad_W, ndim=2)
    gb = check_finite_array("grad_b", grad_b, ndim=1)
    if gb.shape[0] != gW.shape[1]:
        raise ValueError(f"grad_b must have one entry per column of grad_W (shape (F, C) = {gW.shape}), "
                         f"got {gb.shape[0]}")
    return gW, gb


def invert_softmax_gradient(grad_W, grad_b) -> np.ndarray:
    """The input ``x`` of one sample from its softmax-layer gradient (exact for one sample).

    ``grad_W`` has shape ``(F, C)`` (the package's ``W``), ``grad_b`` shape ``(C,)``. Returns
    ``grad_W · grad_b / (grad_b · grad_b)`` (float64), which is ``x`` when ``grad_W = xᵀ grad_b``.
    Raises ``ValueError`` if ``grad_b`` is zero (nothing to divide by: the sample was predicted with
    probability 1, and its gradient is zero).
    """
    gW, gb = _check_pair(grad_W, grad_b)
    norm2 = float(gb @ gb)
    if norm2 == 0.0:
        raise ValueError("grad_b is zero: a zero gradient carries no information about the input")
    return gW @ gb / norm2


def invert_softmax_update(update, n_features: int, n_classes: int) -> np.ndarray:
    """The input from a client's one-step update (a flat row ``[ΔW.ravel(), Δb]`` as the package sends
    it): ``Δ = -η ∇`` and the ratio in :func:`invert_softmax_gradient` cancels ``-η``."""
    check_number("n_features", n_features, low=1, integer=True)
    check_number("n_classes", n_classes, low=2, integer=True)
    u = check_finite_array("update", update, ndim=1)
    if u.shape[0] != n_features * n_classes + n_classes:
        raise ValueError(f"update must hold n_features * n_classes + n_classes = "
                         f"{n_features * n_classes + n_classes} values, got {u.shape[0]}")
    split = n_features * n_classes
    return invert_softmax_gradient(u[:split].reshape(n_features, n_classes), u[split:])


def class_reconstructions(grad_W) -> np.ndarray:
    """What a minibatch gradient shows of each class: ``−∂L/∂W[:, c]`` for every class ``c`` (rows).

    Column ``c`` of the batch gradient is ``(1/B) Σ_i x_i (p_{i,c} − 1[y_i = c])``: the images labelled
    ``c`` enter with weight ``p − 1 < 0``, the others with small ``p_{i,c} > 0``, so minus the column is
    (a multiple of) the images of class ``c`` less a faint mix of the rest. Dividing by ``∂L/∂b_c`` as
    for one sample is ill-conditioned here: the weights nearly cancel when the model is undecided.
    """
    return -check_finite_array("grad_W", grad_W, ndim=2).T


def cosine_similarity(a, b) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (``(len(a), len(b))``; 0 for a zero row)."""
    a = np.atleast_2d(check_finite_array("a", a))
    b = np.atleast_2d(check_finite_array("b", b))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same width, got {a.shape[1]} and {b.shape[1]}")
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    return (a / np.where(na == 0, 1, na)) @ (b / np.where(nb == 0, 1, nb)).T
