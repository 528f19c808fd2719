"""Package functions shaped as sweep points: keyword parameters in, a dict of metrics out.

``tinydtl sweep tinydtl.lab.sweep.points:fedavg_mnist --grid grid.toml`` runs one of these per grid
point (see :mod:`tinydtl.lab.sweep`). Each is a thin wrapper around the package's own code, seeded, so
the same parameters give the same numbers on any worker.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["fedavg_mnist"]


@functools.lru_cache(maxsize=1)
def _mnist():
    from tinydtl.data.datasets import load_mnist

    return load_mnist()  # once per worker process


def fedavg_mnist(
    *,
    clients: int = 10,
    alpha: float = 0.5,
    seed: int = 0,
    rounds: int = 3,
    local_epochs: int = 1,
    batch_size: int = 20,
    client_lr: float = 0.02,
    train_size: int = 60000,
    test_size: int = 10000,
) -> dict:
    """FedAvg of the survey's MNIST softmax learner (numpy engine) on a Dirichlet(α) label-skewed split.

    The first ``train_size`` training and ``test_size`` test images are used; the split is
    :func:`tinydtl.data.partition.dirichlet` with concentration ``alpha`` over ``clients`` clients, and the
    training is :func:`tinydtl.algorithms.fedavg.fedavg` (McMahan et al. 2017, weighted FedAvg; see its
    docstring for the update equations). ``seed`` seeds the split, the initial weights, the client
    sampling and the batch order.

    Returns
    -------
    dict
        ``final_accuracy`` and ``best_accuracy`` (test accuracy after the last round and the best
        round), ``megabytes`` (float32 weights sent up and down, all rounds) and ``train_seconds``.
    """
    from tinydtl.algorithms.fedavg import run_fedavg
    from tinydtl.core.validation import check_number
    from tinydtl.data.partition import dirichlet

    check_number("train_size", train_size, low=1, high=60000, integer=True)
    check_number("test_size", test_size, low=1, high=10000, integer=True)
    (x_train, y_train), (x_test, y_test) = _mnist()
    x_train, y_train = x_train[:train_size], y_train[:train_size]
    parts = dirichlet(np.asarray(y_train), clients, alpha, seed)
    hist = run_fedavg(
        x_train, y_train, parts, x_test=x_test[:test_size], y_test=y_test[:test_size], engine="numpy",
        rounds=rounds, local_epochs=local_epochs, batch_size=batch_size, client_lr=client_lr, seed=seed,
    )
    return {
        "final_accuracy": float(hist.column('accuracy', initial=False)[-1]),
        "best_accuracy": float(max(hist.column('accuracy', initial=False))),
        "megabytes": (sum(hist.column('bytes_up', initial=False)) + sum(hist.column('bytes_down', initial=False))) / 1e6,
        "train_seconds": float(sum(hist.column('seconds', initial=False))),
    }
