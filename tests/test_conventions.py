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
