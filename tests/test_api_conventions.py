"""The package reads like the book: its top-level names are the chapters' vocabulary, and each module says
truthfully which chapters use it.

* every name in ``cmlearn.__all__`` is used by some chapter or assignment (code, or an exercise's code);
* each chapter imports cmlearn in at most two statements (``import cmlearn`` and ``from cmlearn import (...)``,
  plus chapter 12's ``torchrun`` script module);
* a module's docstring line "Used in chapter(s) ..." lists exactly the chapters that use a name defined in
  that module (for a package, in any of its modules), whether imported from the module or from ``cmlearn``;
  a module no chapter uses directly says "Used by";
* no module is longer than ~400 lines.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import cmlearn

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cmlearn"
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ASSIGNMENTS = sorted((ROOT / "assignments" / "source").glob("*.ipynb"))
MAX_MODULE_LINES = 420


def notebook_text(path: Path, kinds=("code", "markdown")) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] in kinds)


def chapter_number(path: Path) -> int:
    return int(path.name[:2])


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def defining_modules() -> dict[str, str]:
    """Top-level name -> the module it is defined in (a submodule itself for ``from cmlearn import experiment``)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    origin = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cmlearn"):
            for alias in node.names:
                name = alias.asname or alias.name
                origin[name] = f"cmlearn.{alias.name}" if node.module == "cmlearn" else resolve(node.module, alias.name)
    for name in cmlearn._PRETRAINED:  # lazy (PEP 562)
        origin[name] = "cmlearn.encoders.pretrained"
    return origin


def resolve(module: str, name: str) -> str:
    """The module where ``name`` is defined, following re-exports through packages' __init__ files."""
    for _ in range(5):
        path = ROOT / Path(*module.split("."))
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if not file.exists():
            return module
        tree = ast.parse(file.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        if name in defined:
            return module
        source = next((n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module
                       and any((a.asname or a.name) == name for a in n.names)), None)
        if source is None:
            return module
        module = source
    return module


def modules_used_by(text: str) -> set[str]:
    """The cmlearn modules whose names a chapter's code uses."""
    origin = defining_modules()
    used = set()
    for match in re.finditer(r"from (cmlearn(?:\.\w+)+) import \(?([\w\s,]+)\)?", text):
        for name in re.findall(r"\w+", match.group(2)):
            used.add(resolve(match.group(1), name))
    top_level = re.search(r"from cmlearn import \(([^)]*)\)", text)
    names = set(re.findall(r"\w+", top_level.group(1))) if top_level else set()
    names |= set(re.findall(r"\bcmlearn\.(\w+)", text))
    used |= {origin[name] for name in names if name in origin}
    return {m for m in used if m != "cmlearn"}


def claimed_chapters(docstring: str) -> set[int] | None:
    """Chapter numbers named by the docstring's "Used in ..." sentence; None when it has none."""
    match = re.search(r"Used in (.*?)(?:\.\s|\.$|:)", docstring, flags=re.S)
    if not match:
        return None
    sentence = match.group(1)
    numbers = set()
    for a, b in re.findall(r"(\d+)\s*[-–]\s*(\d+)", sentence):
        numbers |= set(range(int(a), int(b) + 1))
    sentence = re.sub(r"(\d+)\s*[-–]\s*(\d+)", " ", sentence)
    sentence = re.sub(r"``\d\d_\w+``", " ", sentence)  # (``04_fusion``) repeats the number
    numbers |= {int(n) for n in re.findall(r"\b(\d{1,2})\b", sentence)}
    return numbers


def package_modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "scripts" not in p.parts)


def test_every_top_level_name_is_used_by_a_chapter_or_an_assignment():
    texts = [notebook_text(p) for p in CHAPTERS + ASSIGNMENTS]
    unused = [name for name in cmlearn.__all__ if not any(re.search(rf"\b{re.escape(name)}\b", t) for t in texts)]
    assert not unused, f"top-level names no chapter or assignment uses: {unused}"
    assert len(set(cmlearn.__all__)) == len(cmlearn.__all__), "a name is listed twice in cmlearn.__all__"
    missing = [name for name in cmlearn.__all__ if not hasattr(cmlearn, name)]
    assert not missing, f"cmlearn.__all__ lists names cmlearn does not have: {missing}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_imports_cmlearn_in_at_most_two_statements(path: Path):
    code = notebook_text(path, kinds=("code",))
    statements = [line for line in code.splitlines() if re.match(r"(from cmlearn\S* import|import cmlearn)", line)]
    others = [s for s in statements if s not in ("import cmlearn", "from cmlearn import (", "from cmlearn.scripts import train_ddp")]
    assert not others and len(statements) <= 3, f"{path.name}: import the chapter vocabulary from cmlearn in one statement: {statements}"


def test_every_chapter_name_is_at_the_top_level():
    for path in CHAPTERS:
        block = re.search(r"from cmlearn import \(([^)]*)\)", notebook_text(path, kinds=("code",)))
        names = re.findall(r"\w+", block.group(1)) if block else []
        missing = [n for n in names if n not in cmlearn.__all__]
        assert not missing, f"{path.name} imports names missing from cmlearn.__all__: {missing}"


def test_each_modules_used_in_line_names_the_chapters_that_use_it():
    used_in = {}
    for path in CHAPTERS:
        for module in modules_used_by(notebook_text(path, kinds=("code",))):
            used_in.setdefault(module, set()).add(chapter_number(path))
    wrong = []
    for path in package_modules():
        module = module_name(path)
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        claimed = claimed_chapters(docstring)
        actual = set().union(*(chapters for used, chapters in used_in.items() if used == module or used.startswith(module + ".")))
        if actual and claimed != actual:
            wrong.append(f"{module}: docstring says {sorted(claimed) if claimed is not None else 'nothing'}, chapters using it: {sorted(actual)}")
        elif not actual and claimed:
            wrong.append(f"{module}: docstring says chapters {sorted(claimed)}, but no chapter uses it directly (say 'Used by ...')")
    assert not wrong, "\n".join(wrong)


def test_the_used_in_check_reads_docstrings_and_can_fail():
    assert claimed_chapters("Used in chapter 4 (``04_fusion``) and chapter 6 (``06_framework``).") == {4, 6}
    assert claimed_chapters("Used in chapters 1-3, 5 and 11 (the aligners).") == {1, 2, 3, 5, 11}
    assert claimed_chapters("Used by :mod:`cmlearn.model`.") is None
    assert modules_used_by("from cmlearn import (\n    DualEncoder, fit,\n)\n") == {"cmlearn.dual_encoder", "cmlearn.train.loop"}
    assert modules_used_by("x = cmlearn.select_device('cpu')") == {"cmlearn.runtime"}


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_about_400_lines(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by concept"
