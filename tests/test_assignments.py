"""Every assignment runs twice: as handed out (checks fail helpfully, nothing crashes) and with the
reference solution (every check passes)."""

import json
from pathlib import Path

import pytest

from tinydtl.lab.reproduce import run_notebook

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

    from tinydtl.lab.assignments import (
        check_consensus_rate,
        check_cumulative_fedavg,
        check_metropolis,
        check_partitioner,
    )
    from tinydtl.networks.gossip import metropolis_weights, slem

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


def test_checks_cannot_be_gamed():
    """Wrong answers that used to pass, or crash the check, get specific feedback."""
    import numpy as np

    from tinydtl.lab.assignments import (
        check_consensus_rate,
        check_cumulative_fedavg,
        check_partitioner,
        measured_nbytes,
    )
    from tinydtl.networks.gossip import metropolis_weights

    # the signed second eigenvalue instead of its modulus: wrong on the bipartite case
    def signed(G):
        return np.sort(np.linalg.eigvalsh(metropolis_weights(G).toarray()))[-2]

    fb = check_consensus_rate(signed)
    assert not fb.passed and "K3,3" in fb.messages[0] and "most negative" in fb.messages[0]

    # a store-all aggregator that lies about its memory
    class LyingStoreAll:
        def __init__(self):
            self.models, self.total = [], 0.0

        def add(self, w, n):
            self.models.append(([np.asarray(a, dtype=np.float32) * n for a in w]))
            self.total += n

        def result(self):
            return [sum(m[i] for m in self.models) / self.total for i in range(2)]

        @property
        def nbytes(self):
            return 108  # one model's worth, whatever it holds

    fb = check_cumulative_fedavg(LyingStoreAll)
    assert not fb.passed and any("measured" in m and "grows" in m for m in fb.messages)
    assert measured_nbytes(LyingStoreAll()) == 0

    # a half-finished class: NotImplementedError inside a property is feedback, not a crash
    class HalfDone:
        def __init__(self):
            self.sum, self.total = None, 0.0

        def add(self, w, n):
            self.sum = [np.asarray(a, np.float32) * n + (0 if self.sum is None else s) for a, s in zip(w, self.sum or [0, 0])]
            self.total += n

        def result(self):
            return [s / self.total for s in self.sum]

        @property
        def nbytes(self):
            raise NotImplementedError

    fb = check_cumulative_fedavg(HalfDone)
    assert not fb.passed and "not implemented yet" in fb.messages[0]

    # indices outside the data, negative, or not integers
    y = np.arange(100) % 10
    fb = check_partitioner(lambda y, n, s: [np.arange(-1, 9)] + [np.arange(9 + 10 * k, 19 + 10 * k) for k in range(n - 1)], y)
    assert not fb.passed and "outside the data" in fb.messages[0]
    fb = check_partitioner(lambda y, n, s: np.array_split(np.arange(len(y) + 5), n), y)
    assert not fb.passed and "outside the data" in fb.messages[0]
    fb = check_partitioner(lambda y, n, s: np.array_split(np.arange(len(y)) * 1.0, n), y)
    assert not fb.passed and "integers" in fb.messages[0]
    # a split hard-coded for the notebook's labels fails on the check's own case
    fb = check_partitioner(lambda y, n, s: np.array_split(np.arange(100), n), y)
    assert not fb.passed and "997 labels" in fb.messages[0]
    # returning None instead of an array
    fb = check_consensus_rate(lambda G: None)
    assert not fb.passed and "expected a number" in fb.messages[0]
