import shutil

import numpy as np
import pytest

from tinydtl.data import datasets
from tinydtl.data.datasets import (
    DataFileError,
    load_mnist,
    load_ucr,
    make_sphere,
    sphere_box_halfwidth,
)


def test_mnist_matches_provenance():
    (x_tr, y_tr), (x_te, y_te) = load_mnist()
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert x_tr.dtype == np.uint8 and y_tr.dtype == np.uint8
    # numbers from data/PROVENANCE.md
    assert np.bincount(y_tr).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert y_tr[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert (x_tr / 255.0).mean() == pytest.approx(0.1307, abs=5e-5)
    assert len(y_te) == 10000 and set(np.unique(y_te)) == set(range(10))


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of the data folder, pointed to by TINYDTL_DATA."""
    src = datasets.data_dir()
    dst = tmp_path / "data"
    shutil.copytree(src / "ucr", dst / "ucr")
    shutil.copy(src / "mnist.npz", dst / "mnist.npz")
    monkeypatch.setenv("TINYDTL_DATA", str(dst))
    return dst


def test_corrupted_file_is_named_with_a_fix(data_copy):
    path = data_copy / "ucr" / "GunPoint" / "GunPoint_TRAIN.ts"
    raw = bytearray(path.read_bytes())
    raw[-5] = ord("9") if raw[-5] != ord("9") else ord("8")
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"GunPoint_TRAIN\.ts is corrupted.*git checkout -- data/"):
        load_ucr("GunPoint")


def test_missing_file_is_named_with_a_fix(data_copy):
    (data_copy / "mnist.npz").unlink()
    with pytest.raises(DataFileError, match=r"mnist\.npz is missing.*shared/datasets"):
        load_mnist()


@pytest.mark.parametrize(
    "name, n_train, n_test, length, n_classes",
    [
        ("GunPoint", 50, 150, 150, 2),
        ("ItalyPowerDemand", 67, 1029, 24, 2),
        ("ArrowHead", 36, 175, 251, 3),
        ("OSULeaf", 200, 242, 427, 6),
    ],
)
def test_ucr_shapes_and_labels(name, n_train, n_test, length, n_classes):
    ds = load_ucr(name)
    assert ds.X_train.shape == (n_train, length)
    assert ds.X_test.shape == (n_test, length)
    assert ds.n_classes == n_classes
    assert set(np.unique(ds.y_train)) == set(range(n_classes))
    assert ds.y_train.dtype == np.int64 and np.isfinite(ds.X_train).all()


def test_ucr_label_mapping_follows_class_label_line():
    ds = load_ucr("GunPoint")
    assert ds.class_names == ("1", "2")
    # first training series of GunPoint is class "2" in the archive
    first = (datasets.data_dir() / "ucr/GunPoint/GunPoint_TRAIN.ts").read_text().split("@data")[1].split()[0]
    assert ds.class_names[ds.y_train[0]] == first.rsplit(":", 1)[1]


def test_ucr_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        load_ucr("Coffee")


def test_sphere_balance_and_box():
    a = sphere_box_halfwidth(3)
    assert a == pytest.approx(0.5 * (8 * np.pi / 3) ** (1 / 3))
    X, y = make_sphere(40000, seed=3)
    assert np.abs(X).max() <= a
    assert y.mean() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_array_equal(y, np.linalg.norm(X, axis=1) < 1)


def test_sphere_is_seeded():
    X1, y1 = make_sphere(100, seed=7)
    X2, y2 = make_sphere(100, seed=7)
    X3, _ = make_sphere(100, seed=8)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_sphere_high_dim_uses_circumscribing_cube():
    X, y = make_sphere(20000, dim=4, seed=0)
    assert np.abs(X).max() <= 1.0
    assert y.mean() == pytest.approx(np.pi**2 / 2 / 16, abs=0.01)  # V_4 / 2^4


def test_sphere_noise_flips_labels():
    X, y = make_sphere(20000, noise=0.2, seed=1)
    clean = (np.linalg.norm(X, axis=1) < 1).astype(int)
    assert (y != clean).mean() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "n must be an integer >= 1"),
        (dict(n=10, dim=0), "dim must be an integer >= 1"),
        (dict(n=10, radius=-1.0), "radius must be a finite number > 0"),
        (dict(n=10, box=0.0), "box must be a finite number > 0"),
        (dict(n=10, noise=0.7), r"noise must be in \[0, 0.5\]"),
    ],
)
def test_sphere_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_sphere(**kwargs)


def test_box_fraction_out_of_range():
    with pytest.raises(ValueError, match="inside_fraction must be in"):
        sphere_box_halfwidth(3, 1.0, 0.9)
