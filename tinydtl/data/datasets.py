"""Offline data sets: MNIST, UCR time series, and the ILVQ sphere benchmark.

Nothing here touches the network. MNIST and the UCR sets live in the project's
``data/`` folder (see ``data/PROVENANCE.md``); every file is checked against the
SHA-256 recorded below before it is parsed, so a truncated or edited file fails
loudly instead of producing silently wrong numbers.

The data folder is ``<repository>/data`` or, if set, the ``TINYDTL_DATA``
environment variable.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tinydtl.core.validation import as_rng, check_int, check_number
from tinydtl.runtime.paths import repo_path

__all__ = [
    "DataFileError",
    "UCRDataset",
    "data_dir",
    "load_mnist",
    "load_ucr",
    "make_sphere",
    "sphere_box_halfwidth",
    "UCR_NAMES",
]

#: SHA-256 of every shipped data file, relative to the data folder.
CHECKSUMS: dict[str, str] = {
    "mnist.npz": "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64",
    "ucr/ArrowHead/ArrowHead_TEST.ts": "5417dab42626d41df5e435bb22458c2df40dfad4bcd3b59559bbe72e20e84904",
    "ucr/ArrowHead/ArrowHead_TRAIN.ts": "a83c470aaf611a5f5284377cce27a5fc9f6292bc3d110257b0fd4905ced5ee72",
    "ucr/GunPoint/GunPoint_TEST.ts": "79332750788a6227b325b96bd0d70130c8eb707b9731f8d7dec62b7a7d36017e",
    "ucr/GunPoint/GunPoint_TRAIN.ts": "f842401779fd9800d247d8b33121a1a4643710a19b24917dbdd9a060ca8630d5",
    "ucr/ItalyPowerDemand/ItalyPowerDemand_TEST.ts": "26122451f87dd0387ef90b18bc8a86c041371b8a1c068004922b939971247144",
    "ucr/ItalyPowerDemand/ItalyPowerDemand_TRAIN.ts": "341269cb7e6cef96846b30e774580beec79addb93848ba360145219115a74b7c",
    "ucr/OSULeaf/OSULeaf_TEST.ts": "6c549dd354f9e42d5985fa5fab75321ca9acefc7873457e71467fc8a31f107ce",
    "ucr/OSULeaf/OSULeaf_TRAIN.ts": "86b9d6e860414ffd26cebc62fff84ffb37fa588ef3e5bf79e4094a437c36ddfc",
}

UCR_NAMES = ("ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf")

_RESTORE_HINT = (
    "Restore it with `git checkout -- data/` (the files are committed), or copy it again from "
    "../shared/datasets/ (see data/PROVENANCE.md)."
)


class DataFileError(OSError):
    """A shipped data file is missing or does not match its recorded checksum."""


def data_dir() -> Path:
    """The folder holding the shipped data (``TINYDTL_DATA`` overrides it)."""
    env = os.environ.get("TINYDTL_DATA")
    if env:
        return Path(env)
    return repo_path("data")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _verified_cached(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    return _sha256(Path(path)) == expected


def verified_path(relpath: str) -> Path:
    """Return the path of a shipped data file after checking that it exists and is intact.

    Raises
    ------
    DataFileError
        If the file is missing or its SHA-256 differs from :data:`CHECKSUMS`; the message
        names the file and says how to restore it.
    """
    if relpath not in CHECKSUMS:
        raise KeyError(f"{relpath!r} is not a shipped data file; known: {sorted(CHECKSUMS)}")
    path = data_dir() / relpath
    if not path.is_file():
        raise DataFileError(f"data file {path} is missing. {_RESTORE_HINT}")
    st = path.stat()
    if not _verified_cached(str(path), st.st_size, st.st_mtime_ns, CHECKSUMS[relpath]):
        raise DataFileError(
            f"data file {path} is corrupted: its SHA-256 does not match the recorded "
            f"{CHECKSUMS[relpath][:12]}…. {_RESTORE_HINT}"
        )
    return path


def load_mnist():
    """Load MNIST in the Keras layout, checked against its SHA-256.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_*`` are ``uint8`` arrays of shape ``(n, 28, 28)``; ``y_*`` are ``uint8`` labels 0..9.
        60,000 training and 10,000 test images.
    """
    path = verified_path("mnist.npz")
    with np.load(path) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train.astype(np.uint8, copy=False), y_train.astype(np.uint8, copy=False)), (
        x_test.astype(np.uint8, copy=False),
        y_test.astype(np.uint8, copy=False),
    )


@dataclass(frozen=True)
class UCRDataset:
    """A UCR problem with the archive's own train/test split.

    ``X_*`` are float64 arrays ``(n_series, series_length)``; ``y_*`` are int64 labels 0..K-1;
    ``class_names`` maps a label back to the archive's class string.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def _parse_ts(path: Path) -> tuple[np.ndarray, list[str], tuple[str, ...] | None]:
    """Parse a univariate, equal-length ``.ts`` file (sktime/aeon format)."""
    class_labels = None
    rows, labels = [], []
    in_data = False
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                low = line.lower()
                if low.startswith("@classlabel"):
                    parts = line.split()
                    if len(parts) > 2 and parts[1].lower() == "true":
                        class_labels = tuple(parts[2:])
                elif low.startswith("@univariate") and line.split()[1].lower() != "true":
                    raise ValueError(f"{path}: only univariate .ts files are supported")
                elif low.startswith("@data"):
                    in_data = True
                continue
            series, sep, label = line.rpartition(":")
            if not sep or ":" in series:
                raise ValueError(f"{path}:{lineno}: expected 'v1,v2,...:label' (one dimension)")
            try:
                rows.append(np.array(series.split(","), dtype=np.float64))
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: non-numeric value in series ({exc})") from None
            labels.append(label.strip())
    if not rows:
        raise ValueError(f"{path}: no @data section or no series in it")
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"{path}: series have unequal lengths {sorted(lengths)}")
    return np.vstack(rows), labels, class_labels


def _label_order(labels: list[str], declared: tuple[str, ...] | None) -> tuple[str, ...]:
    if declared:
        return declared

    def key(s):
        try:
            return (0, float(s), s)
        except ValueError:
            return (1, 0.0, s)

    return tuple(sorted(set(labels), key=key))


def load_ucr(name: str) -> UCRDataset:
    """Load a shipped UCR problem (``ArrowHead``, ``GunPoint``, ``ItalyPowerDemand``, ``OSULeaf``).

    Labels are mapped to ``0..K-1`` in the order the file's ``@classLabel`` line declares them.
    """
    if name not in UCR_NAMES:
        raise ValueError(f"name must be one of {list(UCR_NAMES)}, got {name!r}")
    X_tr, lab_tr, decl = _parse_ts(verified_path(f"ucr/{name}/{name}_TRAIN.ts"))
    X_te, lab_te, decl_te = _parse_ts(verified_path(f"ucr/{name}/{name}_TEST.ts"))
    classes = _label_order(lab_tr + lab_te, decl or decl_te)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(lab_tr + lab_te) - set(index))
    if unknown:
        raise ValueError(f"{name}: labels {unknown} are not declared in @classLabel {list(classes)}")
    y_tr = np.array([index[c] for c in lab_tr], dtype=np.int64)
    y_te = np.array([index[c] for c in lab_te], dtype=np.int64)
    return UCRDataset(name, X_tr, y_tr, X_te, y_te, classes)


def _unit_ball_volume(dim: int) -> float:
    return math.pi ** (dim / 2) / math.gamma(dim / 2 + 1)


def sphere_box_halfwidth(dim: int = 3, radius: float = 1.0, inside_fraction: float = 0.5) -> float:
    """Half-width ``a`` of the cube ``[-a, a]^dim`` in which a ball of ``radius`` fills ``inside_fraction``.

    Solves ``V_dim * radius**dim / (2a)**dim = inside_fraction``. For ``dim=3`` and a balanced
    split this is ``a = radius * (8*pi/3)**(1/3) / 2 ≈ 1.0155 * radius``. Only fractions the ball
    can reach inside its bounding cube are allowed (the ball must fit: ``a >= radius``).
    """
    check_int("dim", dim, 1)
    check_number("radius", radius, low=0, low_open=True)
    max_fraction = _unit_ball_volume(dim) / 2**dim
    if not isinstance(inside_fraction, numbers.Real) or isinstance(inside_fraction, bool) or not (0 < inside_fraction <= max_fraction):
        raise ValueError(
            f"inside_fraction must be in (0, {max_fraction:.4f}] for dim={dim} "
            f"(the ball's share of its bounding cube), got {inside_fraction}"
        )
    return 0.5 * radius * (_unit_ball_volume(dim) / inside_fraction) ** (1.0 / dim)


def _positive_finite(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and bool(np.isfinite(v)) and v > 0


def make_sphere(
    n: int,
    dim: int = 3,
    radius: float = 1.0,
    *,
    box: float | None = None,
    noise: float = 0.0,
    seed=0,
):
    """Points inside vs outside a ball: the survey's ILVQ benchmark.

    Points are drawn uniformly from the cube ``[-box, box]^dim``; the label is 1 when
    ``||x|| < radius`` (inside) and 0 otherwise.

    Sampling box and class balance
        By default ``box = sphere_box_halfwidth(dim, radius, 0.5)``, the half-width at which the
        ball fills exactly half of the cube, so the classes are balanced in expectation
        (≈ 1.0155·radius in 3-D: the "outside" class lives in the cube's corners and a thin shell).
        With ``box = radius`` (the cube circumscribing the ball) the inside share is
        ``pi/6 ≈ 52.4 %`` in 3-D; larger boxes make "outside" the majority. From ``dim = 4`` on the
        ball fills less than half of even its circumscribing cube (30.8 % in 4-D), so the default
        box is that cube and the inside share is ``V_dim / 2**dim``.

    Parameters
    ----------
    n : int
        Number of points, ``n >= 1``.
    dim : int
        Dimension, ``dim >= 1``.
    radius : float
        Ball radius, ``> 0``.
    box : float, optional
        Half-width of the sampling cube, ``> 0``.
    noise : float
        Fraction of labels flipped at random (label noise), in ``[0, 0.5]``.
    seed : int >= 0 or numpy.random.Generator
        Seed of the generator (same seed, same points); anything else is a ``TypeError``.

    Returns
    -------
    X : ndarray (n, dim) float64
    y : ndarray (n,) int64, 1 inside, 0 outside
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if not _positive_finite(radius):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    if box is None:
        box = sphere_box_halfwidth(dim, radius, min(0.5, _unit_ball_volume(dim) / 2**dim))
    elif not _positive_finite(box):
        raise ValueError(f"box must be a finite number > 0, got {box!r}")
    if not isinstance(noise, numbers.Real) or isinstance(noise, bool) or not (0.0 <= noise <= 0.5):
        raise ValueError(f"noise must be in [0, 0.5], got {noise!r}")
    rng = as_rng("seed", seed)
    X = rng.uniform(-box, box, size=(int(n), int(dim)))
    y = (np.linalg.norm(X, axis=1) < radius).astype(np.int64)
    if noise > 0:
        flip = rng.random(int(n)) < noise
        y[flip] = 1 - y[flip]
    return X, y
