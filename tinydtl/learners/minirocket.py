"""MiniRocket (Dempster, Schmidt & Webb, KDD 2021, arXiv 2012.08791), a scikit-learn transformer.

MiniRocket convolves a series with 84 fixed kernels of length 9 (Sec. 3.1: the weights are −1 at six
positions and 2 at the other three, one kernel per choice of 3 of the 9 positions, C(9, 3) = 84), each
at up to 32 dilations spaced exponentially between 1 and (L − 1) / 8 (Sec. 3.2.1). The biases of a
kernel/dilation pair are quantiles of its convolution output on one randomly chosen training series,
at the low-discrepancy positions ``frac(n φ)`` (φ the golden ratio, Sec. 3.2.2). Padding alternates:
half of the kernel/dilation pairs see the zero-padded output, the other half only the valid part
(Sec. 3.2.3). Every (kernel, dilation, bias) gives one feature, the proportion of positive values

    PPV(C, b) = (1 / n) Σ_t [C_t − b > 0]                                         (Sec. 3.1, eq. 1)

which gives ~10,000 features (84 × 119 = 9,996 by default). The convolution uses the paper's trick
(Sec. 4.1): with α = −1 and γ = 3 the output is ``C = C_α + C_γ[i] + C_γ[j] + C_γ[k]`` where ``C_α`` is
−X summed over the nine dilated shifts and ``C_γ[p] = 3 X`` shifted by position ``p``; ``C_α`` and
``C_γ`` are built once per dilation and shared by all 84 kernels.

The numba core :func:`tinydtl.learners.minirocket_kernels.ppv_features` computes any subset of kernels (RockNet's devices each compute a
contiguous block of them, :mod:`tinydtl.papers.rocknet.classifier`); the feature order is given by an offsets table so
the same loop serves both layouts. :func:`minirocket_classifier` is the paper's classifier: ridge
regression with cross-validated α ∈ logspace(−3, 3, 10) on standardised features.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from tinydtl.core.validation import check_int
from tinydtl.learners.minirocket_kernels import (
    KERNEL_LENGTH,
    N_KERNELS,
    PADDING_ALTERNATE,
    dilation_major_offsets,
    fit_biases,
    fit_dilations,
    ppv_features,
    quantiles,
)

__all__ = ["MiniRocket", "as_series_array", "check_length", "check_series", "minirocket_classifier"]


def as_series_array(X, *, name="X"):
    """``X`` as given, except: a list of ragged series raises a clear ValueError, ``(n, 1, L)`` → ``(n, L)``."""
    if isinstance(X, (list, tuple)):
        lengths = sorted({np.size(row) for row in X})
        if len(lengths) > 1:
            raise ValueError(
                f"{name} must hold series of one length (pad or resample them first), got lengths {lengths}"
            )
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and X.ndim == 3:
        if X.shape[1] != 1:
            raise ValueError(f"{name} must be univariate: shape (n_series, 1, length), got {X.shape}")
        X = X[:, 0, :]
    return X


def check_length(length, *, name="X", min_length=KERNEL_LENGTH):
    if length < min_length:
        raise ValueError(
            f"{name} has {length} feature(s) (time points); series must have length >= {min_length} "
            f"(one dilation of a length-{KERNEL_LENGTH} kernel)"
        )


def check_series(X, *, name="X", min_length=KERNEL_LENGTH):
    """A 2-D float array ``(n_series, length)`` of equal-length, finite series, or a clear ValueError.

    Accepts a list of sequences or an aeon-style ``(n, 1, length)`` array. Raises ValueError naming
    ``name`` for ragged series, more than one channel, NaN/inf, no series, or series shorter than
    ``min_length`` (9: one dilation of a length-9 kernel).
    """
    arr = np.asarray(as_series_array(X, name=name))
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a numeric array of equal-length series, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_series, length) or (n_series, 1, length), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must contain at least 1 series, got shape {arr.shape}")
    check_length(arr.shape[1], name=name, min_length=min_length)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity; series must be finite (interpolate gaps first)")
    return arr


class MiniRocket(TransformerMixin, BaseEstimator):
    """MiniRocket transform (Dempster et al. 2021): ~10,000 PPV features of univariate series.

    Parameters
    ----------
    num_features : int, default 10_000
        Target number of features (rounded down to a multiple of 84; 9,996 by default).
    max_dilations_per_kernel : int, default 32
        At most this many dilations per kernel (Sec. 3.2.1).
    n_jobs : int, default 1
        numba threads for ``transform`` (``-1``: all cores).
    random_state : int, RandomState or None
        Chooses the training series whose convolution output gives each kernel/dilation's biases.

    Attributes
    ----------
    n_features_in_ : int
        Series length seen in ``fit``.
    dilations_ : ndarray of int
        The dilations.
    n_features_per_dilation_ : ndarray of int
        Biases (features) per kernel at each dilation.
    biases_ : ndarray of float32, shape (n_features_out_,)
        One bias per feature.
    n_features_out_ : int
        Number of features ``transform`` returns.

    Notes
    -----
    Like the paper's code and aeon's, the series are cast to float32 and the convolution sums are
    computed with fastmath, so features agree with a float64 hand computation except where a
    convolution value ties a bias to within float32 rounding.
    """

    def __init__(self, num_features=10_000, max_dilations_per_kernel=32, n_jobs=1, random_state=None):
        self.num_features = num_features
        self.max_dilations_per_kernel = max_dilations_per_kernel
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self):
        check_int("num_features", self.num_features, N_KERNELS)
        check_int("max_dilations_per_kernel", self.max_dilations_per_kernel, 1)
        if not isinstance(self.n_jobs, numbers.Integral) or isinstance(self.n_jobs, bool) or not (
            self.n_jobs == -1 or self.n_jobs >= 1
        ):
            raise ValueError(f"n_jobs must be -1 or an integer >= 1, got {self.n_jobs!r}")

    def fit(self, X, y=None):
        """Choose dilations and fit biases from the training series ``X`` (n_series, length)."""
        self._check_params()
        X = validate_data(self, as_series_array(X), reset=True, dtype=np.float32)
        check_length(X.shape[1])
        n, length = X.shape
        rng = check_random_state(self.random_state)
        dilations, per_dilation = fit_dilations(length, self.num_features, self.max_dilations_per_kernel)
        offsets = dilation_major_offsets(per_dilation)
        q = quantiles(int(per_dilation.sum()) * N_KERNELS)
        examples = rng.randint(n, size=(len(dilations), N_KERNELS))
        self.dilations_ = dilations
        self.n_features_per_dilation_ = per_dilation
        self.biases_ = fit_biases(X, examples, dilations, per_dilation, np.arange(N_KERNELS), offsets, q, offsets)
        self.n_features_out_ = int(self.biases_.size)
        return self

    def transform(self, X):
        """PPV features, shape ``(n_series, n_features_out_)``, in the paper's order (dilation, kernel, bias)."""
        check_is_fitted(self, "biases_")
        X = validate_data(self, as_series_array(X), reset=False, dtype=np.float32)
        return ppv_features(
            X,
            self.dilations_,
            self.n_features_per_dilation_,
            self.biases_,
            np.arange(N_KERNELS),
            dilation_major_offsets(self.n_features_per_dilation_),
            padding_mode=PADDING_ALTERNATE,
            n_jobs=self.n_jobs,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def minirocket_classifier(random_state=None, *, n_jobs=1, **minirocket_params):
    """The paper's classifier: MiniRocket → StandardScaler → RidgeClassifierCV(α ∈ logspace(−3, 3, 10))."""
    return make_pipeline(
        MiniRocket(random_state=random_state, n_jobs=n_jobs, **minirocket_params),
        StandardScaler(),
        RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)),
    )
