"""Lesson 03's exercise checks: the server's weighted average, and the server step with momentum (FedAvgM).

Each check runs the student's function on its own cases, names the common mistakes, never crashes on a
malformed answer, and refuses the package's own aggregation and server optimizer as a solution.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.aggregation import CumulativeFedAvg, ServerOptimizer, StoreAllAggregator
from tinydtl.core.robust import aggregate, weighted_mean
from tinydtl.lab.exercises import Feedback, call_student, refuse_package

__all__ = ["check_server_average", "check_server_step"]

AVERAGE = "Exercise 1: the server's weighted average"
STEP = "Exercise 2: the server step with momentum"


def _as_model(got, shape):
    """The student's answer as a float array of ``shape``, or a message saying what is wrong with it."""
    if got is None:
        return None, "your function returned None: return the averaged model (a missing `return`?)"
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return None, f"return one array (the model), got {type(got).__name__}"
    if arr.shape != shape:
        return None, (f"return one model of the clients' shape {shape}, got shape {arr.shape} "
                      "(average over the clients, axis 0 of the stacked models, not over the weights)")
    if not np.isfinite(arr).all():
        return None, "the average contains NaN or inf"
    return arr, ""


def _average_mistake(got, models, sizes) -> str:
    """Name the common wrong averages (the right one was already ruled out)."""
    n = np.asarray(sizes, dtype=float)
    stack = np.stack([np.asarray(m, dtype=float) for m in models])
    wrong = [
        (stack.mean(axis=0), "that is the plain (unweighted) mean of the client models: FedAvg weights client k "
                             "by n_k / Σ_j n_j, so a client with 16 times the samples counts 16 times as much"),
        (np.tensordot(n, stack, axes=1), "you summed n_k · w_k but did not divide by Σ_j n_j: the weights must add up to 1"),
        (stack.sum(axis=0), "you added the models up: weight each by n_k and divide by Σ_j n_j"),
        (np.tensordot(n**2 / (n**2).sum(), stack, axes=1), "you weighted by n_k twice (n_k²): the weight is n_k / Σ_j n_j"),
        (np.tensordot(n / n.sum(), stack, axes=1) / len(models), "you divided by the number of clients as well as by "
                                                                  "Σ_j n_j: the weights n_k / Σ_j n_j already add up to 1"),
    ]
    for value, message in wrong:
        if np.allclose(got, value, rtol=1e-5, atol=1e-8):
            return message
    return "not the data-size-weighted mean Σ_k (n_k / Σ_j n_j) w_k of the client models"


def check_server_average(fn) -> Feedback:
    """``fn(models, sizes)`` must return FedAvg's average Σ_k (n_k / Σ_j n_j) w_k of the client models."""
    rng = np.random.default_rng(1)
    cases = [
        ("three clients of 10, 30 and 160 samples", [rng.normal(size=(4, 3)) for _ in range(3)], [10, 30, 160]),
        ("four clients of equal size", [rng.normal(size=5) for _ in range(4)], [7, 7, 7, 7]),
        ("one client", [rng.normal(size=(2, 2))], [5]),
        ("two float32 weight matrices, sizes as a numpy array", [rng.normal(size=(3, 2)).astype(np.float32)
                                                                 for _ in range(2)], np.array([1, 3])),
        ("five clients, one of them much larger", [rng.normal(size=(2, 3)) for _ in range(5)], [2, 3, 4, 5, 986]),
    ]
    with refuse_package(weighted_mean, aggregate, CumulativeFedAvg.add, CumulativeFedAvg.result,
                        StoreAllAggregator.result, why="write the weighted average yourself, with numpy"):
        for label, models, sizes in cases:
            got, feedback = call_student(AVERAGE, fn, [m.copy() for m in models], sizes)
            if feedback:
                return feedback
            want = np.tensordot(np.asarray(sizes, float) / np.sum(sizes), np.stack(models).astype(float), axes=1)
            arr, problem = _as_model(got, want.shape)
            if problem:
                return Feedback(AVERAGE, False, [f"{label}: {problem}"])
            if not np.allclose(arr, want, rtol=1e-5, atol=1e-7):
                return Feedback(AVERAGE, False, [f"{label}: {_average_mistake(arr, models, sizes)}"])
    return Feedback(AVERAGE, True, [f"the data-size-weighted mean on all {len(cases)} cases (with equal n_k it "
                                    "is the plain mean; one client is its own average)"])


# ----------------------------------------------------------------------------- exercise 2
def _trajectory(deltas, beta, lr, rule):
    """The server's models over rounds for a rule ``(w, v, delta) -> (w, v)`` (v starts at zero)."""
    w, v, out = np.zeros_like(deltas[0]), np.zeros_like(deltas[0]), []
    for d in deltas:
        w, v = rule(w, v, d, beta, lr)
        out.append(w)
    return np.stack(out)


#: the right rule (FedAvgM, Hsu et al. 2019; TFF's build_sgdm on the pseudo-gradient -Δ) and common wrong ones
RIGHT = (lambda w, v, d, b, lr: (w - lr * (b * v - d), b * v - d))
WRONG_STEPS = [
    (lambda w, v, d, b, lr: (w + lr * d, v),
     "your server ignores the velocity: with β > 0 it must keep v ← β v - Δ and step along it, so repeated "
     "updates in one direction build up speed"),
    (lambda w, v, d, b, lr: (w + lr * (b * v - d), b * v - d),
     "your server steps against the clients: with v ← β v - Δ the step is w ← w - η_s v (for β = 0: w + η_s Δ)"),
    (lambda w, v, d, b, lr: (w - lr * (b * v - lr * d), b * v - lr * d),
     "you apply η_s twice (once inside the velocity, once in the step): v ← β v - Δ, then w ← w - η_s v"),
    (lambda w, v, d, b, lr: (w - lr * (b * v - (1 - b) * d), b * v - (1 - b) * d),
     "that is the damped (moving-average) momentum v ← β v - (1 - β) Δ; FedAvgM (Hsu et al. 2019) and TFF's "
     "SGD with momentum use v ← β v - Δ, without the (1 - β)"),
    (lambda w, v, d, b, lr: (w - lr * v, b * v - d),
     "you step with the OLD velocity: update v ← β v - Δ first, then w ← w - η_s v with the new v"),
]


def _student_trajectory(fn, deltas, beta, lr):
    """Run the student's step over ``deltas`` from w = v = 0, feeding its own v back."""
    w, v, out = np.zeros_like(deltas[0]), np.zeros_like(deltas[0]), []
    for d in deltas:
        got, feedback = call_student(STEP, fn, w.copy(), v.copy(), d.copy(), beta, lr)
        if feedback:
            return None, feedback
        if not (isinstance(got, tuple) and len(got) == 2):
            return None, Feedback(STEP, False, [f"return the pair (new w, new v), got {type(got).__name__}"
                                                + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")])
        try:
            w, v = (np.asarray(a, dtype=float) for a in got)
        except (TypeError, ValueError):
            return None, Feedback(STEP, False, ["return two arrays: the new model w and the new velocity v"])
        if w.shape != d.shape or v.shape != d.shape:
            return None, Feedback(STEP, False, [f"w and v must keep the model's shape {d.shape}, got {w.shape} and {v.shape}"])
        out.append(w)
    return np.stack(out), None


def check_server_step(fn) -> Feedback:
    """``fn(w, v, delta, beta, lr)`` must return FedAvgM's ``(w - lr·v', v')`` with ``v' = beta·v - delta``.

    Only the models are compared, round after round, with the student's own velocity fed back, so a
    velocity kept with the opposite sign (v ← β v + Δ, w ← w + η_s v) is the same algorithm and passes."""
    rng = np.random.default_rng(3)
    constant = [np.full(3, 0.5)] * 6
    cases = [("plain FedAvg (β = 0, η_s = 1)", [rng.normal(size=4) for _ in range(3)], 0.0, 1.0),
             ("β = 0.9, η_s = 1, the same update six rounds running", constant, 0.9, 1.0),
             ("β = 0.5, η_s = 0.3, random updates on a 2 × 3 model", [rng.normal(size=(2, 3)) for _ in range(5)], 0.5, 0.3)]
    with refuse_package(ServerOptimizer.step, why="write the two update lines yourself"):
        for label, deltas, beta, lr in cases:
            got, feedback = _student_trajectory(fn, deltas, beta, lr)
            if feedback:
                feedback.messages = [f"{label}: {m}" for m in feedback.messages]
                return feedback
            if not np.allclose(got, _trajectory(deltas, beta, lr, RIGHT), rtol=1e-6, atol=1e-9):
                message = next((m for rule, m in WRONG_STEPS
                                if np.allclose(got, _trajectory(deltas, beta, lr, rule), rtol=1e-6, atol=1e-9)),
                               "the models do not follow v ← β v - Δ, w ← w - η_s v")
                return Feedback(STEP, False, [f"{label}: {message}"])
    steps = np.diff(_trajectory(constant, 0.9, 1.0, RIGHT)[:, 0], prepend=0.0) / 0.5
    return Feedback(STEP, True, ["FedAvgM's step on all cases. With β = 0.9 and a constant Δ your server moved "
                                 + ", ".join(f"{s:.2f}" for s in steps) + " × Δ in rounds 1 to 6: towards 1 / (1 - β) = 10 × Δ"])
