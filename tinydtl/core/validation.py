"""The input contract of the package, in one place: a clear error naming the parameter, what it got
and what is allowed.

* Numbers (:func:`check_number`): finite (NaN and inf refused by name), integers where counts are
  expected (no silent truncation: ``10.7`` is refused, not cut to 10), bools are not numbers, bounds
  open or closed as the maths says (``low_open`` / ``high_open``).
* Flags and choices: :func:`check_bool`, :func:`check_choice`. Arrays: :func:`check_finite_array`.
* Seeds: :func:`check_seed` / :func:`as_rng` / :func:`check_int_seed`.
* Data at the edge of every trainer: :func:`as_features`, :func:`check_labels`,
  :func:`check_test_set`, :func:`check_parts` (widths and lengths checked against each other before
  any work), :func:`n_classes_of`. Mixing matrices: :func:`check_mixing_matrix`.

Every module takes its checks from here, so every function accepts and rejects the same things
(``docs/architecture.md``, "The input contract").
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "MIXING_TOL",
    "as_features",
    "as_rng",
    "check_bool",
    "check_choice",
    "check_finite_array",
    "check_int",
    "check_int_seed",
    "check_labels",
    "check_mixing_matrix",
    "check_number",
    "check_parts",
    "check_seed",
    "check_test_set",
    "n_classes_of",
    "scaled",
]

#: Absolute tolerance of :func:`check_mixing_matrix`: entries ``>= -MIXING_TOL``,
#: ``|W - Wᵀ| <= MIXING_TOL`` and ``|row sum - 1| <= MIXING_TOL``.
MIXING_TOL = 1e-9


def check_int(name, value, low):
    """``value`` must be an integer (not a bool) ``>= low``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_number(name, value, *, low, high=np.inf, low_open=False, high_open=False, integer=False):
    """``value`` must be a finite number (an integer if ``integer``) in ``[low, high]``; ``low_open`` /
    ``high_open`` exclude an end (``(low, high)``). Bools are refused (``True`` is not 1 here)."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, (bool, np.bool_))
    ok = ok and (isinstance(value, numbers.Integral) or bool(np.isfinite(value)))
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        what = "an integer" if integer else "a number"
        if low == -np.inf and high == np.inf:
            raise ValueError(f"{name} must be a finite {what.split()[-1]}, got {value!r}")
        lo = "(-∞" if low == -np.inf else (f"({low}" if low_open else f"[{low}")
        hi = "∞)" if high == np.inf else (f"{high})" if high_open else f"{high}]")
        raise ValueError(f"{name} must be {what} in {lo}, {hi}, got {value!r}")


def check_bool(name, value) -> bool:
    """``value`` must be ``True`` or ``False`` (numpy bools too); numbers and strings are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(name, value, allowed):
    """``value`` must be one of ``allowed`` (compared with ``==``, types must match: 1 is not '1')."""
    allowed = tuple(allowed)
    if not any(type(value) is type(a) and value == a for a in allowed):
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


def check_finite_array(name, values, *, ndim=None, shape=None, dtype=float, allow_empty=True) -> np.ndarray:
    """``values`` as a numpy array of ``dtype``: numbers only (no bools, strings or objects), finite,
    of ``ndim`` dimensions / ``shape`` when given (``None`` entries in ``shape`` match any length)."""
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(values).__name__}") from None
    if raw.dtype == bool or raw.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {raw.dtype}")
    arr = raw.astype(dtype, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None and (arr.ndim != len(shape) or any(w is not None and w != g for w, g in zip(shape, arr.shape))):
        want = "(" + ", ".join("any" if w is None else str(w) for w in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} must be finite: found {bad} NaN or infinite value(s)")
    return arr




def check_seed(name, seed, *, allow_none=False):
    """Validate a seed and return it unchanged.

    Accepted: an integer ``>= 0`` (Python or NumPy integer, not a bool), a
    :class:`numpy.random.Generator` or :class:`numpy.random.SeedSequence`, and ``None`` (fresh OS
    entropy: different numbers every call) only where the caller documents it (``allow_none=True``).
    Anything else raises ``TypeError`` (wrong type: str, float, bool, ``None`` where not allowed,
    ``RandomState``) or ``ValueError`` (negative integer), naming the parameter.
    """
    if seed is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be an integer >= 0 or a numpy.random.Generator (same seed, same numbers), got None")
    if isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if seed < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {seed!r}")
        return seed
    allowed = "an integer >= 0, a numpy.random.Generator" + (" or None" if allow_none else "")
    raise TypeError(f"{name} must be {allowed}, got {type(seed).__name__} {seed!r}")


def as_rng(name, seed, *, allow_none=False) -> np.random.Generator:
    """:func:`check_seed`, then ``np.random.default_rng(seed)`` (a Generator is returned as is, state shared)."""
    return np.random.default_rng(check_seed(name, seed, allow_none=allow_none))


def check_mixing_matrix(W, name="W", *, symmetric=True, tol=MIXING_TOL):
    """A gossip mixing matrix as CSR: square, finite, entries ``>= -tol``, rows summing to 1 within ``tol``
    and, if ``symmetric``, ``|W - Wᵀ| <= tol`` (so columns sum to 1 too: doubly stochastic).

    Dense arrays and ``scipy.sparse`` matrices are accepted. ``ValueError`` names what fails and by how much.
    """
    import scipy.sparse as sp

    if not sp.issparse(W):
        try:
            arr = np.asarray(W, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a square matrix of numbers (numpy array or scipy.sparse), got {type(W).__name__}") from None
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a square 2-D matrix, got shape {arr.shape}")
        W = arr
    W = sp.csr_matrix(W, dtype=float)
    n, m = W.shape
    if n != m or n == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {W.shape}")
    if not np.all(np.isfinite(W.data)):
        raise ValueError(f"{name} must contain only finite numbers (found NaN or inf)")
    if W.nnz and W.data.min() < -tol:
        raise ValueError(
            f"{name} must have non-negative entries (mixing weights are convex-combination weights), "
            f"found {W.data.min():.3g}"
        )
    if symmetric and W.nnz:
        asym = abs(W - W.T).max()
        if asym > tol:
            raise ValueError(f"{name} must be symmetric within {tol:g} (use metropolis_weights or max_degree_weights), "
                             f"found |W - Wᵀ| up to {asym:.2e}")
    rows = np.asarray(W.sum(axis=1)).ravel()
    dev = float(np.max(np.abs(rows - 1)))
    if dev > tol:
        kind = "doubly stochastic" if symmetric else "row stochastic"
        raise ValueError(f"{name} must be {kind}: every row must sum to 1 within {tol:g}, "
                         f"row sums deviate by up to {dev:.2e}")
    return W


# ----------------------------------------------------------------------------- data at the edge
def as_features(x, name: str = "x") -> np.ndarray:
    """Rows of features for the models: ``uint8`` images stay uint8 (flattened, no copy; scaled by
    1/255 per minibatch, bit-identical to :func:`preprocess`), real-valued features (e.g. UCR time
    series) become float32 and must be finite."""
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{name} must hold one sample per row (ndim >= 2, at least one row), got shape {x.shape}")
    flat = x.reshape(len(x), -1)
    if flat.dtype == np.uint8:
        return np.ascontiguousarray(flat)
    if not (np.issubdtype(flat.dtype, np.floating) or np.issubdtype(flat.dtype, np.integer)) or flat.dtype == bool:
        raise TypeError(f"{name} must be uint8 pixels or real-valued features, got dtype {flat.dtype}")
    flat = flat.astype(np.float32)
    if not np.isfinite(flat).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return flat


def scaled(x) -> np.ndarray:
    """float32 features from :func:`as_features` output (uint8 pixels divided by 255)."""
    return x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x


def check_labels(y, name: str, n: int, n_classes: int | None = None) -> np.ndarray:
    """``y`` must be ``n`` integer labels in ``[0, n_classes - 1]`` (``[0, ∞)`` if ``n_classes`` is None)."""
    if n_classes is not None:
        n_classes_of(n_classes=n_classes)  # checks it first: a bad n_classes is named as such
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the samples, got {y.shape}")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    hi = "∞)" if n_classes is None else f"{n_classes - 1}]"
    if n and (y.min() < 0 or (n_classes is not None and y.max() >= n_classes)):
        raise ValueError(f"{name} must hold integer labels in [0, {hi}, got values in [{y.min()}, {y.max()}]")
    return y.astype(np.intp)


def check_test_set(x_test, y_test, n_features: int, n_classes: int | None = None):
    """A trainer's optional test data: both or neither; features checked and scaled once (they are
    evaluated every round), labels checked, the feature count equal to the training data's.
    Returns ``(X_test, y_test)`` or ``(None, None)``."""
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    if x_test is None:
        return None, None
    Xt = scaled(as_features(x_test, "x_test"))
    yt = check_labels(y_test, "y_test", len(Xt), n_classes)
    if Xt.shape[1] != n_features:
        raise ValueError(f"x_test has {Xt.shape[1]} features per sample, x_train has {n_features}")
    return Xt, yt


def check_parts(parts, n_samples: int, *, allow_empty: bool = False, name: str = "parts") -> list[np.ndarray]:
    """One 1-D integer index array per client, all within ``[0, n_samples - 1]``; returned as a list.

    Training needs data on every client, so an empty client is refused unless ``allow_empty`` (a
    partition's summary may show a client that got nothing).
    """
    if isinstance(parts, np.ndarray) and parts.ndim == 1 and parts.dtype != object:
        raise TypeError(f"{name} must be a list of index arrays, one per client (got a single array)")
    if isinstance(parts, (str, bytes)) or not hasattr(parts, "__len__"):
        raise TypeError(f"{name} must be a list of index arrays, one per client, got {type(parts).__name__}")
    if len(parts) < 1:
        raise ValueError(f"{name} must hold at least one client's indices")
    out = []
    for k, idx in enumerate(parts):
        a = np.asarray(idx)
        if a.size == 0:
            if not allow_empty:
                raise ValueError(f"client {k} has no samples ({name}[{k}] is empty)")
            a = a.astype(np.intp).reshape(0)
        if a.ndim != 1 or a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name}[{k}] must be a 1-D array of integer sample indices, got {a.dtype} shape {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= n_samples):
            raise ValueError(f"{name}[{k}] must hold integer indices in [0, {n_samples - 1}], "
                             f"got values in [{a.min()}, {a.max()}]")
        out.append(a)
    return out


def check_int_seed(name: str, seed) -> int:
    """A seed from which several independent streams are derived (``default_rng([seed, k])``): an
    integer ``>= 0`` (:func:`tinydtl.core.validation.check_seed`; a Generator is refused here)."""
    check_seed(name, seed)
    if not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0 here (several random streams are derived from it), "
                        f"got {type(seed).__name__}")
    return int(seed)




def n_classes_of(*label_arrays, n_classes=None) -> int:
    """Number of classes: ``n_classes`` if given (validated), else the largest label + 1 (at least 2)."""
    if n_classes is not None:
        if not isinstance(n_classes, numbers.Integral) or isinstance(n_classes, bool) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        return int(n_classes)
    top = max(int(np.max(a)) for a in label_arrays if a is not None and np.size(a))
    return max(top + 1, 2)
