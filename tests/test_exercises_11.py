"""Lesson 11's exercise checks: the reference passes, the stub and common wrong answers get their
specific message, the package's own implementation is refused."""

import numpy as np
from support import exercise_cell

from tinydtl.lab.exercises.l11_privacy import check_dp_step, check_inversion, check_masks
from tinydtl.privacy import DPAggregator, DPConfig, clip_updates, invert_softmax_gradient, secure_aggregate


def stub(*args):
    raise NotImplementedError


def messages(fb):
    return " ".join(fb.messages)


# ----------------------------------------------------------------------------- 1. inversion
def test_inversion_reference_passes_and_wrong_answers_are_named():
    assert check_inversion(lambda gW, gb: gW[:, np.argmax(np.abs(gb))] / gb[np.argmax(np.abs(gb))]).passed
    assert check_inversion(lambda gW, gb: gW @ gb / (gb @ gb)).passed
    assert "not implemented" in messages(check_inversion(stub))
    assert "divide by it" in messages(check_inversion(lambda gW, gb: gW[:, 0]))
    assert "one per class" in messages(check_inversion(lambda gW, gb: gW[0] / gb))
    assert "sign is flipped" in messages(check_inversion(lambda gW, gb: -gW @ gb / (gb @ gb)))
    assert "NaN or inf" in messages(check_inversion(lambda gW, gb: gW[:, 0] / 0.0))
    fb = check_inversion(lambda gW, gb: invert_softmax_gradient(gW, gb))
    assert not fb.passed and "tinydtl's own" in messages(fb)


# ----------------------------------------------------------------------------- 2. one DP step
def reference_step(U, clip, z, m, rng):
    norms = np.linalg.norm(U, axis=1)
    clipped = U * np.minimum(1.0, clip / np.maximum(norms, 1e-12))[:, None]
    return (clipped.sum(axis=0) + rng.normal(0.0, z * clip, size=U.shape[1])) / m


def test_dp_step_reference_passes_and_wrong_answers_are_named():
    assert check_dp_step(reference_step).passed
    assert "not implemented" in messages(check_dp_step(stub))
    realised = lambda U, c, z, m, rng: reference_step(U, c, z, len(U), rng)  # noqa: E731
    assert "expected" in messages(check_dp_step(realised))
    per_coordinate = lambda U, c, z, m, rng: (np.clip(U, -c, c).sum(axis=0) + rng.normal(0, z * c, U.shape[1])) / m  # noqa: E731
    assert "each coordinate" in messages(check_dp_step(per_coordinate))
    to_norm = lambda U, c, z, m, rng: (U / np.linalg.norm(U, axis=1, keepdims=True) * c).sum(axis=0) / m  # noqa: E731
    assert "exactly `clip`" in messages(check_dp_step(to_norm))
    noise_after = lambda U, c, z, m, rng: reference_step(U, c, 0.0, m, rng) + rng.normal(0, z * c, U.shape[1])  # noqa: E731
    assert "added to the sum" in messages(check_dp_step(noise_after))

    def package(U, c, z, m, rng):
        return DPAggregator(DPConfig(noise_multiplier=z, clip=c, clients_per_round=int(m)), 100).aggregate(U, 0)[0]

    fb = check_dp_step(package)
    assert not fb.passed and "tinydtl's own" in messages(fb)
    fb = check_dp_step(lambda U, c, z, m, rng: (clip_updates(U, c)[0].sum(axis=0) + rng.normal(0, z * c, U.shape[1])) / m)
    assert not fb.passed and "tinydtl's own" in messages(fb)


# ----------------------------------------------------------------------------- 3. masks
def reference_masks(X, seeds):
    Y = X.copy()
    for (u, v), s in seeds.items():
        m = np.random.default_rng(s).integers(0, 2**32, size=X.shape[1], dtype=np.uint32)
        Y[u] += m
        Y[v] -= m
    return Y


def test_masks_reference_passes_and_wrong_answers_are_named():
    assert check_masks(reference_masks).passed
    assert "not implemented" in messages(check_masks(stub))
    assert "not masked" in messages(check_masks(lambda X, s: X.copy()))

    def both_add(X, seeds):
        Y = X.copy()
        for (u, v), s in seeds.items():
            m = np.random.default_rng(s).integers(0, 2**32, size=X.shape[1], dtype=np.uint32)
            Y[u] += m
            Y[v] += m
        return Y

    assert "one adds it, the other subtracts" in messages(check_masks(both_add))
    assert "uint32" in messages(check_masks(lambda X, s: reference_masks(X, s).astype(np.int64)))
    fb = check_masks(lambda X, s: X + secure_aggregate(X[:, :4].astype(float), threshold=2).total_int[0])
    assert not fb.passed and "tinydtl's own" in messages(fb)


def test_the_student_cells_call_only_the_checks():
    for first, name in (("from tinydtl.lab.exercises.l11_privacy import check_inversion", "check_inversion(invert)"),
                        ("from tinydtl.lab.exercises.l11_privacy import check_dp_step", "check_dp_step(dp_step)"),
                        ("from tinydtl.lab.exercises.l11_privacy import check_masks", "check_masks(mask)")):
        cell = exercise_cell("11_privacy_security", first)
        assert "raise NotImplementedError" in cell and cell.strip().endswith(name)
        assert "np." not in cell  # no answer in the student's cell
