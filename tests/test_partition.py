import numpy as np
import pytest

from tinydtl.partition import iid


def test_iid_uses_every_sample_once():
    y = np.arange(103) % 10
    parts = iid(y, 7, seed=1)
    assert len(parts) == 7
    allidx = np.concatenate(parts)
    assert sorted(allidx.tolist()) == list(range(103))
    assert {len(p) for p in parts} <= {14, 15}


def test_iid_seeded():
    y = np.zeros(50)
    assert all(np.array_equal(a, b) for a, b in zip(iid(y, 5, seed=3), iid(y, 5, seed=3)))
    assert not all(np.array_equal(a, b) for a, b in zip(iid(y, 5, seed=3), iid(y, 5, seed=4)))


@pytest.mark.parametrize("n_clients, match", [(0, "n_clients must be an integer >= 1"), (11, "no client is empty")])
def test_iid_bad_requests(n_clients, match):
    with pytest.raises(ValueError, match=match):
        iid(np.zeros(10), n_clients)
