"""Checks for lesson 06's exercises (will it fit?): the peak SRAM by hand, Cumulative FedAvg in constant memory.

Each check runs the student's code on its own cases, names the common mistake it recognises (by computing
what that mistake gives), never crashes on a malformed answer, and refuses the package's implementation
(:func:`tinydtl.lab.exercises.refuse_package`).
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydtl.core.aggregation import CumulativeFedAvg, StoreAllAggregator
from tinydtl.core.traffic import payload_bytes
from tinydtl.devices.emulate import predicted_profile
from tinydtl.devices.memory import fit_table, fits, largest_mlp_width, mlp_layers, profile
from tinydtl.lab.exercises import Feedback, call_student, measured_nbytes, refuse_package

__all__ = ["check_cumulative_fedavg", "check_peak_sram"]

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
