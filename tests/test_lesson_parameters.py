"""Every lesson's parameters can be injected (papermill, `tinydtl reproduce`, `tinydtl sweep`) and stick.

Read statically from each notebook, in every lesson (no kernel needed):

* one code cell is tagged ``parameters``, it is the first code cell, and it sets ``QUICK = True`` (the
  student scale is the default), ``SEED`` and ``RESULTS_PATH = None``;
* no later top-level statement overwrites a parameter with a value that ignores it: ``ROUNDS = ROUNDS or 200``
  or ``X = 5 if X is None else X`` keep an injected value, ``ROUNDS = 200`` would silently discard it.
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from tinydtl.lab.reproduce import discover_notebooks

LESSONS = discover_notebooks()


def code_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def parse(source: str) -> ast.Module:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def parameters_of(cell) -> set[str]:
    return {t.id for node in parse(cell.source).body if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}


def overwrites(tree: ast.Module, params: set[str]) -> list[str]:
    """Top-level assignments to a parameter whose right-hand side does not read that parameter."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            read = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
            found += [f"line {node.lineno}: {name} = ..." for name in sorted((names & params) - read)]
    return found


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_parameters_cell_comes_first_and_student_scale_is_the_default(path):
    cells = code_cells(path)
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0], f"{path.stem}: the parameters cell must be the first code cell (tagged {tagged})"
    params = parameters_of(cells[0])
    assert {"QUICK", "SEED", "RESULTS_PATH"} <= params
    values = {n.targets[0].id: n.value for n in parse(cells[0].source).body if isinstance(n, ast.Assign)}
    assert isinstance(values["QUICK"], ast.Constant) and values["QUICK"].value is True
    assert isinstance(values["RESULTS_PATH"], ast.Constant) and values["RESULTS_PATH"].value is None


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_later_cell_discards_an_injected_parameter(path):
    cells = code_cells(path)
    params = parameters_of(cells[0])
    bad = {i: found for i, c in enumerate(cells[1:], start=1) if (found := overwrites(parse(c.source), params))}
    assert bad == {}, f"{path.stem}: cells that overwrite injected parameters: {bad}"


def test_the_check_catches_an_overwrite():
    assert overwrites(ast.parse("ROUNDS = 200\nSEEDS = SEEDS or [0]\nN = 5 if N is None else N"),
                      {"ROUNDS", "SEEDS", "N"}) == ["line 1: ROUNDS = ..."]
