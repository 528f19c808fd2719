"""Every assignment runs twice: as handed out (checks fail helpfully, nothing crashes) and with the
reference solution (every check passes)."""

import json
from pathlib import Path

import pytest

from tinydtl.reproduce import run_notebook

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted((ROOT / "notebooks" / "assignments").glob("*.ipynb"))
SOLUTIONS = ROOT / "tests" / "assignment_solutions"


def test_at_least_three_assignments():
    assert len(ASSIGNMENTS) >= 3
    assert all((SOLUTIONS / f"{p.stem}.py").is_file() for p in ASSIGNMENTS)


def grade(path, tmp_path, solution=None):
    params = {"SOLUTION": str(solution)} if solution else {}
    run = run_notebook(path, tmp_path, quick=True, parameters=params)
    assert run.ok, f"{path.stem} crashed: {run.error}"
    return json.loads((tmp_path / f"{path.stem}.results.json").read_text())


@pytest.mark.parametrize("path", ASSIGNMENTS, ids=lambda p: p.stem)
def test_handed_out_fails_helpfully(path, tmp_path):
    res = grade(path, tmp_path)
    assert res["metrics"] and all(v == 0.0 for v in res["metrics"].values())
    for messages in res["feedback"].values():
        assert messages and all(len(m) > 20 for m in messages)
        assert any("not implemented yet" in m or "fix the partitioner first" in m for m in messages)


@pytest.mark.parametrize("path", ASSIGNMENTS, ids=lambda p: p.stem)
def test_reference_solution_passes(path, tmp_path):
    res = grade(path, tmp_path, SOLUTIONS / f"{path.stem}.py")
    assert all(v == 1.0 for v in res["metrics"].values()), res["feedback"]


def test_checks_explain_common_mistakes():
    import networkx as nx
    import numpy as np

    from tinydtl.assignments import check_consensus_rate, check_cumulative_fedavg, check_metropolis, check_partitioner
    from tinydtl.gossip import metropolis_weights, slem

    def no_diagonal(G):
        W = metropolis_weights(G).toarray()
        np.fill_diagonal(W, 0)
        return W

    fb = check_metropolis(no_diagonal)
    assert not fb.passed and "W[i,i] = 1 -" in fb.messages[0]
    G = nx.cycle_graph(8)
    fb = check_consensus_rate(lambda g: 1 - slem(metropolis_weights(g)), G)
    assert not fb.passed and "spectral gap" in fb.messages[0]

    class StoreAll:
        def __init__(self):
            self.models = []

        def add(self, w, n):
            self.models.append((w, n))

        def result(self):
            return [np.mean([m[0][i] for m in self.models], axis=0) for i in range(2)]

        @property
        def nbytes(self):
            return sum(a.nbytes for w, _ in self.models for a in w)

    fb = check_cumulative_fedavg(StoreAll)
    assert not fb.passed
    assert any("without weights" in m for m in fb.messages) and any("memory grows" in m for m in fb.messages)
    fb = check_partitioner(lambda y, n, s: [np.arange(len(y))] * n, np.arange(50) % 5)
    assert not fb.passed and "more than one client" in " ".join(fb.messages)
    fb = check_metropolis(lambda G: 1 / 0)
    assert not fb.passed and "ZeroDivisionError" in fb.messages[0]


@pytest.mark.parametrize("path", ASSIGNMENTS, ids=lambda p: p.stem)
def test_assignments_committed_without_outputs(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")
