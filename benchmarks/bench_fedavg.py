"""Seconds per FedAvg round: TFF vs the numpy engine's two kernels, on the survey's headline setup, in one run.

    uv run python benchmarks/bench_fedavg.py [--clients 10] [--rounds 3] [--numpy-rounds 10] [--threads 1]
                                             [--compile-time] [--json out.json]

Setup: the MNIST softmax learner, full training set (60,000) split IID over --clients, 1 local epoch,
batch 20, client lr 0.02, plain FedAvg. Every engine runs the same rounds from the same initial
weights through tinydtl's one simulation loop, so the timing is the round itself (History's
``seconds``; TFF's first round, which traces and compiles, is reported apart). numpy's BLAS is held to
one thread. Printed:

* seconds per round (median) of TFF, of the numpy engine with the compiled kernel (``kernel="numba"``,
  the default) and with the vectorised numpy reference (``kernel="numpy"``), and the ratios; the numpy
  engine is timed before and after TFF and the median taken over both, so that a change of the
  machine's load during TFF's minute weighs on both sides;
* the final test accuracy of each and the largest differences to TFF (accuracy, weights);
* the arithmetic bound of a round: its FLOPs (forward ``x W`` and backward ``xᵀ g``) divided by the
  rate this machine reaches (a) on large matrices with all BLAS threads (wall time), (b) on numpy's
  batched products at the engine's shapes, (c) on BLAS's two calls per step at the compiled kernel's
  shapes (``np.dot`` in numba, what the kernel called before it had its own products) (both CPU time of
  one thread), each compared with the kernel's CPU time per round;
* where the compiled kernel's time goes (each part timed alone, CPU time): its two products
  (:func:`~tinydtl.learners.softmax_kernels.logits_product`, :func:`~tinydtl.learners.softmax_kernels.gradient_product`),
  scaling the random rows of pixels (memory), and the rest (softmax, update, bookkeeping);
* CPU seconds per round of each engine (process time, all threads), whose ratios depend less on
  the machine's load than the wall-time ratios;
* the machine's load (1-minute average) before and after: the machine may be shared, and the ratios,
  measured side by side in one run, are the fair numbers;
* with ``--compile-time``: numba's first call in a fresh process, with an empty cache and with the
  cache the first call leaves behind.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from tinydtl.algorithms.fedavg import run_fedavg  # noqa: E402
from tinydtl.core.plans import plan_round  # noqa: E402
from tinydtl.data.datasets import load_mnist  # noqa: E402
from tinydtl.data.partition import iid  # noqa: E402
from tinydtl.learners.softmax import flat_batches  # noqa: E402
from tinydtl.learners.softmax_kernels import gradient_product, logits_product, scale_pixels  # noqa: E402


N_CLASSES = 10  # MNIST digits


def matmul_flops_per_second(shape=(2048, 2048, 2048), repeats=5) -> float:
    """Measured float32 GEMM rate of this machine (large square matrices, all BLAS threads: the best case)."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.random((m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    a @ b
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * m * k * n / best


def small_matmul_flops_per_second(clients, batch, features, classes, repeats=200) -> float:
    """The rate numpy reaches on the engine's own shapes: a stack of (batch × features) @ (features × classes)."""
    rng = np.random.default_rng(0)
    x = rng.random((clients, batch, features), dtype=np.float32)
    w = rng.random((clients, features, classes), dtype=np.float32)
    out = np.empty((clients, batch, classes), dtype=np.float32)
    np.matmul(x, w, out=out)
    t0 = time.thread_time()  # CPU time (one BLAS thread): the rate whatever else runs on the machine
    for _ in range(repeats):
        np.matmul(x, w, out=out)
    return 2.0 * clients * batch * features * classes * repeats / (time.thread_time() - t0)


@njit(nogil=True)
def _kernel_products(steps, x, WT, lT, GT):
    for _ in range(steps):
        logits_product(WT, x, lT)
        gradient_product(lT, x, GT)


@njit(nogil=True)
def _blas_products(steps, x, WT, lT, GT):
    for _ in range(steps):
        np.dot(WT, x.T, lT)
        np.dot(lT, x, GT)


@njit(nogil=True)
def _kernel_pixels(pixels, order, batch_ptr, xb):
    for s in range(batch_ptr.shape[0] - 1):
        for j in range(batch_ptr[s + 1] - batch_ptr[s]):
            scale_pixels(pixels[order[batch_ptr[s] + j]], xb[j])


def kernel_parts(x, parts, batch, features, classes) -> dict:
    """CPU seconds per round of the compiled kernel's parts, each timed alone (best of 3): its two
    products per step (data in cache: the arithmetic), the same two products by BLAS (``np.dot``), and
    scaling one epoch's random rows of pixels (without the kernel's prefetching: the memory stalls it
    hides while the products run)."""
    plan = plan_round(parts, 0, seed=0, local_epochs=1, batch_size=batch)
    order, batch_ptr, _ = flat_batches(plan)
    steps = len(batch_ptr) - 1
    rng = np.random.default_rng(0)
    xb = rng.random((batch, features + 1), dtype=np.float32)
    WT = rng.random((classes, features + 1), dtype=np.float32)
    lT, GT = np.empty((classes, batch), np.float32), np.empty((classes, features + 1), np.float32)
    pixels = np.ascontiguousarray(x.reshape(len(x), -1))
    out = {}
    for name, call in {"products": lambda: _kernel_products(steps, xb, WT, lT, GT),
                       "blas_products": lambda: _blas_products(steps, xb, WT, lT, GT),
                       "pixels": lambda: _kernel_pixels(pixels, order, batch_ptr, xb)}.items():
        call()
        best = np.inf
        for _ in range(3):
            t0 = time.thread_time()  # CPU time of this thread: what the part costs, whatever else runs
            call()
            best = min(best, time.thread_time() - t0)
        out[name] = best
    return out


def compile_seconds() -> dict:
    """numba's first ``local_update`` in a fresh process: with an empty cache, then with the cache it left."""
    code = ("import time, numpy as np; t0 = time.perf_counter();"
            "from tinydtl.core.plans import plan_round; from tinydtl.learners.softmax import SoftmaxModel;"
            "m = SoftmaxModel(784, 10); X = np.zeros((40, 784), np.uint8); y = np.arange(40) % 10;"
            "m.local_update(X, y, m.init(0)[None], plan_round([np.arange(40)], 0, seed=0), 0.1);"
            "print(time.perf_counter() - t0)")
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for name in ("empty_cache", "warm_cache"):
            run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out[name] = float(run.stdout.split()[-1])
    return out


def numpy_runs(x, y, parts, common, args) -> dict:
    """The numpy engine with both kernels (one BLAS thread): ``rounds`` to compare with TFF, and
    ``numpy_rounds`` more for the timing. Returns ``{kernel: (short history, long history)}``."""
    out = {}
    with threadpool_limits(limits=1):
        for kernel in ("numba", "numpy"):
            kw = dict(engine="numpy", threads=args.threads, kernel=kernel)
            run_fedavg(x[:200], y[:200], iid(y[:200], 2), rounds=1, **kw)  # compile / warm up
            short = run_fedavg(x, y, parts, **common, **kw)
            long = run_fedavg(x, y, parts, **{**common, "rounds": args.numpy_rounds}, **kw)
            out[kernel] = (short, long)
    return out


def timed_rounds(before: dict, after: dict, kernel: str, column: str) -> list:
    """One kernel's timed rounds, from the runs before and after TFF's (the machine's load may drift)."""
    return [v for runs in (before, after) for v in runs[kernel][1].column(column, initial=False)]


def measure(args) -> dict:
    (x, y), (xt, yt) = load_mnist()
    parts = iid(y, args.clients, seed=0)
    common = dict(x_test=xt, y_test=yt, rounds=args.rounds, local_epochs=1, batch_size=args.batch_size, client_lr=0.02,
                  seed=0)
    load_before = os.getloadavg()[0]
    runs = numpy_runs(x, y, parts, common, args)  # before TFF and after it: the median of both
    t0 = time.perf_counter()
    h_tff = run_fedavg(x, y, parts, engine="tff", **common)
    tff_total = time.perf_counter() - t0
    after = numpy_runs(x, y, parts, common, args)
    n, features = len(x), int(np.prod(x.shape[1:]))
    flops = 4.0 * n * features * N_CLASSES  # forward x@W and backward x^T@g, 2 FLOPs per multiply-add
    with threadpool_limits(limits=1):
        small = small_matmul_flops_per_second(args.clients, args.batch_size, features, N_CLASSES)
        parts_s = kernel_parts(x, parts, args.batch_size, features, N_CLASSES)
    res = {
        "setup": f"MNIST softmax, {n} samples, {args.clients} IID clients, E=1, B={args.batch_size}, lr=0.02",
        "load_before": load_before,
        "tff_seconds_per_round": float(np.median(h_tff.column("seconds", initial=False)[1:])),
        "tff_first_round_seconds": h_tff.column("seconds", initial=False)[0],
        "tff_cpu_seconds_per_round": float(np.median(h_tff.column("cpu_seconds", initial=False)[1:])),
        "tff_total_seconds_incl_build": tff_total,
        "tff_test_accuracy": h_tff.column("accuracy", initial=False)[-1],
        "numpy_threads": args.threads,
        "gflop_per_round": flops / 1e9,
        "peak_gemm_gflops": matmul_flops_per_second() / 1e9,
        "engine_shape_gemm_gflops": small / 1e9,
        "kernel_products_seconds": parts_s["products"],
        "blas_products_seconds": parts_s["blas_products"],
        "kernel_pixels_seconds": parts_s["pixels"],
        "load_after": os.getloadavg()[0],
    }
    acc_tff = np.asarray(h_tff.column("accuracy", initial=False))
    for kernel, (short, long) in runs.items():
        sec = float(np.median(timed_rounds(runs, after, kernel, "seconds")))
        res[f"{kernel}_seconds_per_round"] = sec
        res[f"{kernel}_seconds_per_round_before_and_after_tff"] = [
            float(np.median(r[kernel][1].column("seconds", initial=False))) for r in (runs, after)]
        res[f"{kernel}_cpu_seconds_per_round"] = float(np.median(timed_rounds(runs, after, kernel, "cpu_seconds")))
        res[f"ratio_tff_over_{kernel}"] = res["tff_seconds_per_round"] / sec
        res[f"{kernel}_test_accuracy"] = short.column("accuracy", initial=False)[-1]
        res[f"{kernel}_max_accuracy_difference"] = float(np.abs(np.asarray(short.column("accuracy", initial=False)) - acc_tff).max())
        res[f"{kernel}_max_weight_difference"] = float(np.abs(short.weights[0] - h_tff.weights[0]).max())
    res["kernels_max_weight_difference"] = float(np.abs(runs["numba"][0].weights[0] - runs["numpy"][0].weights[0]).max())
    res["bound_seconds_at_peak"] = flops / (res["peak_gemm_gflops"] * 1e9)
    res["bound_seconds_at_engine_shape_rate"] = flops / small
    res["bound_seconds_at_blas_products"] = parts_s["blas_products"]
    return res


def report(res, args):
    print(res["setup"], f"(load {res['load_before']:.1f} before, {res['load_after']:.1f} after; numpy threads {args.threads})")
    print(f"  TFF                           {res['tff_seconds_per_round']:6.3f} s/round ({res['tff_cpu_seconds_per_round']:.3f} s CPU; first round {res['tff_first_round_seconds']:.2f} s; "
          f"build+{args.rounds} rounds {res['tff_total_seconds_incl_build']:.1f} s)   test accuracy {res['tff_test_accuracy']:.4f}")
    for kernel, label in (("numba", "numpy engine, numba kernel"), ("numpy", "numpy engine, numpy reference")):
        b, a = res[f"{kernel}_seconds_per_round_before_and_after_tff"]
        print(f"  {label:30s} {res[f'{kernel}_seconds_per_round']:6.3f} s/round ({b:.3f} before TFF, {a:.3f} after; "
              f"{res[f'{kernel}_cpu_seconds_per_round']:.3f} s CPU)"
              f"  TFF/it {res[f'ratio_tff_over_{kernel}']:5.1f}x   test accuracy {res[f'{kernel}_test_accuracy']:.4f},"
              f" max accuracy difference to TFF {res[f'{kernel}_max_accuracy_difference'] * 100:.2f} pp,"
              f" max weight difference {res[f'{kernel}_max_weight_difference']:.1e}")
    print(f"  numba vs numpy reference: max weight difference {res['kernels_max_weight_difference']:.1e}")
    gflop, numba_s = res["gflop_per_round"], res["numba_cpu_seconds_per_round"]
    for name, key, what in (("large-GEMM rate", "bound_seconds_at_peak", f"{res['peak_gemm_gflops']:.0f} GFLOP/s"),
                            ("numpy's batched products at the engine's shapes", "bound_seconds_at_engine_shape_rate",
                             f"{res['engine_shape_gemm_gflops']:.1f} GFLOP/s"),
                            ("BLAS's two products per step at the kernel's shapes", "bound_seconds_at_blas_products",
                             f"{gflop / res['bound_seconds_at_blas_products']:.1f} GFLOP/s")):
        print(f"  bound ({gflop:.2f} GFLOP/round) at {name} ({what}): {res[key] * 1e3:.1f} ms; "
              f"numba kernel's CPU time {numba_s / res[key]:.2f}x from it")
    cpu = res["numba_cpu_seconds_per_round"]
    rest = cpu - res["kernel_products_seconds"] - res["kernel_pixels_seconds"]
    print(f"  numba kernel's round: {cpu * 1e3:.1f} ms CPU; its parts timed alone (CPU): its two products "
          f"{res['kernel_products_seconds'] * 1e3:.1f} ms ({gflop / res['kernel_products_seconds']:.1f} GFLOP/s), scaling random rows of pixels without prefetching "
          f"{res['kernel_pixels_seconds'] * 1e3:.1f} ms, the rest {rest * 1e3:.1f} ms")
    print(f"  CPU time per round: TFF/numba kernel {res['tff_cpu_seconds_per_round'] / cpu:.1f}x, "
          f"TFF/numpy reference {res['tff_cpu_seconds_per_round'] / res['numpy_cpu_seconds_per_round']:.1f}x")
    if "compile_seconds" in res:
        c = res["compile_seconds"]
        print(f"  numba first call in a fresh process: {c['empty_cache']:.1f} s with an empty cache, {c['warm_cache']:.1f} s cached")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="rounds run by every engine (accuracy is compared after them)")
    ap.add_argument("--numpy-rounds", type=int, default=10, help="numpy engine: rounds run again for a stable timing")
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="numpy engine: clients trained in this many threads")
    ap.add_argument("--compile-time", action="store_true", help="also time numba's first call in fresh processes")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    if args.rounds < 2 or args.numpy_rounds < 1 or args.clients < 1:
        ap.error("--rounds must be >= 2 (the first TFF round compiles), --numpy-rounds and --clients >= 1")
    res = measure(args)
    if args.compile_time:
        res["compile_seconds"] = compile_seconds()
    report(res, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
