"""tinydtl's MiniRocket against aeon 1.6's numba MiniRocket (the reference), side by side in one run.

aeon 1.6 needs NumPy 2 and cannot enter uv.lock (TensorFlow Federated pins numpy < 2), so this script
runs it in a side environment that it creates itself: ``build/aeon-venv`` with ``uv venv --python 3.11``
and ``uv pip install "aeon==1.6.*"`` (needs the package registry once; later runs reuse it). aeon runs
there in a subprocess; arrays go both ways through ``.npy`` files.

For each UCR set in ``data/`` and each seed both transformers are fitted on the archive's training
split and transform train + test; the features of both go through the same StandardScaler +
RidgeClassifierCV(alphas=logspace(-3, 3, 10)) here, so accuracies differ only by the transform.
Transform time is the best of ``--repeats`` runs after one warm-up (numba compilation excluded), one
thread each (aeon ``n_jobs=1``, tinydtl ``n_jobs=1``). Target (issue 16): accuracy within 2 points of
aeon's, transform time within 3x.

    uv run python benchmarks/bench_rocket.py [--seeds 3] [--repeats 3] [--datasets GunPoint ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import RidgeClassifierCV
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tinydtl.data.datasets import UCR_NAMES, load_ucr
from tinydtl.learners.minirocket import MiniRocket

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "build" / "aeon-venv"
AEON_SPEC = "aeon==1.6.*"

AEON_SCRIPT = r"""
import json, sys, time
import numpy as np
from aeon.transformations.collection.convolution_based import MiniRocket
work, seeds, repeats = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
Xtr = np.load(f"{work}/Xtr.npy"); Xte = np.load(f"{work}/Xte.npy")
times = {}
for seed in seeds:
    t = MiniRocket(random_state=seed, n_jobs=1).fit(Xtr[:, None, :])
    X_all = np.concatenate([Xtr, Xte])[:, None, :]
    t.transform(X_all[:2])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter(); F = t.transform(X_all); best = min(best, time.perf_counter() - t0)
    np.save(f"{work}/F_{seed}.npy", np.asarray(F, dtype=np.float32))
    times[seed] = best
print(json.dumps(times))
"""


def ensure_aeon_env() -> Path:
    """Create ``build/aeon-venv`` with aeon 1.6 if it is not there; return its python."""
    python = VENV / "bin" / "python"
    ok = python.exists() and subprocess.run(
        [str(python), "-c", "import aeon, sys; sys.exit(0 if aeon.__version__.startswith('1.6') else 1)"],
        capture_output=True,
    ).returncode == 0
    if not ok:
        print(f"creating {VENV} with {AEON_SPEC} (side environment: aeon 1.6 needs NumPy 2) ...", flush=True)
        subprocess.run(["uv", "venv", "--python", "3.11", str(VENV)], check=True)
        subprocess.run(["uv", "pip", "install", "--python", str(python), AEON_SPEC], check=True)
    return python


def ridge_accuracy(F_tr, y_tr, F_te, y_te) -> float:
    clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
    return float(accuracy_score(y_te, clf.fit(F_tr, y_tr).predict(F_te)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(UCR_NAMES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)
    python = ensure_aeon_env()
    seeds = list(range(args.seeds))
    rows = []
    print(f"{'dataset':18s} {'acc tinydtl':>11s} {'acc aeon':>9s} {'Δ pts':>6s} {'t tinydtl':>10s} {'t aeon':>8s} {'ratio':>6s}")
    for name in args.datasets:
        ds = load_ucr(name)
        n_tr = len(ds.X_train)
        X_all = np.concatenate([ds.X_train, ds.X_test]).astype(np.float32)
        with tempfile.TemporaryDirectory() as work:
            np.save(f"{work}/Xtr.npy", ds.X_train.astype(np.float32))
            np.save(f"{work}/Xte.npy", ds.X_test.astype(np.float32))
            out = subprocess.run(
                [str(python), "-c", AEON_SCRIPT, work, json.dumps(seeds), str(args.repeats)],
                check=True, capture_output=True, text=True,
            )
            aeon_times = json.loads(out.stdout.strip().splitlines()[-1])
            aeon_feats = {s: np.load(f"{work}/F_{s}.npy") for s in seeds}
        acc_ours, acc_aeon, t_ours = [], [], []
        for s in seeds:
            mr = MiniRocket(random_state=s, n_jobs=1).fit(ds.X_train)
            mr.transform(X_all[:2])  # warm-up (numba compilation)
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                F = mr.transform(X_all)
                best = min(best, time.perf_counter() - t0)
            t_ours.append(best)
            acc_ours.append(ridge_accuracy(F[:n_tr], ds.y_train, F[n_tr:], ds.y_test))
            Fa = aeon_feats[s]
            acc_aeon.append(ridge_accuracy(Fa[:n_tr], ds.y_train, Fa[n_tr:], ds.y_test))
        row = {
            "dataset": name,
            "acc_tinydtl": float(np.mean(acc_ours)),
            "acc_aeon": float(np.mean(acc_aeon)),
            "seconds_tinydtl": float(np.mean(t_ours)),
            "seconds_aeon": float(np.mean(list(aeon_times.values()))),
        }
        row["time_ratio"] = row["seconds_tinydtl"] / row["seconds_aeon"]
        rows.append(row)
        print(
            f"{name:18s} {row['acc_tinydtl']:11.3f} {row['acc_aeon']:9.3f} "
            f"{100 * (row['acc_tinydtl'] - row['acc_aeon']):+6.1f} {row['seconds_tinydtl']:10.3f} "
            f"{row['seconds_aeon']:8.3f} {row['time_ratio']:6.2f}",
            flush=True,
        )
    worst_acc = min(100 * (r["acc_tinydtl"] - r["acc_aeon"]) for r in rows)
    worst_ratio = max(r["time_ratio"] for r in rows)
    ok = worst_acc >= -2.0 and worst_ratio <= 3.0
    print(f"worst accuracy gap {worst_acc:+.1f} points (target >= -2), worst time ratio {worst_ratio:.2f}x "
          f"(target <= 3x): {'OK' if ok else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
