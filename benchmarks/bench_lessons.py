"""Every lesson as a student runs it: "Run All" with the lesson's own defaults, wall time and peak memory.

    uv run python benchmarks/bench_lessons.py [NAMES ...] [--out build/bench_lessons.json] [--budget-s 90]
                                              [--budget-gib 2]

Each lesson is executed by papermill with **no parameter injected** except ``RESULTS_PATH`` (a temporary
file), in a fresh kernel — what a student gets on opening the lesson and pressing Run All. While it runs, a
sampler adds up the resident memory (RSS) of the kernel and **all its descendants** (TensorFlow
Federated's ``worker_binary``, Dask workers, node processes) every 0.1 s; the peak of that sum is the
lesson's memory (the quantity a 2 GB Binder session limits). Time is the wall time of the notebook's
execution, kernel start included. Prints one line per lesson and exits 1 if any lesson exceeds a budget
(defaults: 90 s, 2 GiB); ``--out`` writes the numbers as JSON (``docs/results.md`` quotes them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinydtl.lab.reproduce import discover_notebooks  # noqa: E402
from tinydtl.runtime.processes import no_stray_processes  # noqa: E402

GIB = 1024**3
#: Seconds one cell may run. With no limit nbclient waits on the kernel with no timeout at all, and a reply
#: it misses (seen intermittently after a widget cell) stalls the benchmark forever instead of failing.
CELL_TIMEOUT_S = 600


class PeakMemory:
    """Peak summed RSS of the processes started after ``start()`` below this process (kernels and their children)."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self.me = psutil.Process()

    def sample(self) -> int:
        total = 0
        for child in self.me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(self.interval)

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


def run_lesson(path: Path) -> dict:
    import papermill as pm

    # as tinydtl reproduce: interact draws its figure once with the defaults (a live widget without a
    # browser to answer it can leave the kernel waiting); the cell still runs what a student's does
    os.environ["TINYDTL_HEADLESS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        results = Path(tmp) / f"{path.stem}.results.json"
        error = None
        t0 = time.perf_counter()
        with PeakMemory() as mem, no_stray_processes():
            try:
                pm.execute_notebook(str(path), str(out), parameters={"RESULTS_PATH": str(results)},
                                    cwd=str(path.parent), progress_bar=False, kernel_name="python3",
                                    execution_timeout=CELL_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - report and go on with the next lesson
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        seconds = time.perf_counter() - t0
    return {"lesson": path.stem, "seconds": round(seconds, 1), "peak_gib": round(mem.peak / GIB, 3), "error": error}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="lessons to run (a prefix such as 03 is enough); default: all")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--budget-s", type=float, default=90.0)
    parser.add_argument("--budget-gib", type=float, default=2.0)
    args = parser.parse_args(argv)
    lessons = [p for p in discover_notebooks() if not args.names or any(p.stem.startswith(n) for n in args.names)]
    if not lessons:
        parser.error(f"no lesson matches {args.names}")
    rows = []
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; budgets {args.budget_s:.0f} s, "
          f"{args.budget_gib:g} GiB")
    for path in lessons:
        row = run_lesson(path)
        rows.append(row)
        over = row["seconds"] > args.budget_s or row["peak_gib"] > args.budget_gib or row["error"]
        print(f"{'✘' if over else '✔'} {row['lesson']:28s} {row['seconds']:7.1f} s  {row['peak_gib']:6.2f} GiB"
              + (f"  {row['error']}" if row["error"] else ""), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "load": os.getloadavg()[0]},
                                        "budget_s": args.budget_s, "budget_gib": args.budget_gib,
                                        "lessons": rows}, indent=1))
    bad = [r for r in rows if r["seconds"] > args.budget_s or r["peak_gib"] > args.budget_gib or r["error"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
