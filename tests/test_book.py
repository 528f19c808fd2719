"""``tinydtl book``: the website of a run's executed lessons, built offline and read in a real browser.

The run is small on purpose: two tiny lessons in ``tests/fixtures/book/`` (figures, math, a link
between them, claims of three kinds), executed by ``tinydtl reproduce --quick`` exactly as a full run
executes the real lessons, so the book reads the same notebook outputs (PNG figures, the claims table's
HTML) without running the 20-minute reproduction. The build runs with every network connection refused;
the pages are opened from disk in headless Chromium (Debian's, as in tests/test_e2e_browser.py) with every
request outside the site refused too, and each lesson page must show its figures (loaded images), its
claims table (one row per claim), rendered math and its Binder link.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

import pytest
from support import require

from tinydtl.lab.book import BookError, binder_url, find_mathjax, is_book
from tinydtl.lab.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "book"
CHROMIUM = os.environ.get("TINYDTL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
REPO = "example-org/tinydtl"


@contextlib.contextmanager
def no_network():
    """Every attempt to open a connection (IPv4, IPv6) raises: a build that tries to download fails."""
    tries = []

    def refuse(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            tries.append(address)
            raise OSError(f"no network in this test (tried {address})")
        return real(self, address, *args, **kwargs)

    real = socket.socket.connect
    socket.socket.connect = refuse
    try:
        yield tries
    finally:
        socket.socket.connect = real


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The two fixture lessons executed by ``tinydtl reproduce`` (QUICK), as a run writes them."""
    out = tmp_path_factory.mktemp("run")
    assert main(["reproduce", "--quick", "--notebooks", str(FIXTURES), "--out", str(out), "--no-progress"]) == 0
    return out


def mathjax_problem() -> str | None:
    try:
        find_mathjax()
    except BookError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def book(run, tmp_path_factory):
    require(mathjax_problem(), "the book (it copies Debian's MathJax)")
    out = tmp_path_factory.mktemp("site") / "book"
    with no_network() as tries:
        code = main(["book", "--from", str(run), "--out", str(out), "--binder-repo", REPO])
    assert code == 0 and tries == []
    return out


def lessons(run: Path) -> list[Path]:
    return sorted(run.glob("[0-9][0-9]_*.ipynb"))


def test_one_page_per_lesson_an_index_and_the_claims_page(run, book):
    assert is_book(book) and (book / "index.html").is_file() and (book / "results.html").is_file()
    index = (book / "index.html").read_text()
    for nb in lessons(run):
        page = (book / f"{nb.stem}.html").read_text()
        assert f'href="{nb.stem}.html"' in index and binder_url(nb.stem, REPO) in page
    assert (book / "_static" / "mathjax" / "MathJax.js").is_file()
    for page in book.glob("*.html"):  # nothing of the site is fetched from elsewhere
        text = page.read_text()
        assert "cdn." not in text and 'src="http' not in text and "stylesheet\" href=\"http" not in text


def test_book_refuses_what_it_cannot_build_with_one_line(tmp_path, run, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["book", "--from", str(empty), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "tinydtl reproduce" in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert main(["book", "--from", str(run), "--out", str(mine)]) == 2
    assert "did not write" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "my notes"
    assert main(["book", "--from", str(run), "--out", str(tmp_path / "b"), "--binder-repo", "not a repo"]) == 2
    assert main(["book", "--from", str(run), "--out", str(tmp_path / "b"), "--mathjax", str(empty)]) == 2
    assert "libjs-mathjax" in capsys.readouterr().err and not (tmp_path / "b").exists()


def expected(notebook: Path) -> tuple[int, int]:
    """(figures, claims) of an executed lesson: its PNG outputs and the claims its run recorded."""
    nb = json.loads(notebook.read_text())
    figures = sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))
    claims = json.loads(notebook.with_suffix(".results.json").read_text())["claims"]
    return figures, len(claims)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    require(None if Path(CHROMIUM).is_file() else f"no Chromium at {CHROMIUM} (apt-get install chromium)",
            "the book's browser check")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1300, "height": 900})
        outside = []

        def only_the_site(route):
            if route.request.url.startswith(("file://", "data:")):
                return route.continue_()
            outside.append(route.request.url)
            return route.abort()

        context.route("**/*", only_the_site)
        try:
            yield context, outside
        finally:
            context.close()


SEEN = r"""() => {
  const main = document.querySelector("main") || document.body;
  const imgs = [...main.querySelectorAll("img")];
  const tables = [...main.querySelectorAll("table")].filter(t => {
    const head = [...t.querySelectorAll("th")].map(th => th.textContent.trim());
    return head.includes("verdict") && head.includes("measured");
  });
  const binder = [...main.querySelectorAll("a")].filter(a => a.href.startsWith("https://mybinder.org/"));
  return {
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0).length,
    claims_rows: tables.map(t => t.querySelectorAll("tbody tr").length),
    claims_visible: tables.every(t => t.getBoundingClientRect().height > 0),
    binder: binder.map(a => a.href),
    math: main.querySelectorAll(".MathJax_CHTML").length,
    raw_math: [...main.querySelectorAll(".math")].filter(e => e.innerText.includes("\\lambda")).length,
  };
}"""


def test_every_lesson_page_renders_its_figures_and_claims_table(run, book, browser):
    context, outside = browser
    page = context.new_page()
    seen = {}
    for nb in lessons(run):
        page.goto((book / f"{nb.stem}.html").as_uri(), wait_until="load")
        if nb.stem.startswith("01"):  # the lesson with formulas: MathJax (served from the site) typesets them
            page.wait_for_function("document.querySelectorAll('main .MathJax_CHTML').length >= 2", timeout=30_000)
        seen[nb.stem] = page.evaluate(SEEN)
        figures, claims = expected(nb)
        s = seen[nb.stem]
        assert figures >= 1 and s["images"] == s["loaded"] == figures, (nb.stem, s)
        assert s["claims_rows"] == [claims] and s["claims_visible"], (nb.stem, s)
        assert s["binder"] == [binder_url(nb.stem, REPO)], (nb.stem, s)
    assert seen["01_fixture_gossip"]["math"] >= 2 and not seen["01_fixture_gossip"]["raw_math"]
    page.goto((book / "index.html").as_uri(), wait_until="load")
    page.click("text=Fixture lesson 02")
    assert page.url.endswith("02_fixture_claims.html")
    page.goto((book / "results.html").as_uri(), wait_until="load")
    rows = page.evaluate("() => document.querySelectorAll('main table tbody tr').length")
    assert rows >= sum(expected(nb)[1] for nb in lessons(run))
    page.close()
    assert outside == [], f"the pages asked for files outside the site: {outside[:5]}"
