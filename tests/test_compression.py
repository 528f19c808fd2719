"""Quantisation range (the update's own min..max), unbiasedness and bytes; see also test_properties.py."""

import numpy as np
import pytest

from tinydtl.core.compression import Compressor, ErrorFeedback, quantize, top_k


def test_quantize_range_is_min_to_max_not_widened_to_zero():
    # all-positive update: on main the range was [0, 3], the levels {0, 3} for 1 bit
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    for seed in range(20):
        q, _ = quantize(x, 1, rng=seed)
        assert set(q.tolist()) <= {1.0, 3.0}
        assert q[0] == 1.0 and q[2] == 3.0  # min and max are levels: reproduced exactly
    q, _ = quantize(np.array([-5.0, -4.0, -1.0]), 2, rng=0)
    np.testing.assert_allclose(np.unique(q), np.unique(q).clip(-5, -1))
    assert q.max() <= -1.0


def test_quantize_resolution_is_better_for_one_signed_updates():
    x = np.linspace(10.0, 11.0, 1001, dtype=np.float32)
    err = np.abs(quantize(x, 4, rng=0)[0] - x).max()
    assert err <= (11.0 - 10.0) / 15 + 1e-5  # step (max - min)/15, not max/15 as with 0 in the range


def test_constant_update_is_sent_exactly():
    q, nbytes = quantize(np.full(10, 7.5), 2, rng=0)
    assert np.all(q == 7.5) and nbytes == 8 + 3


def test_error_feedback_without_compression_is_refused():
    with pytest.raises(ValueError, match="error_feedback=True needs a compressing spec"):
        Compressor("none", error_feedback=True)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: quantize([1.0, np.nan], 2), ValueError, "x must contain only finite numbers"),
        (lambda: quantize([], 2), ValueError, "x must have at least one entry"),
        (lambda: quantize([1.0, 2.0], True), ValueError, r"bits must be an integer in \[1, 16\]"),
        (lambda: top_k([1.0, np.inf], 1), ValueError, "x must contain only finite numbers"),
        (lambda: top_k([1.0, 2.0], True), ValueError, r"k must be an integer in \[1, 2\]"),
        (lambda: Compressor(8), TypeError, "spec must be a string"),
        (lambda: Compressor("q8", error_feedback="yes"), TypeError, "error_feedback must be True or False"),
        (lambda: Compressor("q8")(np.array([np.nan])), ValueError, "update must contain only finite numbers"),
        (lambda: ErrorFeedback(3), TypeError, "op must be a callable"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
