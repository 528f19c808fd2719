"""DistributedOneVsOne against scikit-learn's OneVsOneClassifier with the same MCU learner, side by side.

    uv run python benchmarks/bench_ovo.py [--classes 95] [--per-class 70] [--devices 3] [--repeats 3]

On a synthetic set of the Globe2Train paper's shape (22 features, 70 samples per class; 95 classes
give 4,465 binary problems) both fit the same binary learner (MomentumLogisticRegression) once per
problem. Prints the best of ``--repeats`` seconds for ``fit`` (DistributedOneVsOne also simulates
the devices and the network) and ``predict`` (DistributedOneVsOne computes the MCU learner's
scores straight from its weights), the ratios, and whether the two models predict the same. Both
run in this one process on the same data, so the ratios mean something even if the machine's
absolute speed does not.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.multiclass import OneVsOneClassifier

from tinydtl.papers.globe2train import DistributedOneVsOne, MomentumLogisticRegression


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=95)
    ap.add_argument("--per-class", type=int, default=70)
    ap.add_argument("--devices", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    X, y = make_classification(n_samples=args.classes * args.per_class, n_features=22, n_informative=16, n_redundant=4,
                               n_classes=args.classes, n_clusters_per_class=1, class_sep=2.0, random_state=args.seed)
    learner = MomentumLogisticRegression(epochs=5, random_state=args.seed)
    t_fit_d, dist = best_of(args.repeats, lambda: DistributedOneVsOne(learner, n_devices=args.devices).fit(X, y))
    t_fit_s, ref = best_of(args.repeats, lambda: OneVsOneClassifier(learner).fit(X, y))
    t_pred_d, p_d = best_of(args.repeats, lambda: dist.predict(X))
    t_pred_s, p_s = best_of(args.repeats, lambda: ref.predict(X))
    print(f"{len(dist.pairs_):,} binary problems, {len(X):,} samples, {args.devices} simulated devices")
    print(f"{'':28s}{'DistributedOneVsOne':>20s}{'OneVsOneClassifier':>20s}{'ratio':>8s}")
    print(f"{'fit (s, incl. simulation)':28s}{t_fit_d:20.2f}{t_fit_s:20.2f}{t_fit_d / t_fit_s:8.2f}")
    print(f"{'predict (s)':28s}{t_pred_d:20.3f}{t_pred_s:20.3f}{t_pred_d / t_pred_s:8.2f}")
    print(f"same predictions: {np.mean(p_d == p_s):.4f} of samples (float32 scores may differ in the last bit)")


if __name__ == "__main__":
    main()
