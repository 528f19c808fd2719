"""Lesson 06's exercise checks (tinydtl.lab.exercises.l06_mcu_memory): the reference solution passes, the
unanswered stub gets a hint, common wrong answers get their own message, the package's code is refused."""

import numpy as np
import pytest

from tinydtl.lab.exercises.l06_mcu_memory import check_cumulative_fedavg, check_peak_sram


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 1
def peak(sizes, optimizer, aggregation, neighbours, batch, *, total=False, no_max=False, opt_train=False,
         grows=False, error_buffer=True, per_batch=True, in_kib=False):
    f32 = 4
    P = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    slots = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
    outs = sizes[1:]
    B = batch if per_batch else 1
    act = (sum(outs) + (max(outs) if error_buffer else 0)) * B * f32
    store = {"none": 0, "store_all": neighbours * P * f32, "cumulative": (neighbours if grows else 1) * P * f32}[aggregation]
    persistent = P * f32 * (1 + (0 if opt_train else slots))
    train = P * f32 + act + sizes[0] * B * f32 + (slots * P * f32 if opt_train else 0)
    exchange = 2 * P * f32 + store
    out = persistent + train + exchange if total else persistent + (train if no_max else max(train, exchange))
    return out / 1024 if in_kib else out


def test_peak_reference_passes_and_stub_gets_a_hint():
    assert check_peak_sram(peak).passed
    fb = check_peak_sram(stub)
    assert not fb.passed and "not implemented yet" in str(fb)


@pytest.mark.parametrize("mistake, message", [
    (dict(total=True), "never coexist"),
    (dict(no_max=True), "take the max of the two phases"),
    (dict(opt_train=True), "belong to the persistent part"),
    (dict(grows=True), "ONE running sum"),
    (dict(error_buffer=False), "one error buffer"),
    (dict(per_batch=False), "multiply them by the batch size"),
    (dict(in_kib=True), "bytes, not KiB"),
])
def test_peak_names_each_common_mistake(mistake, message):
    fb = check_peak_sram(lambda *a: peak(*a, **mistake))
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("answer", [None, "125600", [125600], float("nan"), True])
def test_peak_malformed_answers_get_feedback_not_a_crash(answer):
    fb = check_peak_sram(lambda *a: answer)
    assert not fb.passed and fb.messages


def test_peak_refuses_the_package():
    from tinydtl.devices import mlp_layers, profile

    def uses_package(sizes, optimizer, aggregation, neighbours, batch):
        return profile(mlp_layers(sizes), optimizer=optimizer, aggregation=aggregation, neighbours=neighbours,
                       batch_size=batch).sram_bytes

    fb = check_peak_sram(uses_package)
    assert not fb.passed and "tinydtl's own" in str(fb)


# ----------------------------------------------------------------------------- exercise 2
class Running:
    def __init__(self):
        self.total, self.n = None, 0.0

    def add(self, weights, n):
        if self.total is None:
            self.total = [np.asarray(w, dtype=np.float32) * n for w in weights]
        else:
            for t, w in zip(self.total, weights):
                t += n * np.asarray(w, dtype=np.float32)
        self.n += n

    def result(self):
        return [t / self.n for t in self.total]


class StoresAll(Running):
    def __init__(self):
        super().__init__()
        self.kept = []

    def add(self, weights, n):
        self.kept.append([w.copy() for w in weights])
        super().add(weights, n)


class Unweighted(Running):
    def add(self, weights, n):
        super().add(weights, 1.0)


class Aliasing(Running):
    def add(self, weights, n):
        if self.total is None:
            self.total = [np.asarray(w, dtype=np.float32) for w in weights]
            for t in self.total:
                t *= n  # scales the caller's array in place
            self.n = n
        else:
            super().add(weights, n)


def test_cumulative_reference_passes_and_stub_gets_a_hint():
    fb = check_cumulative_fedavg(Running)
    assert fb.passed, str(fb)

    class Stub:
        def add(self, weights, n):
            raise NotImplementedError

        def result(self):
            raise NotImplementedError

    assert "not implemented yet" in str(check_cumulative_fedavg(Stub))


@pytest.mark.parametrize("cls, message", [
    (StoresAll, "it stores the models"),
    (Unweighted, "ignores n"),
    (Aliasing, "changed the caller's arrays"),
])
def test_cumulative_names_each_common_mistake(cls, message):
    fb = check_cumulative_fedavg(cls)
    assert not fb.passed and message in str(fb), str(fb)


@pytest.mark.parametrize("result", [None, 3.0, [np.zeros(3)], "sum"])
def test_cumulative_malformed_results_get_feedback_not_a_crash(result):
    class Odd(Running):
        def result(self):
            return result

    fb = check_cumulative_fedavg(Odd)
    assert not fb.passed and fb.messages


def test_cumulative_not_a_class_gets_feedback():
    assert not check_cumulative_fedavg(None).passed


def test_cumulative_refuses_the_package():
    from tinydtl.core.aggregation import CumulativeFedAvg

    class Wraps:
        def __init__(self):
            self.inner = CumulativeFedAvg()

        def add(self, weights, n):
            self.inner.add(weights, n)

        def result(self):
            return self.inner.result()

    fb = check_cumulative_fedavg(Wraps)
    assert not fb.passed and "tinydtl's own" in str(fb)
