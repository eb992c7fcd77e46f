"""Assignments (issue 8): student copies in sync, no vacuous tests, no leaked solutions, grading works.

The six assignments are authored once in assignments/source/ (otter-assign notebooks with solutions,
public and hidden tests); ``assignments/generate.py`` writes the committed student copies and the book
pages, and autograders into a build folder. These tests regenerate everything into a temporary folder,
then grade every solution notebook (full marks expected, every test case passing) and every committed
student copy as handed out (zero expected, every test case failing) with ``assignments/grade.py``, the
no-Docker grader behind ``make grade``.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("otter", reason="otter-grader is needed: pip install -e '.[assignments]'")

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "assignments" / "source").glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.stem for p in SOURCES]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"assignments_{name}", ROOT / "assignments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = load("generate")
grade = load("grade")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def student_notebook(name: str) -> Path:
    return ROOT / "assignments" / "student" / name / f"{name}.ipynb"


def test_six_assignments_with_public_and_hidden_tests_in_every_question():
    assert NAMES == ["01_contrastive_loss", "02_fusion", "03_evaluation_metrics", "04_hard_negatives", "05_cross_modal_vae",
                     "06_lit_emoji"]
    for source in SOURCES:
        questions = generate.questions(json.loads(source.read_text(encoding="utf-8")))
        assert len(questions) >= 3, source.name
        for q in questions:
            assert q["public"] > 0 and q["hidden"] > 0, f"{source.name} {q['name']}: needs public and hidden tests, got {q}"


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """Regenerate into a temporary build folder with --check; return that folder (autograders, solutions)."""
    build_dir = tmp_path_factory.mktemp("assignments_build")
    result = subprocess.run(
        [sys.executable, str(ROOT / "assignments" / "generate.py"), "--check", "--build-dir", str(build_dir)],
        capture_output=True, text=True, timeout=600,
    )
    build_dir.joinpath("check.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    build_dir.joinpath("check.rc").write_text(str(result.returncode), encoding="utf-8")
    return build_dir


def test_committed_student_copies_and_pages_match_a_fresh_generation(build):
    log = (build / "check.log").read_text(encoding="utf-8")
    assert (build / "check.rc").read_text() == "0", f"drift or failure, run `python assignments/generate.py`:\n{log[-3000:]}"
    assert sorted(p.stem for p in (build / "autograders").glob("*.zip")) == NAMES


@pytest.fixture(scope="module")
def graded(build, tmp_path_factory) -> dict[str, dict]:
    """Grade every solution and every committed student copy, as handed out, in one folder."""
    folder = tmp_path_factory.mktemp("submissions")
    for name in NAMES:
        shutil.copyfile(build / "solutions" / f"{name}.ipynb", folder / f"solution_{name}.ipynb")
        shutil.copyfile(student_notebook(name), folder / f"student_{name}.ipynb")
    rows = grade.grade_folder(folder, build / "autograders")
    return {row["submission"]: row for row in rows}


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes_every_test_for_full_marks(graded, name):
    row = graded[f"solution_{name}.ipynb"]
    assert row["assignment"] == name and "error" not in row, row
    failed = [case for cases in row["cases"].values() for case in cases if not case[2]]
    assert not failed and row["total"] == row["out_of"] == 10, f"{name}: failed {failed}, score {row['total']}/{row['out_of']}"


@pytest.mark.parametrize("name", NAMES)
def test_student_copy_as_handed_out_fails_every_test(graded, name):
    row = graded[f"student_{name}.ipynb"]
    assert row["assignment"] == name and "error" not in row, row
    passed = [case for cases in row["cases"].values() for case in cases if case[2]]
    assert not passed and row["total"] == 0, f"{name}: vacuous tests pass without a solution: {passed}"
    assert {case[1] for cases in row["cases"].values() for case in cases} == {True, False}  # public and hidden both ran


def solution_and_hidden_lines(source: Path) -> tuple[set[str], set[str], set[str]]:
    """(solution lines, hidden-test lines, lines also given to students) of a master, stripped.

    A line counts as given (not secret) when it, or a prompt quoting it, is also outside the solution blocks.
    """
    solution, hidden, given = set(), set(), set()
    in_solution = in_tests = False
    for cell in cells(source):
        body = text(cell)
        if cell["cell_type"] == "raw":
            marker = body.strip()
            in_solution = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(marker, in_solution)
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(marker, in_tests)
            continue
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        if in_tests:
            target = hidden if re.search(r"hidden:\s*true", body) else given
            target.update(line for line in lines if "TEST CONFIG" not in line and not line.startswith(("points:", "hidden:")))
            continue
        inside = False
        for line in lines:
            if line.startswith("# BEGIN SOLUTION"):
                inside = True
            elif line.startswith("# END SOLUTION"):
                inside = False
            elif in_solution and cell["cell_type"] == "markdown":
                solution.add(line)
            elif in_solution and (inside or line.endswith("# SOLUTION")):
                solution.add(line.removesuffix("# SOLUTION").strip())
            else:
                given.add(line)
    given_text = "\n".join(given)
    return {line for line in solution if line not in given_text}, {line for line in hidden if line not in given_text}, given


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_code_or_hidden_test_in_the_student_copy(name):
    solution, hidden, _ = solution_and_hidden_lines(ROOT / "assignments" / "source" / f"{name}.ipynb")
    assert len(solution) >= 3 and len(hidden) >= 3
    folder = ROOT / "assignments" / "student" / name
    handed_out = "\n".join(p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file())
    notebook_lines = {line.strip() for cell in cells(student_notebook(name)) for line in text(cell).splitlines()}
    test_text = "\n".join(p.read_text(encoding="utf-8") for p in (folder / "tests").glob("*.py"))
    leaked = sorted(line for line in solution if line in notebook_lines or (len(line) > 20 and line in handed_out))
    assert not leaked, f"{name}: solution lines in the student copy: {leaked}"
    leaked_tests = sorted(line for line in hidden if len(line) > 12 and (line in test_text or line in notebook_lines))
    assert not leaked_tests, f"{name}: hidden test lines in the student copy: {leaked_tests}"


@pytest.mark.parametrize("name", NAMES)
def test_student_copy_is_colab_ready(name):
    url, ref = generate.repository()
    notebook = json.loads(student_notebook(name).read_text(encoding="utf-8"))
    first = notebook["cells"][0]
    assert "colab-setup" in first["metadata"]["tags"] and notebook["metadata"]["otter"]["assignment_name"] == name
    setup = text(first)
    extras = f"[{generate.EXTRAS[name]}]" if name in generate.EXTRAS else ""
    if name == "06_lit_emoji":   # OpenMoji's emoji and MiniLM: the realdata and pretrained extras
        assert extras == "[pretrained,realdata]"
    assert f"cmlearn{extras} @ git+{url}@{ref}" in setup and "otter-grader" in setup and '"google.colab" in sys.modules' in setup
    questions = [q["name"] for q in generate.questions(json.loads((ROOT / "assignments" / "source" / f"{name}.ipynb").read_text()))]
    assert f"{generate.raw_tests_url(name)}" in setup and repr(questions) in setup
    sources = [text(c) for c in notebook["cells"]]
    assert not any(s.lstrip().startswith("%pip") for s in sources)
    for q in questions:
        assert f'grader.check("{q}")' in sources and (ROOT / "assignments" / "student" / name / "tests" / f"{q}.py").is_file()
    assert all(c.get("outputs", []) == [] for c in notebook["cells"])


def test_book_pages_link_every_student_copy_in_colab():
    index = (ROOT / "book" / "assignments" / "index.md").read_text(encoding="utf-8")
    for name in NAMES:
        page = (ROOT / "book" / "assignments" / f"{name}.md").read_text(encoding="utf-8")
        assert generate.colab_url(name) in page and generate.colab_url(name) in index and f"({name}.md)" in index
        assert generate.colab_url(name).startswith(f"https://colab.research.google.com/github/{generate.repository()[0].removeprefix('https://github.com/')}/blob/")


def test_book_pages_drop_the_notebooks_run_instructions_whole():
    # "Run the cells in order ..." is for the notebook; on the book's page it goes, with the lines it continues on.
    intro = "You will implement it.\nRun the cells in order; the teacher's\nautograder also runs hidden tests.\n\nNext paragraph."
    assert generate._without_run_instructions(intro) == "You will implement it.\n\nNext paragraph."
    for name in NAMES:
        page = (ROOT / "book" / "assignments" / f"{name}.md").read_text(encoding="utf-8")
        assert "Run the cells in order" not in page and "hidden tests, so make" not in page, name


def test_grade_command_writes_score_tables(graded, tmp_path):
    csv_path, md_path = grade.write_tables(list(graded.values()), tmp_path)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert len(rows) == 2 * len(NAMES) and {"q1", "q2", "q3", "total", "possible", "percent"} <= set(rows[0])
    by_name = {r["submission"]: r for r in rows}
    assert by_name["solution_02_fusion.ipynb"]["percent"] == "100" and by_name["student_02_fusion.ipynb"]["total"] == "0"
    assert md_path.read_text(encoding="utf-8").count("\n") == 2 + len(rows)


def test_grade_cli_reports_a_notebook_it_cannot_match(tmp_path, build):
    submissions = tmp_path / "in"
    submissions.mkdir()
    (submissions / "homework.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = subprocess.run(
        [sys.executable, str(ROOT / "assignments" / "grade.py"), str(submissions), "--autograders", str(build / "autograders"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "not an assignment notebook" in (tmp_path / "out" / "scores.md").read_text(encoding="utf-8")
