"""The MLP model of the core: exact gradients, the batched update equals a plain per-client loop, it learns."""

import numpy as np
import pytest

from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.learners.mlp import MLPModel


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_gradient_matches_finite_differences(activation):
    rng = np.random.default_rng(0)
    m = MLPModel(5, 4, 3, activation=activation)
    X = rng.normal(size=(12, 5)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    w = m.init(1) + np.float32(0.05) * rng.normal(size=m.n_params).astype(np.float32)
    loss, g = m.loss_and_gradient(w, X, y)
    assert loss == pytest.approx(m.evaluate(w, X, y)[0], rel=1e-5)
    w64 = w.astype(np.float64)
    eps = 1e-3
    for j in rng.choice(m.n_params, 12, replace=False):
        e = np.zeros(m.n_params)
        e[j] = eps
        fd = (m.loss_and_gradient((w64 + e).astype(np.float32), X, y)[0]
              - m.loss_and_gradient((w64 - e).astype(np.float32), X, y)[0]) / (2 * eps)
        assert g[j] == pytest.approx(fd, abs=3e-3)


def test_batched_update_equals_a_per_client_loop():
    rng = np.random.default_rng(1)
    m = MLPModel(6, 5, 3)
    X = rng.normal(size=(70, 6)).astype(np.float32)
    y = rng.integers(0, 3, 70)
    parts = [np.arange(0, 40), np.arange(40, 53), np.arange(53, 70)]  # unequal: clients stop at different steps
    plan = plan_from_settings(parts, 0, PlanSettings(batch_size=8, local_epochs=2), seed=3)
    start = np.stack([m.init(k) for k in range(3)])
    out, n, _, _ = m.local_update(X, y, start, plan, 0.1)
    for i in range(3):
        w = start[i].copy()
        for b in plan.batches(i):
            w -= np.float32(0.1) * m.loss_and_gradient(w, X[b], y[b])[1]
        assert np.allclose(out[i], w, atol=1e-5)
        assert n[i] == 2 * len(parts[i])


def test_learns_mnist_digits():
    from tinydtl.data.datasets import load_mnist

    (x, y), (xt, yt) = load_mnist()
    x, xt = x.reshape(len(x), -1), xt.reshape(len(xt), -1)  # uint8 pixels, scaled per batch
    m = MLPModel(784, 64, 10)
    parts = [np.arange(6000)]
    w = m.init(0)[None, :]
    for r in range(3):
        w = m.local_update(x, y, w, plan_from_settings(parts, r, PlanSettings(batch_size=32), seed=0), 0.1)[0]
    assert m.evaluate(w[0], xt[:2000], yt[:2000])[1] > 0.88


def test_bad_input():
    with pytest.raises(ValueError, match="activation"):
        MLPModel(3, 2, 2, activation="sigmoid")
    with pytest.raises(ValueError, match="hidden"):
        MLPModel(3, 0, 2)
    with pytest.raises(ValueError, match="params must have shape"):
        MLPModel(3, 2, 2).evaluate(np.zeros(5), np.zeros((1, 3)), np.zeros(1, int))


# --------------------------------------------------------------------------- the two kernels (issue 28)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("settings", [dict(batch_size=8), dict(batch_size=6, local_epochs=2), dict(batch_size=5, local_steps=7)])
def test_compiled_kernel_agrees_with_the_numpy_reference_on_every_step(activation, settings):
    """``kernel="numba"`` (default) against ``kernel="numpy"``: every client, step and parameter to
    float32 rounding (the products' sums run in different orders), on skewed clients (one holds a
    single sample) and partial batches; the whole round in one call, too."""
    rng = np.random.default_rng(2)
    X = rng.random((90, 7)).astype(np.float32)
    y = rng.integers(0, 3, 90)
    parts = [np.arange(0, 40), np.arange(40, 41), np.arange(41, 70), np.arange(70, 90)]
    ref, new = (MLPModel(7, 5, 3, activation=activation, kernel=k) for k in ("numpy", "numba"))
    plan = plan_from_settings(parts, 0, PlanSettings(**settings), seed=1)
    start = np.stack([ref.init(k) for k in range(4)])
    a = b = start
    for s in range(plan.n_steps()):
        a, na, la, ca = ref.local_update(X, y, a, plan.only_step(s), 0.2)
        b, nb, lb, cb = new.local_update(X, y, b, plan.only_step(s), 0.2)
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-6, err_msg=f"step {s}")
        assert np.array_equal(na, nb) and lb == pytest.approx(la, rel=1e-5) and abs(ca - cb) <= 1
    whole = new.local_update(X, y, start, plan, 0.2)[0]
    np.testing.assert_allclose(whole, ref.local_update(X, y, start, plan, 0.2)[0], rtol=0, atol=2e-6)
    with pytest.raises(ValueError, match="kernel must be one of"):
        MLPModel(7, 5, 3, kernel="torch")


def test_compiled_kernel_on_mnist_pixels_agrees():
    from tinydtl.data.datasets import load_mnist

    (x, y), _ = load_mnist()
    x = x[:600].reshape(600, -1)
    ref, new = (MLPModel(784, 16, 10, kernel=k) for k in ("numpy", "numba"))
    plan = plan_from_settings([np.arange(0, 250), np.arange(250, 600)], 0, PlanSettings(batch_size=20), seed=0)
    start = np.broadcast_to(ref.init(0), (2, ref.n_params))
    a, b = ref.local_update(x, y[:600], start, plan, 0.1), new.local_update(x, y[:600], start, plan, 0.1)
    np.testing.assert_allclose(b[0], a[0], rtol=0, atol=2e-6)
    assert b[3] == a[3] and b[2] == pytest.approx(a[2], rel=1e-5)
