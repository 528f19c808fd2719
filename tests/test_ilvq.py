import networkx as nx
import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from tinydtl.data.datasets import make_sphere
from tinydtl.learners.ilvq import ILVQ


@parametrize_with_checks([ILVQ()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def sphere():
    X, y = make_sphere(2000, seed=0)
    Xt, yt = make_sphere(5000, seed=1)
    return X, y, Xt, yt


@pytest.mark.parametrize("seed", range(5))
def test_sphere_benchmark(sphere, seed):
    """Issue 2: >= 90 % test accuracy from 2,000 points with well under 300 prototypes."""
    X, y, Xt, yt = sphere
    clf = ILVQ(random_state=seed).fit(X, y)
    assert clf.score(Xt, yt) >= 0.90
    assert clf.n_prototypes_ < 300


def test_same_seed_same_model(sphere):
    X, y, _, _ = sphere
    a = ILVQ(random_state=4).fit(X, y)
    b = ILVQ(random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.prototypes_, b.prototypes_)
    np.testing.assert_array_equal(a.edges_, b.edges_)


def two_nodes(**params):
    """A at (0, 0) of class 0 and B at (10, 0) of class 1, no edges (step 1 twice)."""
    clf = ILVQ(lambda_=1000, **params)
    return clf.partial_fit([[0.0, 0.0], [10.0, 0.0]], [0, 1], classes=[0, 1])


def test_new_class_inserts_the_sample():
    clf = two_nodes()
    np.testing.assert_array_equal(clf.prototypes_, [[0, 0], [10, 0]])
    assert clf.win_counts_.tolist() == [1, 1] and len(clf.edges_) == 0


def test_winner_moves_by_one_over_M_and_other_class_neighbour_is_repelled():
    # T_A = T_B = 10 (no neighbours: distance to the nearest other prototype), so (1, 0) adapts.
    clf = two_nodes().partial_fit([[1.0, 0.0]], [0])
    # M_A: 1 -> 2, w_A += (x - w_A)/2 ; B (other class) moves away by 1/(100 M_A)
    np.testing.assert_allclose(clf.prototypes_, [[0.5, 0.0], [10.0 + 9.0 / 200, 0.0]])
    assert clf.win_counts_.tolist() == [2, 1]
    assert clf.edges_.tolist() == [[0, 1]]


def test_wrong_label_winner_is_repelled_and_same_class_neighbour_attracted():
    clf = two_nodes().partial_fit([[1.0, 0.0]], [1])
    np.testing.assert_allclose(clf.prototypes_, [[-0.5, 0.0], [10.0 - 9.0 / 200, 0.0]])


def test_sample_beyond_threshold_is_inserted():
    clf = two_nodes().partial_fit([[1.0, 0.0]], [0])
    # A's only neighbour is B (other class): T_A = |w_A - w_B| = 9.545 < 30.5
    clf.partial_fit([[-30.0, 0.0]], [0])
    assert clf.n_prototypes_ == 3
    np.testing.assert_array_equal(clf.prototypes_[2], [-30.0, 0.0])
    assert clf.win_counts_[2] == 1


def test_threshold_rule_with_same_class_neighbours():
    clf = ILVQ.from_prototypes([[0, 0], [1, 0], [3, 0], [0, 5]], [0, 0, 1, 1], classes=[0, 1])
    clf._adj = [{1: 0, 2: 0, 3: 0}, {0: 0}, {0: 0}, {0: 0}]
    # d_w = 1 (mean to same-class neighbours); between-class distances 3 and 5: smallest beyond d_w is 3
    assert clf._threshold(0) == pytest.approx(3.0)
    clf._adj = [{1: 0}, {0: 0}, {}, {}]
    assert clf._threshold(0) == pytest.approx(1.0)  # no other-class neighbour: d_w
    assert clf._threshold(2) == pytest.approx(2.0)  # isolated: nearest other prototype


def test_old_edges_are_deleted():
    clf = ILVQ(max_age=1, lambda_=1000).partial_fit(
        [[0.0, 0.0], [10.0, 0.0], [-10.0, 0.0]], [0, 1, 1], classes=[0, 1]
    )
    clf.partial_fit([[1.0, 0.0]], [0])  # edge A-B
    clf.partial_fit([[-1.0, 0.0]], [0])  # A-B age 1, edge A-C
    assert clf.edges_.tolist() == [[0, 1], [0, 2]]
    clf.partial_fit([[-1.0, 0.0]], [0])  # A-B age 2 > max_age: gone
    assert clf.edges_.tolist() == [[0, 2]]


def test_denoising_removes_isolated_prototypes_but_keeps_each_class():
    clf = ILVQ(lambda_=4).partial_fit([[0, 0], [10, 0], [1, 0], [100, 100]], [0, 1, 0, 0], classes=[0, 1])
    # at input 4: (100, 100) is isolated and removed; A and B are linked and stay
    assert clf.n_prototypes_ == 2
    assert clf.prototype_labels_.tolist() == [0, 1]
    lonely = ILVQ(lambda_=3).partial_fit([[0, 0], [10, 0], [100, 100]], [0, 1, 2], classes=[0, 1, 2])
    assert lonely.n_prototypes_ == 3  # all isolated, but each is its class's last prototype


def test_predict_proba_is_consistent(sphere):
    X, y, Xt, _ = sphere
    clf = ILVQ(random_state=0).fit(X, y)
    p = clf.predict_proba(Xt[:500])
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[p.argmax(axis=1)], clf.predict(Xt[:500]))


def test_string_labels_and_graph(sphere):
    X, y, _, _ = sphere
    names = np.array(["outside", "inside"])[y]
    clf = ILVQ(random_state=0).fit(X[:500], names[:500])
    assert set(clf.predict(X[:20])) <= {"inside", "outside"}
    G = clf.to_networkx()
    assert isinstance(G, nx.Graph)
    assert G.number_of_nodes() == clf.n_prototypes_ and G.number_of_edges() == len(clf.edges_)


def test_partial_fit_matches_one_pass_of_fit(sphere):
    X, y, _, _ = sphere
    a = ILVQ(n_epochs=1, shuffle=False).fit(X[:300], y[:300])
    b = ILVQ()
    for s in range(0, 300, 50):
        b.partial_fit(X[s : s + 50], y[s : s + 50], classes=[0, 1])
    np.testing.assert_array_equal(a.prototypes_, b.prototypes_)


def test_from_prototypes_predicts_nearest():
    clf = ILVQ.from_prototypes([[0, 0], [4, 0]], ["a", "b"], classes=["a", "b"])
    assert clf.predict([[1, 0], [3, 1]]).tolist() == ["a", "b"]
    with pytest.raises(ValueError, match=r"labels \['c'\] are not in classes"):
        ILVQ.from_prototypes([[0, 0]], ["c"], classes=["a", "b"])


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(max_age=0), "max_age must be an integer >= 1"),
        (dict(lambda_=0.5), "lambda_ must be an integer >= 1"),
        (dict(denoise_c=1.5), r"denoise_c must be in \[0.0, 1.0\]"),
        (dict(n_epochs=0), "n_epochs must be an integer >= 1"),
        (dict(shuffle="yes"), "shuffle must be True or False"),
    ],
)
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        ILVQ(**params).fit([[0.0], [1.0]], [0, 1])


def test_bad_input_is_rejected_clearly():
    X = np.array([[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        ILVQ().fit(np.array([[np.nan, 0.0], [1.0, 1.0]]), [0, 1])
    with pytest.raises(ValueError, match="infinity"):
        ILVQ().fit(np.array([[np.inf, 0.0], [1.0, 1.0]]), [0, 1])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        ILVQ().partial_fit(X, [0, 1])
    clf = ILVQ().partial_fit(X, [0, 1], classes=[0, 1])
    with pytest.raises(ValueError, match=r"y contains labels \[7\] not in classes_ \[0, 1\]"):
        clf.partial_fit(X, [0, 7])
    with pytest.raises(ValueError, match="X has 3 features, but ILVQ is expecting 2"):
        clf.predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="Expected 2D array"):
        clf.predict(np.zeros(2))
    with pytest.raises(ValueError, match="Unknown label type"):
        ILVQ().fit(X, [0.5, 1.7])
