"""Lesson 08's exercise checks (tinydtl.lab.exercises.l08_rocknet): the reference solution passes, the
unanswered stub gets a hint, common wrong answers get their own message, the package's code is refused."""

import numpy as np
import pytest

from tinydtl.core.traffic import payload_bytes
from tinydtl.lab.exercises.l08_rocknet import check_device_gradients, check_ppv, check_step_bytes


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 1
def ppv(series, weights, dilation, biases, padding=True, *, ge=False, count=False, d1=False, pad_always=None,
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
    (dict(pad_always=False), "pad 4·d zeros"),
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

    def uses_package(series, weights, dilation, biases, padding=True):
        return ppv_features(np.asarray(series)[None], [dilation], [len(biases)], biases, [0], [[0]],
                            padding_mode=PADDING_ALWAYS)[0]

    fb = check_ppv(uses_package)
    assert not fb.passed and "tinydtl's own" in str(fb)


# ----------------------------------------------------------------------------- exercise 2
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def gradients(F, W, b, Y, *, own=False, bias=True, mean=True, sign=1.0, bias_twice=False):
    B = len(Y)
    if own:
        P = [softmax(f @ w + (b if j == 0 else 0)) for j, (f, w) in enumerate(zip(F, W))]
    else:
        z = sum(f @ w for f, w in zip(F, W)) + (b if bias else 0)
        P = [softmax(z)] * len(F)
    G = [sign * (p - Y) / (B if mean else 1) for p in P]
    return [f.T @ g for f, g in zip(F, G)], G[0].sum(axis=0) / (B if bias_twice else 1)


def test_gradients_reference_passes_and_stub_gets_a_hint():
    assert check_device_gradients(gradients).passed
    assert "not implemented yet" in str(check_device_gradients(stub))


@pytest.mark.parametrize("mistake, message", [
    (dict(own=True), "SUM of every device's partial logits"),
    (dict(bias=False), "add the class bias"),
    (dict(mean=False), "divides by the batch size"),
    (dict(sign=-1.0), "p − y, not y − p"),
    (dict(bias_twice=True), "divides by the batch size twice"),
])
def test_gradients_name_each_common_mistake(mistake, message):
    fb = check_device_gradients(lambda *a: gradients(*a, **mistake))
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", [None, 3.0, ([1.0], [2.0]), (np.zeros(3),), "grads"])
def test_gradients_malformed_answers_get_feedback_not_a_crash(answer):
    fb = check_device_gradients(lambda *a: answer)
    assert not fb.passed and fb.messages


def test_gradients_refuse_the_package():
    from tinydtl.papers.rocknet.device import RockNetDevice

    def uses_package(F, W, b, Y):
        dev = RockNetDevice(0, [0], [1], 1, len(b), owns_bias=True, adam_kwargs={})
        dev.W, dev.b = W[0], b
        dev.partial_logits(F[0])
        return gradients(F, W, b, Y)

    fb = check_device_gradients(uses_package)
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

    def uses_minirocket(series, weights, dilation, biases, padding=True):
        MiniRocket(random_state=0).fit(np.asarray(series)[None]).transform(np.asarray(series)[None])
        return ppv(series, weights, dilation, biases, padding)

    fb = check_ppv(uses_minirocket)
    assert not fb.passed and "tinydtl's own" in str(fb)
