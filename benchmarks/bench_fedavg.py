"""Seconds per FedAvg round, TFF vs the numpy engine, on the survey's headline setup, in one run.

    uv run python benchmarks/bench_fedavg.py [--clients 10] [--rounds 3] [--numpy-rounds 10]

Setup: the MNIST softmax learner, full training set (60,000) split IID over --clients, 1 local
epoch, batch 20, client lr 0.02, plain FedAvg. Both engines run the same rounds from the same
initial weights; the script prints seconds per round (median; TFF's first round, which traces and
compiles, is reported separately), the ratio, the final test accuracy of each, and the arithmetic
lower bound for a round: FLOPs per round ÷ the machine's measured matmul FLOP/s. Both engines run
through tinydtl's one simulation loop, so the timing is the round itself (History's ``seconds``).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tinydtl.algorithms.fedavg import N_CLASSES, run_fedavg  # noqa: E402
from tinydtl.data.datasets import load_mnist  # noqa: E402
from tinydtl.data.partition import iid  # noqa: E402


def matmul_flops_per_second(shape=(2048, 2048, 2048), repeats=5) -> float:
    """Measured float32 GEMM rate of this machine (large square matrices: the best case)."""
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
    t0 = time.perf_counter()
    for _ in range(repeats):
        np.matmul(x, w, out=out)
    return 2.0 * clients * batch * features * classes * repeats / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="rounds run by both engines (accuracy is compared after them)")
    ap.add_argument("--numpy-rounds", type=int, default=10, help="extra numpy rounds for a stable timing")
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="numpy engine: clients trained in this many threads")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    if args.rounds < 2 or args.numpy_rounds < 1 or args.clients < 1:
        ap.error("--rounds must be >= 2 (the first TFF round compiles), --numpy-rounds and --clients >= 1")

    (x, y), (xt, yt) = load_mnist()
    parts = iid(y, args.clients, seed=0)
    common = dict(x_test=xt, y_test=yt, rounds=args.rounds, local_epochs=1, batch_size=args.batch_size, client_lr=0.02, seed=0)

    t0 = time.perf_counter()
    h_tff = run_fedavg(x, y, parts, engine="tff", **common)
    tff_total = time.perf_counter() - t0
    h_np = run_fedavg(x, y, parts, engine="numpy", threads=args.threads, **common)
    h_np_long = run_fedavg(x, y, parts, engine="numpy", threads=args.threads, **{**common, "rounds": args.numpy_rounds})
    np_cpu = float(np.median(h_np_long.column("cpu_seconds", initial=False)))
    W_tff, W_np = h_tff.weights[0], h_np.weights[0]

    tff_round = float(np.median(h_tff.column("seconds", initial=False)[1:]))
    np_round = float(np.median(h_np_long.column("seconds", initial=False)))
    n, features = len(x), int(np.prod(x.shape[1:]))
    flops = 4.0 * n * features * N_CLASSES  # forward x@W and backward x^T@g, 2 FLOPs per multiply-add
    peak = matmul_flops_per_second()
    small = small_matmul_flops_per_second(args.clients, args.batch_size, features, N_CLASSES)
    res = {
        "setup": f"MNIST softmax, {n} samples, {args.clients} IID clients, E=1, B={args.batch_size}, lr=0.02",
        "tff_seconds_per_round": tff_round,
        "tff_first_round_seconds": h_tff.column("seconds", initial=False)[0],
        "tff_total_seconds_incl_build": tff_total,
        "numpy_seconds_per_round": np_round,
        "numpy_cpu_seconds_per_round": np_cpu,
        "ratio_tff_over_numpy": tff_round / np_round,
        "tff_test_accuracy": h_tff.column("accuracy", initial=False)[-1],
        "numpy_test_accuracy": h_np.column("accuracy", initial=False)[-1],
        "numpy_threads": args.threads,
        "max_weight_difference": float(np.abs(W_tff - W_np).max()),
        "max_accuracy_difference": float(np.max(np.abs(np.subtract(h_tff.column("accuracy", initial=False), h_np.column("accuracy", initial=False))))),
        "gflop_per_round": flops / 1e9,
        "peak_gemm_gflops": peak / 1e9,
        "engine_shape_gemm_gflops": small / 1e9,
        "bound_seconds_at_peak": flops / peak,
        "bound_seconds_at_engine_shape_rate": flops / small,
    }
    print(res["setup"])
    print(f"  TFF    {tff_round:8.3f} s/round (first round {h_tff.column('seconds', initial=False)[0]:.2f} s; build+{args.rounds} rounds {tff_total:.1f} s)"
          f"   test accuracy after {args.rounds} rounds {h_tff.column('accuracy', initial=False)[-1]:.4f}")
    print(f"  numpy  {np_round:8.3f} s/round (median of {args.numpy_rounds}; {np_cpu:.3f} s CPU per round)"
          f"                     test accuracy after {args.rounds} rounds {h_np.column('accuracy', initial=False)[-1]:.4f}")
    print(f"  ratio TFF/numpy: {res['ratio_tff_over_numpy']:.1f}x   (max accuracy difference {res['max_accuracy_difference'] * 100:.2f} pp,"
          f" max weight difference {res['max_weight_difference']:.1e}; numpy threads {args.threads})")
    print(f"  FLOP bound: {flops / 1e9:.2f} GFLOP per round; at the machine's large-GEMM rate ({peak / 1e9:.0f} GFLOP/s) "
          f"{flops / peak * 1000:.1f} ms, i.e. numpy is {np_round / (flops / peak):.1f}x from it;")
    print(f"              at the rate numpy reaches on the engine's shapes ({small / 1e9:.1f} GFLOP/s) "
          f"{flops / small * 1000:.1f} ms, i.e. {np_round / (flops / small):.2f}x from it.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
