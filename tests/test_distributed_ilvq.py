import networkx as nx
import numpy as np
import pytest

from tinydtl.algorithms.ilvq_exchange import (
    merge_central,
    prototype_bytes,
    run_ilvq_exchange,
    train_devices,
)
from tinydtl.data.datasets import make_sphere
from tinydtl.data.partition import iid


@pytest.fixture(scope="module")
def setup():
    X, y = make_sphere(2000, seed=0)
    Xt, yt = make_sphere(3000, seed=1)
    parts = iid(y, 10, seed=0)
    return X, y, Xt, yt, parts


def test_prototype_bytes():
    """Coordinates (float32) and a one-byte label per prototype; a merge also sends the float32 win counts."""
    assert prototype_bytes(152, 3) == 152 * (3 * 4 + 1)
    assert prototype_bytes(152, 3, win_counts=True) == 152 * (3 * 4 + 1 + 4)


def test_union_merge_keeps_everything_and_counts_bytes(setup):
    X, y, Xt, yt, parts = setup
    devices = train_devices(X, y, parts, seed=0)
    res = merge_central(devices, condense=False)
    sizes = [m.n_prototypes_ for m in devices]
    assert res.model.n_prototypes_ == res.union_size == sum(sizes)
    assert res.bytes_up == sum(sizes) * (3 * 4 + 1 + 4)  # coordinates, label, win count
    assert res.bytes_down == sum(sizes) * (3 * 4 + 1 + 4) * len(devices)
    # merging restores the single learner's level: well above a lone device
    local = np.mean([m.score(Xt, yt) for m in devices])
    assert res.model.score(Xt, yt) >= 0.90 > local


def test_condensed_merge_is_smaller_and_still_meets_the_claim(setup):
    X, y, Xt, yt, parts = setup
    devices = train_devices(X, y, parts, seed=0)
    res = merge_central(devices, condense=True, seed=0)
    assert res.model.n_prototypes_ < res.union_size / 2
    assert res.model.score(Xt, yt) >= 0.85


def test_ring_gossip_improves_every_round_zero_device(setup):
    X, y, Xt, yt, parts = setup
    devices = train_devices(X, y, parts, seed=0)
    hist = run_ilvq_exchange(devices, nx.cycle_graph(10), rounds=3, x_test=Xt, y_test=yt, seed=0)
    acc, total = hist.column("accuracy"), hist.cumulative("bytes_up")
    assert len(acc) == 4 and total[0] == 0 and hist.column("round") == [0, 1, 2, 3]
    assert acc[-1] > acc[0] + 0.03
    assert hist.column("min_accuracy")[-1] >= 0.83
    assert np.all(np.diff(total) > 0)
    assert hist.column("messages")[1:] == [20, 20, 20]  # each of 10 ring devices to its 2 neighbours


def test_device_training_is_seeded(setup):
    X, y, _, _, parts = setup
    a = train_devices(X, y, parts[:2], seed=1)
    b = train_devices(X, y, parts[:2], seed=1)
    np.testing.assert_array_equal(a[1].prototypes_, b[1].prototypes_)


def test_bad_inputs(setup):
    X, y, Xt, yt, parts = setup
    with pytest.raises(ValueError, match=r"device 1 has no samples \(parts\[1\] is empty\)"):
        train_devices(X, y, [parts[0], np.array([], dtype=int)])
    devices = train_devices(X, y, parts[:3], seed=0)
    with pytest.raises(ValueError, match="graph nodes must be 0..2"):
        run_ilvq_exchange(devices, nx.cycle_graph(4), rounds=1, x_test=Xt, y_test=yt)
    with pytest.raises(ValueError, match="models must hold at least one"):
        merge_central([])
