"""Lesson 06's exercise checks (tinydtl.lab.exercises.l06_mcu_memory): the reference solution passes, the
unanswered stub gets a hint, common wrong answers get their own message, the package's code is refused."""

import numpy as np
import pytest

from tinydtl.lab.exercises.l06_mcu_memory import (
    check_cumulative_fedavg,
    check_float32_counts,
    check_largest_other_share,
    check_peak_phase,
    check_peak_sram,
)


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


# ----------------------------------------------------------------------------- exercises 3, 4 and 6 (values)
def test_peak_phase_accepts_train_and_explains_exchange():
    assert check_peak_phase("train").passed and check_peak_phase(" Train ").passed
    fb = check_peak_phase("exchange")
    assert not fb.passed and "does not grow with the batch" in str(fb)
    for bad in (None, 3, "both"):
        fb = check_peak_phase(bad)
        assert not fb.passed and '"train" or "exchange"' in str(fb)


def test_float32_counts_accepts_the_answer_and_names_the_common_mistakes():
    assert check_float32_counts(2_000_000, 2**24).passed
    assert check_float32_counts(2e6, float(2**24)).passed
    assert "implicit leading one" in str(check_float32_counts(2_000_000, 2**23))
    assert "off by one" in str(check_float32_counts(2_000_000, 2**24 + 1))
    assert "another type's limit" in str(check_float32_counts(2_000_000, 2**31))
    assert "200 per neighbour" in str(check_float32_counts(10_000, 2**24))
    fb = check_float32_counts(None, "x")
    assert not fb.passed and len(fb.messages) == 2


def test_largest_other_share_accepts_the_answer_and_names_the_common_mistakes():
    from tinydtl.devices import load_boards, mlp_layers, profile

    sram = load_boards()["Arduino Nano 33 BLE Sense"].sram_bytes
    peak = profile(mlp_layers([784, 10]), aggregation="cumulative", neighbours=10).sram_bytes
    exact = 1 - peak / sram
    assert check_largest_other_share(exact).passed
    assert check_largest_other_share(round(exact, 3)).passed
    assert "not a percentage" in str(check_largest_other_share(100 * exact))
    assert "the learner's share" in str(check_largest_other_share(peak / sram))
    store = profile(mlp_layers([784, 10]), aggregation="store_all", neighbours=10).sram_bytes
    assert "store-all" in str(check_largest_other_share(1 - store / sram))
    assert "steps of 0.05" in str(check_largest_other_share(round(exact + 0.03, 3)))
    for bad in (None, "0.5", float("nan"), True):
        fb = check_largest_other_share(bad)
        assert not fb.passed and fb.messages
    # another neighbour count in the parameters: the check follows it
    peak5 = profile(mlp_layers([784, 10]), aggregation="cumulative", neighbours=5).sram_bytes
    assert check_largest_other_share(1 - peak5 / sram, neighbours=5).passed
