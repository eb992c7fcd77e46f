"""Generate the student copies, the autograders and the book pages of the assignments.

Each assignment is authored ONCE, with solutions and tests, as an otter-assign notebook
``assignments/source/NN_name.ipynb`` (format: https://otter-grader.readthedocs.io, "Otter Assign").
This script runs ``otter assign`` on each and writes

* ``assignments/student/NN_name/NN_name.ipynb`` - solutions removed, outputs cleared, committed
  (Colab opens it from GitHub), with ``tests/qN.py`` holding the PUBLIC tests only;
* ``assignments/build/autograders/NN_name.zip`` - the autograder, with the hidden tests (not committed);
* ``assignments/build/solutions/NN_name.ipynb`` - the solution notebook as otter grades it (not committed);
* ``book/assignments/index.md`` and ``book/assignments/NN_name.md`` - plain Markdown pages with a Colab
  badge per student copy.

The first cell of every notebook (tag ``colab-setup``) installs ``cmlearn`` from the repository and
branch named in ``book/_config.yml`` (``repository:``, the one place they are written) plus
otter-grader, and fetches the public tests, only on Google Colab. Usage::

    python assignments/generate.py            # (re)write everything above
    python assignments/generate.py --check    # exit 1 if committed student copies or pages are stale

``make assignments`` runs the first; ``tests/test_assignments.py`` runs the second.
"""

from __future__ import annotations

import argparse
import copy
import filecmp
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "assignments" / "source"
STUDENT = ROOT / "assignments" / "student"
BUILD = ROOT / "assignments" / "build"
PAGES = ROOT / "book" / "assignments"
SETUP_TAG = "colab-setup"

sys.path.insert(0, str(ROOT / "book"))
from sync_setup_cells import repository  # noqa: E402  (the single reader of book/_config.yml)

SETUP_SOURCE = '''\
# Setup: on Google Colab, install cmlearn from the book's repository (same ref as this assignment)
# and the otter-grader checker, and fetch this assignment's public tests into tests/.
# Anywhere else this cell does nothing (install locally with `pip install -e ".[assignments]"`).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "cmlearn{extras} @ git+{url}@{ref}", "otter-grader>=7"],
        check=True,
    )
    import os
    import urllib.request

    os.makedirs("tests", exist_ok=True)
    for question in {questions!r}:
        urllib.request.urlretrieve(f"{raw}/{{question}}.py", f"tests/{{question}}.py")'''

# Which chapter each assignment goes with, for the index page (the notebooks say it too).
CHAPTERS = {
    "01_contrastive_loss": "1 and 3",
    "02_fusion": "4",
    "03_evaluation_metrics": "10",
    "04_hard_negatives": "5",
    "05_cross_modal_vae": "8",
    "06_lit_emoji": "11",
}

# The extras of cmlearn an assignment's setup cell installs on Colab, when it needs more than the core package.
EXTRAS = {
    "06_lit_emoji": "pretrained,realdata",  # MiniLM, and OpenMoji's emoji with their names
}
NUMBER_WORDS = {5: "Five", 6: "Six", 7: "Seven", 8: "Eight", 9: "Nine"}


# ----------------------------------------------------------------------------- reading the sources


def masters() -> list[Path]:
    return sorted(SOURCE.glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, notebook: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def questions(notebook: dict) -> list[dict]:
    """[{"name", "points", "public", "hidden"}] from the master's raw BEGIN QUESTION / TEST CONFIG cells."""
    found, current, in_tests = [], None, False
    for cell in notebook["cells"]:
        text = source(cell).strip()
        if cell["cell_type"] == "raw" and text.startswith("# BEGIN QUESTION"):
            current = {"name": re.search(r"name:\s*(\S+)", text).group(1), "public": 0, "hidden": 0}
            found.append(current)
        elif cell["cell_type"] == "raw" and text.startswith("# BEGIN TESTS"):
            in_tests = True
        elif cell["cell_type"] == "raw" and text.startswith("# END TESTS"):
            in_tests = False
        elif in_tests and cell["cell_type"] == "code":
            points = float(re.search(r"points:\s*([\d.]+)", text).group(1))
            current["hidden" if re.search(r"hidden:\s*true", text) else "public"] += points
    for q in found:
        q["points"] = q["public"] + q["hidden"]
    return found


def title(notebook: dict) -> str:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            return source(cell).splitlines()[0].lstrip("# ").strip()
    raise ValueError("the master notebook needs a Markdown title cell")


def raw_tests_url(name: str) -> str:
    url, ref = repository()
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", url)
    if not match:
        raise SystemExit(f"book/_config.yml: repository url {url!r} is not a GitHub repository; the Colab links need one")
    return f"https://raw.githubusercontent.com/{match.group(1)}/{match.group(2)}/{ref}/assignments/student/{name}/tests"


def colab_url(name: str) -> str:
    url, ref = repository()
    github_path = url.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{github_path}/blob/{ref}/assignments/student/{name}/{name}.ipynb"


def setup_cell_source(name: str, notebook: dict) -> str:
    url, ref = repository()
    extras = f"[{EXTRAS[name]}]" if name in EXTRAS else ""
    return SETUP_SOURCE.format(url=url, ref=ref, extras=extras, raw=raw_tests_url(name),
                               questions=[q["name"] for q in questions(notebook)])


def sync_master(path: Path, check: bool) -> bool:
    """Write the up-to-date Colab setup cell into the master; return True if it was (or would be) changed."""
    notebook = read(path)
    cells = [c for c in notebook["cells"] if SETUP_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise SystemExit(f"{path.name}: expected exactly one code cell tagged {SETUP_TAG!r}, found {len(cells)}")
    wanted = setup_cell_source(path.stem, notebook)
    if source(cells[0]) == wanted:
        return False
    cells[0]["source"] = wanted.splitlines(keepends=True)
    if not check:
        write(path, notebook)
    return True


# ----------------------------------------------------------------------------- otter assign and post-processing


def otter_assign(master: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    otter = Path(sys.executable).with_name("otter")
    command = [str(otter)] if otter.exists() else [sys.executable, "-m", "otter"]
    subprocess.run([*command, "assign", "--no-pdfs", "--no-run-tests", str(master), str(out)], check=True, capture_output=True, text=True)


def student_notebook(raw_student: dict, name: str) -> dict:
    """otter's student notebook made stable and Colab-ready: setup cell first, no %pip cell, fixed ids."""
    notebook = copy.deepcopy(raw_student)
    cells = [c for c in notebook["cells"] if not source(c).lstrip().startswith("%pip install")]
    setup = [c for c in cells if SETUP_TAG in c.get("metadata", {}).get("tags", [])]
    cells = setup + [c for c in cells if c not in setup]  # the setup cell fetches tests/ before otter starts
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:02d}"  # otter draws random ids for the cells it adds
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    notebook["cells"] = cells
    notebook["metadata"].setdefault("otter", {})["assignment_name"] = name
    notebook["metadata"]["colab"] = {"provenance": []}
    return notebook


def build_one(master: Path, student_root: Path, build_root: Path) -> None:
    name = master.stem
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / name
        otter_assign(master, out)
        student_dir = student_root / name
        shutil.rmtree(student_dir, ignore_errors=True)
        write(student_dir / f"{name}.ipynb", student_notebook(read(out / "student" / f"{name}.ipynb"), name))
        shutil.copytree(out / "student" / "tests", student_dir / "tests")
        (build_root / "autograders").mkdir(parents=True, exist_ok=True)
        (build_root / "solutions").mkdir(parents=True, exist_ok=True)
        (zip_file,) = (out / "autograder").glob("*.zip")
        shutil.copyfile(zip_file, build_root / "autograders" / f"{name}.zip")
        # the solution notebook, prepared like the student copy (what a perfect submission looks like)
        write(build_root / "solutions" / f"{name}.ipynb", student_notebook(read(out / "autograder" / f"{name}.ipynb"), name))


# ----------------------------------------------------------------------------- book pages


def badge(name: str) -> str:
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(name)})"


def _without_run_instructions(intro: str) -> str:
    """The intro without the notebook's "Run the cells in order ..." sentence, to the end of its paragraph."""
    kept, skipping = [], False
    for line in intro.splitlines():
        skipping = line.startswith("Run the cells in order") or (skipping and line.strip() != "")
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def page(master: Path) -> str:
    notebook, name = read(master), master.stem
    url, ref = repository()
    intro = next(source(c) for c in notebook["cells"] if c["cell_type"] == "markdown")
    intro = _without_run_instructions(intro)
    rows = "\n".join(f"| {q['name']} | {q['public']:g} | {q['hidden']:g} | {q['points']:g} |" for q in questions(notebook))
    total = sum(q["points"] for q in questions(notebook))
    public = sum(q["public"] for q in questions(notebook))
    return f"""{intro.strip()}

{badge(name)}

**Student copy:** [`assignments/student/{name}/{name}.ipynb`]({url}/blob/{ref}/assignments/student/{name}/{name}.ipynb)
(open it in Colab with the badge, or download it with its `tests/` folder). Its first cell installs `cmlearn`
and otter-grader on Colab; `grader.check("qN")` cells run the public tests. Submit the `.ipynb` file.

| question | public points | hidden points | total |
|---|---|---|---|
{rows}
| **all** | **{public:g}** | **{total - public:g}** | **{total:g}** |

*This page is generated by `python assignments/generate.py` from `assignments/source/{name}.ipynb`; edit that notebook.*
"""


def index_page(sources: list[Path]) -> str:
    rows = []
    for master in sources:
        notebook, name = read(master), master.stem
        total = sum(q["points"] for q in questions(notebook))
        hidden = sum(q["hidden"] for q in questions(notebook))
        rows.append(f"| [{title(notebook)}]({name}.md) | {CHAPTERS.get(name, '')} | {total:g} ({hidden:g} hidden) | {badge(name)} |")
    table = "\n".join(rows)
    return f"""# Assignments

{NUMBER_WORDS.get(len(sources), len(sources))} graded assignments, each tied to chapters of the book. A student opens the student copy in Colab (badge),
fills in the marked cells, checks them with the public tests (`grader.check("qN")`), and hands in the `.ipynb`.
The teacher's autograder adds hidden tests.

| assignment | chapters | points | open |
|---|---|---|---|
{table}

## For teachers

Each assignment is written once, with solutions and tests, as an [otter-grader](https://otter-grader.readthedocs.io)
notebook in `assignments/source/`. From a clone of the repository:

```bash
pip install -e ".[assignments]"
make assignments                      # student copies, autograders (with hidden tests), these pages
make grade SUBMISSIONS=path/to/folder # grade every .ipynb in the folder, no Docker needed
```

`make grade` writes `scores.csv` and `scores.md` (one row per submission, one column per question, the total)
into the folder `grades/` next to the submissions' folder (or `OUT=...`). Without `make`:
`python assignments/grade.py path/to/folder`. The hidden tests live only in
`assignments/build/autograders/*.zip`, which is not committed: keep them from students.

Grading runs each submitted notebook as code in your Python environment, without a container (that is what
lets it work without Docker). A submission can do anything your account can do: grade in a throwaway virtual
machine or account if you do not trust the submissions.

*This page is generated by `python assignments/generate.py`.*
"""


# ----------------------------------------------------------------------------- main


def generate(student_root: Path, pages_root: Path, build_root: Path, check: bool = False) -> list[str]:
    """Write everything; with ``check``, only the masters' setup cells are compared, not rewritten."""
    stale = [m.name for m in masters() if sync_master(m, check)]
    for master in masters():
        build_one(master, student_root, build_root)
    pages_root.mkdir(parents=True, exist_ok=True)
    for master in masters():
        (pages_root / f"{master.stem}.md").write_text(page(master), encoding="utf-8")
    (pages_root / "index.md").write_text(index_page(masters()), encoding="utf-8")
    return stale


def differences(a: Path, b: Path) -> list[str]:
    """Relative paths whose content differs between two trees (or exist in one only)."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    return sorted(str(p) for p in files_a ^ files_b) + sorted(
        str(p) for p in files_a & files_b if not filecmp.cmp(a / p, b / p, shallow=False)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary folder and report drift")
    parser.add_argument("--build-dir", type=Path, default=BUILD, help="where autograders and solutions go (default assignments/build)")
    args = parser.parse_args()
    if not args.check:
        generate(STUDENT, PAGES, args.build_dir)
        print(f"student copies in {STUDENT.relative_to(ROOT)}, autograders in {args.build_dir}, pages in {PAGES.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = generate(Path(tmp) / "student", Path(tmp) / "pages", args.build_dir, check=True)
        drift = [f"assignments/source/{s} (setup cell)" for s in stale]
        drift += [f"assignments/student/{p}" for p in differences(Path(tmp) / "student", STUDENT)]
        drift += [f"book/assignments/{p}" for p in differences(Path(tmp) / "pages", PAGES)]
    if drift:
        print("out of date (run python assignments/generate.py): " + ", ".join(drift))
        return 1
    print("student copies and pages are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
