"""The ``tinydtl`` command: ``reproduce``, ``report``, ``book``, ``lessons``, ``sweep`` and ``adaptive``.

``tinydtl reproduce [NAMES...] [--quick] [--out DIR] [--seed N] [--docs FILE]`` runs the lessons,
``tinydtl report [RESULTS] [--out FILE] [--force]`` writes ``docs/results.md`` from a run,
``tinydtl book [--from DIR] [--out DIR]`` builds the website of a run's executed lessons,
``tinydtl lessons`` lists them, ``tinydtl sweep TARGET --grid GRID.toml`` runs a grid on Dask and
``tinydtl adaptive`` the adaptive-τ demo.

Exit status, the same for every command: **0** done; **1** a lesson or sweep point failed, or a claim
is NOT MET; **2** a usage error — a bad option, path or value, or an output that would replace a file
the tool did not write — reported in one line on stderr before anything runs; **130** after Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from pathlib import Path

__all__ = ["main", "build_parser", "UsageError", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED"]

#: A lesson or point failed, or a claim is NOT MET.
EXIT_FAILED = 1
#: A bad option, path or value: one line on stderr, nothing ran.
EXIT_USAGE = 2
#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A command line that cannot run (argparse's errors, raised instead of printing usage and exiting)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _usage(command: str, exc) -> int:
    """Report a usage error of ``tinydtl COMMAND`` in one line; the exit status 2."""
    print(f"tinydtl {command}: {' '.join(str(exc).split())}", file=sys.stderr)
    return EXIT_USAGE


# ----------------------------------------------------------------------------- option values


def _int_at_least(low: int):
    """An argparse type: an integer ``>= low``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    return parse


def _seconds(*, positive: bool):
    """An argparse type: a finite number of seconds, ``> 0`` if ``positive`` else ``>= 0``."""
    rule = "> 0" if positive else ">= 0"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a finite number of seconds {rule}, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(f"must be a finite number of seconds {rule}, got {text}")
        return value

    return parse


# ----------------------------------------------------------------------------- reproduce


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


def _ctrl_c_means_stop() -> None:
    """Raise KeyboardInterrupt on SIGINT, even when a parent ignored it: a non-interactive shell starts
    background jobs (``cmd &``, ``nohup``) with SIGINT ignored, and Python then never raises it."""
    import signal

    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (e.g. called from a worker thread): leave signals alone
        pass


def _reproduce_checks(args) -> list:
    """The lessons to run, after every option was checked (before any kernel starts)."""
    from tinydtl.lab.reproduce import (
        check_docs_target,
        check_run_outputs,
        select_notebooks,
    )

    notebooks = select_notebooks(args.names, args.notebooks)
    if not notebooks:
        raise ValueError("no notebooks to run")
    if args.docs is not None:
        if args.quick or args.names:
            raise ValueError("--docs needs a full run of every lesson (no --quick, no names); nothing ran")
        check_docs_target(args.docs, [p.stem for p in notebooks], name="--docs")
    check_run_outputs(notebooks, args.out, name="--out")
    return notebooks


def _print_verdicts(runs) -> bool:
    """Failures, unmet claims, honest negatives and undecided claims on stderr; whether the run failed."""
    failed = [r for r in runs if not r.ok]
    unmet = [(r.notebook, c) for r in runs for c in r.claims if c.fails]
    for r in failed:
        print(f"FAILED: notebook {r.notebook}: {r.error} (output: {r.output})", file=sys.stderr)
    for nb, c in unmet:
        print(f"NOT MET: {nb}: claim {c.name} ({c.kind or 'no kind'}): {c.describe_measured()}", file=sys.stderr)
    for nb, c in [(r.notebook, c) for r in runs for c in r.claims if c.verdict.startswith("NOT MET (")]:
        print(f"honest negative (not a failure): {nb}: claim {c.name}: {c.honest_negative}", file=sys.stderr)
    for nb, c in [(r.notebook, c) for r in runs for c in r.claims if c.verdict.startswith("undecided")]:
        print(f"undecided (within noise, not a failure): {nb}: claim {c.name}: {c.describe_measured()}",
              file=sys.stderr)
    return bool(failed or unmet)


def _reproduce_run(args, notebooks) -> int:
    from tinydtl.lab.reproduce import RESULTS_NAME, run_all, write_docs, write_report

    rep = run_all(notebooks, args.out, quick=args.quick, seed=args.seed, progress=not args.no_progress)
    results, report = write_report(rep, args.out)
    print(_claim_table(rep.runs))
    print(f"\nresults: {results}\nreport:  {report}")
    if results.name != RESULTS_NAME:
        print(f"tinydtl reproduce: this run failed; kept the previous good results in "
              f"{results.with_name(RESULTS_NAME)} (this run's are in {results.name})", file=sys.stderr)
    if rep.interrupted:
        print("tinydtl reproduce: interrupted (Ctrl-C); finished notebooks' results kept in "
              f"{results}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.docs is not None and not rep.ok:
        print(f"tinydtl reproduce: the run failed, {args.docs} not written (write it from {results} with "
              "tinydtl report if you mean to)", file=sys.stderr)
    elif args.docs is not None:
        command = f"uv run tinydtl reproduce --docs {args.docs}"
        print(f"docs:    {write_docs(rep.to_dict(), args.docs, command=command)}")
    return EXIT_FAILED if _print_verdicts(rep.runs) else 0


def _reproduce(args) -> int:
    try:
        notebooks = _reproduce_checks(args)
    except (ValueError, OSError) as exc:
        return _usage("reproduce", exc)
    try:
        return _reproduce_run(args, notebooks)
    except KeyboardInterrupt:
        print("tinydtl reproduce: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _add_reproduce(sub) -> None:
    rep = sub.add_parser(
        "reproduce",
        help="execute the benchmark notebooks and print claim vs measured",
        description="Execute notebooks with papermill into OUT and write results.json and report.md. "
        "Exits 1 if a notebook fails or a claim is NOT MET (honest negatives, 'undecided (within noise)' and "
        "'not comparable' do not fail), 2 on a bad option or an output that would replace a file tinydtl did "
        "not write (checked before any kernel starts), 130 after Ctrl-C (finished notebooks' results are kept). "
        "A failed run does not replace the results.json of a good one: it goes to results.failed.json.",
    )
    rep.add_argument("names", nargs="*", help="notebooks to run: 02, ilvq_sphere or 02_ilvq_sphere (default: all)")
    rep.add_argument("--quick", action="store_true", help="small, fast settings (as in the tests)")
    rep.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build/)")
    rep.add_argument("--seed", type=_int_at_least(0), default=None, help="override every notebook's SEED (>= 0)")
    rep.add_argument("--notebooks", type=Path, default=None, help="folder of notebooks (default: the suite's)")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.add_argument("--docs", type=Path, default=None,
                     help="after a full, successful run of every lesson, also write this committed results page "
                     "(e.g. docs/results.md)")
    rep.set_defaults(func=_reproduce)


# ----------------------------------------------------------------------------- report, lessons


def _same_file(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).samefile(b)
    except OSError:
        return False


def _report(args) -> int:
    from tinydtl.lab.reproduce import check_docs_target, check_summary, write_docs

    try:
        try:
            summary = json.loads(Path(args.results).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {args.results}: {exc}") from None
        check_summary(summary, source=str(args.results))
        if _same_file(args.results, args.out):
            raise ValueError(f"--out {args.out} is the results file itself; give the page's path (e.g. docs/results.md)")
        problems = [text for flag, text in (("quick", "it is a QUICK run"), ("interrupted", "the run was interrupted"))
                    if summary.get(flag)]
        if problems and not args.force:
            raise ValueError(f"{args.results} is not a full run ({'; '.join(problems)}); use --force to write it anyway")
        check_docs_target(args.out, [nb["notebook"] for nb in summary["notebooks"]], force=args.force, name="--out")
        bench = None
        if args.bench is not None:
            try:
                bench = json.loads(Path(args.bench).read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read --bench {args.bench}: {exc}") from None
            if not isinstance(bench, dict) or not isinstance(bench.get("lessons"), list):
                raise ValueError(f"--bench {args.bench} is not benchmarks/bench_lessons.py's output (no 'lessons' list)")
        command = f"uv run tinydtl report {args.results} --out {args.out}" + (f" --bench {args.bench}" if bench else "")
        page = write_docs(summary, args.out, command=command, force=args.force, bench=bench)
    except (ValueError, OSError) as exc:
        return _usage("report", exc)
    print(page)
    return 0


def _add_report(sub) -> None:
    doc = sub.add_parser(
        "report",
        help="write docs/results.md from a full run's results.json",
        description="Render a full run's results.json (date, machine, seeds, run times, claims by kind) "
        "as the committed Markdown page the README links to. Only a page tinydtl wrote is replaced. "
        "Exits 2 (nothing written) on a file that is not a run's results.json, an --out that is not a page "
        "tinydtl wrote, and, without --force, a QUICK or interrupted run or a run that lacks lessons the page has.",
    )
    doc.add_argument("results", type=Path, nargs="?", default=Path("build/results.json"),
                     help="results.json of a full run (default: build/results.json)")
    doc.add_argument("--out", type=Path, default=Path("docs/results.md"), help="default: docs/results.md")
    doc.add_argument("--force", action="store_true",
                     help="write even from a QUICK or interrupted run, or a run of fewer lessons than the page has")
    doc.add_argument("--bench", type=Path, default=None,
                     help="add the student-scale times and peak memory measured by benchmarks/bench_lessons.py --out")
    doc.set_defaults(func=_report)


def _lessons(args) -> int:
    from tinydtl.lab.reproduce import discover_notebooks

    try:
        paths = discover_notebooks(args.notebooks)
    except OSError as exc:
        return _usage("lessons", exc)
    for path in paths:
        print(path.stem)
    return 0


def _add_lessons(sub) -> None:
    les = sub.add_parser("lessons", help="list the lesson notebooks")
    les.add_argument("--notebooks", type=Path, default=None, help="folder of notebooks (default: the suite's)")
    les.set_defaults(func=_lessons)


def _book(args) -> int:
    from tinydtl.lab.book import BookError, build_book

    try:
        book = build_book(args.source, args.out, binder_repo=args.binder_repo, mathjax=args.mathjax)
    except BookError as exc:
        return _usage("book", exc)
    print(f"book: {book.index} ({len(book.lessons)} lessons, {len(book.warnings)} Sphinx warnings, {book.seconds:.0f} s)")
    return 0


def _add_book(sub) -> None:
    bk = sub.add_parser("book", help="build the website of a run's executed lessons (offline)",
                        description="Build a static website (Sphinx, myst-nb, sphinx-book-theme) from the executed "
                        "lessons a run wrote: a page per lesson with its figures, claims table and a Binder link, an "
                        "index and every claim of the run. Nothing is downloaded; MathJax comes from Debian's "
                        "libjs-mathjax. Exits 2 if the run's folder holds no executed lessons or --out holds files "
                        "tinydtl did not write.")
    bk.add_argument("--from", dest="source", type=Path, default=Path("build/full"),
                    help="the folder `tinydtl reproduce --out` wrote (default: build/full)")
    bk.add_argument("--out", type=Path, default=Path("build/book"), help="the website's folder (default: build/book)")
    bk.add_argument("--binder-repo", default=None, help="OWNER/NAME on GitHub for the Binder links (default: origin)")
    bk.add_argument("--mathjax", type=Path, default=None, help="a MathJax 2 folder (default: Debian's libjs-mathjax)")
    bk.set_defaults(func=_book)


# ----------------------------------------------------------------------------- sweep


def _sweep(args) -> int:
    from tinydtl.lab.sweep import GridError, SweepError, load_grid, run_sweep

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
            dashboard_address=args.dashboard_address,
        )
    except SweepError as exc:
        return _usage("sweep", exc)
    print(result.summary())
    if result.plot:
        print(f"summary plot: {result.plot}")
    return 0 if result.ok else EXIT_FAILED


def _add_sweep(sub) -> None:
    from tinydtl.lab.sweep.run import LOOPBACK_DASHBOARD

    swp = sub.add_parser(
        "sweep",
        help="run a lesson or package function over a parameter grid on Dask",
        description="Run TARGET (a lesson, e.g. 03, or a package function 'module:function') at every point "
        "of the TOML grid ([grid]: name = [values], [fixed]: name = value) as Dask tasks, on a local "
        "cluster (one process per core, listening on 127.0.0.1 only) or on --scheduler. Finished points in "
        "OUT are skipped. Writes OUT/results.parquet, OUT/results.csv and OUT/summary.png. Exits 2 if the grid, "
        "an option or OUT is invalid (nothing runs), 1 if a point failed.",
    )
    swp.add_argument("target", help="lesson (02, ilvq_sphere, path.ipynb) or 'module:function'")
    swp.add_argument("--grid", type=Path, required=True, help="TOML grid file with [grid] and optional [fixed]")
    swp.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (default: a new local cluster)")
    swp.add_argument("--workers", type=_int_at_least(1), default=None,
                     help="local cluster worker processes (default: one per core)")
    swp.add_argument("--out", type=Path, default=Path("build/sweep"), help="output folder (default: build/sweep/)")
    swp.add_argument("--quick", action="store_true", help="lessons: inject QUICK=True")
    swp.add_argument("--retries", type=_int_at_least(0), default=2,
                     help="Dask retries of a task that raised outside the point (default 2)")
    swp.add_argument("--allow-tff", action="store_true", help="let points start TensorFlow Federated (~2.5 GB per worker)")
    swp.add_argument("--notebooks", type=Path, default=None, help="folder of lessons (default: the suite's)")
    swp.add_argument("--value", default=None, help="claim or metric for the heat map (default: the first recorded)")
    swp.add_argument("--rows", default=None, help="grid parameter on the heat map's rows")
    swp.add_argument("--cols", default=None, help="grid parameter on the heat map's columns")
    swp.add_argument("--dashboard-address", default=LOOPBACK_DASHBOARD,
                     help=f"where the local cluster's dashboard listens (default {LOOPBACK_DASHBOARD}: this machine "
                     "only); ':8787' shares it on every interface, without authentication")
    swp.add_argument("--no-progress", action="store_true", help="no progress bar and no dashboard link")
    swp.set_defaults(func=_sweep)


# ----------------------------------------------------------------------------- adaptive


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


def _add_adaptive(sub) -> None:
    ada = sub.add_parser(
        "adaptive",
        help="run the adaptive-τ demo (5 edge nodes, smooth SVM on MNIST even/odd, time budget)",
        description="Distributed gradient descent with the adaptive aggregation frequency of Wang et al. "
        "(INFOCOM 2018). --real runs every node as its own process over 127.0.0.1 and measures time.",
    )
    ada.add_argument("--case", type=int, choices=[1, 2, 3, 4], default=1, help="data distribution (default 1)")
    ada.add_argument("--budget", type=_seconds(positive=True), default=15.0, help="seconds of budget (default 15)")
    ada.add_argument("--tau", type=_int_at_least(1), default=None, help="a fixed τ instead of the adaptive one")
    ada.add_argument("--delay", type=_seconds(positive=False), default=0.0, help="added delay per aggregation, seconds")
    ada.add_argument("--nodes", type=_int_at_least(1), default=5, help="edge nodes (default 5)")
    ada.add_argument("--real", action="store_true", help="nodes as separate processes, measured time")
    ada.add_argument("--seed", type=_int_at_least(0), default=0)
    ada.add_argument("--no-progress", action="store_true", help="no progress bar")
    ada.set_defaults(func=_adaptive)


# ----------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The ``tinydtl`` parser; its errors raise :class:`UsageError` instead of exiting."""
    parser = _Parser(prog="tinydtl", description="Distributed TinyML lessons and benchmark reproductions.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_reproduce, _add_report, _add_book, _add_lessons, _add_sweep, _add_adaptive):
        add(sub)
    return parser


def main(argv=None) -> int:
    """Run ``tinydtl ARGV``; returns the exit status (0, 1 failed, 2 usage error, 130 Ctrl-C)."""
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra:
            raise UsageError(f"tinydtl {args.command}: unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        print(f"{exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    _ctrl_c_means_stop()  # every command: reproduce, sweep, adaptive --real
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
