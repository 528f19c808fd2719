"""Every lesson, opened in JupyterLab in a real (headless) Chromium, runs and its widgets respond.

What a student does, done by a browser: JupyterLab is started on 127.0.0.1 with a token, each lesson
(prepared by papermill with ``QUICK = True`` injected, so the injected-parameters cell is there) is
opened, "Run All Cells" is executed, and then

* no cell fails (no error output, no traceback on stderr, the lesson wrote its results file);
* every widget renders as a control (no "Loading widget..." / "Error displaying widget" left);
* for every ``interact`` widget one control is moved and the figure it draws must change
  (the PNG the output shows differs before and after).

Screenshots go to ``build/e2e/``. One server and one browser for all lessons; lessons run one after
the other and each kernel is shut down before the next lesson opens. Every process started here
(server, kernels, Chromium, TFF ``worker_binary``) is stopped, also on failure.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it); nothing downloads a browser build.
Without it the tests skip locally and fail when ``CI`` is set.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from support import record_lesson_run

from tinydtl.lab.reproduce import discover_notebooks
from tinydtl.runtime.processes import TFF_WORKER, our_processes, terminate

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "e2e"
CHROMIUM = os.environ.get("TINYDTL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LESSONS = discover_notebooks()
RUN_TIMEOUT_S = 600  # one lesson, all cells (QUICK lessons take well under 2 min)
WIDGET_TIMEOUT_S = 180  # one interact callback after a control moved
INTERACT_CALL = re.compile(r"(?<![\w.])interact\(")
CONTROL_SELECTORS = ".widget-slider, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox, .widget-text"


def _chromium_or_skip():
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; the browser test may not be skipped in CI")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# processes


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> set[int]:
    """Live descendants of ``pid`` (kernels, Chromium's helpers, TFF workers...)."""
    children, found, todo = _children_map(), set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {p for p in found if _state(p) not in ("Z", None)}


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# the server


class LabServer:
    """``jupyter lab`` on 127.0.0.1 with a token, a fresh root dir and fresh user settings."""

    def __init__(self, root: Path, work: Path):
        self.root, self.port, self.token = root, free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = work / "user-settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        # every cell in the DOM (no virtual scrolling), so the checks below see all outputs
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        env = dict(os.environ)
        # a live notebook: tinydtl.lab.widgets.interact must be ipywidgets.interact, not the headless
        # stand-in (tinydtl.lab.reproduce sets this variable in the test process for papermill runs)
        env.pop("TINYDTL_HEADLESS", None)
        env.update(TF_CPP_MIN_LOG_LEVEL="2", JUPYTER_RUNTIME_DIR=str(work / "runtime"), JUPYTER_PLATFORM_DIRS="1")
        self.log = open(work / "jupyter-lab.log", "w")  # noqa: SIM115 - closed in stop()
        cmd = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={work / 'user-settings'}",
            f"--LabApp.workspaces_dir={work / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells through Lab's own commands
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        if os.geteuid() == 0:  # CI machines and containers run as root; jupyter_server refuses that by default
            cmd.append("--allow-root")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.log_path = work / "jupyter-lab.log"
        self.tff_workers: set[int] = set()  # TFF worker_binary processes the kernels started

    def note_tff_workers(self):
        self.tff_workers |= {p for p in descendants(self.proc.pid) if _comm(p) == TFF_WORKER[:15]}

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read().decode()
            if r.headers.get_content_type() == "application/json":
                return r.status, json.loads(body) if body else None
            return r.status, body

    def wait_ready(self, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}): {self.log_path.read_text()[-3000:]}")
            try:
                if self.api("/api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"jupyter lab did not answer within {timeout} s: {self.log_path.read_text()[-3000:]}")

    def shutdown_kernels(self):
        """Shut every kernel down through the REST API (as the Running panel would)."""
        _, sessions = self.api("/api/sessions")
        for s in sessions:
            self.api(f"/api/sessions/{s['id']}", method="DELETE")
        _, kernels = self.api("/api/kernels")
        for k in kernels:
            self.api(f"/api/kernels/{k['id']}", method="DELETE")

    def stop(self) -> list[str]:
        """Stop the server and everything below it; returns what had to be killed by force."""
        tree = descendants(self.proc.pid)
        try:
            self.shutdown_kernels()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        leftover = {p for p in tree | descendants(self.proc.pid) if _state(p) not in ("Z", None)}
        named = [f"{p} {_comm(p)}" for p in sorted(leftover)]
        terminate(leftover)
        self.log.close()
        return named


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for all lessons, serving QUICK copies of them; stopped even on failure."""
    _chromium_or_skip()
    import papermill as pm

    work = tmp_path_factory.mktemp("e2e")
    root = work / "lessons"
    root.mkdir()
    for path in LESSONS:
        pm.execute_notebook(
            str(path),
            str(root / path.name),
            parameters={"QUICK": True, "RESULTS_PATH": str(root / f"{path.stem}.results.json")},
            prepare_only=True,
            progress_bar=False,
        )
    workers_before = our_processes()
    server = LabServer(root, work)
    try:
        server.wait_ready()
        yield server
    finally:
        forced = server.stop()
        # TFF workers started by the kernels (found while they ran, see test_lesson_in_the_browser);
        # other people's workers on this machine are left alone
        strays = {p for p in server.tff_workers if _state(p) not in ("Z", None)}
        terminate(strays)
        workers_after = our_processes()
        print(f"TFF worker_binary processes on the machine: {len(workers_before)} before, {len(workers_after)} after;"
              f" started by the lessons' kernels: {len(server.tff_workers)}")
    # after the server has shut its kernels down nothing it started may still run
    assert forced == [], f"processes outlived `jupyter lab` and had to be killed: {forced}"
    assert strays == set(), f"TFF worker_binary processes outlived their kernels: {sorted(strays)}"


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    """One headless Chromium with a fresh profile; closed even on failure, none of it left running."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    before = descendants(os.getpid())
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=_chromium_or_skip(),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
    left = {p for p in descendants(os.getpid()) - before if _comm(p).startswith(("chrom", "node"))}
    terminate(left)
    assert not left, f"Chromium/Playwright processes outlived the browser fixture: {sorted(left)}"


def test_lab_serves_the_widgets_extension(lab):
    """``/lab`` answers 200 and its page config loads the ipywidgets front-end extension."""
    status, html = lab.api("/lab")
    assert status == 200
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)[1])
    federated = {e["name"] for e in config["federated_extensions"]}
    assert "@jupyter-widgets/jupyterlab-manager" in federated, sorted(federated)


# ---------------------------------------------------------------------------------------------
# one lesson in the browser

RUN_ALL_JS = """async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  window.__tinydtlRun = undefined;
  app.commands.execute('notebook:run-all-cells').then(
    ok => { window.__tinydtlRun = ok === false ? 'stopped' : 'done'; },
    err => { window.__tinydtlRun = 'error: ' + err; });
}"""

MODEL_ERRORS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const errors = [];
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    for (const out of cell.toJSON().outputs || []) {
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
    }
    if (cell.executionCount === null) errors.push(`cell ${i} did not run`);
  }
  return errors;
}"""


def _interact_cells(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(bool(INTERACT_CALL.search(c.source)) for c in nb.cells if c.cell_type == "code")


def _figure(widget) -> str:
    img = widget.locator(".widget-output img")
    return img.first.get_attribute("src") if img.count() else ""


def _move_one_control(widget) -> str:
    """Move one control of an interact widget; returns what was done."""
    slider = widget.locator(".widget-slider")
    if slider.count():
        readout = slider.first.locator(".widget-readout")
        before = readout.inner_text()
        handle = slider.first.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        if readout.inner_text() == before:  # at the maximum already
            handle.press("ArrowLeft")
            handle.press("ArrowLeft")
        label = slider.first.locator(".widget-label").inner_text()
        return f"slider {label!r}: {before} -> {readout.inner_text()}"
    select = widget.locator(".widget-dropdown select")
    if select.count():
        options = select.first.locator("option").all_inner_texts()
        current = select.first.input_value()
        choice = next(o for o in options if o != current)
        select.first.select_option(label=choice)
        return f"dropdown: {current!r} -> {choice!r}"
    raise AssertionError("interact widget without a slider or dropdown")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_in_the_browser(lab, browser, path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    stem = path.stem
    page = browser.new_page()
    started, ran_all = time.monotonic(), None
    try:
        page.goto(f"{lab.url}/lab/tree/{path.name}?reset&token={lab.token}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.content"
            " && window.jupyterapp.shell.currentWidget.content.model",
            timeout=120_000,
        )
        page.evaluate(RUN_ALL_JS)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while (outcome := page.evaluate("() => window.__tinydtlRun")) is None:
            lab.note_tff_workers()  # while the kernel lives, its TFF workers are its descendants
            assert time.monotonic() < deadline, f"{stem}: Run All did not finish within {RUN_TIMEOUT_S} s"
            page.wait_for_timeout(1000)
        ran_all = time.monotonic() - started
        errors = page.evaluate(MODEL_ERRORS_JS)
        stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        tracebacks = [t[:800] for t in stderr.all_inner_texts() if "Traceback" in t]
        page.screenshot(path=str(SHOTS / f"{stem}.png"))
        problem = "" if outcome == "done" and not errors and not tracebacks else f"{outcome}; {errors}; {tracebacks}"
        record_lesson_run(stem, ok=not problem, error=problem, results_file=lab.root / f"{stem}.results.json",
                          seconds=ran_all)
        assert not problem, f"{stem}: {problem}"
        assert (lab.root / f"{stem}.results.json").is_file(), f"{stem} ran but wrote no results file"

        # every widget view rendered as a control
        expected = _interact_cells(path)
        widgets = page.locator(".widget-interact")
        if expected:
            widgets.nth(expected - 1).wait_for(state="attached", timeout=WIDGET_TIMEOUT_S * 1000)
        page.wait_for_function(
            "() => ![...document.querySelectorAll('.jp-OutputArea-output')].some("
            " e => /Loading widget|Error displaying widget/.test(e.textContent))",
            timeout=WIDGET_TIMEOUT_S * 1000,
        )
        assert widgets.count() == expected, f"{stem}: {widgets.count()} interact widgets rendered, {expected} in the source"

        for i in range(expected):
            widget = widgets.nth(i)
            widget.scroll_into_view_if_needed()
            assert widget.locator(CONTROL_SELECTORS).count() >= 1, f"{stem} widget {i}: no control rendered"
            page.wait_for_function(
                "w => w.querySelector('.widget-output img') !== null", arg=widget.element_handle(),
                timeout=WIDGET_TIMEOUT_S * 1000,
            )
            figure = _figure(widget)
            widget.screenshot(path=str(SHOTS / f"{stem}-widget{i}-before.png"))
            moved = _move_one_control(widget)
            page.wait_for_function(
                "([w, before]) => { const img = w.querySelector('.widget-output img');"
                " return img !== null && img.getAttribute('src') !== before; }",
                arg=[widget.element_handle(), figure],
                timeout=WIDGET_TIMEOUT_S * 1000,
                polling=500,
            )
            widget.screenshot(path=str(SHOTS / f"{stem}-widget{i}-after.png"))
            stderr = widget.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
            assert not [t for t in stderr if "Traceback" in t], f"{stem} widget {i} ({moved}): {stderr}"
            assert _figure(widget) != figure, f"{stem} widget {i}: the figure did not change after {moved}"
    except Exception:
        page.screenshot(path=str(SHOTS / f"{stem}-failure.png"))
        raise
    finally:
        page.close()
        lab.note_tff_workers()
        lab.shutdown_kernels()
        total = time.monotonic() - started
        ran = f"run all {ran_all:.1f} s, widgets {total - ran_all:.1f} s" if ran_all is not None else "did not finish"
        print(f"{stem}: {total:.1f} s in the browser ({ran})")
