import numpy as np
import pytest

from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import dirichlet, iid, quantity_skew, shards, summary


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
    parts = shards(mnist_labels, 100, shards_per_client=2, seed=0)
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
        (lambda y: shards(y, 4, shards_per_client=3), r"shards_per_client must be an integer in \[1, 2\]"),
        (lambda y: quantity_skew(y, 3, alpha=float("inf")), "alpha must be a finite number > 0"),
        (lambda y: iid(y.reshape(2, 5), 2), "y must be a 1-D array"),
    ],
)
def test_impossible_requests(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.arange(10) % 3)


def test_shards_old_keyword_still_works_with_a_deprecation_warning():
    y = np.arange(60) % 6
    with pytest.warns(DeprecationWarning, match="Use shards_per_client"):
        old = shards(y, 5, classes_per_client=3, seed=1)
    new = shards(y, 5, shards_per_client=3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(old, new))
    with pytest.raises(TypeError, match="pass shards_per_client only"):
        shards(y, 5, shards_per_client=3, classes_per_client=3)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_pathological_gives_exactly_k_classes_and_uses_every_sample_once(mnist_labels, k):
    from tinydtl.data.partition import pathological

    parts = pathological(mnist_labels, 100, classes_per_client=k, seed=0)
    assert_exact_cover(parts, len(mnist_labels))  # first-deterministic with 100 >= 10 clients: all classes held
    table = summary(parts, mnist_labels)
    assert (table["classes"] == k).all()
    # while shards with k shards per client gives some clients more than k classes
    assert summary(shards(mnist_labels, 100, k, seed=0), mnist_labels)["classes"].max() > k


@pytest.mark.parametrize("assignment", ["balanced", "first-deterministic", "random", "deterministic"])
def test_pathological_assignments(assignment):
    from tinydtl.data.partition import pathological

    y = np.repeat(np.arange(5), 20)  # 5 classes x 20 samples
    parts = pathological(y, 7, 3, seed=2, assignment=assignment)
    assert_exact_cover(parts, 100)
    assert all(len(np.unique(y[p])) == 3 for p in parts)
    if assignment == "deterministic":
        assert [sorted(np.unique(y[p]).tolist()) for p in parts[:3]] == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    if assignment == "first-deterministic":
        assert all(i % 5 in y[p] for i, p in enumerate(parts))
    # each class is split evenly among its holders
    for c in range(5):
        sizes = [np.sum(y[p] == c) for p in parts if c in y[p]]
        assert max(sizes) - min(sizes) <= 1


def test_pathological_says_when_samples_are_left_out():
    from tinydtl.data.partition import pathological

    y = np.repeat(np.arange(6), 10)
    with pytest.warns(UserWarning, match=r"classes \[2, 3, 4, 5\] are held by no client, so their 40 samples"):
        parts = pathological(y, 2, 1, seed=0, assignment="deterministic")
    allidx = np.concatenate(parts)
    assert len(allidx) == len(np.unique(allidx)) == 20  # at most once
    with pytest.raises(ValueError, match="class 0 has 2 samples but 3 clients must hold it"):
        pathological(np.array([0, 0, 1, 1, 1, 1]), 3, 2, seed=0, assignment="deterministic")
    with pytest.raises(ValueError, match=r"classes_per_client must be an integer in \[1, 6\]"):
        pathological(y, 2, 7)
    with pytest.raises(ValueError, match="assignment must be one of"):
        pathological(y, 2, 1, assignment="greedy")


def test_summary_checks_the_indices():
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match=r"parts\[1\] has indices outside \[0, 9\]"):
        summary([np.array([0, 1]), np.array([5, 10])], y)
    with pytest.raises(ValueError, match=r"parts\[0\] must be a 1-D array of integer sample indices"):
        summary([np.array([0.5])], y)


@pytest.mark.parametrize("n, k", [(5, 2), (3, 4), (7, 3), (100, 2)])
def test_pathological_balanced_uses_every_class_when_it_can(mnist_labels, n, k):
    from tinydtl.data.partition import pathological

    parts = pathological(mnist_labels, n, k, seed=1)  # n*k >= 10 classes: no sample left out
    assert_exact_cover(parts, len(mnist_labels))
    held = np.array([np.bincount(mnist_labels[p], minlength=10) > 0 for p in parts])
    assert (held.sum(axis=1) == k).all()
    load = held.sum(axis=0)  # clients per class
    assert load.max() - load.min() <= 1
