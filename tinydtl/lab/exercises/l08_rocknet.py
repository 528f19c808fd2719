"""Checks for lesson 08's exercises (RockNet): a feature without padding, one device's Adam step, the radio bill.

Each check runs the student's function on its own cases, compares with its own reference, names the common
mistake it recognises (by computing what that mistake would return), never crashes on a malformed answer,
and refuses the package's implementation (:func:`tinydtl.lab.exercises.refuse_package`).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.traffic import payload_bytes
from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.learners.minirocket_kernels import kernel_weights, ppv_features
from tinydtl.learners.quantized_adam import Adam
from tinydtl.papers.rocknet.classifier import RockNetClassifier
from tinydtl.papers.rocknet.cost import cost_vs_devices, device_costs
from tinydtl.papers.rocknet.device import RockNetDevice, series_traffic

__all__ = ["check_device_adam_step", "check_ppv", "check_step_bytes"]


def _as_array(value, shape):
    """``value`` as a finite float array of ``shape``, or an error message."""
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None, f"return numbers (a numpy array), got {type(value).__name__}"
    if a.shape != shape:
        return None, f"return an array of shape {shape}, got shape {a.shape}"
    if not np.all(np.isfinite(a)):
        return None, "your result contains NaN or inf"
    return a, None


def _first_match(got, mistakes, **tol):
    """The message of the first mistake whose output equals ``got`` (``None``: none does)."""
    for message, expected in mistakes:
        if expected is not None and np.shape(expected) == np.shape(got) and np.allclose(got, expected, **tol):
            return message
    return None


# ----------------------------------------------------------------------------- exercise 1
def _output(x, w, d, padding):
    """The kernel output C_t = Σ_p w_p x_{t+(p-4)d}: zero padded (all t) or only where the kernel fits."""
    n = len(x)
    padded = np.pad(np.asarray(x, dtype=float), 4 * d)
    c = sum(w[p] * padded[p * d: p * d + n] for p in range(9))
    return c if padding else c[4 * d: n - 4 * d]


def _ppv(x, w, d, biases, padding):
    return (_output(x, w, d, padding)[None, :] > np.asarray(biases)[:, None]).mean(axis=1)


def _ppv_cases():
    rng = np.random.default_rng(8)
    cases = []
    for n, d, kernel, ties in [(40, 1, 3, False), (60, 3, 50, True), (35, 2, 83, False), (64, 4, 17, True),
                               (48, 2, 5, False)]:
        x = rng.integers(-4, 5, n).astype(float) if ties else rng.standard_normal(n)
        w = kernel_weights(kernel)
        c = _output(x, w, d, False)
        # with integer series the output takes integer values: a bias equal to one of them is a tie
        biases = np.unique(c)[[1, len(np.unique(c)) // 2, -2]] if ties else np.quantile(c, [0.15, 0.4, 0.7, 0.9])
        cases.append((x, w, d, np.asarray(biases, dtype=float)))
    return cases


def _ppv_mistakes(x, w, d, biases):
    n = len(x)
    valid = n - 8 * d
    counts = _ppv(x, w, d, biases, False) * valid
    return [
        ("a tie C_t = b is not a positive value: count C_t > b, not C_t ≥ b",
         (_output(x, w, d, False)[None, :] >= biases[:, None]).mean(axis=1)),
        ("the PPV is a proportion: divide the count by the number of positions", counts),
        ("the PPV is a proportion in [0, 1], not a percentage", 100 * counts / valid),
        ("the dilation spaces the nine taps d apart: your result is the d = 1 kernel", _ppv(x, w, 1, biases, False)
         if d > 1 else None),
        ("that is the zero-padded feature of §1: keep only the positions where the whole kernel fits (drop the first "
         "and last 4·d)", _ppv(x, w, d, biases, True)),
        ("divide by the positions the kernel fits (n − 8d), not by n", counts / n),
        ("the output is Σ_p w_p · x[t + (p − 4)d] (weight p meets the sample p − 4 steps of d away); "
         "your weights run backwards", _ppv(x, w[::-1], d, biases, False)),
    ]


def check_ppv(fn) -> Feedback:
    """Exercise 1: ``fn(series, weights, dilation, biases)`` -> one PPV per bias, without padding (only the
    positions where the whole dilated kernel fits inside the series)."""
    name = "Exercise 1: one MiniRocket feature without padding"
    for x, w, d, biases in _ppv_cases():
        # MiniRocket.transform and RockNet's devices compute PPVs through ppv_features: refusing it refuses them
        with refuse_package(ppv_features, RockNetDevice.features, why="write the convolution and the count in numpy"):
            got, problem = call_student(name, fn, x.copy(), w.copy(), d, biases.copy())
        if problem:
            return problem
        got, message = _as_array(got, biases.shape)
        case = f"(series of length {len(x)}, dilation {d})"
        if message:
            return Feedback(name, False, [f"{message} {case}: one PPV per bias"])
        expected = _ppv(x, w, d, biases, False)
        if not np.allclose(got, expected, atol=1e-9):
            hint = _first_match(got, _ppv_mistakes(x, w, d, biases), atol=1e-9)
            return Feedback(name, False, [hint or f"wrong PPVs {case}: largest error {np.abs(got - expected).max():.3f}; "
                                                 "check the output formula, the positions kept and the count"])
    return Feedback(name, True, ["correct on every case: dilations 1–4, biases that tie with the kernel output"])


# ----------------------------------------------------------------------------- exercise 2
def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def _adam_step(F, W, z, Y, m, v, t, lr, *, mean=True, sign=1.0, correct=True, t0=False):
    """Device j's Adam step from the summed logits; the keywords switch on the common mistakes."""
    g = sign * F.T @ (_softmax(z) - Y) / (len(Y) if mean else 1)
    m = BETA1 * m + (1 - BETA1) * g
    v = BETA2 * v + (1 - BETA2) * g * g
    step = t - 1 if t0 else t
    m_hat, v_hat = (m / (1 - BETA1**step), v / (1 - BETA2**step)) if correct and step > 0 else (m, v)
    return W - lr * m_hat / (np.sqrt(v_hat) + EPS), m, v


def _adam_cases():
    rng = np.random.default_rng(28)
    cases = []
    for width, C, B, t, lr in [(4, 3, 8, 3, 1e-2), (6, 2, 5, 1, 1e-3), (5, 4, 6, 10, 1e-3), (3, 2, 1, 2, 5e-2)]:
        F = rng.uniform(0, 1, (B, width))
        W = rng.normal(0, 0.7, (width, C))
        z = rng.normal(0, 1.0, (B, C))  # the summed partial logits of every device (class bias included)
        Y = np.eye(C)[rng.integers(0, C, B)]
        m = np.zeros((width, C)) if t == 1 else rng.normal(0, 0.05, (width, C))
        v = np.zeros((width, C)) if t == 1 else rng.uniform(0, 0.01, (width, C))
        cases.append((F, W, z, Y, m, v, t, lr))
    return cases


def _read_step(got, shape):
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        return None, "return a triple (W_new, m_new, v_new)"
    out = []
    for label, value in zip(("W_new", "m_new", "v_new"), got):
        a, message = _as_array(value, shape)
        if message:
            return None, f"{label}: {message} (the shape of W_j)"
        out.append(a)
    return out, None


def check_device_adam_step(fn) -> Feedback:
    """Exercise 2: ``fn(F_j, W_j, z, Y, m, v, t, lr) -> (W_new, m_new, v_new)``: device j's gradient of the mean
    cross-entropy from the summed logits ``z``, then one bias-corrected Adam step (β1 0.9, β2 0.999, ε 1e-8) on its
    slice, ``t`` the step number (1 for the first)."""
    name = "Exercise 2: one device's Adam step"
    for F, W, z, Y, m, v, t, lr in _adam_cases():
        args = (F.copy(), W.copy(), z.copy(), Y.copy(), m.copy(), v.copy(), t, lr)
        with refuse_package(RockNetDevice.update, Adam.step, RockNetClassifier.fit,
                            why="compute the gradient and the Adam step in numpy"):
            got, problem = call_student(name, fn, *args)
        if problem:
            return problem
        case = f"(batch {len(Y)}, {Y.shape[1]} classes, step t = {t})"
        vals, message = _read_step(got, W.shape)
        if message:
            return Feedback(name, False, [f"{message} {case}"])
        ref = _adam_step(F, W, z, Y, m, v, t, lr)
        if all(np.allclose(a, r, rtol=1e-7, atol=1e-12) for a, r in zip(vals, ref)):
            continue
        mistakes = [
            ("the gradient of the MEAN loss over the batch divides by the batch size", dict(mean=False)),
            ("the cross-entropy gradient is F_jᵀ (p − y), not F_jᵀ (y − p)", dict(sign=-1.0)),
            ("t is already the number of this step (1 for the first): the bias correction uses β^t, not β^(t − 1)",
             dict(t0=True)),
            ("Adam corrects both moments for their start at zero: divide m by 1 − β1^t and v by 1 − β2^t",
             dict(correct=False)),
        ]
        for message, kw in mistakes:
            alt = _adam_step(F, W, z, Y, m, v, t, lr, **kw)
            if all(np.allclose(a, r, rtol=1e-7, atol=1e-12) for a, r in zip(vals, alt)):
                return Feedback(name, False, [f"{message} {case}"])
        if np.allclose(vals[0], W):
            hint = "W did not move: return the updated weights, not the ones passed in"
        elif np.allclose(vals[1], ref[1], rtol=1e-7, atol=1e-12) and np.allclose(vals[2], ref[2], rtol=1e-7, atol=1e-12):
            hint = "the moments are right; the step is W − lr · m̂ / (√v̂ + ε) with the bias-corrected moments"
        else:
            hint = ("the gradient needs only F_j and the summed logits: p = softmax(z), g = F_jᵀ (p − y) / B; "
                    "then m and v are running averages of g and g² (β1, β2)")
        return Feedback(name, False, [f"wrong step {case}: {hint}"])
    return Feedback(name, True, ["correct on every case: first and later steps, batch sizes 1 to 8 — the device needs "
                                 "nothing from the others but the summed partial logits"])


# ----------------------------------------------------------------------------- exercise 3
def _step_bytes(L, C, D, *, series_bytes=1, logit_senders=None, receivers=None):
    logits = payload_bytes(C)
    senders = D if logit_senders is None else logit_senders
    hear = D - 1 if receivers is None else receivers
    if D == 1 and logit_senders is None and receivers is None:
        return 0, 0
    on_air = series_bytes * L + senders * logits
    return on_air, hear * series_bytes * L + senders * hear * logits


def check_step_bytes(fn) -> Feedback:
    """Exercise 3: ``fn(length, n_classes, n_devices) -> (on_air, by_rule)`` bytes per training series."""
    name = "Exercise 3: the radio bill"
    for L, C, D in [(150, 2, 2), (24, 2, 20), (427, 6, 7), (251, 3, 84), (150, 2, 1)]:
        with refuse_package(series_traffic, cost_vs_devices, device_costs,
                            why="count the broadcasts yourself (payload_bytes is allowed)"):
            got, problem = call_student(name, fn, L, C, D)
        if problem:
            return problem
        case = f"(length {L}, {C} classes, {D} device{'s' if D > 1 else ''})"
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return Feedback(name, False, [f"return a pair (on_air, by_rule) of byte counts {case}"])
        vals, message = _as_array(got, (2,))
        if message:
            return Feedback(name, False, [f"{message} {case}"])
        ref = np.array(_step_bytes(L, C, D), dtype=float)
        if np.array_equal(vals, ref):
            continue
        on_air, rule = ref
        mistakes = [
            ("a single device sends nothing: with D = 1 both counts are 0",
             _step_bytes(L, C, D, logit_senders=1, receivers=0) if D == 1 else None),
            ("the series goes out as int8, one byte per time step (not float32)", _step_bytes(L, C, D, series_bytes=4)),
            ("every device broadcasts its partial logits, device 0 too (D broadcasts of C float32 values)",
             _step_bytes(L, C, D, logit_senders=D - 1) if D > 1 else None),
            ("a broadcast is heard by the D − 1 OTHER devices, not by D", _step_bytes(L, C, D, receivers=D) if D > 1 else None),
            ("on air a broadcast is sent once however many devices hear it; the rule counts one transmission per "
             "receiver", (rule, rule)),
            ("the pair is (on_air, by_rule): yours is the other way round", (rule, on_air) if rule != on_air else None),
            ("count bytes, not bits", (8 * on_air, 8 * rule)),
        ]
        hint = _first_match(vals, [(m, None if e is None else np.array(e, dtype=float)) for m, e in mistakes], atol=0)
        return Feedback(name, False, [hint or f"wrong counts {case}: the series (int8) from device 0, then C float32 "
                                              "partial logits from every device"])
    return Feedback(name, True, ["correct: on air the bytes grow like D, under the rule (one transmission per receiver) "
                                 "like D²"])
