"""``tinydtl`` command line: ``tinydtl reproduce [NAMES...] [--quick] [--out DIR] [--docs FILE]``,
``tinydtl report [RESULTS] [--out FILE]``, ``tinydtl lessons`` and ``tinydtl sweep TARGET --grid GRID.toml``."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

__all__ = ["main"]


def _claim_table(runs) -> str:
    rows = [("notebook", "kind", "claim", "measured", "verdict")]
    for run in runs:
        for c in run.claims:
            rows.append((run.notebook, c.kind or "?", c.claim, c.describe_measured(), c.verdict))
        if not run.ok:
            rows.append((run.notebook, "", "notebook ran to the end", run.error,
                         "INTERRUPTED" if run.interrupted else "FAILED"))
    widths = [min(max(len(r[i]) for r in rows), cap) for i, cap in enumerate((22, 12, 56, 36, 14))]
    out = []
    for k, row in enumerate(rows):
        cells = [textwrap.wrap(text, w) or [""] for text, w in zip(row, widths)]
        for line in range(max(map(len, cells))):
            out.append(
                "  ".join((c[line] if line < len(c) else "").ljust(w) for c, w in zip(cells, widths))
            )
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130


def _ctrl_c_means_stop() -> None:
    """Raise KeyboardInterrupt on SIGINT, even when a parent ignored it: a non-interactive shell starts
    background jobs (``cmd &``, ``nohup``) with SIGINT ignored, and Python then never raises it."""
    import signal

    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (e.g. called from a worker thread): leave signals alone
        pass


def _reproduce(args) -> int:
    try:
        return _reproduce_run(args)
    except KeyboardInterrupt:
        print("tinydtl reproduce: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _reproduce_run(args) -> int:
    from tinydtl.lab.reproduce import (
        run_all,
        select_notebooks,
        write_docs,
        write_report,
    )

    try:
        notebooks = select_notebooks(args.names, args.notebooks)
    except (ValueError, FileNotFoundError) as exc:
        print(f"tinydtl reproduce: {exc}", file=sys.stderr)
        return 2
    if not notebooks:
        print("tinydtl reproduce: no notebooks to run", file=sys.stderr)
        return 2
    rep = run_all(notebooks, args.out, quick=args.quick, seed=args.seed, progress=not args.no_progress)
    results, report = write_report(rep, args.out)
    runs = rep.runs
    print(_claim_table(runs))
    print(f"\nresults: {results}\nreport:  {report}")
    if rep.interrupted:
        print("tinydtl reproduce: interrupted (Ctrl-C); finished notebooks' results kept in "
              f"{results}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.docs is not None:
        if args.quick or args.names:
            print("tinydtl reproduce: --docs needs a full run of every lesson (no --quick, no names); "
                  "not written", file=sys.stderr)
        else:
            print(f"docs:    {write_docs(rep.to_dict(), args.docs, command='uv run tinydtl reproduce --docs ' + str(args.docs))}")
    failed = [r for r in runs if not r.ok]
    unmet = [(r.notebook, c) for r in runs for c in r.claims if c.fails]
    for r in failed:
        print(f"FAILED: notebook {r.notebook}: {r.error} (output: {r.output})", file=sys.stderr)
    for nb, c in unmet:
        print(f"NOT MET: {nb}: claim {c.name} ({c.kind or 'no kind'}): {c.describe_measured()}", file=sys.stderr)
    honest = [(r.notebook, c) for r in runs for c in r.claims if c.verdict.startswith("NOT MET (")]
    for nb, c in honest:
        print(f"honest negative (not a failure): {nb}: claim {c.name}: {c.honest_negative}", file=sys.stderr)
    for nb, c in [(r.notebook, c) for r in runs for c in r.claims if c.verdict.startswith("undecided")]:
        print(f"undecided (within noise, not a failure): {nb}: claim {c.name}: {c.describe_measured()}",
              file=sys.stderr)
    return 1 if failed or unmet else 0


def _report(args) -> int:
    import json

    from tinydtl.lab.reproduce import write_docs

    try:
        summary = json.loads(Path(args.results).read_text())
    except (OSError, ValueError) as exc:
        print(f"tinydtl report: cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    problems = []
    if summary.get("quick"):
        problems.append("it is a QUICK run")
    if summary.get("interrupted"):
        problems.append("the run was interrupted")
    if problems and not args.force:
        print(f"tinydtl report: {args.results} is not a full run ({'; '.join(problems)}); "
              "use --force to write it anyway", file=sys.stderr)
        return 2
    print(write_docs(summary, args.out, command=f"uv run tinydtl report {args.results} --out {args.out}"))
    return 0


def _lessons(args) -> int:
    from tinydtl.lab.reproduce import discover_notebooks

    for path in discover_notebooks(args.notebooks):
        print(path.stem)
    return 0


def _sweep(args) -> int:
    from tinydtl.lab.sweep import GridError, load_grid, run_sweep

    try:
        grid, fixed = load_grid(args.grid)
        if args.quick:
            if "QUICK" in grid or "QUICK" in fixed:
                raise GridError("--quick and a QUICK entry in the grid file: keep one")
            fixed = {**fixed, "QUICK": True}
        result = run_sweep(
            args.target, grid, fixed=fixed, out=args.out, scheduler=args.scheduler, workers=args.workers,
            retries=args.retries, allow_tff=args.allow_tff, progress=not args.no_progress,
            notebooks=args.notebooks, value=args.value, rows=args.rows, cols=args.cols,
        )
    except GridError as exc:
        print(f"tinydtl sweep: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if result.plot:
        print(f"summary plot: {result.plot}")
    return 0 if result.ok else 1


def _adaptive(args) -> int:
    """The demo from a terminal: 5 nodes learn even-vs-odd MNIST under a time budget, τ chosen live."""
    import numpy as np

    from tinydtl.data.datasets import load_mnist
    from tinydtl.papers.adaptive_tau import data_case, even_odd, run_adaptive_tau

    (x, y), (xt, yt) = load_mnist()
    X, Xt = x.reshape(len(x), -1) / 255.0, xt.reshape(len(xt), -1) / 255.0
    parts = data_case(y.astype(np.int64), args.nodes, args.case)
    try:
        hist = run_adaptive_tau(X, even_odd(y), parts, x_test=Xt, y_test=even_odd(yt),
                                tau=args.tau, budget=args.budget, delay=args.delay, real=args.real, seed=args.seed,
                                progress=not args.no_progress)
    except KeyboardInterrupt:
        print("tinydtl adaptive: interrupted; every node process was stopped", file=sys.stderr)
        return 130
    df = hist.to_frame(initial=False)
    cols = ["tau", "spent", "train_loss", "accuracy", "beta", "rho", "delta"]
    print(df[cols].to_string(float_format=lambda v: f"{v:.4g}"))
    mode = "real processes, measured time" if args.real else "simulated costs"
    print(f"case {args.case}, {mode}: {hist.rounds} aggregations; returned model: loss "
          f"{hist.config['final_loss']:.4f}, accuracy {hist.config['final_accuracy']:.2%}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="tinydtl", description="Distributed TinyML lessons and benchmark reproductions."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser(
        "reproduce",
        help="execute the benchmark notebooks and print claim vs measured",
        description="Execute notebooks with papermill into OUT and write results.json and report.md. "
        "Exits 1 if a notebook fails or a claim is NOT MET (honest negatives, 'undecided (within noise)' and 'not comparable' do "
        "not fail), 130 after Ctrl-C (finished notebooks' results are kept).",
    )
    rep.add_argument("names", nargs="*", help="notebooks to run: 02, ilvq_sphere or 02_ilvq_sphere (default: all)")
    rep.add_argument("--quick", action="store_true", help="small, fast settings (as in the tests)")
    rep.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build/)")
    rep.add_argument("--seed", type=int, default=None, help="override every notebook's SEED")
    rep.add_argument("--notebooks", type=Path, default=None, help="folder of notebooks (default: the suite's)")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.add_argument("--docs", type=Path, default=None,
                     help="after a full run of every lesson, also write this committed results page "
                     "(e.g. docs/results.md)")
    rep.set_defaults(func=_reproduce)

    doc = sub.add_parser(
        "report",
        help="write docs/results.md from a full run's results.json",
        description="Render a full run's results.json (date, machine, seeds, run times, claims by kind) "
        "as the committed Markdown page the README links to.",
    )
    doc.add_argument("results", type=Path, nargs="?", default=Path("build/results.json"),
                     help="results.json of a full run (default: build/results.json)")
    doc.add_argument("--out", type=Path, default=Path("docs/results.md"), help="default: docs/results.md")
    doc.add_argument("--force", action="store_true", help="write even from a QUICK or interrupted run")
    doc.set_defaults(func=_report)

    les = sub.add_parser("lessons", help="list the lesson notebooks")
    les.add_argument("--notebooks", type=Path, default=None)
    les.set_defaults(func=_lessons)

    swp = sub.add_parser(
        "sweep",
        help="run a lesson or package function over a parameter grid on Dask",
        description="Run TARGET (a lesson, e.g. 03, or a package function 'module:function') at every point "
        "of the TOML grid ([grid]: name = [values], [fixed]: name = value) as Dask tasks, on a local "
        "cluster (one process per core) or on --scheduler. Finished points in OUT are skipped. Writes "
        "OUT/results.parquet, OUT/results.csv and OUT/summary.png. Exits 2 if the grid is invalid (nothing "
        "runs), 1 if a point failed.",
    )
    swp.add_argument("target", help="lesson (02, ilvq_sphere, path.ipynb) or 'module:function'")
    swp.add_argument("--grid", type=Path, required=True, help="TOML grid file with [grid] and optional [fixed]")
    swp.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (default: a new local cluster)")
    swp.add_argument("--workers", type=int, default=None, help="local cluster worker processes (default: one per core)")
    swp.add_argument("--out", type=Path, default=Path("build/sweep"), help="output folder (default: build/sweep/)")
    swp.add_argument("--quick", action="store_true", help="lessons: inject QUICK=True")
    swp.add_argument("--retries", type=int, default=2, help="Dask retries of a task that raised outside the point (default 2)")
    swp.add_argument("--allow-tff", action="store_true", help="let points start TensorFlow Federated (~2.5 GB per worker)")
    swp.add_argument("--notebooks", type=Path, default=None, help="folder of lessons (default: the suite's)")
    swp.add_argument("--value", default=None, help="claim or metric for the heat map (default: the first recorded)")
    swp.add_argument("--rows", default=None, help="grid parameter on the heat map's rows")
    swp.add_argument("--cols", default=None, help="grid parameter on the heat map's columns")
    swp.add_argument("--no-progress", action="store_true", help="no progress bar and no dashboard link")
    swp.set_defaults(func=_sweep)

    ada = sub.add_parser(
        "adaptive",
        help="run the adaptive-τ demo (5 edge nodes, smooth SVM on MNIST even/odd, time budget)",
        description="Distributed gradient descent with the adaptive aggregation frequency of Wang et al. "
        "(INFOCOM 2018). --real runs every node as its own process over 127.0.0.1 and measures time.",
    )
    ada.add_argument("--case", type=int, choices=[1, 2, 3, 4], default=1, help="data distribution (default 1)")
    ada.add_argument("--budget", type=float, default=15.0, help="seconds of budget (default 15)")
    ada.add_argument("--tau", type=int, default=None, help="a fixed τ instead of the adaptive one")
    ada.add_argument("--delay", type=float, default=0.0, help="added delay per aggregation, seconds")
    ada.add_argument("--nodes", type=int, default=5, help="edge nodes (default 5)")
    ada.add_argument("--real", action="store_true", help="nodes as separate processes, measured time")
    ada.add_argument("--seed", type=int, default=0)
    ada.add_argument("--no-progress", action="store_true", help="no progress bar")
    ada.set_defaults(func=_adaptive)

    args = parser.parse_args(argv)
    _ctrl_c_means_stop()  # every command: reproduce, sweep, adaptive --real
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
