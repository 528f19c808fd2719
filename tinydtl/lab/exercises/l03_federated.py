"""Lesson 03's exercise checks: the server's average weighted by the examples each client processed (clients
ran different numbers of local epochs, some sat the round out), and the server step with Nesterov momentum.

Each check runs the student's function on its own cases, names the common mistakes, never crashes on a
malformed answer, and refuses the package's own aggregation and server optimizer as a solution.
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.aggregation import CumulativeFedAvg, ServerOptimizer, StoreAllAggregator
from tinydtl.core.robust import aggregate, weighted_mean
from tinydtl.lab.exercises import Feedback, call_student, refuse_package

__all__ = ["check_server_average", "check_server_step"]

AVERAGE = "Exercise 1: the server's average, weighted by the examples processed"
STEP = "Exercise 2: the server step with Nesterov momentum"


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


def _mean(weights, stack):
    weights = np.asarray(weights, dtype=float)
    return np.tensordot(weights / weights.sum(), stack, axes=1)


def _average_mistake(got, models, sizes, epochs) -> str:
    """Name the common wrong averages (the right one was already ruled out)."""
    n, e = np.asarray(sizes, dtype=float), np.asarray(epochs, dtype=float)
    stack = np.stack([np.asarray(m, dtype=float) for m in models])
    took_part = e > 0
    wrong = [
        (_mean(n, stack), "you weighted by n_k alone: a client that ran 3 epochs processed three times as many "
                          "examples as one that ran 1, and a client that sat the round out processed none"),
        (_mean(n * took_part, stack), "you left out the clients that sat the round out (right) but weighted the "
                                      "others by n_k: the examples a client processed also depend on its epochs"),
        (_mean(e, stack), "you weighted by the epochs alone: a client's examples processed also depend on how many "
                          "samples it holds"),
        (stack.mean(axis=0), "that is the plain (unweighted) mean of the client models, the clients that sat out "
                             "included"),
        (stack[took_part].mean(axis=0) if took_part.any() else stack.mean(axis=0),
         "that is the plain mean of the clients that took part: weight each by the examples it processed"),
        (np.tensordot(n * e, stack, axes=1), "you summed the weighted models but did not divide by the total "
                                             "weight: the weights must add up to 1"),
        (_mean((n * e) ** 2, stack), "you squared the weights: weight each client once by the examples it processed"),
    ]
    for value, message in wrong:
        if np.allclose(got, value, rtol=1e-5, atol=1e-8):
            return message
    return "not the average weighted by the examples each client processed this round"


def check_server_average(fn) -> Feedback:
    """``fn(models, sizes, epochs)`` must return the client models' average, each weighted by the examples it
    processed this round (its local epochs × its samples; a client with 0 epochs sat the round out)."""
    rng = np.random.default_rng(1)
    cases = [
        ("four clients, the largest sat the round out (0 epochs)", [rng.normal(size=(2, 2)) for _ in range(4)],
         [5, 8, 13, 400], [1, 2, 1, 0]),
        ("three clients of 10, 30 and 160 samples, 3, 1 and 1 epochs", [rng.normal(size=(4, 3)) for _ in range(3)],
         [10, 30, 160], [3, 1, 1]),
        ("four clients of equal size and equal epochs", [rng.normal(size=5) for _ in range(4)], [7, 7, 7, 7], [2, 2, 2, 2]),
        ("two float32 weight matrices, sizes and epochs as numpy arrays",
         [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(2)], np.array([1, 3]), np.array([5, 1])),
        ("one client that took part and one that did not", [rng.normal(size=3) for _ in range(2)], [50, 9], [0, 4]),
    ]
    with refuse_package(weighted_mean, aggregate, CumulativeFedAvg.add, CumulativeFedAvg.result,
                        StoreAllAggregator.result, why="write the weighted average yourself, with numpy"):
        for label, models, sizes, epochs in cases:
            got, feedback = call_student(AVERAGE, fn, [m.copy() for m in models], sizes, epochs)
            if feedback:
                return feedback
            want = _mean(np.asarray(sizes, float) * np.asarray(epochs, float), np.stack(models).astype(float))
            arr, problem = _as_model(got, want.shape)
            if problem:
                return Feedback(AVERAGE, False, [f"{label}: {problem}"])
            if not np.allclose(arr, want, rtol=1e-5, atol=1e-7):
                return Feedback(AVERAGE, False, [f"{label}: {_average_mistake(arr, models, sizes, epochs)}"])
    return Feedback(AVERAGE, True, [f"the average weighted by examples processed on all {len(cases)} cases (with "
                                    "equal epochs it is FedAvg's n_k weighting; a client that sat out gets weight 0)"])


# ----------------------------------------------------------------------------- exercise 2
def _trajectory(deltas, beta, lr, rule):
    """The server's models over rounds for a rule ``(w, v, delta) -> (w, v)`` (v starts at zero)."""
    w, v, out = np.zeros_like(deltas[0]), np.zeros_like(deltas[0]), []
    for d in deltas:
        w, v = rule(w, v, d, beta, lr)
        out.append(w)
    return np.stack(out)


#: the right rule (Nesterov momentum on the pseudo-gradient -Δ, as torch.optim.SGD(nesterov=True) applies it)
#: and common wrong ones
RIGHT = (lambda w, v, d, b, lr: (w - lr * (b * (b * v - d) - d), b * v - d))
WRONG_STEPS = [
    (lambda w, v, d, b, lr: (w - lr * (b * v - d), b * v - d),
     "that is section 2's heavy-ball momentum (FedAvgM), which steps along the new velocity; Nesterov's step "
     "looks ahead: it combines the new velocity, scaled by β, with this round's update"),
    (lambda w, v, d, b, lr: (w + lr * d, v),
     "your server ignores the velocity: it must keep one and let repeated updates in one direction build up speed"),
    (lambda w, v, d, b, lr: (w + lr * (b * (b * v - d) - d), b * v - d),
     "your server steps against the clients: for β = 0 the step must be w + η_s Δ"),
    (lambda w, v, d, b, lr: (w - lr * b * (b * v - d), b * v - d),
     "you step along the scaled velocity only: Nesterov's step also includes this round's update itself"),
    (lambda w, v, d, b, lr: (w - lr * (b * (b * v - lr * d) - lr * d), b * v - lr * d),
     "you apply η_s twice (once inside the velocity, once in the step)"),
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
    """``fn(w, v, delta, beta, lr)`` must return the Nesterov server step ``(w - lr·(beta·v' - delta), v')`` with
    ``v' = beta·v - delta``.

    Only the models are compared, round after round, with the student's own velocity fed back, so a
    velocity kept with the opposite sign is the same algorithm and passes."""
    rng = np.random.default_rng(3)
    constant = [np.full(3, 0.5)] * 6
    cases = [("plain FedAvg (β = 0, η_s = 1)", [rng.normal(size=4) for _ in range(3)], 0.0, 1.0),
             ("β = 0.9, η_s = 1, the same update six rounds running", constant, 0.9, 1.0),
             ("β = 0.5, η_s = 0.3, random updates on a 2 × 3 model", [rng.normal(size=(2, 3)) for _ in range(5)], 0.5, 0.3)]
    with refuse_package(ServerOptimizer.step, why="write the update lines yourself"):
        for label, deltas, beta, lr in cases:
            got, feedback = _student_trajectory(fn, deltas, beta, lr)
            if feedback:
                feedback.messages = [f"{label}: {m}" for m in feedback.messages]
                return feedback
            if not np.allclose(got, _trajectory(deltas, beta, lr, RIGHT), rtol=1e-6, atol=1e-9):
                message = next((m for rule, m in WRONG_STEPS
                                if np.allclose(got, _trajectory(deltas, beta, lr, rule), rtol=1e-6, atol=1e-9)),
                               "the models do not follow Nesterov momentum on the pseudo-gradient -Δ")
                return Feedback(STEP, False, [f"{label}: {message}"])
    steps = np.diff(_trajectory(constant, 0.9, 1.0, RIGHT)[:, 0], prepend=0.0) / 0.5
    return Feedback(STEP, True, ["Nesterov's server step on all cases. With β = 0.9 and a constant Δ your server moved "
                                 + ", ".join(f"{s:.2f}" for s in steps) + " × Δ in rounds 1 to 6: towards 1 / (1 - β) = 10 × Δ, "
                                 "ahead of heavy-ball momentum in every round"])
