"""Exercise checks of lesson 11 (privacy and security).

* :func:`check_inversion` — recover a sample's input from its softmax-layer gradient;
* :func:`check_dp_step` — one DP-FedAvg aggregation: clip, noise the sum, divide by the expected count;
* :func:`check_masks` — pairwise masks that hide each upload and cancel in the sum (mod 2³²).

Each check runs its own cases, names the common wrong answers, and refuses the package's solution.
"""

from __future__ import annotations

import numpy as np

from tinydtl.lab.exercises import Feedback, call_student, refuse_package

__all__ = ["check_dp_step", "check_inversion", "check_masks"]


def _gradient_case(rng, F=12, C=4):
    W = rng.normal(0, 0.3, size=(F, C)).astype(np.float32)
    b = rng.normal(0, 0.1, size=C).astype(np.float32)
    x = rng.random(F).astype(np.float32)
    y = int(rng.integers(C))
    logits = x @ W + b
    p = np.exp(logits - logits.max())
    p /= p.sum()
    p[y] -= 1.0
    return np.outer(x, p).astype(np.float32), p.astype(np.float32), x


def check_inversion(invert) -> Feedback:
    """``invert(grad_W, grad_b) -> x`` for ``grad_W`` of shape ``(F, C)`` (the package's ``W``)."""
    from tinydtl.privacy.attack import invert_softmax_gradient, invert_softmax_update

    name = "inversion of a one-sample softmax gradient"
    rng = np.random.default_rng(11)
    with refuse_package(invert_softmax_gradient, invert_softmax_update,
                        why="write the ratio yourself: it is one line of numpy"):
        for case in range(5):
            gW, gb, x = _gradient_case(rng, F=12 + case, C=3 + case)
            out, fb = call_student(name, invert, gW.copy(), gb.copy())
            if fb:
                return fb
            out = np.asarray(out, dtype=float)
            if out.shape != x.shape:
                if out.shape == (gW.shape[1],):
                    return Feedback(name, False, [f"you returned {out.shape[0]} values, one per class: the input has "
                                                  f"{x.shape[0]} features — divide a column of grad_W (shape F × C), "
                                                  "not a row"])
                return Feedback(name, False, [f"the input has shape {x.shape}, you returned {out.shape}"])
            if not np.isfinite(out).all():
                return Feedback(name, False, ["your answer holds NaN or inf: divide by an entry of grad_b that is "
                                              "not 0 (or use all classes at once)"])
            if np.allclose(out, gW[:, 0]) or np.allclose(out, gW.sum(axis=1)):
                return Feedback(name, False, ["a column of grad_W is the input times grad_b[c]: divide by it"])
            if np.allclose(out, -x, atol=1e-4):
                return Feedback(name, False, ["the sign is flipped: grad_W[:, c] / grad_b[c] is +x"])
            if not np.allclose(out, x, atol=1e-4):
                return Feedback(name, False, [f"case {case}: not the input (largest error "
                                              f"{np.abs(out - x).max():.3g}); grad_W = outer(x, grad_b)"])
    return Feedback(name, True, ["exact on 5 random gradients: one sample's update gives its input away"])


def _reference_step(U, clip, z, m, rng):
    norms = np.linalg.norm(U, axis=1)
    clipped = U * np.minimum(1.0, clip / np.maximum(norms, 1e-300))[:, None]
    return (clipped.sum(axis=0) + rng.normal(0.0, z * clip, size=U.shape[1])) / m


def check_dp_step(dp_step) -> Feedback:
    """``dp_step(updates, clip, noise_multiplier, expected_clients, rng) -> noised mean`` (one DP-FedAvg
    aggregation: L2-clip every row to ``clip``, add ``N(0, (z·clip)²)`` to the sum, divide by
    ``expected_clients``)."""
    from tinydtl.privacy.dp import DPAggregator, clip_updates

    name = "one DP-FedAvg aggregation step"
    rng = np.random.default_rng(3)
    U = rng.normal(0, 1.0, size=(6, 40)) * np.array([0.1, 0.5, 1.0, 2.0, 4.0, 8.0])[:, None] / np.sqrt(40)
    with refuse_package(DPAggregator.aggregate, clip_updates, why="clip and noise the updates yourself"):
        out, fb = call_student(name, dp_step, U.copy(), 1.0, 0.0, 10.0, np.random.default_rng(0))
        if fb:
            return fb
        out = np.asarray(out, dtype=float)
        want = _reference_step(U, 1.0, 0.0, 10.0, np.random.default_rng(0))
        if out.shape != want.shape:
            return Feedback(name, False, [f"the mean has one value per parameter, shape {want.shape}; got {out.shape}"])
        if np.allclose(out, _reference_step(U, 1.0, 0.0, 6.0, np.random.default_rng(0))):
            return Feedback(name, False, ["you divided by the clients that took part (6); DP-FedAvg divides by the "
                                          "*expected* number (10): the realised count must not leak"])
        if np.allclose(out, np.clip(U, -1, 1).sum(axis=0) / 10):
            return Feedback(name, False, ["you clipped each coordinate; clip each update's L2 norm (scale the row)"])
        norms = np.linalg.norm(U, axis=1, keepdims=True)
        if np.allclose(out, (U / norms).sum(axis=0) / 10):
            return Feedback(name, False, ["you scaled every update to norm exactly `clip`; shorter updates stay as "
                                          "they are: factor min(1, clip / norm)"])
        if not np.allclose(out, want, atol=1e-6):
            return Feedback(name, False, ["with z = 0 the result is the clipped sum over expected_clients; yours "
                                          f"differs by up to {np.abs(out - want).max():.3g}"])
        zeros = np.zeros((4, 100_000))
        out, fb = call_student(name, dp_step, zeros, 0.5, 2.0, 20.0, np.random.default_rng(1))
        if fb:
            return fb
        std, sigma = float(np.std(np.asarray(out, dtype=float))), 2.0 * 0.5 / 20.0
        if abs(std / (2.0 * 0.5) - 1) < 0.02:
            return Feedback(name, False, ["the noise is added to the sum, then divided by expected_clients with it"])
        if abs(std / sigma - 1) > 0.02:
            return Feedback(name, False, [f"the noise of the mean should have standard deviation z·clip/m = {sigma:g}; "
                                          f"yours has {std:.4g}"])
    return Feedback(name, True, ["clipping by L2 norm, the fixed denominator and the noise scale are right"])


def _pair_mask(seed: int, d: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, size=d, dtype=np.uint32)


def check_masks(mask) -> Feedback:
    """``mask(updates, pair_seeds) -> masked``: ``updates`` is ``(n, d)`` uint32, ``pair_seeds[(u, v)]``
    (``u < v``) seeds the mask ``np.random.default_rng(seed).integers(0, 2**32, d, dtype=np.uint32)`` the two
    share; the masked rows must hide each update and sum (mod 2³²) to the updates' sum."""
    from tinydtl.privacy.secagg import secure_aggregate

    name = "pairwise masks that cancel"
    rng = np.random.default_rng(5)
    n, d = 5, 3000
    X = rng.integers(0, 2**20, size=(n, d), dtype=np.uint32)
    seeds = {(u, v): int(rng.integers(2**31)) for u in range(n) for v in range(u + 1, n)}
    with refuse_package(secure_aggregate, why="add and subtract the pair masks yourself"):
        out, fb = call_student(name, mask, X.copy(), dict(seeds))
    if fb:
        return fb
    Y = np.asarray(out)
    if Y.shape != X.shape:
        return Feedback(name, False, [f"return one masked row per client, shape {X.shape}; got {Y.shape}"])
    if Y.dtype != np.uint32:
        return Feedback(name, False, [f"keep the rows uint32 (got {Y.dtype}): the sum must wrap modulo 2³² for the "
                                      "masks to cancel and the rows to look uniform"])
    if np.array_equal(Y, X):
        return Feedback(name, False, ["the rows are not masked: the server would read every update"])
    if not np.array_equal(Y.sum(axis=0, dtype=np.uint32), X.sum(axis=0, dtype=np.uint32)):
        both = X.copy()
        for (u, v), s in seeds.items():
            m = _pair_mask(s, d)
            both[u] += m
            both[v] += m
        if np.array_equal(Y, both):
            return Feedback(name, False, ["both clients of a pair added the mask: one adds it, the other subtracts it"])
        return Feedback(name, False, ["the masked rows do not sum to the updates' sum mod 2³²"])
    if any(np.mean(Y[u] == X[u]) > 0.01 for u in range(n)):
        return Feedback(name, False, ["some client's row is (nearly) unmasked: every client needs the masks of all "
                                      "its pairs"])
    return Feedback(name, True, ["each row looks random, the sum is exact: the server learns only the total"])
