"""Evaluation loops shared by the lessons: online learning curves, model comparisons, sweeps."""

from __future__ import annotations

import itertools
import time

import numpy as np
from sklearn.base import clone

__all__ = ["online_curve", "compare_classifiers", "param_sweep"]


def online_curve(estimator, X, y, X_test, y_test, *, classes, checkpoints):
    """Feed ``(X, y)`` to ``estimator.partial_fit`` in order and evaluate at each checkpoint.

    Parameters
    ----------
    checkpoints : increasing ints in ``[1, len(X)]``
        Numbers of samples seen at which to measure test accuracy.

    Returns
    -------
    dict of arrays: ``samples_seen``, ``accuracy``, ``n_prototypes`` (``nan`` if the estimator has
    no ``n_prototypes_``), ``n_insertions`` (cumulative prototypes inserted, ``nan`` without
    ``n_insertions_``) and ``seconds`` (cumulative training time).
    """
    checkpoints = np.asarray(checkpoints, dtype=int)
    if checkpoints.ndim != 1 or checkpoints.size == 0:
        raise ValueError("checkpoints must be a non-empty 1-D sequence of sample counts")
    if checkpoints[0] < 1 or checkpoints[-1] > len(X) or np.any(np.diff(checkpoints) <= 0):
        raise ValueError(
            f"checkpoints must increase strictly within [1, {len(X)}], got {checkpoints.tolist()}"
        )
    acc, protos, inserted, secs = [], [], [], []
    seen, spent = 0, 0.0
    for stop in checkpoints:
        t0 = time.perf_counter()
        estimator.partial_fit(X[seen:stop], y[seen:stop], classes=classes)
        spent += time.perf_counter() - t0
        seen = stop
        acc.append(estimator.score(X_test, y_test))
        protos.append(getattr(estimator, "n_prototypes_", np.nan))
        inserted.append(getattr(estimator, "n_insertions_", np.nan))
        secs.append(spent)
    return {
        "samples_seen": checkpoints,
        "accuracy": np.array(acc),
        "n_prototypes": np.array(protos, dtype=float),
        "n_insertions": np.array(inserted, dtype=float),
        "seconds": np.array(secs),
    }


def compare_classifiers(models: dict, X, y, X_test, y_test):
    """Fit each model (a fresh clone) and report test accuracy and training throughput.

    Returns a pandas DataFrame indexed by model name with ``accuracy``, ``fit_seconds`` and
    ``samples_per_second``.
    """
    import pandas as pd

    rows = {}
    for name, model in models.items():
        m = clone(model)
        t0 = time.perf_counter()
        m.fit(X, y)
        fit_s = time.perf_counter() - t0
        rows[name] = {
            "accuracy": m.score(X_test, y_test),
            "fit_seconds": fit_s,
            "samples_per_second": len(X) / fit_s if fit_s > 0 else np.inf,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def param_sweep(estimator, grid: dict, X, y, X_test, y_test, *, seeds=(0,)):
    """Test accuracy (and ``n_prototypes_`` if present) over a parameter grid, averaged over seeds.

    ``estimator`` is cloned for each setting; ``random_state`` is set to each seed. Returns a
    pandas DataFrame with one row per setting: the parameters, ``accuracy``, ``accuracy_std``
    and ``n_prototypes``.
    """
    import pandas as pd

    if not grid:
        raise ValueError("grid must name at least one parameter")
    names = list(grid)
    rows = []
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values))
        accs, protos = [], []
        for seed in seeds:
            m = clone(estimator).set_params(random_state=seed, **params).fit(X, y)
            accs.append(m.score(X_test, y_test))
            protos.append(getattr(m, "n_prototypes_", np.nan))
        rows.append(
            {**params, "accuracy": np.mean(accs), "accuracy_std": np.std(accs), "n_prototypes": np.mean(protos)}
        )
    return pd.DataFrame(rows)
