"""The softmax learner's two local-update kernels compute the same SGD (issue 28).

``kernel="numba"`` (:mod:`tinydtl.learners.softmax_kernels`, the default) against ``kernel="numpy"`` (the
vectorised reference): the same parameters on every client after every step, to float32 rounding (the
two take the sums of their matrix products in different orders, so not bit for bit), across shapes,
skewed partitions whose clients take different numbers of steps, partial batches, several epochs, a
fixed number of local steps, FedProx and threads. Then the parts that must be exact: the pixel scaling,
the pairwise sum, the independence from threads and from the features' dtype.
"""

import numpy as np
import pytest

from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import iid
from tinydtl.learners.softmax import KERNELS, SoftmaxModel, preprocess
from tinydtl.learners.softmax_kernels import gradient_product, logits_product, pairwise_sum, scale_pixels

#: float32 rounding of the parameters (|w| < 1 here): the kernels' sums run in different orders.
ROUNDING = 2e-6


@pytest.fixture(scope="module")
def mnist():
    (x, y), _ = load_mnist()
    return x[:900].reshape(900, -1), y[:900].astype(np.intp)


def features(kind, n=120, seed=0):
    """``(X, y, n_features, n_classes)``: MNIST pixels, or random float features in [0, 1]."""
    rng = np.random.default_rng(seed)
    if kind == "floats":
        return rng.random((n, 37), dtype=np.float32), rng.integers(0, 3, n), 37, 3
    if kind == "binary":
        return rng.random((n, 5)).astype(np.float32), rng.integers(0, 2, n), 5, 2
    raise ValueError(kind)


def both(n_features, n_classes, threads=1):
    return (SoftmaxModel(n_features, n_classes, kernel="numpy"),
            SoftmaxModel(n_features, n_classes, kernel="numba", threads=threads))


def starts(model, K, seed=0):
    """Different starting rows per client (not only the common initial model)."""
    rng = np.random.default_rng(seed)
    return np.stack([model.init(k) for k in range(K)]) + np.float32(0.01) * rng.standard_normal(
        (K, model.n_params)).astype(np.float32)


SKEWED = [np.arange(0, 7), np.arange(7, 60), np.arange(60, 90), np.arange(90, 91), np.arange(91, 120)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("settings", [dict(batch_size=8), dict(batch_size=20, local_epochs=2),
                                      dict(batch_size=6, local_steps=9)])
@pytest.mark.parametrize("kind", ["floats", "binary"])
def test_every_client_and_step_agrees_to_float32_rounding(kind, settings, threads):
    """Step by step (each step applied to both kernels' own current rows), skewed clients: the largest
    takes 8 steps per epoch, one client holds a single sample and stops after its one step."""
    X, y, F, C = features(kind)
    ref, new = both(F, C, threads)
    plan = plan_from_settings(SKEWED, 0, PlanSettings(**settings), seed=3)
    a = b = starts(ref, len(SKEWED))
    for s in range(plan.n_steps()):
        step = plan.only_step(s)
        a, na, la, ca = ref.local_update(X, y, a, step, 0.3)
        b, nb, lb, cb = new.local_update(X, y, b, step, 0.3)
        np.testing.assert_allclose(b, a, rtol=0, atol=ROUNDING, err_msg=f"step {s}")
        assert np.array_equal(na, nb) and na.dtype == nb.dtype == np.float32
        assert lb == pytest.approx(la, rel=1e-5) and abs(ca - cb) <= 1
    # the whole round in one call: the same as step by step, for both
    whole_a = ref.local_update(X, y, starts(ref, len(SKEWED)), plan, 0.3)[0]
    whole_b = new.local_update(X, y, starts(ref, len(SKEWED)), plan, 0.3)[0]
    np.testing.assert_allclose(whole_b, whole_a, rtol=0, atol=ROUNDING)


@pytest.mark.parametrize("mu", [0.5, -0.5])
def test_fedprox_agrees(mnist, mu):
    X, y = mnist
    ref, new = both(784, 10)
    parts = [np.arange(0, 300), np.arange(300, 420), np.arange(420, 900)]
    plan = plan_from_settings(parts, 1, PlanSettings(batch_size=20, local_epochs=2), seed=0)
    start = starts(ref, 3)
    anchor = np.broadcast_to(ref.init(0), start.shape)
    a = ref.local_update(X, y, start, plan, 0.05, mu=mu, anchor=anchor)
    b = new.local_update(X, y, start, plan, 0.05, mu=mu, anchor=anchor)
    np.testing.assert_allclose(b[0], a[0], rtol=0, atol=ROUNDING)
    assert b[2] == pytest.approx(a[2], rel=1e-5) and abs(a[3] - b[3]) <= 1
    plain = new.local_update(X, y, start, plan, 0.05)[0]
    assert np.abs(plain - b[0]).max() > 1e-3  # the proximal term did something


def test_mnist_round_agrees_and_threads_change_nothing(mnist):
    X, y = mnist
    ref, new = both(784, 10)
    parts = iid(y, 4, seed=0)
    plan = plan_from_settings(parts, 0, PlanSettings(batch_size=20), seed=0)
    start = np.broadcast_to(ref.init(0), (4, ref.n_params))
    a = ref.local_update(X, y, start, plan, 0.02)
    outs = [SoftmaxModel(784, 10, threads=t).local_update(X, y, start, plan, 0.02) for t in (1, 2, 3, 4, 8)]
    np.testing.assert_allclose(outs[0][0], a[0], rtol=0, atol=ROUNDING)
    for out in outs[1:]:  # every client's arithmetic is the same in any group and thread: bit for bit
        assert np.array_equal(out[0], outs[0][0]) and out[2] == outs[0][2] and out[3] == outs[0][3]
    again = new.local_update(X, y, start, plan, 0.02)
    assert np.array_equal(again[0], outs[0][0])


def test_pixels_and_the_same_features_as_floats_give_the_same_bits(mnist):
    """uint8 pixels are scaled batch by batch in the kernel, exactly as preprocess() scales them."""
    X, y = mnist
    model = SoftmaxModel(784, 10)
    plan = plan_from_settings(iid(y, 3, seed=1), 0, PlanSettings(batch_size=16), seed=1)
    start = starts(model, 3)
    from_pixels = model.local_update(X, y, start, plan, 0.1)
    from_floats = model.local_update(preprocess(X), y, start, plan, 0.1)
    assert np.array_equal(from_pixels[0], from_floats[0]) and from_pixels[2] == from_floats[2]


def test_scale_pixels_is_exact_for_every_byte():
    u = np.arange(256, dtype=np.uint8)
    out = np.empty(256, np.float32)
    scale_pixels(u, out)
    assert np.array_equal(out, u.astype(np.float32) / np.float32(255.0))


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 10, 15, 16, 17, 31, 64, 100, 128])
def test_pairwise_sum_is_numpys_order(n):
    rng = np.random.default_rng(n)
    rows = rng.random((500, n), dtype=np.float32) * np.float32(10.0) ** rng.integers(-3, 4, (500, 1)).astype(np.float32)
    assert all(pairwise_sum(row) == total for row, total in zip(rows, rows.sum(axis=1)))


def test_copy_false_updates_in_place_and_read_only_params_are_copied():
    X, y, F, C = features("floats")
    model = SoftmaxModel(F, C)
    plan = plan_from_settings([np.arange(60), np.arange(60, 120)], 0, PlanSettings(batch_size=10), seed=0)
    P = starts(model, 2)
    out = model.local_update(X, y, P, plan, 0.1, copy=False)[0]
    assert out is P
    shared = np.broadcast_to(model.init(0), (2, model.n_params))  # read-only view: must not be written
    before = shared.copy()
    model.local_update(X, y, shared, plan, 0.1, copy=False)
    assert np.array_equal(shared, before)


def test_bad_labels_and_indices_are_refused_before_the_kernel_runs():
    X, y, F, C = features("floats")
    model = SoftmaxModel(F, C)
    plan = plan_from_settings([np.arange(60), np.arange(60, 120)], 0, PlanSettings(batch_size=10), seed=0)
    bad = y.copy()
    bad[5] = C
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\]"):
        model.local_update(X, bad, starts(model, 2), plan, 0.1)
    with pytest.raises(ValueError, match="kernel must be one of"):
        SoftmaxModel(F, C, kernel="cuda")
    assert KERNELS == ("numba", "numpy") and SoftmaxModel(F, C).kernel == "numba"


def test_fedavg_with_either_kernel_reaches_the_same_accuracy():
    (x, y), (xt, yt) = load_mnist()
    parts = iid(y[:6000], 10, seed=0)
    runs = {k: run_fedavg(x[:6000], y[:6000], parts, x_test=xt, y_test=yt, rounds=3, kernel=k) for k in KERNELS}
    assert runs["numba"].column("accuracy") == runs["numpy"].column("accuracy")
    np.testing.assert_allclose(runs["numba"].weights[0], runs["numpy"].weights[0], rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(runs["numba"].column("train_loss")[1:], runs["numpy"].column("train_loss")[1:], rtol=1e-6)
    assert runs["numba"].config["kernel"] == "numba"


@pytest.mark.parametrize("kernel", KERNELS)
def test_threads_change_nothing_from_freshly_prepared_pixels(kernel):
    """Threads that ask for the float rows of freshly prepared pixels at once all see them whole
    (they are made on first use; before the lock, the second thread could read them unfilled)."""
    (x, y), _ = load_mnist()
    X, y = x[:12000].reshape(12000, -1), y[:12000]
    plan = plan_from_settings(iid(y, 4, seed=0), 0, PlanSettings(batch_size=20), seed=0)
    outs = []
    for threads in (1, 2, 4):
        model = SoftmaxModel(784, 10, threads=threads, kernel=kernel)
        start = np.broadcast_to(model.init(0), (4, model.n_params))
        outs.append(model.local_update(model.prepare(X), y, start, plan, 0.02)[0])
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def test_prepared_features_pickle_and_copy():
    import copy
    import pickle

    features = SoftmaxModel(4, 2).prepare(np.arange(12, dtype=np.uint8).reshape(3, 4))
    for other in (pickle.loads(pickle.dumps(features)), copy.deepcopy(features)):
        assert np.array_equal(other.rows, features.rows) and np.array_equal(other.pixels, features.pixels)


@pytest.mark.parametrize("C", [1, 2, 3, 10, 11])
@pytest.mark.parametrize("nb", [1, 3, 4, 5, 8, 20, 21])
def test_the_kernels_products_on_every_remainder_of_their_blocks(C, nb):
    """logits_product and gradient_product (2 classes x 4 samples per pass) against float64 products, on
    shapes that leave every remainder of the blocks: an odd class, 1-3 samples over a multiple of 4."""
    rng = np.random.default_rng([C, nb])
    for F in (1, 3, 785):
        WT = rng.normal(size=(C, F)).astype(np.float32)
        x = rng.random((nb, F)).astype(np.float32)
        lT, GT = np.full((C, nb), np.nan, np.float32), np.full((C, F), np.nan, np.float32)
        logits_product(WT, x, lT)
        gradient_product(lT, x, GT)
        want_l = WT.astype(np.float64) @ x.T.astype(np.float64)
        want_g = lT.astype(np.float64) @ x.astype(np.float64)
        np.testing.assert_allclose(lT, want_l, rtol=0, atol=1e-6 * np.abs(want_l).max() + 1e-30)
        np.testing.assert_allclose(GT, want_g, rtol=0, atol=1e-6 * np.abs(want_g).max() + 1e-30)
