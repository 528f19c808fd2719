"""A 16-point grid: `tinydtl.lab.sweep` on a 2-worker Dask LocalCluster vs the sequential loop, in one run.

    uv run python benchmarks/bench_sweep.py [--workers 2] [--rounds 40] [--train-size 60000] [--repeat 3]

Grid: clients {5, 10} × Dirichlet α {0.1, 0.5, 1, 10} × seed {0, 1} of
`tinydtl.lab.sweep.points:fedavg_mnist` (numpy FedAvg engine on MNIST), 16 points of about 4 s each by
default (40 rounds on all 60,000 images): with points of half a second, Dask's per-task cost and the first
task's imports on each worker take a visible share and the ratio measures them, not the sweep (measured on
a quiet machine: 1.63× median at 10 rounds / 30,000 images, 1.78× at the defaults). Timed side by side:

* the sequential loop in this process, ``for p in points: fedavg_mnist(**p)``, limited to one BLAS
  thread (what each Dask worker gets: Dask's nanny sets OMP/MKL/OpenBLAS threads to 1; the loop
  with numpy's default threads is timed once for reference);
* `run_sweep` on a LocalCluster of ``--workers`` single-threaded processes, started beforehand (the
  ratio is about the sweep, not the cluster's start-up, which is reported separately), into a fresh
  output folder each time.

All are warmed up first (imports and the MNIST load in every process, and one 1-point sweep so the
client has imported pandas, pyarrow and matplotlib). Loop and sweep are timed in ``--repeat``
alternating pairs, so that a change in the machine's load hits both alike; the script prints each
pair's ratio, the best and the median. The numbers must agree exactly (same seeds), which the
script checks. Seconds per point on the workers vs in the loop show contention: on a shared
machine other processes take cores and the ratio drops accordingly. With Linux's autogroup
scheduling (``/proc/sys/kernel/sched_autogroup_enabled`` = 1, printed) all processes of one session
share one CPU share: while other sessions keep the cores busy, two workers get no more CPU than the
loop did and the ratio tends to 1× — then it measures the machine, not the sweep.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--train-size", type=int, default=60000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from distributed import Client
    from threadpoolctl import threadpool_limits

    from tinydtl.lab.sweep import expand_grid, local_cluster, run_sweep
    from tinydtl.lab.sweep.points import fedavg_mnist

    grid = {"clients": [5, 10], "alpha": [0.1, 0.5, 1.0, 10.0], "seed": [0, 1]}
    fixed = {"rounds": args.rounds, "train_size": args.train_size, "test_size": 2000}
    points = expand_grid(grid, fixed)
    warm = dict(clients=2, alpha=1.0, rounds=1, train_size=200, test_size=100)
    try:
        autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        autogroup = "n/a"
    print(f"{len(points)} points, {args.workers} workers, {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()[0]:.2f}; sched_autogroup_enabled: {autogroup}")

    def best_of(run):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            values = run()
            times.append(time.perf_counter() - t0)
        return min(times), values

    def loop():
        return [fedavg_mnist(**p)["final_accuracy"] for p in points]

    fedavg_mnist(**warm)
    t0 = time.perf_counter()
    sequential = loop()  # default BLAS threads (both cores for numpy's matrix products), for reference
    t_seq = time.perf_counter() - t0

    t0 = time.perf_counter()
    with local_cluster(args.workers) as cluster, Client(cluster) as client:  # on 127.0.0.1, as tinydtl sweep
        t_start = time.perf_counter() - t0
        client.run(fedavg_mnist, **warm)
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as out:
            run_sweep(fedavg_mnist, {"clients": [2]}, fixed={k: v for k, v in warm.items() if k != "clients"},
                      out=out, scheduler=cluster, progress=False)

        def sweep():
            with tempfile.TemporaryDirectory(prefix="bench-sweep-") as out:
                return run_sweep(fedavg_mnist, grid, fixed=fixed, out=out, scheduler=cluster, progress=False)

        # alternate loop and sweep, so that a change in the machine's load hits both alike
        pairs = []
        for _ in range(args.repeat):
            with threadpool_limits(limits=1):
                t0, c0 = time.perf_counter(), time.process_time()
                sequential_1 = loop()
                t_loop, cpu_loop = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            result = sweep()
            pairs.append((t_loop, time.perf_counter() - t0, result, cpu_loop))
    for _, _, result, _ in pairs:
        dask_acc = [r["metrics"]["final_accuracy"] for r in result.records]
        assert result.ok and dask_acc == sequential_1, "the sweep must give the loop's numbers"
    assert sequential == sequential_1, "BLAS threads changed a result"

    print(f"sequential loop, default BLAS threads: {t_seq:6.2f} s ({t_seq / len(points):.2f} s/point)")
    print(f"cluster start ({args.workers} workers): {t_start:.1f} s (not in the ratios)")
    for k, (t_loop, t_dask, result, cpu_loop) in enumerate(pairs, 1):
        on_workers = sum(r["seconds"] for r in result.records) / len(points)
        cpu_workers = sum(r["cpu_seconds"] for r in result.records) / len(points)
        print(f"pair {k}: loop (1 BLAS thread) {t_loop:6.2f} s, run_sweep {t_dask:6.2f} s -> "
              f"speed-up {t_loop / t_dask:.2f}x; per point: wall {t_loop / len(points):.2f} s in the loop, "
              f"{on_workers:.2f} s on the workers; CPU {cpu_loop / len(points):.2f} s in the loop, "
              f"{cpu_workers:.2f} s on the workers; time outside the points "
              f"{t_dask - on_workers * len(points) / args.workers:.2f} s")
    ratios = sorted(t_loop / t_dask for t_loop, t_dask, _, _ in pairs)
    print(f"speed-up of run_sweep on {args.workers} workers over the loop: best {ratios[-1]:.2f}x, "
          f"median {ratios[len(ratios) // 2]:.2f}x")
    cpu_loop = min(c for _, _, _, c in pairs)
    cpu_points = min(sum(r["cpu_seconds"] for r in res.records) for _, _, res, _ in pairs)
    print(f"from CPU seconds alone (what free cores would give, sweep overhead left out): "
          f"{cpu_loop / (cpu_points / args.workers):.2f}x")
    print("(the same CPU seconds per point but more wall seconds on the workers than in the loop means "
          "they waited for a core: other processes on the machine)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
