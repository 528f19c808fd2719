"""The coursework (``coursework/``): one nbgrader assignment per lesson, graded the way a lecturer grades.

nbgrader itself runs end to end, as the README tells a lecturer to run it, on a copy of the course in a
temporary folder: ``generate_assignment``, then ``autograde``, ``generate_feedback`` and ``export``, on
the reference solution of every assignment (full marks) and, alternately, on its handed-out notebook (zero,
no crash) or a wrong answer (partial marks, the right feedback). The released notebooks must hold no
solution and no hidden test, and the feedback no hidden test. The hidden tests of every assignment are
also run in-process, on the handed-out notebook and on many wrong answers (``tests/coursework_answers.py``),
each of which must get its own message. One test decides the lock's answer to the alembic/SQLAlchemy trap:
nbgrader's gradebook and TensorFlow Federated (one federated round) work in the same environment."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from coursework_answers import ANSWERS

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "coursework"
SOURCE = COURSE / "source"
ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir())
STUDENTS = ("reference", "handed_out", "wrong")
#: nbgrader grades every assignment's reference solution, and either its handed-out notebook or its first
#: wrong answer (alternately: each kind on five assignments; the in-process tests cover all ten of each)
SECOND_STUDENT = {a: ("handed_out", "wrong")[k % 2] for k, a in enumerate(ASSIGNMENTS)}

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*\n?", re.S | re.M)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


def notebook(assignment: str) -> dict:
    return json.loads((SOURCE / assignment / f"{assignment}.ipynb").read_text())


def nbgrader_meta(cell) -> dict:
    return cell["metadata"].get("nbgrader", {})


def source(cell) -> str:
    return "".join(cell["source"])


def reference_code(cell) -> str:
    """A solution cell as the lecturer wrote it, without the markers."""
    return SOLUTION.sub(lambda m: m.group(1), source(cell))


def lines_of(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if len(line.strip()) > 15}


def secret_lines(nb: dict, *, hidden_only: bool = False) -> set[str]:
    """Every non-trivial line of the solutions and the hidden tests that the rest of the notebook does not
    also show (an import the demonstration cell has too is no secret): none may reach a student. With
    ``hidden_only``, the hidden tests' lines that are not also a line of the solutions (which a student's
    feedback shows, as the student's own code)."""
    hidden, solutions, public = set(), set(), set()
    for cell in nb["cells"]:
        text = source(cell)
        hidden.update(*map(lines_of, HIDDEN.findall(text)))
        solutions.update(*map(lines_of, SOLUTION.findall(text)))
        public.update(lines_of(HIDDEN.sub("", SOLUTION.sub("", text))))
    return hidden - public - solutions if hidden_only else (hidden | solutions) - public


def handed_out_code(cell) -> str:
    """A solution cell as nbgrader releases it."""
    return SOLUTION.sub(lambda m: (lambda pad: f"{pad}# YOUR CODE HERE\n{pad}raise NotImplementedError()\n")(
        re.match(r"[ \t]*", m.group(0)).group(0)), source(cell))


# ----------------------------------------------------------------------------- the course as committed
def test_one_assignment_per_lesson_02_to_11():
    assert [a[:3] for a in ASSIGNMENTS] == [f"l{n:02d}" for n in range(2, 12)]
    assert (COURSE / "nbgrader_config.py").is_file()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_assignment_is_an_nbgrader_notebook_with_hidden_tests(assignment):
    nb = notebook(assignment)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"  # a kernel every environment has (see the README)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "commit without outputs"
    ids = [nbgrader_meta(c)["grade_id"] for c in nb["cells"] if nbgrader_meta(c)]
    assert len(ids) == len(set(ids))
    solutions = [c for c in code if nbgrader_meta(c).get("solution")]
    tests = [c for c in code if nbgrader_meta(c).get("grade")]
    assert solutions and all("### BEGIN SOLUTION" in source(c) for c in solutions)
    assert len(tests) >= 2 and sum(nbgrader_meta(c)["points"] for c in tests) == 10
    for cell in tests:  # every check is hidden, and reports through `grade` (a message, never the test's code)
        (hidden,) = HIDDEN.findall(source(cell))
        assert "grade(_check" in hidden and "def _check" in hidden and nbgrader_meta(cell)["locked"]
    predict = [c for c in code if "MY_PREDICTION" in source(c) and not nbgrader_meta(c)]
    assert predict, "a 'predict, then run' cell the student fills in"
    assert any("Predict, then run" in source(c) for c in nb["cells"] if c["cell_type"] == "markdown")


# ----------------------------------------------------------------------------- in-process grading
def grade_in_process(assignment: str, replace: dict, *, handed_out: bool = False) -> dict:
    """Run the import, solution and test cells (hidden tests included) in one namespace.

    ``replace`` maps solution cell ids to code; the others get the reference solution (or, with
    ``handed_out``, what nbgrader releases: ``raise NotImplementedError()``). Returns
    ``{test cell id: (passed, message)}`` as nbgrader would score them (a cell passes when it does not raise).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace = {"__name__": "__main__"}
    results = {}
    for cell in notebook(assignment)["cells"]:
        meta = nbgrader_meta(cell)
        if cell["cell_type"] != "code" or not meta or not (meta.get("solution") or meta.get("grade")
                                                           or meta["grade_id"] == "imports"):
            continue  # markdown, the student's prediction, the demonstration cells
        default = handed_out_code(cell) if handed_out else reference_code(cell)
        code = replace.get(meta["grade_id"], default) if meta.get("solution") else source(cell)
        code = code.replace("### BEGIN HIDDEN TESTS\n", "").replace("### END HIDDEN TESTS\n", "")
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                exec(compile(code, f"<{assignment}:{meta['grade_id']}>", "exec"), namespace)
            outcome = (True, out.getvalue())
        except Exception as exc:  # noqa: BLE001 - a failed test cell
            outcome = (False, f"{type(exc).__name__}: {exc}")
        if meta.get("grade"):
            results[meta["grade_id"]] = outcome
    plt.close("all")
    return results


def test_handed_out_notebooks_fail_every_hidden_test_helpfully():
    for assignment in ASSIGNMENTS:
        results = grade_in_process(assignment, {}, handed_out=True)
        for cell, (ok, message) in results.items():
            assert not ok and "not implemented yet" in message and message.startswith("CheckFailed"), (cell, message)


CASES = [(a, label, replace, failing) for a in ASSIGNMENTS for label, replace, failing in ANSWERS[a]]


@pytest.mark.parametrize("assignment, label, replace, failing", CASES, ids=[f"{c[0][:3]}-{c[1]}" for c in CASES])
def test_common_wrong_answers_get_their_own_feedback(assignment, label, replace, failing):
    results = grade_in_process(assignment, replace)
    for cell, (ok, message) in results.items():
        if cell in failing:
            assert not ok and failing[cell] in message, (cell, message)
            assert message.startswith("CheckFailed"), f"{cell}: a hidden check's message, not a traceback: {message}"
        else:
            assert ok, (cell, message)


def test_every_assignment_has_wrong_answers_graded_end_to_end_and_in_process():
    assert set(ANSWERS) == set(ASSIGNMENTS)
    assert all(len(answers) >= 2 for answers in ANSWERS.values())


# ----------------------------------------------------------------------------- nbgrader end to end
def nbgrader(*args, cwd) -> subprocess.Popen:
    """``nbgrader ARGS`` in ``cwd`` (the course), as a lecturer types it; the venv's commands on PATH
    (a new gradebook runs the ``alembic`` command)."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run_all(*procs) -> None:
    """Wait for nbgrader commands started together (two copies of the course use both cores)."""
    outputs = [p.communicate()[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, f"{' '.join(p.args[2:])} exited {p.returncode}:\n{out[-3000:]}"


def submission(release: dict, src: dict, student: str, assignment: str) -> dict:
    """The released notebook with the student's cells filled in (reference, as handed out, or wrong)."""
    code = {nbgrader_meta(c)["grade_id"]: reference_code(c) for c in src["cells"] if nbgrader_meta(c).get("solution")}
    if student == "handed_out":
        code = {}
    elif student == "wrong":
        code.update(ANSWERS[assignment][0][1])
    nb = json.loads(json.dumps(release))
    for cell in nb["cells"]:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in code:
            cell["source"] = code[gid]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course generated once, graded on two copies at the same time (half of the submissions each)."""
    a = tmp_path_factory.mktemp("course") / "a"
    a.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", a)
    shutil.copytree(SOURCE, a / "source")
    run_all(nbgrader("generate_assignment", "*", cwd=a))
    b = a.with_name("b")
    shutil.copytree(a, b)  # the release and the gradebook (which holds the source's test cells) come along
    for assignment in ASSIGNMENTS:
        release = json.loads((a / "release" / assignment / f"{assignment}.ipynb").read_text())
        for student in ("reference", SECOND_STUDENT[assignment]):
            where = a if student == "reference" else b
            folder = where / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nb = submission(release, notebook(assignment), student, assignment)
            (folder / f"{assignment}.ipynb").write_text(json.dumps(nb, indent=1))
    for step in (("autograde", "*"), ("generate_feedback", "*"), ("export",)):
        run_all(nbgrader(*step, cwd=a), nbgrader(*step, cwd=b))
    grades = {}
    for where in (a, b):
        with open(where / "grades.csv", newline="") as f:
            for row in csv.DictReader(f):
                grades[row["student_id"], row["assignment"]] = (float(row["score"]), float(row["max_score"]))
    feedback = {(student, assignment): where / "feedback" / student / assignment / f"{assignment}.html"
                for where in (a, b) for student in STUDENTS for assignment in ASSIGNMENTS
                if (where / "feedback" / student / assignment).is_dir()}
    return {"release": a / "release", "grades": grades, "feedback": feedback}


def visible_text(path: Path) -> str:
    """The text a student reads in a feedback page (tags, styles and scripts removed)."""
    import html

    page = re.sub(r"<style.*?</style>|<script.*?</script>", "", path.read_text(), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_released_notebooks_hold_no_solution_and_no_hidden_test(course):
    for assignment in ASSIGNMENTS:
        path = course["release"] / assignment / f"{assignment}.ipynb"
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "def _check", "grade(_check"):
            assert marker not in text, (assignment, marker)
        released = set().union(*(lines_of(source(c)) for c in json.loads(text)["cells"]))
        assert secret_lines(notebook(assignment)) & released == set(), assignment
        assert "raise NotImplementedError" in text


def test_reference_solutions_get_full_marks(course):
    for assignment in ASSIGNMENTS:
        assert course["grades"]["reference", assignment] == (10.0, 10.0), assignment


def test_handed_out_notebooks_get_zero_without_crashing(course):
    for assignment in [a for a in ASSIGNMENTS if SECOND_STUDENT[a] == "handed_out"]:
        assert course["grades"]["handed_out", assignment] == (0.0, 10.0), assignment
        text = visible_text(course["feedback"]["handed_out", assignment])
        assert "not implemented yet" in text and "Check failed" in text


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if SECOND_STUDENT[a] == "wrong"])
def test_wrong_answer_gets_partial_marks_and_its_feedback(course, assignment):
    label, replace, failing = ANSWERS[assignment][0]
    src = notebook(assignment)
    lost = sum(nbgrader_meta(c)["points"] for c in src["cells"] if nbgrader_meta(c).get("grade_id") in failing)
    assert course["grades"]["wrong", assignment] == (10.0 - lost, 10.0), label
    text = visible_text(course["feedback"]["wrong", assignment])
    for words in failing.values():
        assert words in text, (label, words)


def test_feedback_never_shows_a_hidden_test(course):
    for (student, assignment), page in course["feedback"].items():
        text = visible_text(page)
        assert "def _check" not in text and "HIDDEN TESTS" not in text and "Traceback" not in text
        shown = {line.strip() for line in text.splitlines()}
        own = set().union(*map(lines_of, ANSWERS[assignment][0][1].values())) if student == "wrong" else set()
        assert secret_lines(notebook(assignment), hidden_only=True) & shown - own == set(), (student, assignment)


# ----------------------------------------------------------------------------- the grading helpers
def test_a_failed_check_shows_its_message_and_no_code():
    from tinydtl.lab.exercises import Feedback
    from tinydtl.lab.grading import CheckFailed, grade, require

    with pytest.raises(CheckFailed) as info:
        require(Feedback("rate", False, ["the rate is |λ₂|, not the gap"]))
    shown = info.value._render_traceback_()
    assert "Check failed" in shown[0] and "rate" in shown[0] and shown[1].strip() == "- the rate is |λ₂|, not the gap"
    with pytest.raises(CheckFailed, match="`metropolis` is not defined"):
        grade(lambda fn: Feedback("x", True), "metropolis", namespace={})
    with pytest.raises(CheckFailed, match="could not be checked: KeyError"):
        grade(lambda fn: {}["boom"], "f", namespace={"f": len})
    assert grade(lambda fn: Feedback("x", True, ["fine"]), "f", namespace={"f": len}).passed
    with pytest.raises(TypeError, match="Feedback"):
        require("passed")


# ----------------------------------------------------------------------------- the lock's alembic trap
def test_gradebook_and_tensorflow_federated_in_one_environment(tmp_path, monkeypatch):
    """alembic 1.18.2 fails at import on the SQLAlchemy 1.4.20 google-vizier (TFF) pins; the lock excludes
    it (``constraint-dependencies``) rather than overriding SQLAlchemy: the gradebook runs its migrations,
    vizier's SQL datastore and a TFF federated round run, in this one environment."""
    from importlib.metadata import requires, version

    import numpy as np
    from packaging.requirements import Requirement

    vizier_sqlalchemy = [Requirement(r) for r in requires("google-vizier") if r.lower().startswith("sqlalchemy")]
    assert vizier_sqlalchemy and all(version("sqlalchemy") in r.specifier for r in vizier_sqlalchemy)
    assert version("alembic") != "1.18.2"
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:  # a new gradebook: alembic stamps it
        gb.update_or_create_assignment("l04_metropolis_consensus")
        gb.add_student("ada", first_name="Ada", last_name="Lovelace")
        assert [s.id for s in gb.students] == ["ada"] and gb.find_assignment("l04_metropolis_consensus")

    import sqlalchemy
    from vizier._src.service.sql_datastore import SQLDataStore

    SQLDataStore(sqlalchemy.create_engine("sqlite:///:memory:"))

    from tinydtl.algorithms.fedavg import run_fedavg
    from tinydtl.data.datasets import load_mnist
    from tinydtl.data.partition import iid
    from tinydtl.runtime.processes import find_processes, no_stray_processes

    (x, y), (xt, yt) = load_mnist()
    before = find_processes()
    with no_stray_processes():
        h = run_fedavg(x[:600], y[:600], iid(y[:600], 3, seed=0), x_test=xt[:200], y_test=yt[:200], rounds=1,
                       engine="tff", seed=0)
    assert find_processes() - before == set()
    assert h.rounds == 1 and np.isfinite(h.column("accuracy")[-1])
