"""Lesson 03's exercise checks (tinydtl.lab.exercises.l03_federated): the reference solution passes, the
stub gets feedback, each common wrong answer gets its own message, malformed answers never crash the
check, and the package's own implementation is refused."""

import numpy as np
import pytest
from support import exercise_cell

from tinydtl.core.aggregation import ServerOptimizer
from tinydtl.core.robust import aggregate, weighted_mean
from tinydtl.lab.exercises.l03_federated import check_server_average, check_server_step

STEM = "03_federated_mnist"


def stub(*args):
    raise NotImplementedError


# --- exercise 1: the server's average, weighted by the examples processed ----------------------------------
def reference_average(models, sizes, epochs):
    return np.average(np.stack(models), axis=0, weights=np.asarray(sizes) * np.asarray(epochs))


def test_average_reference_solution_passes():
    fb = check_server_average(reference_average)
    assert fb.passed, fb


def test_average_stub_in_the_notebook_gets_feedback_not_a_crash():
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 1"), ns)
    fb = ns["check_server_average"](ns["my_server_average"])
    assert not fb.passed and "not implemented yet" in str(fb)
    assert not check_server_average(stub).passed


@pytest.mark.parametrize("answer, message", [
    (lambda m, n, e: np.average(m, axis=0, weights=n), "weighted by n_k alone"),
    (lambda m, n, e: np.average(m, axis=0, weights=np.asarray(n) * (np.asarray(e) > 0)), "left out the clients"),
    (lambda m, n, e: np.average(m, axis=0, weights=e), "epochs alone"),
    (lambda m, n, e: np.mean(m, axis=0), "plain (unweighted) mean"),
    (lambda m, n, e: np.mean(np.stack(m)[np.asarray(e) > 0], axis=0), "plain mean of the clients that took part"),
    (lambda m, n, e: np.tensordot(np.asarray(n) * np.asarray(e), np.stack(m), axes=1), "did not divide"),
    (lambda m, n, e: np.average(m, axis=0, weights=(np.asarray(n) * np.asarray(e)) ** 2), "squared the weights"),
    (lambda m, n, e: reference_average(m, n, e).ravel(), "shape"),
    (lambda m, n, e: np.average(m, axis=1), "shape"),
    (lambda m, n, e: None, "returned None"),
    (lambda m, n, e: "the average", "return one array"),
    (lambda m, n, e: reference_average(m, n, e) * np.nan, "NaN"),
    (lambda m, n, e: reference_average(m, n, e) + 0.1, "not the average weighted by the examples"),
    (lambda m, n, e: 1 / 0, "ZeroDivisionError"),
])
def test_average_names_each_common_mistake(answer, message):
    fb = check_server_average(answer)
    assert not fb.passed and message in str(fb), fb


def test_average_refuses_the_package():
    for solution in (lambda m, n, e: weighted_mean(np.stack(m), np.asarray(n) * np.asarray(e)),
                     lambda m, n, e: aggregate(np.stack(m), np.asarray(n) * np.asarray(e), "mean")):
        fb = check_server_average(solution)
        assert not fb.passed and "tinydtl's own" in str(fb), fb
    assert weighted_mean(np.ones((2, 3)), [1, 1]).shape == (3,)  # restored afterwards


# --- exercise 2: the server step with Nesterov momentum ---------------------------------------------------
def reference_step(w, v, delta, beta, lr):
    v = beta * v - delta
    return w - lr * (beta * v - delta), v


def test_step_reference_solution_and_the_opposite_sign_convention_pass():
    fb = check_server_step(reference_step)
    assert fb.passed and "10 × Δ" in str(fb), fb

    def flipped(w, v, delta, beta, lr):  # v kept with the other sign (PyTorch's buffer on g = -Δ): the same algorithm
        v = beta * v + delta
        return w + lr * (beta * v + delta), v

    assert check_server_step(flipped).passed


def test_step_stub_in_the_notebook_gets_feedback_not_a_crash():
    ns = {}
    exec(exercise_cell(STEM, "# Exercise 2"), ns)
    fb = ns["check_server_step"](ns["my_server_step"])
    assert not fb.passed and "not implemented yet" in str(fb)


@pytest.mark.parametrize("answer, message", [
    (lambda w, v, d, b, lr: (w - lr * (b * v - d), b * v - d), "heavy-ball"),
    (lambda w, v, d, b, lr: (w + lr * d, v), "ignores the velocity"),
    (lambda w, v, d, b, lr: (w + lr * (b * (b * v - d) - d), b * v - d), "against the clients"),
    (lambda w, v, d, b, lr: (w - lr * b * (b * v - d), b * v - d), "scaled velocity only"),
    (lambda w, v, d, b, lr: (w - lr * (b * (b * v - lr * d) - lr * d), b * v - lr * d), "η_s twice"),
    (lambda w, v, d, b, lr: w + d, "pair"),
    (lambda w, v, d, b, lr: (w, v, d), "pair"),
    (lambda w, v, d, b, lr: (w.ravel()[:1], v), "shape"),
    (lambda w, v, d, b, lr: ("w", "v"), "two arrays"),
    (lambda w, v, d, b, lr: (w + 2 * d, v), "do not follow"),
    (lambda w, v, d, b, lr: w.undefined, "AttributeError"),
])
def test_step_names_each_common_mistake(answer, message):
    fb = check_server_step(answer)
    assert not fb.passed and message in str(fb), fb


def test_step_refuses_the_package():
    def package(w, v, delta, beta, lr):
        opt = ServerOptimizer(lr, beta)
        opt.velocity = v.copy() if beta else None
        new = opt.step(w, delta)
        return new, (opt.velocity if beta else v)

    fb = check_server_step(package)
    assert not fb.passed and "tinydtl's own" in str(fb), fb
    assert ServerOptimizer(1.0, 0.0).step(np.zeros(2), np.ones(2)).tolist() == [1.0, 1.0]  # restored
