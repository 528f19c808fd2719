"""Checks for lesson 08's exercises (RockNet): one MiniRocket feature, the distributed step, the radio bill.

Each check runs the student's function on its own cases, compares with its own reference, names the common
mistake it recognises (by computing what that mistake would return), never crashes on a malformed answer,
and refuses the package's implementation (:func:`tinydtl.lab.exercises.refuse_package`).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.traffic import payload_bytes
from tinydtl.lab.exercises import Feedback, call_student, refuse_package
from tinydtl.learners.minirocket_kernels import kernel_weights, ppv_features
from tinydtl.papers.rocknet.classifier import RockNetClassifier
from tinydtl.papers.rocknet.cost import cost_vs_devices, device_costs
from tinydtl.papers.rocknet.device import RockNetDevice, series_traffic

__all__ = ["check_device_gradients", "check_ppv", "check_step_bytes"]


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
    for n, d, kernel, padding, ties in [(40, 1, 0, True, False), (48, 2, 5, True, False), (64, 4, 17, True, True),
                                        (40, 1, 3, False, False), (60, 3, 50, False, True), (35, 2, 83, False, False)]:
        x = rng.integers(-4, 5, n).astype(float) if ties else rng.standard_normal(n)
        w = kernel_weights(kernel)
        c = _output(x, w, d, padding)
        # with integer series the output takes integer values: a bias equal to one of them is a tie
        biases = np.unique(c)[[1, len(np.unique(c)) // 2, -2]] if ties else np.quantile(c, [0.15, 0.4, 0.7, 0.9])
        cases.append((x, w, d, np.asarray(biases, dtype=float), padding))
    return cases


def _ppv_mistakes(x, w, d, biases, padding):
    n = len(x)
    valid = n - 8 * d
    counts = _ppv(x, w, d, biases, padding) * (n if padding else valid)
    return [
        ("a tie C_t = b is not a positive value: count C_t > b, not C_t ≥ b",
         (_output(x, w, d, padding)[None, :] >= biases[:, None]).mean(axis=1)),
        ("the PPV is a proportion: divide the count by the number of positions", counts),
        ("the PPV is a proportion in [0, 1], not a percentage", 100 * counts / (n if padding else valid)),
        ("the dilation spaces the nine taps d apart: your result is the d = 1 kernel",
         _ppv(x, w, 1, biases, padding) if d > 1 else None),
        ("with padding=True pad 4·d zeros on each side and keep every one of the n positions",
         _ppv(x, w, d, biases, False) if padding else None),
        ("with padding=False keep only the positions where the whole kernel fits (drop the first and last 4·d)",
         _ppv(x, w, d, biases, True) if not padding else None),
        ("with padding=False divide by the positions the kernel fits (n − 8d), not by n",
         None if padding else counts / n),
        ("the output is Σ_p w_p · x[t + (p − 4)d] (weight p meets the sample p − 4 steps of d away); "
         "your weights run backwards", _ppv(x, w[::-1], d, biases, padding)),
    ]


def check_ppv(fn) -> Feedback:
    """Exercise 1: ``fn(series, weights, dilation, biases, padding)`` -> one PPV per bias."""
    name = "Exercise 1: one MiniRocket feature"
    for x, w, d, biases, padding in _ppv_cases():
        # MiniRocket.transform and RockNet's devices compute PPVs through ppv_features: refusing it refuses them
        with refuse_package(ppv_features, RockNetDevice.features, why="write the convolution and the count in numpy"):
            got, problem = call_student(name, fn, x.copy(), w.copy(), d, biases.copy(), padding)
        if problem:
            return problem
        got, message = _as_array(got, biases.shape)
        case = f"(series of length {len(x)}, dilation {d}, padding={padding})"
        if message:
            return Feedback(name, False, [f"{message} {case}: one PPV per bias"])
        expected = _ppv(x, w, d, biases, padding)
        if not np.allclose(got, expected, atol=1e-9):
            hint = _first_match(got, _ppv_mistakes(x, w, d, biases, padding), atol=1e-9)
            return Feedback(name, False, [hint or f"wrong PPVs {case}: largest error {np.abs(got - expected).max():.3f}; "
                                                 "check the output formula, the padding and the count"])
    return Feedback(name, True, ["correct on every case: padded and unpadded pairs, dilations 1–4, biases that tie "
                                 "with the kernel output"])


# ----------------------------------------------------------------------------- exercise 2
def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _gradients(F, W, b, Y, *, own=False, bias=True, mean=True, sign=1.0):
    """The device gradients; the keywords switch on the common mistakes."""
    B = len(Y)
    if own:
        Ps = [_softmax(Fj @ Wj + (b if bias and j == 0 else 0)) for j, (Fj, Wj) in enumerate(zip(F, W))]
    else:
        z = sum(Fj @ Wj for Fj, Wj in zip(F, W)) + (b if bias else 0)
        Ps = [_softmax(z)] * len(F)
    Gs = [sign * (P - Y) / (B if mean else 1) for P in Ps]
    return [Fj.T @ G for Fj, G in zip(F, Gs)], Gs[0].sum(axis=0)


def _gradient_cases():
    rng = np.random.default_rng(28)
    cases = []
    for widths, C, B in [([6], 2, 5), ([4, 3, 5], 3, 8), ([2, 2, 2, 1], 4, 6), ([5, 4], 2, 1)]:
        F = [rng.uniform(0, 1, (B, w)) for w in widths]
        W = [rng.normal(0, 0.7, (w, C)) for w in widths]
        b = rng.normal(0, 0.7, C)
        Y = np.eye(C)[rng.integers(0, C, B)]
        cases.append((F, W, b, Y))
    return cases


def _read_gradients(got, W, C):
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return None, None, "return a pair (grads, grad_b): a list with one gradient per device, and the bias gradient"
    grads, grad_b = got
    if not isinstance(grads, (list, tuple)) or len(grads) != len(W):
        return None, None, f"grads must be a list with one gradient per device ({len(W)} devices here)"
    out = []
    for j, (g, Wj) in enumerate(zip(grads, W)):
        a, message = _as_array(g, Wj.shape)
        if message:
            return None, None, f"device {j}'s gradient: {message} (the shape of its weights W_j)"
        out.append(a)
    gb, message = _as_array(grad_b, (C,))
    if message:
        return None, None, f"grad_b: {message} (one number per class)"
    return out, gb, None


def check_device_gradients(fn) -> Feedback:
    """Exercise 2: ``fn(F_blocks, W_blocks, b, Y) -> (grads, grad_b)`` of the mean cross-entropy."""
    name = "Exercise 2: the distributed step"
    for F, W, b, Y in _gradient_cases():
        args = ([f.copy() for f in F], [w.copy() for w in W], b.copy(), Y.copy())
        with refuse_package(RockNetDevice.partial_logits, RockNetDevice.update, RockNetClassifier.fit,
                            RockNetClassifier.decision_function, why="compute the logits and gradients in numpy"):
            got, problem = call_student(name, fn, *args)
        if problem:
            return problem
        grads, grad_b, message = _read_gradients(got, W, Y.shape[1])
        case = f"({len(F)} devices, batch {len(Y)}, {Y.shape[1]} classes)"
        if message:
            return Feedback(name, False, [f"{message} {case}"])
        ref, ref_b = _gradients(F, W, b, Y)
        if all(np.allclose(g, r, atol=1e-10) for g, r in zip(grads, ref)) and np.allclose(grad_b, ref_b, atol=1e-10):
            continue
        mistakes = [
            ("each device used only its own partial logits: the softmax needs the SUM of every device's partial "
             "logits (that is what the devices broadcast)", dict(own=True)),
            ("add the class bias b to the summed logits before the softmax", dict(bias=False)),
            ("the gradient of the MEAN loss over the batch divides by the batch size", dict(mean=False)),
            ("the cross-entropy gradient is p − y, not y − p", dict(sign=-1.0)),
        ]
        flat = np.concatenate([g.ravel() for g in grads])
        for message, kw in mistakes:
            alt, _ = _gradients(F, W, b, Y, **kw)
            if len(F) == 1 and kw.get("own"):
                continue  # one device: its own logits are the sum
            if np.allclose(flat, np.concatenate([g.ravel() for g in alt]), atol=1e-10):
                return Feedback(name, False, [message])
        if all(np.allclose(g, r, atol=1e-10) for g, r in zip(grads, ref)):
            if len(Y) > 1 and np.allclose(grad_b, ref_b / len(Y)):
                hint = "grad_b divides by the batch size twice"
            elif len(Y) > 1 and np.allclose(grad_b, ref_b * len(Y)):
                hint = "grad_b is the gradient of the MEAN loss too: divide by the batch size"
            else:
                hint = "grad_b is (p − y) / B summed over the batch, one number per class"
            return Feedback(name, False, [f"the weight gradients are right; {hint} {case}"])
        return Feedback(name, False, [f"wrong gradients {case}: z = Σ_j F_j W_j + b, p = softmax(z), "
                                      "device j's gradient is F_jᵀ (p − y) / B"])
    return Feedback(name, True, ["correct for 1 to 4 devices: each device's gradient needs only its features and the "
                                 "summed partial logits"])


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
