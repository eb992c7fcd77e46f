"""The conventions every chapter notebook follows (see README.md, "Writing a chapter")."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

sys.path.insert(0, str(ROOT / "book"))
import sync_setup_cells  # noqa: E402


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_name_is_numbered_chapter(path: Path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name} should be named NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernel_is_python3(path: Path):
    assert load(path)["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_stored_outputs(path: Path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} cell {i} has stored outputs; strip them"
            assert cell["execution_count"] is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_is_the_colab_setup_cell(path: Path):
    first = load(path)["cells"][0]
    assert first["cell_type"] == "code"
    assert sync_setup_cells.SETUP_TAG in first["metadata"].get("tags", [])
    assert source(first) == sync_setup_cells.setup_cell_source(), "run: python book/sync_setup_cells.py"


def test_setup_cell_installs_from_the_configured_repository_and_ref():
    url, ref = sync_setup_cells.repository()
    text = sync_setup_cells.setup_cell_source()
    assert f"git+{url}@{ref}" in text
    assert 'if "google.colab" in sys.modules:' in text
    # The body does nothing outside Colab: the only top-level statements are imports and the if.
    tree = ast.parse(text)
    assert all(isinstance(node, (ast.Import, ast.If)) for node in tree.body)


def test_sync_check_passes():
    result = subprocess.run([sys.executable, str(ROOT / "book" / "sync_setup_cells.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell(path: Path):
    tagged = [c for c in load(path)["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assigned = {}
    for node in ast.parse(source(tagged[0])).body:
        assert isinstance(node, ast.Assign), f"{path.name}: the parameters cell should only assign values"
        assigned[node.targets[0].id] = ast.literal_eval(node.value)
    assert assigned.get("device") == "auto", f"{path.name}: parameters need device = 'auto'"
    assert isinstance(assigned.get("seed"), int), f"{path.name}: parameters need an int seed"
    assert any(name in assigned for name in ("epochs", "steps")), f"{path.name}: parameters need the run's length"


def test_smoke_parameters_exist_in_parameters_cells():
    from test_notebooks import SMOKE_PARAMETERS

    for path in NOTEBOOKS:
        tagged = next(c for c in load(path)["cells"] if "parameters" in c["metadata"].get("tags", []))
        names = {node.targets[0].id for node in ast.parse(source(tagged)).body}
        unknown = set(SMOKE_PARAMETERS[path.stem]) - names
        assert not unknown, f"{path.name}: smoke parameters {unknown} are not in its parameters cell"


def test_every_notebook_is_in_the_toc_and_the_toc_has_no_missing_file():
    toc = (ROOT / "book" / "_toc.yml").read_text(encoding="utf-8")
    files = re.findall(r"(?:root|file):\s*(\S+)", toc)
    for entry in files:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), f"TOC entry {entry} has no file"
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files, f"{path.name} is missing from book/_toc.yml"


def test_colab_launch_buttons_are_configured():
    config = (ROOT / "book" / "_config.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+colab_url:\s*https://colab\.research\.google\.com\s*$", config, flags=re.M)
    assert "execute_notebooks: cache" in config


# --- Glue keys and exercise solutions (static checks over the chapter notebooks) ---------------

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# {glue}`key`, {glue:}`key`, {glue:text}`key:.1%` (text takes a format after the colon), {glue:md}`key`, ...
GLUE_ROLE = re.compile(r"\{glue(?::(\w*))?\}`([^`]+)`")
# ```{glue:figure} key  /  :::{glue:math} key
GLUE_DIRECTIVE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\{glue(?::\w+)?\}[ \t]+(\S+)", re.M)
CODE_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(?!\{).*?^[ \t]*\1[ \t]*$", re.M | re.S)


def markdown_glue_keys(text: str) -> set[str]:
    """The glue keys a markdown cell uses (roles and directives), ignoring code shown in fences."""
    text = CODE_FENCE.sub("", text)
    keys = set()
    for kind, body in GLUE_ROLE.findall(text):
        keys.add(body.split(":", 1)[0].strip() if kind == "text" else body.strip())
    keys.update(GLUE_DIRECTIVE.findall(text))
    return keys


def literal_strings(node: ast.AST) -> list[str] | None:
    """The string keys a loop over ``node`` yields: a literal dict/list/tuple/set of strings (or of tuples
    starting with a string), or ``literal.items()`` / ``.keys()``. None when not statically known."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("items", "keys") and not node.args:
        node = node.func.value
    if isinstance(node, ast.Dict):
        elements = node.keys
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        elements = [e.elts[0] if isinstance(e, ast.Tuple) and e.elts else e for e in node.elts]
    else:
        return None
    if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elements):
        return [e.value for e in elements]
    return None


def loop_variable_keys(tree: ast.AST, name: str) -> list[str] | None:
    """Keys a variable ``name`` takes when it is the (first) target of a ``for`` over a literal."""
    found = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)):
            target = node.target
            if isinstance(target, ast.Tuple) and target.elts:
                target = target.elts[0]
            if isinstance(target, ast.Name) and target.id == name:
                keys = literal_strings(node.iter)
                if keys is None:
                    return None
                found = (found or []) + keys
    return found


def glued_keys(path: Path) -> tuple[set[str], list[re.Pattern], list[str]]:
    """What the code cells glue: literal keys, f-string keys as patterns, and the calls it cannot resolve."""
    literal, patterns, unresolved = set(), [], []
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(source(cell))
        except SyntaxError:  # IPython magics: fall back to the literal keys a regex can see
            literal.update(re.findall(r"""\bglue\(\s*["']([^"'{}]+)["']""", source(cell)))
            continue
        for node in ast.walk(tree):
            is_glue = isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == "glue") or (isinstance(node.func, ast.Attribute) and node.func.attr == "glue")
            )
            if not is_glue or not (node.args or node.keywords):
                continue
            key = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                literal.add(key.value)
            elif isinstance(key, ast.JoinedStr):  # f"zs_{key}_lo": the literal parts must match, the rest is free
                parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in key.values]
                patterns.append(re.compile("".join(parts)))
            elif isinstance(key, ast.Name) and (keys := loop_variable_keys(tree, key.id)) is not None:
                literal.update(keys)
            else:
                unresolved.append(ast.unparse(key) if key is not None else "?")
    return literal, patterns, unresolved


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_glue_key_in_the_text_is_glued_in_the_notebook(path: Path):
    used = set()
    for cell in load(path)["cells"]:
        if cell["cell_type"] == "markdown":
            used |= markdown_glue_keys(source(cell))
    literal, patterns, unresolved = glued_keys(path)
    missing = sorted(key for key in used if key not in literal and not any(p.fullmatch(key) for p in patterns))
    if missing and unresolved:
        # A glue call whose key is computed at run time (not a literal, an f-string, or a loop over a
        # literal dict/list) may provide these keys: the static check cannot tell, so it stands aside.
        pytest.skip(f"{path.name}: cannot resolve glue keys {unresolved}; unchecked keys {missing}")
    assert not missing, f"{path.name}: the text uses glue keys {missing} that no code cell glues (glue('key', value))"


def test_the_glue_key_check_can_fail():
    assert markdown_glue_keys("a {glue:text}`acc:.1%` b {glue:}`n` c {glue}`m`\n```{glue:figure} fig\n```\n") == {"acc", "n", "m", "fig"}
    assert markdown_glue_keys("```python\nprint('{glue:text}`shown_not_used`')\n```\n") == set()
    tree = ast.parse('for key, value in {"a": 1, "b": 2}.items():\n    glue(key, value)\n')
    assert loop_variable_keys(tree, "key") == ["a", "b"]
    assert loop_variable_keys(ast.parse("for key in names:\n    glue(key, 1)\n"), "key") is None


EXERCISES_HEADING = re.compile(r"^##[ \t]+Exercises[ \t]*$", re.M)
SOLUTION = re.compile(
    r"^[ \t]*(?::{3,}|`{3,})\{admonition\}[ \t]+Solution to exercise[ \t]+(\d+)\b[^\n]*\n((?:[ \t]*:[\w-]+:[^\n]*\n)*)", re.M
)


def exercises_and_solutions(path: Path) -> tuple[list[int], set[int]] | None:
    """Numbers of the exercises listed under '## Exercises' and of the dropdown solutions after it."""
    text = "\n\n".join(source(c) + "\n" for c in load(path)["cells"] if c["cell_type"] == "markdown")
    heading = EXERCISES_HEADING.search(text)
    if heading is None:
        return None
    after = text[heading.end():]
    # The list ends at the next heading of level 1-2 or at the first admonition (the solutions).
    end = re.search(r"^#{1,2}[ \t]|^[ \t]*(?::{3,}|`{3,})\{", after, re.M)
    exercises = [int(n) for n in re.findall(r"^(\d+)[.)][ \t]", after[: end.start() if end else len(after)], re.M)]
    next_section = re.search(r"^#{1,2}[ \t]", after, re.M)
    solutions = {
        int(number)
        for number, options in SOLUTION.findall(after[: next_section.start() if next_section else len(after)])
        if re.search(r"^[ \t]*:class:[^\n]*\bdropdown\b", options, re.M)
    }
    return exercises, solutions


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_collapsed_solution(path: Path):
    found = exercises_and_solutions(path)
    if found is None:
        pytest.skip(f"{path.name} has no '## Exercises' section")
    exercises, solutions = found
    assert exercises, f"{path.name}: '## Exercises' has no numbered list (1. ..., 2. ...)"
    assert len(solutions) >= len(exercises), (
        f"{path.name}: {len(exercises)} exercises but dropdown solutions only for {sorted(solutions)}; add after the list\n"
        ":::{admonition} Solution to exercise N\n:class: dropdown\n...\n:::"
    )
    missing = sorted(set(exercises) - solutions)
    assert not missing, f"{path.name}: exercises {missing} have no ':::{{admonition}} Solution to exercise N' with ':class: dropdown'"


BIBLIOGRAPHY = ROOT / "book" / "references.bib"
CITATION = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def bibliography_keys(text: str) -> list[str]:
    return re.findall(r"^@\w+\{\s*([^,\s]+)\s*,", text, re.M)


def cited_keys(texts) -> set[str]:
    return {key.strip() for text in texts for keys in CITATION.findall(text) for key in keys.split(",")}


def book_prose() -> list[str]:
    pages = [p.read_text(encoding="utf-8") for p in (ROOT / "book").rglob("*.md")]
    cells = [source(c) for path in NOTEBOOKS for c in load(path)["cells"] if c["cell_type"] == "markdown"]
    return pages + cells


def test_every_bibliography_entry_is_cited_somewhere():
    # `jupyter-book build -n` catches a citation of a missing key; this catches the opposite: an entry nobody cites.
    keys = bibliography_keys(BIBLIOGRAPHY.read_text(encoding="utf-8"))
    assert keys, "no entries found in book/references.bib"
    uncited = sorted(set(keys) - cited_keys(book_prose()))
    assert not uncited, f"book/references.bib entries cited by no page or chapter: {uncited}; cite them where the idea is used, or remove them"


def test_the_citation_check_can_fail():
    assert cited_keys(["as in {cite:p}`a2020, b2021` and {cite}`c`"]) == {"a2020", "b2021", "c"}
    assert bibliography_keys("@article{x2020,\n title={T}}\n@inproceedings{ y2021 ,\n}") == ["x2020", "y2021"]


def _top_level_kinds(cell: dict) -> list[str]:
    """'glue', 'claims' (an ``if assert_claims`` block) or 'other' for each top-level statement of a code cell."""
    kinds = []
    for node in ast.parse(source(cell)).body:
        call = node.value if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) else None
        name = getattr(call.func, "id", getattr(call.func, "attr", None)) if call is not None else None
        if name == "glue":
            kinds.append("glue")
        elif isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "assert_claims" for n in ast.walk(node.test)):
            kinds.append("claims")
        elif name == "print":
            kinds.append("print")
        else:
            kinds.append("other")
    return kinds


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_pages_show_the_story_not_the_bookkeeping(path: Path):
    # glue calls live in cells removed from the page (their values are in the prose); the claims are in cells of
    # their own, collapsed under a title; a long set-up cell is collapsed too.
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []):
            continue
        tags, kinds = cell["metadata"].get("tags", []), _top_level_kinds(cell)
        prompt = cell["metadata"].get("mystnb", {}).get("code_prompt_show", "")
        if "glue" in kinds:
            assert set(kinds) == {"glue"} and "remove-cell" in tags, \
                f"{path.name} cell {i}: glue calls go in a cell of their own tagged remove-cell ({kinds})"
        if "claims" in kinds:
            assert set(kinds) <= {"claims", "print"} and "hide-input" in tags and "claims" in prompt, \
                f"{path.name} cell {i}: the claims go in a cell of their own, tagged hide-input with a code_prompt_show title"
        if "import cmlearn" in source(cell).splitlines() and len(source(cell).strip().splitlines()) > 6:
            assert "hide-input" in tags and prompt, f"{path.name} cell {i}: collapse the long set-up cell (hide-input + title)"


def test_notebook_code_fits_the_page_column():
    # notebooks/ruff.toml: 88 characters, the width of the page's code column; formatted by ruff format.
    ruff = [sys.executable, "-m", "ruff"]
    checked = subprocess.run([*ruff, "check", "notebooks"], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout[-3000:]
    formatted = subprocess.run([*ruff, "format", "--check", "notebooks"], cwd=ROOT, capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout[-3000:] + "\n(run: ruff format notebooks)"
