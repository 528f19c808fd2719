"""What privacy costs in time, in one run: DP-FedAvg vs FedAvg per round, SecAgg and SecAgg+ per round.

    uv run python benchmarks/bench_privacy.py [--rounds 8] [--repeats 3] [--out build/bench_privacy.json]

1. **DP-FedAvg vs FedAvg** on the numpy engine: the MNIST softmax learner, 60,000 images split IID
   over 10 clients, E = 1, B = 20, all clients every round; DP with z = 1, clip 0.5 (clipping, the
   noise, the unweighted mean and the ε column). The two runs alternate round blocks so that load on a
   shared machine hits both alike; the ratio of median seconds per round (History's ``seconds``) must
   be <= 1.2.
2. **SecAgg** of 100 clients × 7,850 parameters (the softmax learner's size), complete graph,
   threshold 51, 2 dropouts: seconds per round (median of ``--repeats``), budget 2 s.
3. **SecAgg+** with 1,000 clients × 7,850 parameters, ``k = 2⌈log₂ n⌉ = 20`` neighbours, threshold
   11, 10 dropouts: it must run (seconds reported).

Exits 1 if a budget is missed; ``--out`` writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinydtl.algorithms.fedavg import run_fedavg  # noqa: E402
from tinydtl.data.datasets import load_mnist  # noqa: E402
from tinydtl.data.partition import iid  # noqa: E402
from tinydtl.privacy import DPConfig, secagg_plus_degree, secure_aggregate  # noqa: E402


def dp_round_ratio(rounds: int, blocks: int = 4) -> dict:
    """Median seconds per round of FedAvg and DP-FedAvg, alternating blocks of rounds."""
    (x, y), _ = load_mnist()
    parts = iid(y, 10, seed=0)
    dp = DPConfig(noise_multiplier=1.0, clip=0.5, clients_per_round=10)
    run_fedavg(x, y, parts, rounds=1, dp=dp)  # imports and first-touch costs out of the way
    plain, private = [], []
    for b in range(blocks):
        plain += run_fedavg(x, y, parts, rounds=rounds, seed=b).column("seconds", initial=False)
        private += run_fedavg(x, y, parts, rounds=rounds, dp=dp, seed=b).column("seconds", initial=False)
    p, q = float(np.median(plain)), float(np.median(private))
    return {"fedavg_round_s": p, "dp_fedavg_round_s": q, "ratio": q / p}


def secagg_seconds(n: int, d: int, *, threshold: int, neighbours=None, dropped=(), repeats: int = 3) -> float:
    U = np.random.default_rng(0).normal(0, 0.01, size=(n, d)).astype(np.float32)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        secure_aggregate(U, threshold=threshold, neighbours=neighbours, dropped=dropped, seed=r)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8, help="rounds per block of the DP-FedAvg comparison")
    ap.add_argument("--repeats", type=int, default=3, help="SecAgg rounds timed (median)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = dp_round_ratio(args.rounds)
    print(f"FedAvg round {out['fedavg_round_s']:.3f} s, DP-FedAvg round {out['dp_fedavg_round_s']:.3f} s: "
          f"ratio {out['ratio']:.2f} (budget 1.20)")
    out["secagg_100x7850_s"] = secagg_seconds(100, 7850, threshold=51, dropped=(3, 17), repeats=args.repeats)
    print(f"SecAgg, 100 clients x 7,850 parameters, 2 dropouts: {out['secagg_100x7850_s']:.2f} s per round (budget 2 s)")
    k = secagg_plus_degree(1000)
    out["secagg_plus_1000_s"] = secagg_seconds(1000, 7850, threshold=11, neighbours=k, dropped=tuple(range(0, 1000, 100)),
                                               repeats=1)
    out["secagg_plus_neighbours"] = k
    print(f"SecAgg+, 1,000 clients x 7,850 parameters, k = {k}, 10 dropouts: {out['secagg_plus_1000_s']:.2f} s per round")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    ok = out["ratio"] <= 1.2 and out["secagg_100x7850_s"] <= 2.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
