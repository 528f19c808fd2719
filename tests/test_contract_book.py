"""Input contract of the book and the coursework's grading helpers: every bad input is refused by name,
before anything is built (``tinydtl book`` turns a :class:`BookError` into exit status 2 and one line).

These are new functions (``tinydtl.lab.book``, ``tinydtl.lab.grading``): the cases were written with them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinydtl.lab.book import BookError, build_book
from tinydtl.lab.exercises import Feedback
from tinydtl.lab.grading import CheckFailed, grade, require


@pytest.fixture
def run(tmp_path) -> Path:
    """A folder shaped like a run's output: one notebook with papermill's metadata (nothing is built)."""
    folder = tmp_path / "run"
    folder.mkdir()
    nb = {"cells": [], "metadata": {"papermill": {}}, "nbformat": 4, "nbformat_minor": 5}
    (folder / "04_gossip.ipynb").write_text(json.dumps(nb))
    return folder


def _folder_with(tmp_path, name, text):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text(text)
    return folder


CASES = [
    ("source missing", lambda run, tmp: dict(source=tmp / "nowhere", out=tmp / "b"), "does not exist: run `uv run tinydtl reproduce"),
    ("source empty", lambda run, tmp: dict(source=_folder_with(tmp, "notes.txt", "x"), out=tmp / "b"), "no executed lessons"),
    ("not executed", lambda run, tmp: dict(source=_folder_with(tmp, "04_x.ipynb", json.dumps({"cells": [], "metadata": {}})),
                                           out=tmp / "b"), "not a notebook a run executed"),
    ("out is a file", lambda run, tmp: dict(source=run, out=_folder_with(tmp, "f", "x") / "f"), "is a file"),
    ("out holds the user's files", lambda run, tmp: dict(source=run, out=_folder_with(tmp, "notes.md", "mine")), "did not write"),
    ("out is the run", lambda run, tmp: dict(source=run, out=run), "the run's folder itself"),
    ("binder repo", lambda run, tmp: dict(source=run, out=tmp / "b", binder_repo="not a repo"), "OWNER/NAME"),
    ("binder repo type", lambda run, tmp: dict(source=run, out=tmp / "b", binder_repo=7), "OWNER/NAME"),
    ("mathjax", lambda run, tmp: dict(source=run, out=tmp / "b", binder_repo="a/b", mathjax=tmp), "no MathJax 2"),
]


@pytest.mark.parametrize("kwargs, message", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_build_book_refuses_by_name_before_building(run, tmp_path, kwargs, message):
    args = kwargs(run, tmp_path)
    with pytest.raises(BookError, match=message.replace("`", ".").replace("(", ".")):
        build_book(**args)
    assert not (tmp_path / "b").exists()
    assert all(p.name != "index.html" for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("call, exc, message", [
    (lambda: require("passed"), TypeError, "must be a tinydtl.lab.exercises.Feedback, got str"),
    (lambda: require(None), TypeError, "got NoneType"),
    (lambda: grade(lambda f: Feedback("c", True), "answer", namespace={}), CheckFailed, "`answer` is not defined"),
    (lambda: grade(lambda f: 1 / 0, "answer", namespace={"answer": 1}), CheckFailed, "ZeroDivisionError"),
    (lambda: grade(lambda f: "not feedback", "answer", namespace={"answer": 1}), CheckFailed, "must be a tinydtl"),
], ids=["require-str", "require-None", "grade-missing-name", "grade-check-raises", "grade-check-returns-junk"])
def test_grading_helpers_refuse_by_name(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
