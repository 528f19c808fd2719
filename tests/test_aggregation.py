import numpy as np
import pytest

from tinydtl.core.aggregation import CumulativeFedAvg, StoreAllAggregator


def models(n, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)] for _ in range(n)]


def test_both_schemes_give_the_weighted_average():
    ms, counts = models(5), [10, 20, 30, 5, 1]
    store, cum = StoreAllAggregator(), CumulativeFedAvg(np.float64)
    for m, c in zip(ms, counts):
        store.add(m, c)
        cum.add(m, c)
    expected = [sum(c * m[i] for m, c in zip(ms, counts)) / sum(counts) for i in range(2)]
    for a, b, e in zip(store.result(), cum.result(), expected):
        np.testing.assert_allclose(a, e, rtol=1e-6)
        np.testing.assert_allclose(b, e, rtol=1e-6)


def test_memory_store_all_grows_cumulative_does_not():
    store, cum = StoreAllAggregator(), CumulativeFedAvg()
    sizes = []
    for m in models(10):
        store.add(m)
        cum.add(m)
        sizes.append((store.nbytes, cum.nbytes))
    one = 4 * 3 * 4 + 3 * 4
    assert [s for s, _ in sizes] == [one * k for k in range(1, 11)]
    assert {c for _, c in sizes} == {one}


def test_errors():
    with pytest.raises(ValueError, match="no model has been added"):
        CumulativeFedAvg().result()
    agg = CumulativeFedAvg()
    agg.add(models(1)[0])
    with pytest.raises(ValueError, match="same layer shapes"):
        agg.add([np.zeros((2, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="n .* must be a finite number > 0"):
        StoreAllAggregator().add(models(1)[0], n=0)
