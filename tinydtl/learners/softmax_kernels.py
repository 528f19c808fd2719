"""The softmax learner's local SGD compiled with numba: one call trains a group of clients.

:meth:`tinydtl.learners.softmax.SoftmaxModel.local_update` has two kernels for the same minibatch SGD
(its docstring has the maths):

* ``"numpy"``, the reference: all clients of a round step together, each step a dozen batched numpy
  calls. At MNIST's shapes a step is two tiny products, ``(20 × 785) @ (785 × 10)`` and its
  transpose, so most of the time goes to calling numpy 300 times per epoch, not to arithmetic;
* ``"numba"``, this module: :func:`sgd_clients` runs every step of a group of clients in one
  compiled call, and releases the GIL, so groups of clients train in parallel threads.

What a step costs, and what this kernel does about it (MNIST, B = 20, per step):

* **arithmetic**: the two products, ``WT @ xᵀ`` and ``gᵀ @ x`` on the transposed weights
  ``WT = [[W], [b]]ᵀ`` (one row of ``F + 1`` per class), by this module's own loops
  (:func:`logits_product`, :func:`gradient_product`): 2 classes × 4 samples per pass over the features,
  eight running sums in vector registers. At these tiny shapes a BLAS ``sgemm`` call spends most of its
  time getting ready; the loops run them about 2-3x faster (``benchmarks/bench_fedavg.py`` times both);
* **memory**: a batch is 20 random rows of the training set. The pixels stay ``uint8`` (a quarter of
  the bytes of float32 features) and are scaled to ``[0, 1]`` batch by batch (:func:`scale_pixels`),
  and the rows of the *next* batch are prefetched (:func:`prefetch`) while this one is computed;
* **the rest** (softmax, the update ``w -= step``): plain loops, compiled.

Numbers. Every elementwise operation is the reference's, in its order (``x - max``, ``exp``, the
sum of the ``exp`` in numpy's pairwise order, ``/ z``, ``· lr / B``, minus the one-hot, FedProx's
``+ lr μ (w - w_t)``, ``w -= step``), without fused multiply-adds (``fastmath`` is off there). Only
the sums inside the two products may be regrouped and fused (:data:`PRODUCT_FASTMATH`), as BLAS
regroups them in the reference; so the two kernels agree to float32 rounding, not bit for bit, and
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
           "sgd_clients", "softmax_row_gradient", "logits_product", "gradient_product", "PRODUCT_FASTMATH", "warm_up"]

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


#: numba's fast-math flags for the two products only: sums may be reordered (so the loops vectorise) and a
#: multiply-add fused, as BLAS does; NaN and infinities keep their meaning (a diverging run is still caught).
PRODUCT_FASTMATH = {"reassoc", "contract"}


@njit(cache=True, nogil=True, fastmath=PRODUCT_FASTMATH)
def logits_product(WT, x, lT):
    """``lT = WT xᵀ``: ``lT[c, j] = Σ_f WT[c, f] x[j, f]`` for ``WT (C, F)``, ``x (nb, F)``, ``lT (C, nb)``.

    At the learner's shapes (C = 10 classes, a batch of 20, F = 785) a BLAS call spends most of its time
    getting ready; this loop computes 2 classes × 4 samples per pass over ``f`` (eight running sums in
    registers, each weight and pixel loaded once for four or two multiply-adds), about 3x faster."""
    C, F = WT.shape
    nb = x.shape[0]
    for c in range(0, C - C % 2, 2):
        w0, w1 = WT[c], WT[c + 1]
        for j in range(0, nb - nb % 4, 4):
            x0, x1, x2, x3 = x[j], x[j + 1], x[j + 2], x[j + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = np.float32(0.0)
            for f in range(F):
                a0, a1 = w0[f], w1[f]
                s00 += a0 * x0[f]
                s01 += a0 * x1[f]
                s02 += a0 * x2[f]
                s03 += a0 * x3[f]
                s10 += a1 * x0[f]
                s11 += a1 * x1[f]
                s12 += a1 * x2[f]
                s13 += a1 * x3[f]
            lT[c, j], lT[c, j + 1], lT[c, j + 2], lT[c, j + 3] = s00, s01, s02, s03
            lT[c + 1, j], lT[c + 1, j + 1], lT[c + 1, j + 2], lT[c + 1, j + 3] = s10, s11, s12, s13
        for j in range(nb - nb % 4, nb):
            xj, s0, s1 = x[j], np.float32(0.0), np.float32(0.0)
            for f in range(F):
                s0 += w0[f] * xj[f]
                s1 += w1[f] * xj[f]
            lT[c, j], lT[c + 1, j] = s0, s1
    for c in range(C - C % 2, C):
        w = WT[c]
        for j in range(nb):
            xj, s = x[j], np.float32(0.0)
            for f in range(F):
                s += w[f] * xj[f]
            lT[c, j] = s


@njit(cache=True, nogil=True, fastmath=PRODUCT_FASTMATH)
def gradient_product(lT, x, GT):
    """``GT = lT x``: ``GT[c, f] = Σ_j lT[c, j] x[j, f]``, 2 classes × 4 samples per pass over ``f``
    (see :func:`logits_product`)."""
    C, nb = lT.shape
    F = x.shape[1]
    for c in range(0, C - C % 2, 2):
        g0, g1 = GT[c], GT[c + 1]
        for f in range(F):
            g0[f] = np.float32(0.0)
            g1[f] = np.float32(0.0)
        for j in range(0, nb - nb % 4, 4):
            a0, a1, a2, a3 = lT[c, j], lT[c, j + 1], lT[c, j + 2], lT[c, j + 3]
            b0, b1, b2, b3 = lT[c + 1, j], lT[c + 1, j + 1], lT[c + 1, j + 2], lT[c + 1, j + 3]
            x0, x1, x2, x3 = x[j], x[j + 1], x[j + 2], x[j + 3]
            for f in range(F):
                u0, u1, u2, u3 = x0[f], x1[f], x2[f], x3[f]
                g0[f] += (a0 * u0 + a1 * u1) + (a2 * u2 + a3 * u3)
                g1[f] += (b0 * u0 + b1 * u1) + (b2 * u2 + b3 * u3)
        for j in range(nb - nb % 4, nb):
            a, b, xj = lT[c, j], lT[c + 1, j], x[j]
            for f in range(F):
                g0[f] += a * xj[f]
                g1[f] += b * xj[f]
    for c in range(C - C % 2, C):
        g = GT[c]
        for f in range(F):
            g[f] = np.float32(0.0)
        for j in range(nb):
            a, xj = lT[c, j], x[j]
            for f in range(F):
                g[f] += a * xj[f]


@njit(cache=True, nogil=True)
def _step(x, labels, WT, AT, lr, lr_mu, lT, GT, stats):
    """One minibatch ``x`` (rows ``[x, 1]``) on the transposed weights ``WT = [[W], [b]]ᵀ``, in place:
    logits ``lT = WT xᵀ``, the softmax step on each column, ``GT = lT x`` and ``WT -= GT`` (plus
    FedProx's ``lr μ (WT - AT)`` when ``lr_mu != 0``)."""
    nb = x.shape[0]
    factor = lr / np.float32(max(nb, 1))  # lr / B, the reference's per-sample factor
    logits_product(WT, x, lT)
    for j in range(nb):
        softmax_row_gradient(lT[:, j], labels[j], factor, stats)
    gradient_product(lT, x, GT)
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
