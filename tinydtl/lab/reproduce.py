"""Execute the lesson notebooks with papermill and report *claim vs measured*.

This is the one code path behind ``tinydtl reproduce`` and the notebook tests: each notebook is
run headless with its ``parameters`` cell overridden (``QUICK``, ``RESULTS_PATH`` and optionally
``SEED``), its :class:`~tinydtl.lab.claims.ClaimRecorder` writes the headline numbers and the parameters it
ran with to ``RESULTS_PATH``, and the runner gathers them into ``results.json`` (rewritten atomically
after every notebook) and ``report.md`` (one table per kind of claim, then the run times).

Ctrl-C (SIGINT to the runner's process group) stops the run: the notebook is executed in a worker
thread, so papermill's event loop cannot swallow the signal; the kernel, which jupyter_client starts
in its own session, is terminated together with everything in that session (TensorFlow Federated's
``worker_binary``), the finished notebooks' results are kept and the report says "interrupted".
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinydtl.lab.claims import KINDS, Claim, load_results, write_json_atomic
from tinydtl.runtime.paths import repo_path
from tinydtl.runtime.processes import no_stray_processes

__all__ = [
    "NotebookRun",
    "Reproduction",
    "default_notebook_dir",
    "discover_notebooks",
    "select_notebooks",
    "run_notebook",
    "run_all",
    "kernel_sessions",
    "terminate_sessions",
    "machine_info",
    "report_markdown",
    "write_report",
    "write_docs",
]

_NOTEBOOK_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")

#: Seconds to wait for a notebook's worker thread to notice its kernel is gone after Ctrl-C.
INTERRUPT_GRACE = 5.0


def default_notebook_dir() -> Path:
    return repo_path("notebooks")


def discover_notebooks(directory: str | Path | None = None) -> list[Path]:
    """The numbered lessons ``NN_name.ipynb`` in ``directory``, in order."""
    directory = Path(directory) if directory is not None else default_notebook_dir()
    if not directory.is_dir():
        raise FileNotFoundError(f"notebook directory {directory} does not exist")
    return sorted(p for p in directory.iterdir() if _NOTEBOOK_RE.match(p.name))


def select_notebooks(names, directory: str | Path | None = None) -> list[Path]:
    """Pick notebooks by full stem (``02_ilvq_sphere``), number (``02``) or name (``ilvq_sphere``)."""
    available = discover_notebooks(directory)
    if not names:
        return available
    chosen = []
    for name in names:
        key = Path(name).stem
        hits = [p for p in available if key in (p.stem, p.stem[:2], p.stem[3:])]
        if not hits:
            listing = ", ".join(p.stem for p in available) or "none"
            raise ValueError(f"no notebook matches {name!r}; available: {listing}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


@dataclass
class NotebookRun:
    """What happened when one notebook ran."""

    notebook: str
    output: str
    seconds: float
    ok: bool
    error: str = ""
    failed_cell: int | None = None
    interrupted: bool = False
    quick: bool | None = None
    seed: int | None = None
    parameters: dict = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def claims_passed(self) -> bool:
        """No claim fails (honest negatives and non-comparable claims do not fail)."""
        return not any(c.fails for c in self.claims)

    def to_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "output": self.output,
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "interrupted": self.interrupted,
            "error": self.error,
            "failed_cell": self.failed_cell,
            "quick": self.quick,
            "seed": self.seed,
            "parameters": self.parameters,
            "claims": [c.to_dict() for c in self.claims],
            "metrics": self.metrics,
        }


@dataclass
class Reproduction:
    """A whole ``tinydtl reproduce`` run: the notebooks that ran, and whether it was interrupted."""

    runs: list[NotebookRun]
    quick: bool
    seed: int | None = None
    interrupted: bool = False
    started: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.ok and r.claims_passed for r in self.runs)

    def to_dict(self) -> dict:
        return {
            "started": self.started,
            "seconds": round(self.seconds, 1),
            "quick": self.quick,
            "seed": self.seed,
            "interrupted": self.interrupted,
            "ok": self.ok,
            "machine": machine_info(),
            "notebooks": [r.to_dict() for r in self.runs],
        }


def machine_info() -> dict:
    """CPU model, cores, memory, OS and Python of this machine (for the results' provenance)."""
    cpu = platform.processor() or platform.machine()
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory_gb = round(kb / 2**20, 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def _describe_failure(exc) -> tuple[str, int | None]:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        cell = exc.exec_count if exc.exec_count is not None else exc.cell_index
        return f"cell {cell} (index {exc.cell_index}) raised {exc.ename}: {exc.evalue}", exc.cell_index
    return f"{type(exc).__name__}: {exc}", None


# --------------------------------------------------------------------------- stopping kernels on Ctrl-C


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp, session, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _live_pids() -> list[int]:
    proc = Path("/proc")
    return [int(p.name) for p in proc.iterdir() if p.name.isdigit()] if proc.is_dir() else []


def kernel_sessions(parent: int | None = None) -> set[int]:
    """Session ids of the children of ``parent`` (default: this process) that lead their own session.

    jupyter_client starts every kernel with ``start_new_session=True``: the kernel, and whatever it
    starts (TensorFlow Federated's ``worker_binary``), live in a session whose id is the kernel's PID.
    """
    parent = os.getpid() if parent is None else parent
    sessions = set()
    for pid in _live_pids():
        stat = _proc_stat(pid)
        if stat and stat[0] != "Z" and int(stat[1]) == parent and int(stat[3]) == pid:
            sessions.add(pid)
    return sessions


def terminate_sessions(sessions, grace: float = 3.0) -> list[int]:
    """SIGTERM every live process in ``sessions``, then SIGKILL what is left after ``grace`` s."""
    sessions = set(sessions)
    if not sessions:
        return []

    def members():
        out = []
        for pid in _live_pids():
            stat = _proc_stat(pid)
            if stat and stat[0] != "Z" and int(stat[3]) in sessions:
                out.append(pid)
        return out

    victims = members()
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and members():
        time.sleep(0.05)
    for pid in members():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return victims


# --------------------------------------------------------------------------- running notebooks


def run_notebook(
    path: str | Path,
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int | None = None,
    kernel_name: str = "python3",
    cell_timeout: int | None = 600,
    parameters: dict | None = None,
) -> NotebookRun:
    """Execute one notebook into ``out_dir`` and collect its recorded claims.

    A notebook that raises is reported (``ok=False``, with the failing cell), not re-raised.
    ``cell_timeout`` (seconds; the longest cell of a full run takes under 3 min) turns a hung kernel
    into a failure naming the notebook instead of a run that never ends.
    Any TFF worker process started during the run is terminated afterwards.
    Ctrl-C (KeyboardInterrupt in the main thread) terminates the kernel's session and returns a run
    with ``interrupted=True`` within a few seconds.
    """
    path = Path(path).resolve()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    results_path = out_dir / f"{path.stem}.results.json"
    results_path.unlink(missing_ok=True)
    params = {"QUICK": bool(quick), "RESULTS_PATH": str(results_path)}
    if seed is not None:
        params["SEED"] = int(seed)
    params.update(parameters or {})
    # kernels inherit the environment: keep TensorFlow's C++ start-up chatter out of the report
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TINYDTL_HEADLESS"] = "1"  # tinydtl.lab.widgets.interact: no live widgets in a batch run
    outcome: dict = {}

    def execute():
        import papermill as pm

        try:
            pm.execute_notebook(
                str(path),
                str(output),
                parameters=params,
                kernel_name=kernel_name,
                cwd=str(path.parent),
                progress_bar=False,
                log_output=False,
                execution_timeout=cell_timeout,
            )
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, not raised
            outcome["exc"] = exc

    start = time.perf_counter()
    interrupted = False
    with no_stray_processes():
        # In a worker thread nbclient cannot install its own SIGINT handler (which only schedules a
        # kernel shutdown and lets the run go on); the main thread gets KeyboardInterrupt instead.
        worker = threading.Thread(target=execute, name=f"papermill {path.stem}", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            interrupted = True
            terminate_sessions(kernel_sessions())
            worker.join(INTERRUPT_GRACE)
    run = NotebookRun(notebook=path.stem, output=str(output), seconds=time.perf_counter() - start, ok=True)
    if interrupted:
        run.ok, run.interrupted, run.error = False, True, "interrupted (Ctrl-C): the kernel was shut down"
    elif "exc" in outcome:
        run.ok = False
        run.error, run.failed_cell = _describe_failure(outcome["exc"])
    if results_path.is_file():
        data = load_results(results_path)
        run.claims, run.metrics = data["claims"], data["metrics"]
        run.parameters, run.quick, run.seed = data["parameters"], data.get("quick"), data.get("seed")
    elif run.ok:
        run.ok = False
        run.error = f"the notebook recorded no results (no ClaimRecorder wrote {results_path.name})"
    return run


def run_all(
    notebooks,
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int | None = None,
    progress: bool = True,
) -> Reproduction:
    """Run several notebooks in order, with a progress bar; ``results.json`` is rewritten after each.

    Ctrl-C stops after shutting down the running notebook's kernel; the returned
    :class:`Reproduction` keeps the finished notebooks and has ``interrupted=True``.
    """
    from tqdm.auto import tqdm

    rep = Reproduction(runs=[], quick=quick, seed=seed,
                       started=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    start = time.perf_counter()
    bar = tqdm(list(notebooks), desc="notebooks", unit="nb", disable=not progress)
    try:
        for path in bar:
            bar.set_postfix_str(Path(path).stem)
            run = run_notebook(path, out_dir, quick=quick, seed=seed)
            rep.runs.append(run)
            rep.seconds = time.perf_counter() - start
            if run.interrupted:
                rep.interrupted = True
                break
            write_json_atomic(Path(out_dir) / "results.json", rep.to_dict())
    except KeyboardInterrupt:
        rep.interrupted = True
        terminate_sessions(kernel_sessions())
    finally:
        bar.close()
    rep.seconds = time.perf_counter() - start
    return rep


# --------------------------------------------------------------------------- reports


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _claim_dicts(summary: dict):
    for nb in summary["notebooks"]:
        for c in nb["claims"]:
            yield nb["notebook"], c if isinstance(c, dict) else c.to_dict()


def _measured(c: dict) -> str:
    claim = Claim(**{k: v for k, v in c.items() if k in Claim.__dataclass_fields__})
    return claim.describe_measured()


def _verdict(c: dict) -> str:
    v = c["verdict"]
    if c.get("honest_negative") and v.startswith("NOT MET"):
        v += f": {c['honest_negative']}"
    if v.startswith("undecided"):
        v += f" ({c.get('noise_reason') or 'noise band'}: ±{c.get('noise', 0):.2g})"
    if c.get("verdict") == "not comparable":
        v += " (would be met)" if c.get("passed") else " (would not be met)"
    return v


def _seeds(nb: dict) -> str:
    params = nb.get("parameters") or {}
    for key in ("SEEDS", "seeds"):
        if params.get(key) is not None:
            seeds = params[key]
            return ", ".join(map(str, seeds)) if isinstance(seeds, list) else str(seeds)
    return "" if nb.get("seed") is None else str(nb["seed"])


def _parameters(nb: dict) -> str:
    params = {k: v for k, v in (nb.get("parameters") or {}).items() if k not in ("QUICK", "SEED", "RESULTS_PATH")}
    return ", ".join(f"{k}={v}" for k, v in params.items())


def report_markdown(summary: dict, *, title: str = "tinydtl reproduction report", intro: str = "") -> str:
    """Markdown for a ``results.json`` summary: one table per claim kind, then failures and run times."""
    mode = "QUICK (small settings)" if summary.get("quick") else "full"
    machine = summary.get("machine") or {}
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro, ""]
    if summary.get("interrupted"):
        lines += ["**Run interrupted (Ctrl-C)**: the notebooks below finished before the interrupt; the rest did not run.", ""]
    lines += [
        f"- mode: {mode}; seed override: {summary.get('seed') if summary.get('seed') is not None else 'none (each lesson its own SEED)'}",
        f"- started: {summary.get('started') or 'unknown'}; total run time {summary.get('seconds', 0):.0f} s",
        f"- machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('memory_gb', '?')} GB RAM, "
        f"{machine.get('os', '?')}, Python {machine.get('python', '?')}",
        "- verdicts: **met**; **NOT MET** (fails the run); **NOT MET (honest negative)** (a reproduction expected "
        "or accepted not to hold, with the reason; does not fail the run); **undecided (within noise)** (the "
        "measurement is within the run's own noise band, e.g. 2 paired standard errors over seeds, of the "
        "target's edge on either side: neither a win nor a miss is called; does not fail the run); **not comparable** (the source's "
        "experiment differs too much to call it a reproduction; shown with what the number would give)",
        "",
    ]
    claims = list(_claim_dicts(summary))
    by_kind = {k: [(nb, c) for nb, c in claims if (c.get("kind") or "reproduction") == k] for k in KINDS}
    lines += ["## Reproductions of published numbers", ""]
    if by_kind["reproduction"]:
        lines += _table(
            ("lesson", "claim", "source", "where", "what differs", "measured", "verdict"),
            [(nb, c["claim"], c["source"], c.get("where") or "(not stated)", c.get("differs") or "(not stated)",
              _measured(c), _verdict(c)) for nb, c in by_kind["reproduction"]],
        )
    else:
        lines.append("(none)")
    for kind, heading in (("finding", "Findings of this suite"), ("sanity", "Sanity checks (definitions, closed forms)")):
        lines += ["", f"## {heading}", ""]
        if by_kind[kind]:
            lines += _table(("lesson", "claim", "basis", "measured", "verdict"),
                            [(nb, c["claim"], c["source"], _measured(c), _verdict(c)) for nb, c in by_kind[kind]])
        else:
            lines.append("(none)")
    tolerances = [(nb, c) for nb, c in claims if c.get("tolerance")]
    if tolerances:
        lines += ["", "## Tolerances (fixed before the run)", ""]
        lines += _table(("lesson", "claim", "band", "why"),
                        [(nb, c["name"], f"{c['op']} {c['target']:g} within {c['tolerance']:g}", c.get("tolerance_reason") or "(not stated)")
                         for nb, c in tolerances])
    failed = [nb for nb in summary["notebooks"] if not nb["ok"]]
    if failed:
        lines += ["", "## Notebooks that did not finish", ""]
        lines += _table(("lesson", "status", "what happened"),
                        [(nb["notebook"], "INTERRUPTED" if nb.get("interrupted") else "FAILED", nb["error"]) for nb in failed])
    lines += ["", "## Run times and parameters", ""]
    lines += _table(
        ("lesson", "seconds", "status", "seeds", "parameters"),
        [(nb["notebook"], f"{nb['seconds']:.0f}", "INTERRUPTED" if nb.get("interrupted") else ("ok" if nb["ok"] else "FAILED"),
          _seeds(nb), _parameters(nb)) for nb in summary["notebooks"]],
    )
    return "\n".join(lines) + "\n"


def _write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_report(rep: Reproduction, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.md`` into ``out_dir`` (atomically); return both paths."""
    out_dir = Path(out_dir)
    summary = rep.to_dict()
    results = write_json_atomic(out_dir / "results.json", summary)
    report = _write_text_atomic(out_dir / "report.md", report_markdown(summary))
    return results, report


DOCS_INTRO = (
    "Generated from the `results.json` of a full `uv run tinydtl reproduce` by `{command}`; do not edit "
    "by hand (regenerate after a full run). The README links here instead of repeating numbers; the "
    "lessons' run times below are the measured ones."
)


def write_docs(summary: dict, path: str | Path, *, command: str = "uv run tinydtl report build/results.json") -> Path:
    """Write the committed ``docs/results.md`` from a results summary (a ``results.json``'s content)."""
    text = report_markdown(summary, title="tinydtl: measured results", intro=DOCS_INTRO.format(command=command))
    return _write_text_atomic(Path(path), text)
