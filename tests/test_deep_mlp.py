"""DeepMLPModel: the TFF DP tutorial's 784-200-200-10 learner on the core's model interface."""

import numpy as np

from tinydtl.core.plans import plan_round
from tinydtl.learners.mlp import DeepMLPModel, MLPModel

rng = np.random.default_rng(0)
X = rng.integers(0, 256, size=(200, 30)).astype(np.uint8)
Y = rng.integers(0, 4, 200)
PARTS = [np.arange(i * 20, (i + 1) * 20) for i in range(10)]


def test_one_hidden_layer_is_mlpmodel_bit_for_bit():
    """Bit for bit against MLPModel's reference (vectorised numpy) update; its compiled kernel agrees
    to float32 rounding (tests/test_mlp.py)."""
    a, b = MLPModel(30, 16, 4, kernel="numpy"), DeepMLPModel(30, 16, 4)
    np.testing.assert_array_equal(a.init(3), b.init(3))
    plan = plan_round(PARTS, 0, seed=1, local_epochs=2, batch_size=7)
    start = np.tile(a.init(3), (10, 1))
    ra, rb = a.local_update(X, Y, start, plan, 0.1), b.local_update(X, Y, start, plan, 0.1)
    np.testing.assert_array_equal(ra[0], rb[0])
    assert np.array_equal(ra[1], rb[1]) and ra[2:] == rb[2:]
    assert a.evaluate(ra[0][0], X, Y) == b.evaluate(rb[0][0], X, Y)


def test_shared_first_step_gives_the_same_update():
    """From a broadcast row (as FedAvg starts a round) the first step uses one shared product."""
    m = DeepMLPModel(30, (16, 8), 4)
    p = m.init(0)
    plan = plan_round(PARTS, 0, seed=2, local_epochs=2, batch_size=6)
    tiled = m.local_update(X, Y, np.tile(p, (10, 1)), plan, 0.1)
    shared = m.local_update(X, Y, np.broadcast_to(p, (10, p.size)), plan, 0.1)
    np.testing.assert_allclose(shared[0], tiled[0], atol=1e-6)  # float32 products in another order
    assert np.array_equal(shared[1], tiled[1])


def test_two_layer_gradient_matches_finite_differences():
    m = DeepMLPModel(30, (16, 8), 4)
    p = m.init(1).astype(np.float64)
    Xf = (X[:5] / 255.0).astype(np.float32)
    plan = plan_round([np.arange(5)], 0, seed=0, batch_size=5)
    step = p - m.local_update(Xf, Y, p[None].astype(np.float32), plan, 1.0)[0][0]

    def loss(q):
        z = m._logits(q, Xf.astype(np.float64))
        z = z - z.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(5), Y[:5]])

    for i in rng.choice(m.n_params, 15, replace=False):
        e = np.zeros(m.n_params)
        e[i] = 1e-4
        assert abs((loss(p + e) - loss(p - e)) / 2e-4 - step[i]) < 1e-5
