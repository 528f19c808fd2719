"""The softmax learner's local SGD compiled with numba: one call trains a group of clients.

:meth:`tinydtl.learners.softmax.SoftmaxModel.local_update` has two kernels for the same minibatch SGD
(its docstring has the maths):

* ``"numpy"``, the reference: all clients of a round step together, each step a dozen batched numpy
  calls. At MNIST's shapes a step is two tiny products, ``(20 × 785) @ (785 × 10)`` and its
  transpose, so most of the time goes to calling numpy 300 times per epoch, not to arithmetic;
* ``"numba"``, this module: :func:`sgd_clients` runs every step of a group of clients in one
  compiled call, and releases the GIL, so groups of clients train in parallel threads.

What a step costs, and what this kernel does about it (MNIST, B = 20, per step):

* **arithmetic**: the two products, done by BLAS's ``sgemm`` (``np.dot`` inside numba calls the one
  SciPy ships). They are taken on the transposed weights ``WT = [[W], [b]]ᵀ`` (one row of ``F + 1``
  per class): ``WT @ xᵀ`` and ``gᵀ @ x`` run about 1.6x faster than ``x @ W`` and ``xᵀ @ g`` at these
  shapes;
* **memory**: a batch is 20 random rows of the training set. The pixels stay ``uint8`` (a quarter of
  the bytes of float32 features) and are scaled to ``[0, 1]`` batch by batch (:func:`scale_pixels`),
  and the rows of the *next* batch are prefetched (:func:`prefetch`) while this one is computed;
* **the rest** (softmax, the update ``w -= step``): plain loops, compiled.

Numbers. Every elementwise operation is the reference's, in its order (``x - max``, ``exp``, the
sum of the ``exp`` in numpy's pairwise order, ``/ z``, ``· lr / B``, minus the one-hot, FedProx's
``+ lr μ (w - w_t)``, ``w -= step``), without fused multiply-adds (``fastmath`` is off). The sums
inside the two products are BLAS's, grouped as its kernels group them, which is also true of the
reference; so the two kernels agree to float32 rounding, not bit for bit, and
``tests/test_softmax_kernels.py`` checks it on every client, step and parameter. (The training loss
is summed in float64 here, in float32 there.) Each client's arithmetic is the same whatever group
or thread it is trained in, so the threads never change a number.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["INV_255", "batch_rows", "load_batch", "pairwise_sum", "prefetch", "prefetch_batch", "scale_pixels",
           "sgd_clients", "softmax_row_gradient", "warm_up"]

#: ``float32(float64(u) * INV_255)`` is exactly ``float32(u) / float32(255)`` for every byte ``u``
#: (checked for all 256 in the tests), and a multiplication is much cheaper than a division.
INV_255 = 1.0 / 255.0


@njit(cache=True, nogil=True)
def pairwise_sum(a):
    """``a[0] + ... + a[n-1]`` in the order numpy sums a contiguous float32 row of ``n <= 128`` terms
    (its ``pairwise_sum``): below 8 terms one by one; else eight running sums, combined as a tree,
    then the rest one by one. (Longer rows are summed here as consecutive blocks of 128.)"""
    n = a.shape[0]
    if n < 8:
        s = np.float32(0.0)
        for i in range(n):
            s += a[i]
        return s
    total = np.float32(0.0)
    for block in range(0, n, 128):
        m = min(n - block, 128)
        s = a[block]
        if m >= 8:
            r0, r1, r2, r3 = a[block], a[block + 1], a[block + 2], a[block + 3]
            r4, r5, r6, r7 = a[block + 4], a[block + 5], a[block + 6], a[block + 7]
            for i in range(block + 8, block + m - m % 8, 8):
                r0, r1, r2, r3 = r0 + a[i], r1 + a[i + 1], r2 + a[i + 2], r3 + a[i + 3]
                r4, r5, r6, r7 = r4 + a[i + 4], r5 + a[i + 5], r6 + a[i + 6], r7 + a[i + 7]
            s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            rest = block + m - m % 8
        else:
            rest = block + 1
        for i in range(rest, block + m):
            s += a[i]
        total = s if block == 0 else total + s
    return total


@njit(cache=True, nogil=True)
def scale_pixels(u, out):
    """``out[f] = u[f] / 255`` in float32 (bit-identical to :func:`tinydtl.learners.softmax.preprocess`)."""
    for f in range(u.shape[0]):
        out[f] = np.float32(np.float64(u[f]) * INV_255)


@intrinsic
def prefetch(typingctx, array, row, col):
    """Ask the CPU to start loading the cache line holding ``array[row, col]`` (LLVM's
    ``llvm.prefetch``: a hint, never a fault, no effect on any number)."""
    if not (isinstance(array, types.Array) and array.ndim == 2):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], signature.args[1:])]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        # read (0), keep in all cache levels (3), data (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, row, col), codegen


@njit(cache=True, nogil=True)
def prefetch_batch(source, order, start, stop):
    """Prefetch every cache line of the rows ``source[order[start:stop]]`` (the next minibatch),
    so that their random reads from memory overlap the current step's arithmetic."""
    step = max(1, 64 // source.itemsize)
    for j in range(start, stop):
        r = order[j]
        for col in range(0, source.shape[1], step):
            prefetch(source, r, col)
        prefetch(source, r, source.shape[1] - 1)


@njit(cache=True, nogil=True)
def batch_rows(source, order, start, nb, xb):
    """The batch's feature rows into ``xb[:nb]``: ``uint8`` pixels scaled by 1/255 (:func:`scale_pixels`),
    float features copied."""
    for j in range(nb):
        r, x = source[order[start + j]], xb[j]
        if source.itemsize == 1:  # uint8 pixels (a constant for the compiler: one branch is compiled away)
            scale_pixels(r, x)
        else:
            for f in range(r.shape[0]):
                x[f] = r[f]


@njit(cache=True, nogil=True)
def load_batch(source, order, batch_ptr, s, xb):
    """Batch ``s``'s feature rows into ``xb`` (:func:`batch_rows`), after asking for batch
    ``s + 1``'s rows (:func:`prefetch_batch`). Returns the batch's size."""
    if s + 2 < batch_ptr.shape[0]:
        prefetch_batch(source, order, batch_ptr[s + 1], batch_ptr[s + 2])
    nb = batch_ptr[s + 1] - batch_ptr[s]
    batch_rows(source, order, batch_ptr[s], nb, xb)
    return nb


@njit(cache=True, nogil=True)
def softmax_row_gradient(l, label, factor, stats):
    """Turn the logits ``l`` of one sample into ``factor · (softmax(l) - onehot)`` in place (the softmax
    learner passes ``factor = lr/B``; the MLP passes 1 and scales afterwards, as its reference does), in
    the reference's operations and order; add its cross-entropy and correctness to ``stats``."""
    C = l.shape[0]
    m, best = l[0], 0
    for c in range(1, C):
        if l[c] > m:
            m, best = l[c], c
    for c in range(C):
        l[c] = l[c] - m
    true_logit = l[label]
    for c in range(C):
        l[c] = np.exp(l[c])
    z = pairwise_sum(l)
    stats[0] += np.float64(np.log(z)) - np.float64(true_logit)
    stats[1] += 1.0 if best == label else 0.0
    for c in range(C):
        l[c] = (l[c] / z) * factor
    l[label] = l[label] - factor


@njit(cache=True, nogil=True)
def _step(x, labels, WT, AT, lr, lr_mu, lT, GT, stats):
    """One minibatch ``x`` (rows ``[x, 1]``) on the transposed weights ``WT = [[W], [b]]ᵀ``, in place:
    logits ``lT = WT xᵀ``, the softmax step on each column, ``GT = lT x`` and ``WT -= GT`` (plus
    FedProx's ``lr μ (WT - AT)`` when ``lr_mu != 0``)."""
    nb = x.shape[0]
    factor = lr / np.float32(max(nb, 1))  # lr / B, the reference's per-sample factor
    np.dot(WT, x.T, lT)
    for j in range(nb):
        softmax_row_gradient(lT[:, j], labels[j], factor, stats)
    np.dot(lT, x, GT)
    w, a, g = WT.reshape(-1), AT.reshape(-1), GT.reshape(-1)
    if lr_mu != 0:
        for k in range(w.shape[0]):
            w[k] -= g[k] + lr_mu * (w[k] - a[k])
    else:
        for k in range(w.shape[0]):
            w[k] -= g[k]
    stats[2] += nb


@njit(cache=True, nogil=True)
def _transpose(src, dst):
    """``dst[c, f] = src[f, c]`` (a flat parameter row viewed as ``(F + 1, C)`` into ``(C, F + 1)``, or back)."""
    for f in range(src.shape[0]):
        for c in range(src.shape[1]):
            dst[c, f] = src[f, c]


@njit(cache=True, nogil=True)
def sgd_clients(source, labels, P, A, order, batch_ptr, client_ptr, lr, lr_mu, stats):
    """Minibatch SGD of a group of clients, each from its own row of ``P``, updated in place.

    Parameters
    ----------
    source : uint8 (N, F) or float32 (N, F + 1)
        Raw pixels (scaled by 1/255 here, batch by batch), or augmented float features ``[x, 1]``.
    labels : intp (len(order),)
        ``y[order]``: the label of each visit, in ``[0, C)``.
    P, A : float32 (K, (F + 1) C)
        One parameter row ``[W.ravel(), b]`` per client (updated in place) and its FedProx anchor
        (read only when ``lr_mu != 0``).
    order, batch_ptr, client_ptr : intp
        Client ``i`` runs batches ``client_ptr[i]`` to ``client_ptr[i + 1] - 1``; batch ``s`` holds
        the samples ``order[batch_ptr[s]:batch_ptr[s + 1]]``.
    lr, lr_mu : float32
        The SGD rate and ``lr * mu``.
    stats : float64 (K, 3)
        Filled with each client's summed cross-entropy, correct predictions and examples.
    """
    F1 = source.shape[1] + 1 if source.itemsize == 1 else source.shape[1]
    C = P.shape[1] // F1
    B = 1
    for s in range(batch_ptr.shape[0] - 1):
        B = max(B, batch_ptr[s + 1] - batch_ptr[s])
    WT, AT, GT = np.empty((C, F1), np.float32), np.empty((C, F1), np.float32), np.empty((C, F1), np.float32)
    logits = np.empty(C * B, np.float32)
    xb = np.zeros((B, F1), np.float32)
    xb[:, F1 - 1] = 1.0  # the constant feature (float rows carry their own, copied over it)
    for i in range(P.shape[0]):
        _transpose(P[i].reshape((F1, C)), WT)
        if lr_mu != 0:
            _transpose(A[i].reshape((F1, C)), AT)
        stats[i, :] = 0.0
        for s in range(client_ptr[i], client_ptr[i + 1]):
            nb, start = load_batch(source, order, batch_ptr, s, xb), batch_ptr[s]
            _step(xb[:nb], labels[start : start + nb], WT, AT, lr, lr_mu, logits[: C * nb].reshape((C, nb)), GT,
                  stats[i])
        _transpose(WT, P[i].reshape((F1, C)))


def warm_up() -> None:
    """Compile :func:`sgd_clients` for uint8 pixels and for float features, on a few tiny samples,
    so that the compiled code is in numba's on-disk cache before a lesson needs it (the first compile
    takes seconds; later processes load it from the cache). Binder's ``postBuild`` calls it."""
    P = np.zeros((1, 3 * 2), np.float32)
    index = np.arange(2, dtype=np.intp)
    for source in (np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.float32)):
        sgd_clients(source, np.zeros(2, np.intp), P, P, index, np.array([0, 2], np.intp), np.array([0, 1], np.intp),
                    np.float32(0.1), np.float32(0.0), np.zeros((1, 3)))
