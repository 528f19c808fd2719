"""Aggregators: explicit trimming, checked weights, permutation invariance (see also test_properties.py)."""

import numpy as np
import pytest

from tinydtl.core.robust import (
    aggregate,
    coordinate_median,
    trimmed_count,
    trimmed_mean,
    weighted_mean,
)


def test_trimmed_mean_drops_floor_trim_m_per_side():
    U = np.arange(10.0).reshape(10, 1)  # values 0..9
    assert trimmed_count(10, 0.2) == 2 and trimmed_count(10, 0.3) == 3 and trimmed_count(5, 0.2) == 1
    assert trimmed_mean(U, trim=0.2)[0] == np.mean(np.arange(2, 8))
    assert trimmed_mean(U, trim=0.3)[0] == np.mean(np.arange(3, 7))  # 0.3*10 is 2.9999... in floats: still 3
    assert trimmed_mean(U, trim=0.0)[0] == 4.5
    assert trimmed_mean(U, trim=0.49)[0] == 4.5  # floor(4.9) = 4 per side: the middle two (never everything)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_trimmed_mean_refuses_to_trim_nothing_silently(m):
    # on main the default trim 0.2 with fewer than 5 updates returned the plain mean without a word
    U = np.vstack([np.zeros((m - 1, 3)), np.full((1, 3), 1e6)])
    with pytest.raises(ValueError, match=rf"trim=0.2 trims floor\(0.2·{m}\) = 0 of {m} updates per side"):
        trimmed_mean(U)
    np.testing.assert_allclose(trimmed_mean(U, trim=0.0), U.mean(axis=0))


def test_aggregate_passes_trim():
    U = np.arange(4.0).reshape(4, 1)
    assert aggregate(U, method="trimmed_mean", trim=0.25)[0] == 1.5
    with pytest.raises(ValueError, match="trim applies to method='trimmed_mean' only"):
        aggregate(U, method="mean", trim=0.25)


@pytest.mark.parametrize(
    "weights",
    [[1.0, np.nan, 1.0], [1.0, np.inf, 1.0], [1.0, -1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 2.0]],
    ids=["nan", "inf", "negative", "all-zero", "wrong-length"],
)
def test_weighted_mean_refuses_bad_weights(weights):
    # on main a NaN weight gave a NaN mean and an inf weight a NaN mean, silently
    with pytest.raises(ValueError, match="weights must be"):
        weighted_mean(np.ones((3, 2)), weights)


def test_weighted_mean_is_fedavg():
    U = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_allclose(weighted_mean(U, [1, 0, 3]), (U[0] + 3 * U[2]) / 4)


@pytest.mark.parametrize("agg", [weighted_mean, coordinate_median, trimmed_mean])
def test_non_finite_updates_are_refused(agg):
    U = np.ones((6, 2))
    U[3, 1] = np.nan
    with pytest.raises(ValueError, match="updates must contain only finite numbers"):
        agg(U)
