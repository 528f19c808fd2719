"""The package's layout rules (docs/architecture.md), checked with ``ast`` over every module.

* a folder per layer; imports point only to the layers a layer may use (``ALLOWED``);
* no import circle, counting imports placed inside functions;
* no private name imported across modules (``from x import _y`` or ``module._y``);
* no module over 450 lines, no function over 80;
* one owner per rule: the float32 size is defined once, only the core writes History rows.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import tinydtl

ROOT = Path(tinydtl.__file__).parent

#: layer -> the layers it may import (besides itself)
ALLOWED = {
    "root": {"legacy"},
    "legacy": set(),
    "runtime": set(),
    "core": set(),
    "data": {"core", "runtime"},
    "learners": {"core"},
    "networks": {"core"},
    "devices": {"core", "runtime", "learners"},
    "algorithms": {"core", "runtime", "data", "learners", "networks", "devices", "privacy"},
    "privacy": {"core", "runtime", "learners", "networks", "devices"},
    "papers": {"core", "runtime", "data", "learners", "networks", "devices", "algorithms", "privacy"},
    "lab": {"core", "runtime", "data", "learners", "networks", "devices", "algorithms", "privacy", "papers"},
}
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    return parts[1] if parts[1] in ALLOWED else parts[1]


def paper(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "papers" else None


def resolve(name: str) -> str:
    while name not in MODULES:
        name = name.rsplit(".", 1)[0]
    return name


def import_edges() -> dict[str, set[str]]:
    """module -> the tinydtl modules it imports, wherever the import statement is (functions included)."""
    edges = defaultdict(set)
    for mod, tree in TREES.items():
        package = mod if MODULES[mod].name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against the package
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
            for target in targets:
                if target.split(".")[0] == "tinydtl":
                    target = resolve(target)
                    if target != mod:
                        edges[mod].add(target)
    return edges


EDGES = import_edges()


def test_the_rules_see_every_module():
    """The rules parse every file in every folder (an empty or missing folder would pass them all)."""
    assert len(MODULES) >= 60
    assert {layer(m) for m in MODULES} >= {"core", "learners", "networks", "devices", "algorithms", "papers",
                                           "data", "lab", "runtime"}
    assert sum(len(v) for v in EDGES.values()) > 100


def test_imports_point_down_the_layers():
    wrong = []
    for mod, targets in EDGES.items():
        for target in targets:
            a, b = layer(mod), layer(target)
            if a == b:
                if a == "papers" and paper(mod) != paper(target):
                    wrong.append(f"{mod} -> {target} (one paper's code may not import another's)")
                continue
            if b not in ALLOWED[a]:
                wrong.append(f"{mod} -> {target} ({a} may import {sorted(ALLOWED[a]) or 'nothing else'})")
    assert wrong == []


def test_no_import_circle():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in EDGES.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in MODULES:
        if v not in index:
            visit(v)
    assert cycles == []


def test_no_private_name_crosses_a_module():
    private = []
    for mod, tree in TREES.items():
        imported_modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinydtl"):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        if not (mod == "tinydtl" and a.name == "legacy"):
                            private.append(f"{mod}: from {node.module} import {a.name}")
                    full = f"{node.module}.{a.name}"
                    if full in MODULES:
                        imported_modules.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("tinydtl") and a.asname:
                        imported_modules.add(a.asname)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in imported_modules):
                private.append(f"{mod}: {node.value.id}.{node.attr}")
    assert private == []


def test_modules_and_functions_are_short():
    long_modules = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    long_functions = []
    for mod, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{mod}.{node.name}: {n} lines")
    assert long_modules == {}
    assert long_functions == []


def test_one_owner_per_rule():
    """The float32 size is defined once (the byte rule), and only the core loop writes History rows."""
    defined, writers = [], []
    for mod, tree in TREES.items():
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "FLOAT32_BYTES" for t in node.targets):
                defined.append(mod)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record":
                if isinstance(node.func.value, ast.Name) and node.func.value.id in {"hist", "history", "h"}:
                    writers.append(mod)
    assert defined == ["tinydtl.core.traffic"]
    assert set(writers) == {"tinydtl.core.simulation"}, writers


@pytest.mark.parametrize("rule", ["private", "circle", "layer"])
def test_the_rules_fail_on_a_violation(rule, tmp_path, monkeypatch):
    """Each rule is shown to fail on a planted violation (a test that cannot fail proves nothing)."""
    global EDGES, TREES
    saved_edges, saved_trees = EDGES, TREES
    try:
        if rule == "private":
            TREES = {**TREES, "tinydtl.core.fake": ast.parse("from tinydtl.core.history import _LEGACY\n")}
            with pytest.raises(AssertionError):
                test_no_private_name_crosses_a_module()
        elif rule == "circle":
            EDGES = {**EDGES, "tinydtl.core.history": EDGES.get("tinydtl.core.history", set()) | {"tinydtl.core.simulation"}}
            with pytest.raises(AssertionError):
                test_no_import_circle()
        else:
            EDGES = {**EDGES, "tinydtl.core.history": {"tinydtl.lab.claims"}}
            with pytest.raises(AssertionError):
                test_imports_point_down_the_layers()
    finally:
        EDGES, TREES = saved_edges, saved_trees
