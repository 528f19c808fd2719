"""ILVQ training throughput and accuracy against scikit-learn baselines, on the same sphere data.

    uv run python benchmarks/bench_ilvq.py [--n-train 2000] [--n-test 10000] [--repeats 3]

Prints one table: training samples per second (best of --repeats), prediction samples per
second, test accuracy, and how many numbers each model stores. All models run in this one process
on the same data, so the ratios are meaningful even if the machine's absolute speed is not.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures

from tinydtl.data.datasets import make_sphere
from tinydtl.learners.ilvq import ILVQ


def stored_numbers(model, n_train, n_features):
    if isinstance(model, ILVQ):
        return model.n_prototypes_ * n_features
    if isinstance(model, KNeighborsClassifier):
        return n_train * n_features
    sgd = model[-1] if hasattr(model, "steps") else model
    return sgd.coef_.size + sgd.intercept_.size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.n_train < 10 or args.n_test < 10 or args.repeats < 1:
        ap.error("--n-train and --n-test must be >= 10 and --repeats >= 1")

    X, y = make_sphere(args.n_train, seed=args.seed)
    Xt, yt = make_sphere(args.n_test, seed=args.seed + 1)
    models = {
        "ILVQ (2 passes)": lambda: ILVQ(random_state=args.seed),
        "ILVQ (1 pass)": lambda: ILVQ(n_epochs=1, random_state=args.seed),
        "KNeighborsClassifier(5)": lambda: KNeighborsClassifier(5),
        "SGDClassifier (linear)": lambda: SGDClassifier(random_state=args.seed),
        "SGDClassifier on x, x⊗x": lambda: make_pipeline(PolynomialFeatures(2), SGDClassifier(random_state=args.seed)),
    }
    rows = []
    for name, make in models.items():
        fit_times, pred_times = [], []
        for _ in range(args.repeats):
            m = make()
            t0 = time.perf_counter()
            m.fit(X, y)
            fit_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pred = m.predict(Xt)
            pred_times.append(time.perf_counter() - t0)
        rows.append(
            (
                name,
                args.n_train / min(fit_times),
                args.n_test / min(pred_times),
                float(np.mean(pred == yt)),
                stored_numbers(m, args.n_train, X.shape[1]),
            )
        )
    print(f"sphere, 3-D, {args.n_train} training / {args.n_test} test points, best of {args.repeats}")
    header = f"{'model':<26} {'train samples/s':>16} {'predict samples/s':>18} {'accuracy':>9} {'stored numbers':>15}"
    print(header)
    print("-" * len(header))
    for name, fit_sps, pred_sps, acc, size in rows:
        print(f"{name:<26} {fit_sps:>16,.0f} {pred_sps:>18,.0f} {acc:>9.4f} {size:>15,}")


if __name__ == "__main__":
    main()
