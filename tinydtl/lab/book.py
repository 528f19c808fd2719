"""The lessons as a book: a static website built from the executed notebooks of a run (``tinydtl book``).

A full run (``uv run tinydtl reproduce --out build/full``) leaves every lesson executed, with its figures,
tables and claims, next to its ``results.json``. :func:`build_book` turns that folder into a website that
needs no Python and no network to read: one page per lesson (its figures and its claims table as the run
printed them, and a link that opens the lesson on Binder), an index, and a page of every claim of the run.

Why Sphinx, with myst-nb and sphinx-book-theme (the Jupyter Book 1 stack, used directly): it reads
notebooks that were already executed (``nb_execution_mode = "off"``, no kernel starts), and everything it
needs comes from PyPI wheels in the lock. Jupyter Book 2 (mystmd) downloads its site theme when it builds,
so it cannot build offline. MathJax, which typesets the formulas in the reader's browser, is copied into
the site from Debian's ``libjs-mathjax`` (MathJax 2.7; ``apt-get install libjs-mathjax``), so the pages
load nothing from the internet either, and the widgets' JavaScript (loaded from a CDN by default) is left
out: a widget shows the output it had when the run executed it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tinydtl.lab.reproduce import discover_notebooks, report_markdown
from tinydtl.lab.reproduce.notebook import is_executed_notebook
from tinydtl.runtime.files import read_json_object, write_json_atomic
from tinydtl.runtime.paths import repo_root

__all__ = ["BINDER_URL", "MATHJAX_DIRS", "Book", "BookError", "binder_url", "build_book", "find_mathjax",
           "github_repository", "is_book"]

#: Binder's URL for one lesson (the README's pattern), ``repo`` as ``owner/name`` on GitHub.
BINDER_URL = "https://mybinder.org/v2/gh/{repo}/HEAD?urlpath=lab/tree/notebooks/{notebook}.ipynb"
#: The README's placeholder when the repository's GitHub path is not known.
PLACEHOLDER_REPO = "<owner>/tinydtl"
#: Where Debian's libjs-mathjax puts MathJax 2 (searched in order).
MATHJAX_DIRS = (Path("/usr/share/javascript/mathjax"), Path("/usr/share/mathjax"))
#: The parts of MathJax 2 the pages load: TeX input, CommonHTML output (web fonts), the menu extensions.
MATHJAX_PARTS = ("MathJax.js", "config/TeX-AMS_CHTML.js", "extensions", "jax/input/TeX", "jax/output/CommonHTML",
                 "jax/element", "fonts/HTML-CSS/TeX/woff")
MARKER = ".tinydtl-book.json"


class BookError(ValueError):
    """The book cannot be built as asked (``tinydtl book`` exits 2 with this message)."""


@dataclass
class Book:
    """A built book: where it is, its lesson pages, Sphinx's warnings and the build time."""

    out: Path
    lessons: list[str]
    warnings: list[str]
    seconds: float

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def binder_url(notebook: str, repo: str = PLACEHOLDER_REPO) -> str:
    """The link that opens lesson ``notebook`` (e.g. ``04_gossip_spectral_gap``) on Binder."""
    return BINDER_URL.format(repo=repo, notebook=notebook)


def github_repository(root: Path | None = None) -> str | None:
    """``owner/name`` of the clone's ``origin`` remote when it is on GitHub, else None."""
    try:
        url = subprocess.run(["git", "-C", str(root or repo_root()), "remote", "get-url", "origin"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url)
    return match.group(1) if match else None


def find_mathjax(directory=None) -> Path:
    """The MathJax 2 folder to copy into the site: ``directory``, or Debian's libjs-mathjax."""
    candidates = [Path(directory)] if directory is not None else list(MATHJAX_DIRS)
    for path in candidates:
        if (path / "MathJax.js").is_file() and (path / "config" / "TeX-AMS_CHTML.js").is_file():
            return path
    where = f"{directory}" if directory is not None else " or ".join(map(str, MATHJAX_DIRS))
    raise BookError(f"no MathJax 2 (MathJax.js and config/TeX-AMS_CHTML.js) in {where}: install Debian's "
                    "libjs-mathjax (apt-get install libjs-mathjax) or give --mathjax the folder of a MathJax 2 copy")


def is_book(path) -> bool:
    """Whether ``path`` is a folder :func:`build_book` wrote (it holds the book's marker file)."""
    data = read_json_object(Path(path) / MARKER)
    return data is not None and data.get("written_by") == "tinydtl book"


def _lessons(source: Path) -> list[Path]:
    if not source.is_dir():
        raise BookError(f"{source} does not exist: run `uv run tinydtl reproduce --out {source}` first "
                        "(it writes the executed lessons there)")
    lessons = discover_notebooks(source)
    if not lessons:
        raise BookError(f"no executed lessons (NN_name.ipynb) in {source}: run `uv run tinydtl reproduce "
                        f"--out {source}` first")
    unexecuted = [p.name for p in lessons if not is_executed_notebook(p)]
    if unexecuted:
        raise BookError(f"{source / unexecuted[0]} is not a notebook a run executed (no papermill metadata): "
                        "build the book from the folder `tinydtl reproduce --out` wrote")
    return lessons


def _check_out(out: Path, source: Path) -> None:
    if out.resolve() == source.resolve():
        raise BookError(f"--out {out} is the run's folder itself: give another folder (e.g. build/book)")
    if out.exists() and not out.is_dir():
        raise BookError(f"--out {out} is a file; give a folder for the website")
    if out.is_dir() and any(out.iterdir()) and not is_book(out):
        raise BookError(f"--out {out} holds files tinydtl book did not write; give an empty or new folder "
                        "(nothing of yours is replaced)")


def _title(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if match:
                return match.group(1).strip()
    return fallback


def _lesson_page(path: Path, repo: str, run: dict | None) -> tuple[dict, str]:
    """The executed notebook with a Binder link after its title cell; ``(notebook, title)``."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    title = _title(nb, path.stem)
    ran = ""
    if run:
        mode = "QUICK (student scale)" if run.get("quick") else "full"
        ran = f" Executed in {mode} mode in {run.get('seconds', 0):.0f} s; its claims are at the end of the page."
    link = {"cell_type": "markdown", "id": "tinydtl-binder", "metadata": {}, "source": [
        f'<p class="tinydtl-binder"><a class="reference external" href="{html.escape(binder_url(path.stem, repo))}">'
        f"Open this lesson on Binder</a> — run it yourself in the browser (the first start takes a few minutes).{ran}</p>"]}
    for cell in nb["cells"]:  # papermill's injected values name the run's own paths: not on the page
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
    first = next((k for k, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"), -1)
    nb["cells"].insert(first + 1, link)
    return nb, title


CONF = '''# Sphinx configuration written by `tinydtl book` (tinydtl.lab.book); the site is rebuilt, not edited.
project = "tinydtl: distributed TinyML, taught by running it"
html_title = "tinydtl lessons"
extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "sphinx_book_theme"
author = "the tinydtl authors"
html_theme_options = {{"show_toc_level": 2, "home_page_in_toc": True, "use_download_button": False}}
html_context = {{"default_mode": "light"}}
html_static_path = ["_static"]
html_css_files = ["tinydtl.css"]
html_copy_source = False
html_show_sourcelink = False
nb_execution_mode = "off"        # the run executed every notebook already: no kernel starts here
nb_merge_streams = True
nb_ipywidgets_js = {{}}             # no widget JavaScript from a CDN: widgets show their recorded output
myst_enable_extensions = ["dollarmath", "amsmath"]
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_CHTML"   # Debian's MathJax 2, copied into _static
# MyST marks the pages "tex2jax_ignore" and the formulas "math": MathJax 2 typesets only those
mathjax2_config = {{"tex2jax": {{"inlineMath": [["\\\\(", "\\\\)"]], "displayMath": [["\\\\[", "\\\\]"]],
                               "processClass": "math|output_area|tex2jax_process|mathjax_process",
                               "ignoreClass": "tex2jax_ignore|mathjax_ignore", "processEscapes": True}},
                   "CommonHTML": {{"linebreaks": {{"automatic": True}}}}}}
suppress_warnings = ["myst.xref_missing", "mystnb.unknown_mime_type", "misc.highlighting_failure"]
'''

CSS = """.tinydtl-binder { padding: .6em 1em; border-left: 4px solid #579aca; background: #f3f8fc; }
.tinydtl-binder a { font-weight: 600; }
"""


def _index(titles: dict, summary: dict | None, repo: str) -> str:
    lines = ["# tinydtl: the lessons", "",
             "Distributed tiny machine learning, taught by running it. Every page is a lesson notebook as a run "
             "of `uv run tinydtl reproduce` executed it — figures, tables and, at the end, its claims "
             "(published numbers reproduced, findings of this suite, sanity checks) with the measured value and "
             "the verdict. Each page links to Binder, where the lesson runs in your browser.", ""]
    if summary:
        mode = "a QUICK run (student-scale settings)" if summary.get("quick") else "a full run"
        machine = summary.get("machine") or {}
        lines += [f"Built from {mode} started {summary.get('started') or '(date unknown)'} on "
                  f"{machine.get('cores', '?')} cores ({machine.get('cpu', 'unknown CPU')}); every claim is on "
                  "[the claims page](results.md).", ""]
    if repo == PLACEHOLDER_REPO:
        lines += ["The Binder links use the placeholder `<owner>/tinydtl`: rebuild with "
                  "`tinydtl book --binder-repo OWNER/NAME` once the repository is published.", ""]
    lines += ["| lesson | open it |", "| --- | --- |"]
    lines += [f"| [{title}]({name}.ipynb) | [Binder]({binder_url(name, repo)}) |" for name, title in titles.items()]
    toc = [*titles, "results"] if summary else list(titles)
    return "\n".join(lines + ["", "```{toctree}", ":hidden:", ":maxdepth: 1", "", *toc, "```", ""])


def _copy_mathjax(mathjax: Path, static: Path) -> None:
    for part in MATHJAX_PARTS:
        src, dst = mathjax / part, static / "mathjax" / part
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=False)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


def _write_sources(src: Path, lessons: list[Path], summary: dict | None, repo: str, mathjax: Path) -> dict:
    """The Sphinx project: conf.py, the pages and the static files. Returns ``{lesson: title}``."""
    runs = {nb["notebook"]: nb for nb in (summary or {}).get("notebooks", [])}
    titles = {}
    for path in lessons:
        nb, titles[path.stem] = _lesson_page(path, repo, runs.get(path.stem))
        (src / path.name).write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    if summary:
        page = report_markdown(summary, title="Every claim of this run")
        (src / "results.md").write_text(page, encoding="utf-8")
    (src / "index.md").write_text(_index(titles, summary, repo), encoding="utf-8")
    (src / "conf.py").write_text(CONF.format(), encoding="utf-8")
    static = src / "_static"
    static.mkdir()
    (static / "tinydtl.css").write_text(CSS, encoding="utf-8")
    _copy_mathjax(mathjax, static)
    return titles


def _sphinx(src: Path, html: Path, work: Path) -> list[str]:
    """Build the HTML in-process; returns Sphinx's warnings (an error raises :class:`RuntimeError`)."""
    from sphinx.cmd.build import build_main

    log = work / "warnings.txt"
    code = build_main(["-b", "html", "-q", "-d", str(work / "doctrees"), "-w", str(log), str(src), str(html)])
    warnings = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()] if log.exists() else []
    if code != 0:
        raise RuntimeError(f"sphinx-build exited {code}: " + " | ".join(warnings[-5:]))
    return warnings


def build_book(source="build/full", out="build/book", *, binder_repo: str | None = None, mathjax=None) -> Book:
    """Build the website of the executed lessons in ``source`` into ``out``.

    ``source`` is the folder a run wrote (``tinydtl reproduce --out``: the executed ``NN_name.ipynb`` and,
    if present, ``results.json``). ``out`` must be new, empty, or a book this function wrote (it is then
    rebuilt; nothing else is ever replaced). ``binder_repo`` (``owner/name``) defaults to the clone's
    GitHub ``origin``, else the README's placeholder. ``mathjax``: a MathJax 2 folder (default: Debian's).
    Everything is checked before the build starts; a problem is a :class:`BookError`.
    """
    start = time.perf_counter()
    source, out = Path(source), Path(out)
    lessons = _lessons(source)
    _check_out(out, source)
    if binder_repo is not None and not (isinstance(binder_repo, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", binder_repo)):
        raise BookError(f"--binder-repo must be OWNER/NAME (the repository's GitHub path), got {binder_repo!r}")
    mathjax_dir = find_mathjax(mathjax)
    repo = binder_repo or github_repository() or PLACEHOLDER_REPO
    summary = read_json_object(source / "results.json")
    if summary is not None and not isinstance(summary.get("notebooks"), list):
        summary = None
    with tempfile.TemporaryDirectory(prefix="tinydtl-book-") as tmp:
        work = Path(tmp)
        (work / "src").mkdir()
        titles = _write_sources(work / "src", lessons, summary, repo, mathjax_dir)
        warnings = _sphinx(work / "src", work / "html", work)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(work / "html", out)
    write_json_atomic(out / MARKER, {"written_by": "tinydtl book", "source": str(source.resolve()),
                                     "lessons": list(titles), "binder_repo": repo})
    return Book(out=out, lessons=list(titles), warnings=warnings, seconds=time.perf_counter() - start)
