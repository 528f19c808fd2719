"""The MLP's local SGD compiled with numba: one call trains a group of clients, step after step.

The same idea as :mod:`tinydtl.learners.softmax_kernels` (read it first) for
:class:`tinydtl.learners.mlp.MLPModel`'s ``act(x W1 + b1) W2 + b2``: the numpy reference steps all
clients together with a dozen batched numpy calls per step; :func:`mlp_sgd_clients` runs every step
of a group of clients in one compiled call (GIL released), the five matrix products of a step by
BLAS (``np.dot`` inside numba), the rest in plain compiled loops. The pixels stay ``uint8`` and are
scaled batch by batch; the next batch's rows are prefetched.

Numbers: every elementwise operation is the reference's, in its order (bias after the product, the
activation, ``x - max``, ``exp``, numpy's pairwise sum, ``/ z``, minus the one-hot, ``· 1/B``, the
activation's derivative, ``w -= lr · g`` with ``lr · g`` rounded first, bias gradients summed over
the batch one sample after the other); the sums inside the products are BLAS's. So the two kernels
agree to float32 rounding (``tests/test_mlp.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinydtl.learners.softmax_kernels import load_batch, softmax_row_gradient

__all__ = ["mlp_sgd_clients", "warm_up"]


@njit(cache=True, nogil=True)
def _hidden(x, W1, b1, relu, h):
    """``h = act(x W1 + b1)`` in place (``relu`` or tanh)."""
    np.dot(x, W1, h)
    for j in range(h.shape[0]):
        for k in range(h.shape[1]):
            v = h[j, k] + b1[k]
            h[j, k] = (v if v > 0 else np.float32(0.0)) if relu else np.tanh(v)


@njit(cache=True, nogil=True)
def _output_gradient(logits, b2, labels, stats):
    """Logits ``+ b2`` into ``(softmax - onehot) / B`` in place, as the reference; adds each sample's
    cross-entropy and correctness to ``stats``."""
    nb, C = logits.shape
    inv = np.float32(1.0) / np.float32(nb)  # the reference's mask / max(count, 1)
    for j in range(nb):
        l, label = logits[j], labels[j]
        for c in range(C):
            l[c] = l[c] + b2[c]
        softmax_row_gradient(l, label, np.float32(1.0), stats)  # x · 1 is x exactly: softmax - onehot
        for c in range(C):
            l[c] = l[c] * inv


@njit(cache=True, nogil=True)
def _descend(w, g, lr):
    """``w -= lr · g`` elementwise (flat views)."""
    w, g = w.reshape(-1), g.reshape(-1)
    for k in range(w.shape[0]):
        w[k] -= lr * g[k]


@njit(cache=True, nogil=True)
def _descend_bias(b, g, lr):
    """``b -= lr · Σ_j g[j]`` with the sum over the batch taken one sample after the other."""
    for k in range(b.shape[0]):
        s = np.float32(0.0)
        for j in range(g.shape[0]):
            s += g[j, k]
        b[k] -= lr * s


@njit(cache=True, nogil=True)
def _mlp_step(x, labels, W1, b1, W2, b2, lr, relu, h, logits, dh, gW1, gW2, stats):
    """One minibatch of SGD on ``act(x W1 + b1) W2 + b2``, parameters updated in place."""
    _hidden(x, W1, b1, relu, h)
    np.dot(h, W2, logits)
    _output_gradient(logits, b2, labels, stats)
    np.dot(logits, W2.T, dh)
    for j in range(dh.shape[0]):
        for k in range(dh.shape[1]):
            a = h[j, k]
            dh[j, k] *= (np.float32(1.0) if a > 0 else np.float32(0.0)) if relu else np.float32(1.0) - a * a
    np.dot(h.T, logits, gW2)
    _descend(W2, gW2, lr)
    _descend_bias(b2, logits, lr)
    np.dot(x.T, dh, gW1)
    _descend(W1, gW1, lr)
    _descend_bias(b1, dh, lr)
    stats[2] += x.shape[0]


@njit(cache=True, nogil=True)
def mlp_sgd_clients(source, labels, P, hidden, order, batch_ptr, client_ptr, lr, relu, stats):
    """Minibatch SGD of a group of clients of the MLP, each from its own row of ``P``, in place.

    ``source`` holds the features, uint8 pixels or float32 values ``(N, F)``; ``P`` rows are
    ``[W1 (F, H), b1 (H), W2 (H, C), b2 (C)]`` with ``H = hidden``; the batches, ``labels`` and
    ``stats`` are as in :func:`tinydtl.learners.softmax_kernels.sgd_clients`; ``relu`` chooses ReLU,
    else tanh.
    """
    F = source.shape[1]
    H = hidden
    C = (P.shape[1] - F * H - H) // (H + 1)
    B = 1
    for s in range(batch_ptr.shape[0] - 1):
        B = max(B, batch_ptr[s + 1] - batch_ptr[s])
    xb = np.zeros((B, F), np.float32)
    h, logits, dh = np.empty((B, H), np.float32), np.empty((B, C), np.float32), np.empty((B, H), np.float32)
    gW1, gW2 = np.empty((F, H), np.float32), np.empty((H, C), np.float32)
    for i in range(P.shape[0]):
        row = P[i]
        W1, b1 = row[: F * H].reshape((F, H)), row[F * H : F * H + H]
        W2, b2 = row[F * H + H : F * H + H + H * C].reshape((H, C)), row[F * H + H + H * C :]
        stats[i, :] = 0.0
        for s in range(client_ptr[i], client_ptr[i + 1]):
            nb, start = load_batch(source, order, batch_ptr, s, xb), batch_ptr[s]
            _mlp_step(xb[:nb], labels[start : start + nb], W1, b1, W2, b2, lr, relu, h[:nb], logits[:nb], dh[:nb],
                      gW1, gW2, stats[i])


def warm_up() -> None:
    """Compile :func:`mlp_sgd_clients` for uint8 pixels and for float features (see
    :func:`tinydtl.learners.softmax_kernels.warm_up`)."""
    P = np.zeros((1, 2 * 1 + 1 + 1 * 2 + 2), np.float32)  # F = 2, H = 1, C = 2
    index = np.arange(2, dtype=np.intp)
    for source in (np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.float32)):
        for relu in (True, False):
            mlp_sgd_clients(source, np.zeros(2, np.intp), P, 1, index, np.array([0, 2], np.intp),
                            np.array([0, 1], np.intp), np.float32(0.1), relu, np.zeros((1, 3)))
