"""Checks for lesson 06's exercises (will it fit?): the peak SRAM by hand, Cumulative FedAvg in constant memory,
the peak phase at batch 32, counts in float32, the largest SRAM share left to the radio stack and RTOS.

Each check of a function runs the student's code on its own cases, names the common mistake it recognises (by
computing what that mistake gives), never crashes on a malformed answer, and refuses the package's
implementation (:func:`tinydtl.lab.exercises.refuse_package`). Exercises 3, 4 and 6 ask for a value (a
prediction, a count, a share): their checks compare it and name the common wrong values.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydtl.core.aggregation import CumulativeFedAvg, StoreAllAggregator
from tinydtl.core.traffic import payload_bytes
from tinydtl.devices.emulate import predicted_profile
from tinydtl.devices.memory import fit_table, fits, largest_mlp_width, mlp_layers, profile
from tinydtl.lab.exercises import Feedback, call_student, measured_nbytes, refuse_package

__all__ = ["check_cumulative_fedavg", "check_float32_counts", "check_largest_other_share", "check_peak_phase",
           "check_peak_sram"]

SLOTS = {"sgd": 0, "momentum": 1, "adam": 2}


# ----------------------------------------------------------------------------- exercise 1
def _peak(sizes, optimizer, aggregation, neighbours, batch, *, mistake=None):
    """Peak SRAM of an MLP trained on the device (float32, two message buffers); ``mistake`` switches one on."""
    P = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    model = payload_bytes(P)
    outs = sizes[1:]
    act = payload_bytes((sum(outs) + max(outs)) * batch)
    if mistake == "no_error_buffer":
        act = payload_bytes(sum(outs) * batch)
    if mistake == "no_batch":
        act, inp = payload_bytes(sum(outs) + max(outs)), payload_bytes(sizes[0])
    else:
        inp = payload_bytes(sizes[0] * batch)
    store = {"none": 0, "store_all": neighbours * model, "cumulative": model}[aggregation]
    if mistake == "cumulative_grows" and aggregation == "cumulative":
        store = neighbours * model
    persistent = model + SLOTS[optimizer] * model
    train = model + act + inp
    exchange = 2 * model + store
    if mistake == "optimizer_in_train":
        persistent, train = model, train + SLOTS[optimizer] * model
    if mistake == "sum":
        return persistent + train + exchange
    if mistake == "persistent_plus_train":
        return persistent + train
    return persistent + max(train, exchange)


CASES = [([784, 10], "sgd", "cumulative", 10, 1), ([784, 32, 10], "momentum", "store_all", 5, 1),
         ([784, 32, 10], "adam", "cumulative", 20, 4), ([20, 8, 4, 3], "sgd", "none", 0, 16),
         ([100, 50, 10], "momentum", "store_all", 1, 32)]

MISTAKES = [
    ("sum", "that is the sum of every component: the train and exchange phases never coexist — the peak is "
            "persistent + the LARGER of the two phases"),
    ("persistent_plus_train", "the exchange phase (message buffers + aggregation store) can be the larger one: "
                              "take the max of the two phases"),
    ("optimizer_in_train", "optimizer slots live from one step to the next: they belong to the persistent part, "
                           "not to the train phase"),
    ("cumulative_grows", "Cumulative FedAvg keeps ONE running sum whatever the number of neighbours"),
    ("no_error_buffer", "when training, the activations are every layer's output plus one error buffer of the "
                        "largest layer"),
    ("no_batch", "the input and the activations are per sample: multiply them by the batch size"),
]


def check_peak_sram(fn) -> Feedback:
    """Exercise 1: ``fn(sizes, optimizer, aggregation, neighbours, batch) -> peak SRAM in bytes``."""
    name = "Exercise 1: the peak by hand"
    for sizes, optimizer, aggregation, neighbours, batch in CASES:
        with refuse_package(profile, predicted_profile, fits, fit_table, largest_mlp_width, mlp_layers,
                            why="add up the components yourself, from the table of section 1"):
            got, problem = call_student(name, fn, list(sizes), optimizer, aggregation, neighbours, batch)
        if problem:
            return problem
        case = f"(MLP {'→'.join(map(str, sizes))}, {optimizer}, {aggregation}, {neighbours} neighbours, batch {batch})"
        if not isinstance(got, numbers.Real) or isinstance(got, bool) or not np.isfinite(got):
            return Feedback(name, False, [f"return the peak as a number of bytes, got {got!r} {case}"])
        expected = _peak(sizes, optimizer, aggregation, neighbours, batch)
        if got == expected:
            continue
        if got == expected / 1024:
            return Feedback(name, False, [f"return bytes, not KiB {case}"])
        for mistake, message in MISTAKES:
            if got == _peak(sizes, optimizer, aggregation, neighbours, batch, mistake=mistake):
                return Feedback(name, False, [f"{message} {case}"])
        return Feedback(name, False, [f"not the peak {case}: you are {got - expected:+,.0f} B off; rebuild it from the "
                                      "components of section 1 (float32: 4 bytes per value)"])
    return Feedback(name, True, ["correct on every case: SGD, momentum and Adam; no aggregation, store-all and "
                                 "Cumulative FedAvg; batches of 1 to 32"])


# ----------------------------------------------------------------------------- exercise 2
def _stream(seed, n_models, shapes):
    rng = np.random.default_rng(seed)
    models = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(n_models)]
    counts = [float(c) for c in rng.integers(1, 200, n_models)]
    return models, counts


def _mean(models, counts, weighted=True):
    w = np.asarray(counts if weighted else np.ones(len(counts)), dtype=np.float64)
    return [sum(wi * m[i].astype(np.float64) for wi, m in zip(w, models)) / w.sum() for i in range(len(models[0]))]


def _run(cls, models, counts):
    """Feed the stream; return ``(aggregator, result, bytes held after 2 models, after all)``."""
    agg = cls()
    held = []
    for k, (m, c) in enumerate(zip(models, counts)):
        agg.add([a.copy() for a in m] if k else m, c)  # the first model is the caller's own arrays
        if k in (1, len(models) - 1):
            held.append(measured_nbytes(agg))
    return agg, agg.result(), held[0], held[-1]


def check_cumulative_fedavg(cls) -> Feedback:
    """Exercise 2: a class with ``add(weights, n)`` (a list of arrays and its sample count) and ``result()``
    (the weighted average) that holds the same memory however many models it has seen."""
    name = "Exercise 2: Cumulative FedAvg"
    shapes = [(784, 10), (10,)]
    models, counts = _stream(6, 20, shapes)
    first = [a.copy() for a in models[0]]
    with refuse_package(CumulativeFedAvg.add, CumulativeFedAvg.result, StoreAllAggregator.add,
                        StoreAllAggregator.result, why="keep the running sum yourself"):
        out, problem = call_student(name, _run, cls, models, counts)
    if problem:
        return problem
    _, result, held_2, held_20 = out
    if not isinstance(result, (list, tuple)) or len(result) != len(shapes) or any(
            np.shape(r) != s for r, s in zip(result, shapes)):
        return Feedback(name, False, [f"result() must return a list of arrays shaped like the model {shapes}"])
    if not all(np.array_equal(a, b) for a, b in zip(models[0], first)):
        return Feedback(name, False, ["add() changed the caller's arrays: copy the first model before you add to it"])
    messages = []
    if not all(np.allclose(r, e, rtol=1e-5, atol=1e-6) for r, e in zip(result, _mean(models, counts))):
        if all(np.allclose(r, e, rtol=1e-5, atol=1e-6) for r, e in zip(result, _mean(models, counts, weighted=False))):
            messages.append("your average ignores n: weight each model by its sample count, divide by the total count")
        else:
            messages.append("result() is not the weighted average Σ n_k w_k / Σ n_k of the models added")
    if held_20 > held_2 + 1024:
        messages.append(f"your aggregator holds {held_20:,} B after 20 models and {held_2:,} B after 2: it stores the "
                        "models; keep one running sum (and the total count) instead")
    if messages:
        return Feedback(name, False, messages)
    return Feedback(name, True, [f"correct: the weighted average, in {held_20:,} B after 20 models as after 2"])


# ----------------------------------------------------------------------------- exercise 3
def check_peak_phase(answer) -> Feedback:
    """Exercise 3: the phase (``"train"`` or ``"exchange"``) that sets the peak of the survey's learner trained
    with SGD and batch 32 while averaging one neighbour's model by Cumulative FedAvg (the emulated round of §5)."""
    name = "Exercise 3: the peak phase at batch 32"
    if not isinstance(answer, str) or answer.strip().lower() not in ("train", "exchange"):
        return Feedback(name, False, [f"answer with the phase's name, \"train\" or \"exchange\", got {answer!r}"])
    p = predicted_profile(784, 10, 32, 1, "cumulative")
    if answer.strip().lower() == p.peak_phase:
        return Feedback(name, True, ["correct: a batch of 32 keeps 32 inputs of 784 floats and their activations "
                                     "alive in the train phase; now set EMU_BATCH = 32 and run §1 and §5 to see the "
                                     "emulated device agree"])
    return Feedback(name, False, ["not at batch 32: the exchange phase (two messages and the running sum) does not "
                                  "grow with the batch, but the train phase stores the input and every layer's "
                                  "output once per sample in the batch — count both phases for 32 samples"])


# ----------------------------------------------------------------------------- exercise 4
def check_float32_counts(total, first_lost) -> Feedback:
    """Exercise 4: ``total``, the running sum of counts after 10,000 neighbours of 200 samples; ``first_lost``,
    the smallest float32 sum S (a whole number) for which ``S + 1`` rounds back to S."""
    name = "Exercise 4: counts in float32"
    messages = []
    ok_total = isinstance(total, numbers.Real) and not isinstance(total, bool) and float(total) == 2_000_000
    if not ok_total:
        if isinstance(total, numbers.Real) and not isinstance(total, bool) and float(total) in (10_000, 200):
            messages.append("total: the running sum adds every neighbour's count, 200 per neighbour, 10,000 times")
        elif isinstance(total, numbers.Real) and not isinstance(total, bool) and float(total) == 2_000_200:
            messages.append("total: count the 10,000 neighbours only (the device's own count is not asked)")
        else:
            messages.append(f"total: the sum of 10,000 counts of 200 each, got {total!r}")
    ok_lost = isinstance(first_lost, numbers.Real) and not isinstance(first_lost, bool) and float(first_lost) == 2**24
    if not ok_lost:
        value = float(first_lost) if isinstance(first_lost, numbers.Real) and not isinstance(first_lost, bool) else None
        if value == 2**23:
            messages.append("first_lost: float32 stores 23 mantissa bits plus an implicit leading one: 24 significant "
                            "bits, so whole numbers are exact one step further than 2^23")
        elif value in (2**24 + 1, 2**24 - 1):
            messages.append("first_lost: off by one — check which whole numbers float32 still holds exactly, and try "
                            "np.float32(S) + np.float32(1) around your answer")
        elif value in (2**31, 2**32, 2**53):
            messages.append("first_lost: that is another type's limit (int32, uint32 or float64), not float32's")
        else:
            messages.append(f"first_lost: the smallest whole-number float32 sum S for which S + 1 == S, got {first_lost!r}"
                            " — check it with numpy")
    if messages:
        return Feedback(name, False, messages)
    return Feedback(name, True, ["correct: 2,000,000 counts are far below the first sum that swallows a count of 1, "
                                 "so the counts stay exact; the weighted sum of the weights, n_k w_k, is where float32 "
                                 "rounding shows (lesson 05 measures it)"])


# ----------------------------------------------------------------------------- exercise 6
def check_largest_other_share(share, neighbours=10) -> Feedback:
    """Exercise 6: the largest share of the nRF52840's SRAM (a fraction in [0, 1]) the radio stack and RTOS may take
    while the survey's learner still trains with SGD and Cumulative FedAvg over ``neighbours`` neighbours."""
    from tinydtl.devices.boards import load_boards

    name = "Exercise 6: the largest share for the rest"
    sram = load_boards()["Arduino Nano 33 BLE Sense"].sram_bytes
    layers = mlp_layers([784, 10])
    peak = profile(layers, aggregation="cumulative", neighbours=neighbours).sram_bytes
    exact = 1 - peak / sram
    if not isinstance(share, numbers.Real) or isinstance(share, bool) or not np.isfinite(share):
        return Feedback(name, False, [f"answer with a number, a fraction of the SRAM, got {share!r}"])
    share = float(share)
    if abs(share - exact) <= 0.005:
        return Feedback(name, True, [f"correct: {exact:.3f} of the SRAM may go to the radio stack, RTOS and stack; "
                                     "the learner needs the rest"])
    if 1 < share <= 100 and abs(share / 100 - exact) <= 0.005:
        return Feedback(name, False, ["give a fraction in [0, 1], not a percentage"])
    if abs(share - (1 - exact)) <= 0.005:
        return Feedback(name, False, ["that is the learner's share of the SRAM (its peak over the SRAM); the question "
                                      "asks for what is left for the radio stack and RTOS"])
    store = profile(layers, aggregation="store_all", neighbours=neighbours).sram_bytes
    if abs(share - (1 - store / sram)) <= 0.005:
        return Feedback(name, False, ["that is the share with store-all aggregation; the question is about Cumulative "
                                      "FedAvg"])
    if abs(share - exact) <= 0.05:
        return Feedback(name, False, ["close, but the slider moves in steps of 0.05: compute the share from the peak the "
                                      "title prints and the board's SRAM (1 KiB = 1,024 B)"])
    return Feedback(name, False, [f"not {share:g}: the learner may use (1 − share) of the SRAM; find the share at which "
                                  "that equals the peak of the survey's learner"])
