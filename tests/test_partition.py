import numpy as np
import pytest

from tinydtl.datasets import load_mnist
from tinydtl.partition import dirichlet, iid, quantity_skew, shards, summary


@pytest.fixture(scope="module")
def mnist_labels():
    (_, y), _ = load_mnist()
    return y


def assert_exact_cover(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n and len(np.unique(allidx)) == n
    assert all(len(p) > 0 for p in parts)


def test_iid_uses_every_sample_once():
    y = np.arange(103) % 10
    parts = iid(y, 7, seed=1)
    assert len(parts) == 7
    assert_exact_cover(parts, 103)
    assert {len(p) for p in parts} <= {14, 15}


@pytest.mark.parametrize("split", [iid, lambda y, n, seed: dirichlet(y, n, 0.5, seed), shards, quantity_skew])
def test_seeded(split, mnist_labels):
    a, b, c = split(mnist_labels, 20, seed=3), split(mnist_labels, 20, seed=3), split(mnist_labels, 20, seed=4)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_dirichlet_skew_grows_as_alpha_shrinks(mnist_labels):
    classes = {}
    for alpha in (100.0, 1.0, 0.1):
        parts = dirichlet(mnist_labels, 20, alpha, seed=0)
        assert_exact_cover(parts, len(mnist_labels))
        table = summary(parts, mnist_labels)
        # share of its largest class, averaged over clients
        counts = table.drop(columns=["samples", "classes"]).to_numpy()
        classes[alpha] = (counts.max(axis=1) / counts.sum(axis=1)).mean()
    assert classes[100.0] < 0.2 < classes[1.0] < classes[0.1]
    assert classes[0.1] > 0.6


def test_shards_give_each_client_about_two_digits(mnist_labels):
    parts = shards(mnist_labels, 100, classes_per_client=2, seed=0)
    assert_exact_cover(parts, len(mnist_labels))
    n_classes = summary(parts, mnist_labels)["classes"]
    assert n_classes.max() <= 4 and n_classes.median() == 2
    assert {len(p) for p in parts} == {600}


def test_quantity_skew_sizes(mnist_labels):
    parts = quantity_skew(mnist_labels, 10, alpha=0.5, seed=0)
    assert_exact_cover(parts, len(mnist_labels))
    sizes = np.array([len(p) for p in parts])
    assert sizes.max() > 3 * sizes.min()


def test_summary_counts():
    y = np.array([0, 0, 1, 2, 2, 2])
    table = summary([np.array([0, 1, 2]), np.array([3, 4, 5])], y)
    assert table["samples"].tolist() == [3, 3]
    assert table.loc[0, [0, 1, 2]].tolist() == [2, 1, 0]
    assert table["classes"].tolist() == [2, 1]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda y: iid(y, 0), "n_clients must be an integer >= 1"),
        (lambda y: iid(y, 11), "no client is empty"),
        (lambda y: dirichlet(y, 2, 0.0), "alpha must be a finite number > 0"),
        (lambda y: dirichlet(y, 2, -1.0), "alpha must be a finite number > 0"),
        (lambda y: dirichlet(y, 10, 0.01, max_tries=3), "could not give each of 10 clients"),
        (lambda y: shards(y, 4, classes_per_client=3), r"classes_per_client must be an integer in \[1, 2\]"),
        (lambda y: quantity_skew(y, 3, alpha=float("inf")), "alpha must be a finite number > 0"),
        (lambda y: iid(y.reshape(2, 5), 2), "y must be a 1-D array"),
    ],
)
def test_impossible_requests(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.arange(10) % 3)
