"""Grade a folder of submitted assignment notebooks locally, without Docker; write a score table.

Every ``*.ipynb`` under the folder is matched to its assignment by the notebook's metadata
(``otter.assignment_name``, which the student copies carry) or else by its file name starting with
``NN_name``, and graded with that assignment's autograder (public AND hidden tests) through
otter-grader's non-containerized API ``otter.api.grade_submission`` (what ``otter run`` does).
Submissions run in this Python environment, so install the project first (``pip install -e ".[assignments]"``).
Usage::

    python assignments/grade.py SUBMISSIONS_DIR [--out DIR]   # default DIR: SUBMISSIONS_DIR/../grades

writes ``scores.csv`` and ``scores.md`` (one row per submission: each question's score, total, possible,
percent) and prints the Markdown table. ``make grade SUBMISSIONS=dir`` runs it after ``make assignments``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTOGRADERS = ROOT / "assignments" / "build" / "autograders"


def assignment_of(notebook: Path, names: list[str]) -> str | None:
    """The assignment a submission belongs to: its otter metadata, else the longest name its file starts with."""
    try:
        name = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {}).get("otter", {}).get("assignment_name")
    except (json.JSONDecodeError, UnicodeDecodeError):
        name = None
    if name in names:
        return name
    matches = [n for n in names if notebook.name.startswith(n)]
    return max(matches, key=len) if matches else None


def grade_one(notebook: Path, autograder: Path) -> dict:
    """{"scores": {question: score}, "possible": {question: points}, "total", "out_of"} for one submission."""
    import otter.api

    results = otter.api.grade_submission(str(notebook), str(autograder), quiet=True)
    scores = {name: float(r.score) for name, r in sorted(results.results.items())}
    possible = {name: float(r.possible) for name, r in sorted(results.results.items())}
    cases = {name: [(c.test_case.name, c.test_case.hidden, c.passed) for c in r.test_case_results] for name, r in results.results.items()}
    return {"scores": scores, "possible": possible, "total": float(results.total), "out_of": float(results.possible), "cases": cases}


def grade_folder(submissions: Path, autograders: Path = AUTOGRADERS) -> list[dict]:
    """Grade every notebook under ``submissions``; one row per notebook, sorted by path."""
    names = sorted(p.stem for p in autograders.glob("*.zip"))
    if not names:
        raise SystemExit(f"no autograders in {autograders}: run `python assignments/generate.py` (or `make assignments`) first")
    notebooks = sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not notebooks:
        raise SystemExit(f"no .ipynb submissions under {submissions}")
    rows = []
    for notebook in notebooks:
        start = time.perf_counter()
        row = {"submission": str(notebook.relative_to(submissions)), "assignment": assignment_of(notebook, names)}
        if row["assignment"] is None:
            row.update(error=f"not an assignment notebook (expected metadata otter.assignment_name or a name starting with one of {names})")
        else:
            try:
                row.update(grade_one(notebook, autograders / f"{row['assignment']}.zip"))
            except Exception as error:  # a broken submission gets a row, not a crash of the whole run
                row.update(error=f"{type(error).__name__}: {error}")
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        print(f"graded {row['submission']}: {row.get('total', 0):g}/{row.get('out_of', 0):g} ({row['seconds']:.0f} s)", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    questions = sorted({q for r in rows for q in r.get("scores", {})})
    header = ["submission", "assignment", *questions, "total", "possible", "percent", "note"]
    body = []
    for r in rows:
        cells = [r["submission"], r["assignment"] or ""]
        cells += [f"{r['scores'][q]:g}" if q in r.get("scores", {}) else "" for q in questions]
        out_of = r.get("out_of", 0)
        cells += [f"{r.get('total', 0):g}", f"{out_of:g}", f"{100 * r.get('total', 0) / out_of:.0f}" if out_of else "", r.get("error", "")]
        body.append(cells)
    return header, body


def write_tables(rows: list[dict], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    header, body = table(rows)
    csv_path, md_path = out / "scores.csv", out / "scores.md"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in body]
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder with submitted .ipynb files (searched recursively)")
    parser.add_argument("--out", type=Path, default=None, help="where scores.csv and scores.md go (default: SUBMISSIONS/../grades)")
    parser.add_argument("--autograders", type=Path, default=AUTOGRADERS, help="folder of NN_name.zip autograders")
    args = parser.parse_args()
    submissions = args.submissions.resolve()
    if not submissions.is_dir():
        raise SystemExit(f"expected a folder of submissions, got {args.submissions}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    rows = grade_folder(submissions, args.autograders)
    csv_path, md_path = write_tables(rows, args.out or submissions.parent / "grades")
    print(md_path.read_text(encoding="utf-8"))
    print(f"{len(rows)} submissions graded in {time.perf_counter() - start:.0f} s; tables: {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
