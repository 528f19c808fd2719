"""Seconds of the local updates outside FedAvg: D-PSGD on 16 devices and the MLP, numba kernel vs numpy reference.

    uv run python benchmarks/bench_local_updates.py [--repeats 3] [--json out.json]

* **D-PSGD**, 16 IID devices on a ring over MNIST's 60,000 training images, B = 20, one gradient step
  per mixing step (188 per round), 2 rounds: seconds and CPU seconds per round (median over rounds
  and repeats), with ``SoftmaxModel(kernel="numba")`` and ``kernel="numpy"``;
* **the MLP** (784-64-10, ReLU), the setup of ``tests/test_mlp.py::test_learns_mnist_digits``: one
  client with 6,000 images, B = 32, 3 rounds of local SGD; and one epoch of 16 devices with 1,000
  images each (784-32-10, B = 20, as lesson 05's bilayer head): CPU seconds of ``local_update``.

numpy's BLAS is held to one thread. On a tree without the kernels (before issue 28) the script runs the
only kernel there is and labels it ``numpy``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from tinydtl.algorithms.decentralized import run_decentralized
from tinydtl.core.plans import PlanSettings, plan_from_settings
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import iid
from tinydtl.learners.mlp import MLPModel
from tinydtl.learners.softmax import SoftmaxModel
from tinydtl.networks.topology import ring

KERNELS = ("numba", "numpy") if "kernel" in inspect.signature(SoftmaxModel).parameters else ("numpy",)


def with_kernel(cls, *args, kernel, **kw):
    return cls(*args, **kw, kernel=kernel) if len(KERNELS) > 1 else cls(*args, **kw)


def dpsgd(x, y, xt, yt, kernel, repeats) -> dict:
    parts = iid(y, 16, seed=0)
    model = with_kernel(SoftmaxModel, 784, 10, kernel=kernel)
    run_decentralized(x[:400], y[:400], iid(y[:400], 4), graph=ring(4), rounds=1, model=model)  # compile / warm up
    sec, cpu = [], []
    for _ in range(repeats):
        h = run_decentralized(x, y, parts, scheme="dpsgd", graph=ring(16), rounds=2, x_test=xt, y_test=yt, model=model)
        sec += h.column("seconds", initial=False)
        cpu += h.column("cpu_seconds", initial=False)
    return {"seconds_per_round": float(np.median(sec)), "cpu_seconds_per_round": float(np.median(cpu)),
            "accuracy": h.column("accuracy")[-1]}


def cpu_seconds(call, repeats) -> float:
    call()  # compile / warm up
    best = np.inf
    for _ in range(repeats):
        t0 = time.process_time()
        call()
        best = min(best, time.process_time() - t0)
    return best


def mlp(x, y, xt, yt, kernel, repeats) -> dict:
    one = with_kernel(MLPModel, 784, 64, 10, kernel=kernel)
    plans = [plan_from_settings([np.arange(6000)], r, PlanSettings(batch_size=32), seed=0) for r in range(3)]

    def three_rounds():
        w = one.init(0)[None, :]
        for plan in plans:
            w = one.local_update(x, y, w, plan, 0.1)[0]
        return w

    many = with_kernel(MLPModel, 784, 32, 10, kernel=kernel)
    plan16 = plan_from_settings([np.arange(i * 1000, (i + 1) * 1000) for i in range(16)], 0,
                                PlanSettings(batch_size=20), seed=0)
    start = np.broadcast_to(many.init(0), (16, many.n_params))
    return {"test_mlp_3_rounds_cpu_seconds": cpu_seconds(three_rounds, repeats),
            "test_mlp_accuracy": one.evaluate(three_rounds()[0], xt[:2000], yt[:2000])[1],
            "epoch_16_devices_cpu_seconds": cpu_seconds(lambda: many.local_update(x, y, start, plan16, 0.05), repeats)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    (x, y), (xt, yt) = load_mnist()
    flat, flat_t = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    res = {"load_before": os.getloadavg()[0]}
    with threadpool_limits(limits=1):
        for kernel in KERNELS:
            res[kernel] = {"dpsgd_16": dpsgd(x, y, xt, yt, kernel, args.repeats),
                           "mlp": mlp(flat, y, flat_t, yt, kernel, args.repeats)}
    res["load_after"] = os.getloadavg()[0]
    print(f"load {res['load_before']:.1f} before, {res['load_after']:.1f} after")
    for kernel in KERNELS:
        d, m = res[kernel]["dpsgd_16"], res[kernel]["mlp"]
        print(f"  {kernel:6s} D-PSGD 16 devices: {d['seconds_per_round']:.3f} s/round ({d['cpu_seconds_per_round']:.3f} s CPU),"
              f" accuracy {d['accuracy']:.4f};  MLP: test_mlp's 3 rounds {m['test_mlp_3_rounds_cpu_seconds']:.3f} s CPU"
              f" (accuracy {m['test_mlp_accuracy']:.4f}), 16-device epoch {m['epoch_16_devices_cpu_seconds']:.3f} s CPU")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
