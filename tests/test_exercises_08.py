"""Lesson 08's exercise checks (tinydtl.lab.exercises.l08_rocknet): the reference solution passes, the
unanswered stub gets a hint, common wrong answers get their own message, the package's code is refused."""

import numpy as np
import pytest

from tinydtl.core.traffic import payload_bytes
from tinydtl.lab.exercises.l08_rocknet import check_device_adam_step, check_ppv, check_step_bytes


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 1
def ppv(series, weights, dilation, biases, padding=False, *, ge=False, count=False, d1=False, pad_always=None,
        divide_n=False, reverse=False):
    x, n = np.asarray(series, float), len(series)
    d = 1 if d1 else dilation
    w = weights[::-1] if reverse else weights
    p = np.pad(x, 4 * d)
    c = sum(w[k] * p[k * d: k * d + n] for k in range(9))
    padded = padding if pad_always is None else pad_always
    if not padded:
        c = c[4 * d: n - 4 * d]
    hits = (c[None, :] >= np.asarray(biases)[:, None]) if ge else (c[None, :] > np.asarray(biases)[:, None])
    total = hits.sum(axis=1)
    return total if count else total / (n if divide_n else len(c))


def test_ppv_reference_passes_and_stub_gets_a_hint():
    assert check_ppv(ppv).passed
    fb = check_ppv(stub)
    assert not fb.passed and "not implemented yet" in str(fb)


@pytest.mark.parametrize("mistake, message", [
    (dict(ge=True), "C_t > b"),
    (dict(count=True), "divide the count"),
    (dict(d1=True), "d = 1 kernel"),
    (dict(pad_always=True), "only the positions where the whole kernel fits"),
    (dict(divide_n=True), "n − 8d"),
    (dict(reverse=True), "weights run backwards"),
])
def test_ppv_names_each_common_mistake(mistake, message):
    fb = check_ppv(lambda *a: ppv(*a, **mistake))
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", [None, "0.5", [0.1, 0.2], lambda *a: np.full(4, np.nan), lambda *a: [[0.1]]])
def test_ppv_malformed_answers_get_feedback_not_a_crash(answer):
    fn = answer if callable(answer) else (lambda *a: answer)
    fb = check_ppv(fn)
    assert not fb.passed and fb.messages


def test_ppv_refuses_the_package():
    from tinydtl.learners.minirocket_kernels import PADDING_ALWAYS, ppv_features

    def uses_package(series, weights, dilation, biases):
        ppv_features(np.asarray(series)[None], [dilation], [len(biases)], biases, [0], [[0]],
                     padding_mode=PADDING_ALWAYS)
        return ppv(series, weights, dilation, biases)

    fb = check_ppv(uses_package)
    assert not fb.passed and "tinydtl's own" in str(fb)


# ----------------------------------------------------------------------------- exercise 2
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def adam_step(F, W, z, Y, m, v, t, lr, *, mean=True, sign=1.0, correct=True, t0=False, frozen=False):
    g = sign * F.T @ (softmax(z) - Y) / (len(Y) if mean else 1)
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g * g
    s = t - 1 if t0 else t
    m_hat, v_hat = (m / (1 - 0.9**s), v / (1 - 0.999**s)) if correct and s > 0 else (m, v)
    return (W.copy() if frozen else W - lr * m_hat / (np.sqrt(v_hat) + 1e-8)), m, v


def test_adam_step_reference_passes_and_stub_gets_a_hint():
    assert check_device_adam_step(adam_step).passed
    assert "not implemented yet" in str(check_device_adam_step(stub))


@pytest.mark.parametrize("mistake, message", [
    (dict(mean=False), "divides by the batch size"),
    (dict(sign=-1.0), "not F_jᵀ (y − p)"),
    (dict(correct=False), "divide m by 1 − β1^t"),
    (dict(t0=True), "not β^(t − 1)"),
    (dict(frozen=True), "W did not move"),
])
def test_adam_step_names_each_common_mistake(mistake, message):
    fb = check_device_adam_step(lambda *a: adam_step(*a, **mistake))
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", [None, 3.0, ([1.0], [2.0], [3.0]), (np.zeros(3),), "W"])
def test_adam_step_malformed_answers_get_feedback_not_a_crash(answer):
    fb = check_device_adam_step(lambda *a: answer)
    assert not fb.passed and fb.messages


def test_adam_step_refuses_the_package():
    from tinydtl.learners.quantized_adam import Adam

    def uses_package(F, W, z, Y, m, v, t, lr):
        opt = Adam(W.shape, lr=lr)
        opt.t, opt.m, opt.v, W = t - 1, m, v, W.copy()
        opt.step(W, F.T @ (softmax(z) - Y) / len(Y))
        return W, opt.m, opt.v

    fb = check_device_adam_step(uses_package)
    assert not fb.passed and "tinydtl's own" in str(fb)


# ----------------------------------------------------------------------------- exercise 3
def step_bytes(L, C, D, *, series=1, senders=None, receivers=None, swap=False, bits=False):
    if D == 1 and senders is None:
        return 0, 0
    s = D if senders is None else senders
    r = D - 1 if receivers is None else receivers
    on_air, rule = series * L + s * payload_bytes(C), r * series * L + s * r * payload_bytes(C)
    out = (rule, on_air) if swap else (on_air, rule)
    return tuple(8 * v for v in out) if bits else out


def test_step_bytes_reference_passes_and_stub_gets_a_hint():
    assert check_step_bytes(step_bytes).passed
    assert "not implemented yet" in str(check_step_bytes(stub))


@pytest.mark.parametrize("mistake, message", [
    (dict(series=4), "int8"),
    (lambda L, C, D: step_bytes(L, C, D, senders=D - 1) if D > 1 else (0, 0), "device 0 too"),
    (lambda L, C, D: step_bytes(L, C, D, receivers=D) if D > 1 else (0, 0), "D − 1 OTHER devices"),
    (dict(swap=True), "the other way round"),
    (dict(bits=True), "bytes, not bits"),
    (lambda L, C, D: (step_bytes(L, C, D)[1],) * 2, "sent once"),
    (lambda L, C, D: step_bytes(L, C, D) if D > 1 else (L + payload_bytes(C), 0), "single device sends nothing"),
])
def test_step_bytes_name_each_common_mistake(mistake, message):
    fn = mistake if callable(mistake) else (lambda L, C, D: step_bytes(L, C, D, **mistake))
    fb = check_step_bytes(fn)
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", [None, 5, (1, 2, 3), ("a", "b"), (np.nan, 1)])
def test_step_bytes_malformed_answers_get_feedback_not_a_crash(answer):
    fb = check_step_bytes(lambda *a: answer)
    assert not fb.passed and fb.messages


def test_step_bytes_refuse_the_package():
    from tinydtl.papers.rocknet.device import series_traffic

    def uses_package(L, C, D):
        t = series_traffic(L, C, D)
        return 0, t.bytes_up

    fb = check_step_bytes(uses_package)
    assert not fb.passed and "tinydtl's own" in str(fb)


def test_ppv_refuses_minirocket_too():
    from tinydtl.learners.minirocket import MiniRocket

    def uses_minirocket(series, weights, dilation, biases):
        MiniRocket(random_state=0).fit(np.asarray(series)[None]).transform(np.asarray(series)[None])
        return ppv(series, weights, dilation, biases)

    fb = check_ppv(uses_minirocket)
    assert not fb.passed and "tinydtl's own" in str(fb)
