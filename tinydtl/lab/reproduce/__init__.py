"""Execute the lesson notebooks with papermill and report *claim vs measured*.

This is the one code path behind ``tinydtl reproduce`` and the notebook tests: each notebook is
run headless with its ``parameters`` cell overridden (``QUICK``, ``RESULTS_PATH`` and optionally
``SEED``), its :class:`~tinydtl.lab.claims.ClaimRecorder` writes the headline numbers and the parameters it
ran with to ``RESULTS_PATH``, and the runner gathers them into ``results.json`` and ``report.md`` (one
table per kind of claim, then the run times).

Nothing a user made is overwritten, and a failed run never replaces good results with less: the
output folder is checked before any kernel starts, the summary so far is kept in
``results.partial.json`` while the run goes on, and a failed run over the results of a good one goes
to ``results.failed.json`` (:mod:`~tinydtl.lab.reproduce.results`).

Ctrl-C (SIGINT to the runner's process group) stops the run: the notebook is executed in a worker
thread, so papermill's event loop cannot swallow the signal; the kernel, which jupyter_client starts
in its own session, is terminated together with everything in that session (TensorFlow Federated's
``worker_binary``), the finished notebooks' results are kept and the report says "interrupted".

The parts, one job each: :mod:`~tinydtl.lab.reproduce.lessons` (which lessons there are),
:mod:`~tinydtl.lab.reproduce.notebook` (run one), :mod:`~tinydtl.lab.reproduce.run` (run several and
write the files), :mod:`~tinydtl.lab.reproduce.results` (the rules of ``results.json``),
:mod:`~tinydtl.lab.reproduce.report` (the Markdown), :mod:`~tinydtl.lab.reproduce.machine` (provenance).
"""

from tinydtl.lab.reproduce.lessons import (
    default_notebook_dir,
    discover_notebooks,
    select_notebooks,
)
from tinydtl.lab.reproduce.machine import available_cores, machine_info
from tinydtl.lab.reproduce.notebook import (
    INTERRUPT_GRACE,
    NotebookRun,
    check_notebook_output,
    is_executed_notebook,
    run_notebook,
)
from tinydtl.lab.reproduce.report import (
    DOCS_INTRO,
    check_docs_target,
    is_results_page,
    page_lessons,
    report_markdown,
    write_docs,
)
from tinydtl.lab.reproduce.results import (
    FAILED_NAME,
    PARTIAL_NAME,
    RESULTS_NAME,
    check_summary,
    is_results_summary,
    result_paths,
)
from tinydtl.lab.reproduce.run import (
    Reproduction,
    check_run_outputs,
    run_all,
    write_report,
)
from tinydtl.runtime.processes import kernel_sessions, terminate_sessions

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
    "available_cores",
    "report_markdown",
    "write_report",
    "write_docs",
    "check_run_outputs",
    "check_notebook_output",
    "check_docs_target",
    "check_summary",
    "is_results_summary",
    "is_results_page",
    "is_executed_notebook",
    "page_lessons",
    "result_paths",
    "DOCS_INTRO",
    "INTERRUPT_GRACE",
    "RESULTS_NAME",
    "FAILED_NAME",
    "PARTIAL_NAME",
]
