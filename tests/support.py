"""Helpers shared by the tests (imported as ``support``; pytest puts this folder on ``sys.path``)."""

import os

import numpy as np
import pytest


def require(problem: str | None, what: str) -> None:
    """Skip with the reason when an optional tool is missing; under ``CI`` it must be there, so fail."""
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so {what} must run, but: {problem}")
        pytest.skip(f"{what} not available here: {problem}")


def softmax_step(W, b, X, y, lr):
    """One minibatch SGD step on mean cross-entropy, written out plainly (the reference the engines are checked against)."""
    logits = X @ W + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return W - lr * X.T @ p / len(y), b - lr * p.mean(axis=0)
