"""Lesson 11's exercise checks: the reference passes, the stub and common wrong answers get their
specific message, the package's own implementation is refused."""

import math

import numpy as np
from support import exercise_cell

from tinydtl.lab.exercises.l11_privacy import check_next_clip, check_reconstruct, check_remove_dropped
from tinydtl.privacy import DPAggregator, DPConfig, secure_aggregate
from tinydtl.privacy.shamir import lagrange_at_zero


def stub(*args):
    raise NotImplementedError


def messages(fb):
    return " ".join(fb.messages)


# ----------------------------------------------------------------------------- 1. Shamir
def lagrange(xs, ys, p, sign=1, inverse=True):
    s = 0
    for j, (xj, yj) in enumerate(zip(xs, ys)):
        num = den = 1
        for m, xm in enumerate(xs):
            if m != j:
                num, den = num * xm % p, den * sign * (xm - xj) % p
        s += yj * num * pow(den, -1, p) if inverse else yj * num / den
    return s % p if inverse else s


def test_reconstruct_reference_passes_and_wrong_answers_are_named():
    assert check_reconstruct(lagrange).passed
    assert "not implemented" in messages(check_reconstruct(stub))
    assert "p(0)" in messages(check_reconstruct(lambda xs, ys, p: ys[0]))
    assert "pow(d, -1, p)" in messages(check_reconstruct(lambda xs, ys, p: lagrange(xs, ys, p, inverse=False)))
    assert "sign" in messages(check_reconstruct(lambda xs, ys, p: lagrange(xs, ys, p, sign=-1)))
    assert "outside [0, p)" in messages(check_reconstruct(lambda xs, ys, p: lagrange(xs, ys, p) + p))

    def int64(xs, ys, p):  # numpy int64 arithmetic: fine for 2^31 - 1, overflows for 2^61 - 1
        xs, ys = np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64)
        s = np.int64(0)
        with np.errstate(over="ignore"):
            s = s + int64_sum(xs, ys, p)
        return s

    def int64_sum(xs, ys, p):
        s = np.int64(0)
        for j in range(len(xs)):
            num = den = np.int64(1)
            for m in range(len(xs)):
                if m != j:
                    num, den = num * xs[m] % p, den * (xs[m] - xs[j]) % p
            s = (s + ys[j] * num % p * np.int64(pow(int(den), -1, p))) % p
        return s

    assert "overflow" in messages(check_reconstruct(int64))
    fb = check_reconstruct(lambda xs, ys, p: int.from_bytes(lagrange_at_zero(tuple(xs)).tobytes()[:1], "little"))
    assert not fb.passed and "tinydtl's own" in messages(fb)


# ----------------------------------------------------------------------------- 2. a dropout
def mask(seed, d):
    return np.random.default_rng(seed).integers(0, 2**32, size=d, dtype=np.uint32)


def repair(total, dropped, seeds, low=-1, high=+1):
    out = total.copy()
    for (u, v), s in seeds.items():
        other = v if u == dropped else u
        if (low if other < dropped else high) > 0:
            out += mask(s, len(total))
        else:
            out -= mask(s, len(total))
    return out


def test_remove_dropped_reference_passes_and_wrong_answers_are_named():
    assert check_remove_dropped(repair).passed
    assert "not implemented" in messages(check_remove_dropped(stub))
    assert "unchanged" in messages(check_remove_dropped(lambda t, u, s: t.copy()))
    assert "reversed" in messages(check_remove_dropped(lambda t, u, s: repair(t, u, s, +1, -1)))
    assert "subtracted every mask" in messages(check_remove_dropped(lambda t, u, s: repair(t, u, s, -1, -1)))
    assert "uint32" in messages(check_remove_dropped(lambda t, u, s: repair(t, u, s).astype(np.int64)))
    assert "shape" in messages(check_remove_dropped(lambda t, u, s: repair(t, u, s)[:-1]))
    fb = check_remove_dropped(lambda t, u, s: t + secure_aggregate(np.zeros((3, 4)), threshold=2).total_int[0])
    assert not fb.passed and "tinydtl's own" in messages(fb)


# ----------------------------------------------------------------------------- 3. adaptive clipping
def next_clip(norms, clip, quantile, lr, m, noise, *, clipped=False, clamp=True, strict=False, denom=None):
    norms = np.asarray(norms, dtype=float)
    b = (norms > clip) if clipped else ((norms < clip) if strict else (norms <= clip))
    frac = (b.sum() - 0.5 * len(norms) + noise) / (denom or m) + 0.5
    frac = min(max(frac, 0.0), 1.0) if clamp else frac
    return clip * math.exp(-lr * (frac - quantile))


def test_next_clip_reference_passes_and_wrong_answers_are_named():
    fb = check_next_clip(next_clip)
    assert fb.passed and "median" in messages(fb)
    assert "not implemented" in messages(check_next_clip(stub))
    assert "*clipped* updates" in messages(check_next_clip(lambda *a: next_clip(*a, clipped=True)))
    assert "clamp" in messages(check_next_clip(lambda *a: next_clip(*a, clamp=False)))
    assert "exactly C" in messages(check_next_clip(lambda *a: next_clip(*a, strict=True)))
    assert "expected number" in messages(check_next_clip(lambda n, c, q, lr, m, z: next_clip(n, c, q, lr, m, z,
                                                                                              denom=len(n))))
    assert "geometric" in messages(check_next_clip(
        lambda n, c, q, lr, m, z: c + math.log(next_clip(n, c, q, lr, m, z) / c)))
    assert "sign" in messages(check_next_clip(lambda n, c, q, lr, m, z: c * c / next_clip(n, c, q, lr, m, z)))

    def package(norms, clip, quantile, lr, m, noise):
        agg = DPAggregator(DPConfig(noise_multiplier=0.0, clip=clip, clients_per_round=int(m), adaptive_quantile=quantile,
                                    clip_learning_rate=lr), 100)
        return agg.next_clip(np.asarray(norms), np.random.default_rng(0))

    fb = check_next_clip(package)
    assert not fb.passed and "tinydtl's own" in messages(fb)


def test_the_student_cells_call_only_the_checks():
    for first, name in (("from tinydtl.lab.exercises.l11_privacy import check_reconstruct", "check_reconstruct(reconstruct)"),
                        ("from tinydtl.lab.exercises.l11_privacy import check_remove_dropped",
                         "check_remove_dropped(remove_dropped)"),
                        ("from tinydtl.lab.exercises.l11_privacy import check_next_clip", "check_next_clip(next_clip)")):
        cell = exercise_cell("11_privacy_security", first)
        assert "raise NotImplementedError" in cell and cell.strip().endswith(name)
        assert "np." not in cell and "pow(" not in cell and "exp(" not in cell  # no answer in the student's cell
