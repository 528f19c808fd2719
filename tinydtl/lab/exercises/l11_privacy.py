"""Exercise checks of lesson 11 (privacy and security).

* :func:`check_reconstruct` — Shamir's secret from ``t`` (or more) shares: Lagrange interpolation at 0 in GF(p);
* :func:`check_remove_dropped` — the server's repair after a dropout: remove the dropped client's pair masks
  from the survivors' sum (mod 2³²);
* :func:`check_next_clip` — one step of adaptive clipping (Andrew et al. 2021) from a noised count of the
  *unclipped* updates, and whether the rule finds the quantile it tracks.

Each check runs its own cases, names the common wrong answers, and refuses the package's solution.
"""

from __future__ import annotations

import math

import numpy as np

from tinydtl.lab.exercises import Feedback, call_student, refuse_package

__all__ = ["check_next_clip", "check_reconstruct", "check_remove_dropped"]


# ----------------------------------------------------------------------------- 1. Shamir
def _shares(secret: int, threshold: int, holders, prime: int, rng) -> list:
    coeffs = [secret] + [int(rng.integers(1, 2**62)) % prime for _ in range(threshold - 1)]
    return [sum(a * pow(x, i, prime) for i, a in enumerate(coeffs)) % prime for x in holders]


def _lagrange(xs, ys, prime, sign=1) -> int:
    total = 0
    for j, (xj, yj) in enumerate(zip(xs, ys)):
        num = den = 1
        for m, xm in enumerate(xs):
            if m != j:
                num = num * xm % prime
                den = den * (sign * (xm - xj)) % prime
        total += yj * num * pow(den, -1, prime)
    return total % prime


SHAMIR_CASES = (  # (label, prime, threshold, holders)
    ("3 of holders 1, 2, 3", 2**31 - 1, 3, [1, 2, 3]),
    ("3 shares of holders 7, 2, 5 (unsorted)", 2**31 - 1, 3, [7, 2, 5]),
    ("4-of-6, all 6 shares given", 2**31 - 1, 4, [1, 2, 3, 4, 5, 6]),
    ("2 of holders 3, 10 with p = 2^61 - 1", 2**61 - 1, 2, [3, 10]),
    ("5 of holders 11..15 with p = 2^61 - 1", 2**61 - 1, 5, [11, 12, 13, 14, 15]),
)


def check_reconstruct(reconstruct) -> Feedback:
    """``reconstruct(xs, ys, prime) -> secret``: the shares ``ys[i] = p(xs[i]) mod prime`` of a polynomial
    of degree ``< len(xs)``; return ``p(0)`` as an integer in ``[0, prime)``."""
    from tinydtl.privacy.shamir import combine, lagrange_at_zero

    name = "Shamir reconstruction"
    rng = np.random.default_rng(1979)
    lagrange_at_zero.cache_clear()  # the cached weights would skip the refusal
    with refuse_package(combine, lagrange_at_zero.__wrapped__, why="interpolate at 0 yourself: a few lines of Python ints"):
        for label, prime, t, holders in SHAMIR_CASES:
            secret = int(rng.integers(0, 2**62)) % prime
            ys = _shares(secret, t, holders, prime, rng)
            out, fb = call_student(name, reconstruct, list(holders), list(ys), prime)
            if fb:
                return fb
            if isinstance(out, (float, np.floating)) and not float(out).is_integer():
                return Feedback(name, False, [f"{label}: you returned {out!r}, not an integer: division in GF(p) is "
                                              "multiplication by the inverse modulo p (pow(d, -1, p)), not `/`"])
            try:
                got = int(out)
            except (TypeError, ValueError, OverflowError):
                return Feedback(name, False, [f"{label}: return the secret as one integer, got {type(out).__name__}"])
            if got == secret:
                continue
            if got % prime == secret:
                return Feedback(name, False, [f"{label}: right modulo p but {got} is outside [0, p): reduce the "
                                              "result modulo p"])
            if got in (ys[0], ys[-1]):
                return Feedback(name, False, [f"{label}: that is a holder's share p(x_i); the secret is p(0), the "
                                              "value of the polynomial at x = 0"])
            if got == _lagrange(holders, ys, prime, sign=-1) and t % 2 == 0:
                return Feedback(name, False, [f"{label}: the sign is off for an even number of shares: each "
                                              "weight is the product of x_m / (x_m − x_j) over m ≠ j"])
            if prime > 2**32 and isinstance(out, (np.integer, np.floating)):
                return Feedback(name, False, [f"{label}: wrong with a 61-bit prime and a numpy result "
                                              f"({type(out).__name__}): products of two residues need 122 bits and "
                                              "overflow int64; compute with Python ints"])
            if prime > 2**32:
                return Feedback(name, False, [f"{label}: right for p = 2^31 − 1, wrong for p = 2^61 − 1: an "
                                              "intermediate overflowed (int64, float) or lost precision; use "
                                              "Python ints and pow(d, -1, p)"])
            return Feedback(name, False, [f"{label}: got {got}, not the secret; p(0) = Σ_j y_j λ_j with "
                                          "λ_j the Lagrange weight of holder j evaluated at 0, everything mod p"])
    return Feedback(name, True, [f"exact on {len(SHAMIR_CASES)} cases (unsorted holders, more shares than t, a "
                                 "61-bit prime): any t shares rebuild the key, as SecAgg's server does for a dropout"])


# ----------------------------------------------------------------------------- 2. a dropout
def _mask(seed: int, d: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, size=d, dtype=np.uint32)


def _dropout_case(rng, n, d, dropped):
    X = rng.integers(0, 2**20, size=(n, d), dtype=np.uint32)
    seeds = {(u, v): int(rng.integers(2**31)) for u in range(n) for v in range(u + 1, n)}
    Y = X.copy()
    for (u, v), s in seeds.items():
        Y[u] += _mask(s, d)
        Y[v] -= _mask(s, d)
    survivors = [u for u in range(n) if u != dropped]
    total = Y[survivors].sum(axis=0, dtype=np.uint32)
    own = {pair: s for pair, s in seeds.items() if dropped in pair}
    return total, own, X[survivors].sum(axis=0, dtype=np.uint32)


def _signed_repair(total, dropped, seeds, sign_low, sign_high):
    """``total`` with each pair mask added (+1) or subtracted (−1), by whether the survivor is below or above."""
    out = total.copy()
    for (u, v), s in seeds.items():
        other = v if u == dropped else u
        if (sign_low if other < dropped else sign_high) > 0:
            out += _mask(s, len(total))
        else:
            out -= _mask(s, len(total))
    return out


def check_remove_dropped(remove_dropped) -> Feedback:
    """``remove_dropped(total, dropped, pair_seeds) -> sum``: ``total`` is the survivors' uploads summed mod 2³²
    (self-masks already removed), ``pair_seeds[(a, b)]`` (``a < b``, one of them ``dropped``) the seeds the
    server rebuilt from the dropped client's key; return the survivors' plain sum (uint32)."""
    from tinydtl.privacy.secagg import secure_aggregate

    name = "removing a dropped client's pair masks"
    rng = np.random.default_rng(2017)
    with refuse_package(secure_aggregate, why="add and subtract the dropped client's pair masks yourself"):
        for n, d, dropped in ((4, 500, 2), (6, 800, 0), (6, 800, 5), (7, 300, 3)):
            total, seeds, want = _dropout_case(rng, n, d, dropped)
            out, fb = call_student(name, remove_dropped, total.copy(), dropped, dict(seeds))
            if fb:
                return fb
            where = f"{n} clients, client {dropped} dropped"
            try:
                got = np.asarray(out)
            except Exception:  # noqa: BLE001 - any object may come back
                return Feedback(name, False, [f"{where}: return an array, got {type(out).__name__}"])
            if got.shape != want.shape:
                return Feedback(name, False, [f"{where}: return the summed vector, shape {want.shape}; got {got.shape}"])
            if got.dtype != np.uint32:
                exact = np.array_equal(got.astype(np.int64) % 2**32, want.astype(np.int64))
                return Feedback(name, False, [f"{where}: keep the result uint32 (got {got.dtype})"
                                              + ("; the values are right modulo 2³²" if exact else
                                                 ": the masks cancel only in arithmetic modulo 2³²")])
            if np.array_equal(got, want):
                continue
            if np.array_equal(got, total):
                return Feedback(name, False, [f"{where}: the sum is unchanged: the survivors' uploads still carry "
                                              "their masks shared with the dropped client"])
            if np.array_equal(got, _signed_repair(total, dropped, seeds, +1, -1)):
                return Feedback(name, False, [f"{where}: the signs are reversed: a survivor v < u (the dropped "
                                              "client) *added* m_vu to its upload, so remove it by subtracting; a "
                                              "survivor v > u subtracted m_uv, so add it back"])
            if np.array_equal(got, _signed_repair(total, dropped, seeds, -1, -1)):
                return Feedback(name, False, [f"{where}: you subtracted every mask: survivors numbered above the "
                                              "dropped client subtracted theirs, so those go back in with +"])
            if np.array_equal(got, _signed_repair(total, dropped, seeds, +1, +1)):
                return Feedback(name, False, [f"{where}: you added every mask: survivors numbered below the "
                                              "dropped client added theirs, so those come out with −"])
            return Feedback(name, False, [f"{where}: not the survivors' sum ({int(np.sum(got != want))} of {d} values "
                                          "differ); each pair seed makes the mask with "
                                          "np.random.default_rng(seed).integers(0, 2**32, size=d, dtype=np.uint32)"])
    return Feedback(name, True, ["exact for four dropouts (first, last and middle client): the server repairs the sum "
                                 "without ever seeing a survivor's update"])


# ----------------------------------------------------------------------------- 3. adaptive clipping
def _reference_clip(norms, clip, quantile, lr, m, noise, *, below=True, shift=True, clamp=True, denom=None,
                    geometric=True, sign=-1, strict=False):
    norms = np.asarray(norms, dtype=float)
    b = ((norms < clip) if strict else (norms <= clip)) if below else (norms > clip)
    count = float(b.sum()) - (0.5 * len(norms) if shift else 0.0) + noise
    frac = count / (denom or m) + (0.5 if shift else 0.0)
    if clamp:
        frac = min(max(frac, 0.0), 1.0)
    if geometric:
        return clip * math.exp(sign * lr * (frac - quantile))
    return clip + sign * lr * (frac - quantile)


CLIP_CASES = (  # (norms, clip, quantile, lr, expected clients, count noise)
    ([0.5, 1.5, 2.0, 0.2, 3.0], 1.0, 0.7, 0.2, 5.0, 0.0),
    ([0.5, 1.5, 2.0, 0.2, 3.0, 0.9], 1.0, 0.5, 0.2, 8.0, 0.3),
    ([0.1, 0.2, 0.3], 2.0, 0.8, 0.5, 4.0, -0.7),
    ([1.0, 1.0, 4.0, 4.0], 1.0, 0.5, 0.2, 4.0, 0.0),   # norm exactly C: not clipped
    ([0.1, 0.1, 0.1], 1.0, 0.5, 0.2, 3.0, 2.5),        # noise pushes the fraction above 1: clamp
)


def check_next_clip(next_clip) -> Feedback:
    """``next_clip(norms, clip, quantile, lr, expected_clients, count_noise) -> new clip`` (Andrew et al.'s
    geometric update from the noised share of unclipped updates)."""
    from tinydtl.privacy.dp import DPAggregator

    name = "adaptive clipping step"
    wrong = (
        (dict(below=False), "you counted the *clipped* updates: b_k = 1 when ‖Δ_k‖ ≤ C (within the clip). With "
         "the clipped share C shrinks when most updates are clipped, the wrong way, and runs off to 0"),
        (dict(sign=+1), "the exponent's sign: more unclipped updates than γ means C is too large, so it must shrink"),
        (dict(geometric=False), "the update is geometric, C · exp(−η (b̄ − γ)), not C − η (b̄ − γ)"),
        (dict(clamp=False), "clamp the noised fraction b̄ to [0, 1] before the update"),
    )
    with refuse_package(DPAggregator.next_clip, why="write the update yourself: a count, a fraction, an exp"):
        for k, (norms, clip, quantile, lr, m, noise) in enumerate(CLIP_CASES):
            out, fb = call_student(name, next_clip, list(norms), clip, quantile, lr, m, noise)
            if fb:
                return fb
            try:
                got = float(out)
            except (TypeError, ValueError):
                return Feedback(name, False, [f"case {k}: return the new clip as one number, got {type(out).__name__}"])
            want = _reference_clip(norms, clip, quantile, lr, m, noise)
            if math.isclose(got, want, rel_tol=1e-9):
                continue
            for kw, message in wrong:
                if math.isclose(got, _reference_clip(norms, clip, quantile, lr, m, noise, **kw), rel_tol=1e-9):
                    return Feedback(name, False, [f"case {k}: {message}"])
            if len(norms) != m and math.isclose(got, _reference_clip(norms, clip, quantile, lr, m, noise,
                                                                     denom=len(norms)), rel_tol=1e-9):
                return Feedback(name, False, [f"case {k}: divide by the expected number of clients m = {m:g}, not the "
                                              f"{len(norms)} that took part: the realised count must stay private"])
            if len(norms) != m and math.isclose(got, _reference_clip(norms, clip, quantile, lr, m, noise,
                                                                     shift=False), rel_tol=1e-9):
                return Feedback(name, False, [f"case {k}: the server counts b_k − ½ (sensitivity ½), adds the noise, "
                                              "divides by m and adds ½ back; without the shift b̄ is off when fewer "
                                              "or more than m clients took part"])
            if math.isclose(got, _reference_clip(norms, clip, quantile, lr, m, noise, strict=True), rel_tol=1e-9):
                return Feedback(name, False, [f"case {k}: an update of norm exactly C is not clipped: ‖Δ_k‖ ≤ C"])
            return Feedback(name, False, [f"case {k}: got {got:.6g}, expected a different clip; b̄ = the noised "
                                          "share of updates within C, then C · exp(−η (b̄ − γ))"])
        # the rule at work: noise-free steps from two far-apart starts must find the median of the norms
        norms = np.random.default_rng(7).lognormal(0.0, 0.5, size=101)
        ends = []
        for start in (0.01, 100.0):
            c = start
            for _ in range(200):
                out, fb = call_student(name, next_clip, norms.tolist(), c, 0.5, 0.2, 101.0, 0.0)
                if fb:
                    return fb
                c = float(out)
            ends.append(c)
    median = float(np.median(norms))
    if not all(abs(math.log(c / median)) < 0.1 for c in ends):
        return Feedback(name, False, [f"each step is right but 200 steps from C = 0.01 and C = 100 end at {ends[0]:.3g} "
                                      f"and {ends[1]:.3g}, not near the median norm {median:.3g}"])
    return Feedback(name, True, [f"right on {len(CLIP_CASES)} cases (a norm exactly at C, a clamped fraction, fewer "
                                 f"clients than expected); 200 noise-free steps from C = 0.01 and from C = 100 both "
                                 f"end near the median norm {median:.3g}: {ends[0]:.3g} and {ends[1]:.3g}"])
