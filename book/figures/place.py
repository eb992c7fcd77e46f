"""Put each figure of ``draw.FIGURES`` on its notebook page, as a markdown cell of its own.

The cell (id and tag ``figure-<name>``) holds a MyST ``{figure}`` directive with the figure's alt text and
caption, and follows the cell whose id ``FIGURES[name].after`` names. Only these cells are written: an
existing figure cell is updated in place, every other cell is left as it is. ``book/intro.md`` places
its figure by hand. ::

    python book/figures/place.py          # insert or update the figure cells
    python book/figures/place.py --check  # exit 1 if a notebook lacks its figure cell or it is out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def load_figures():
    spec = importlib.util.spec_from_file_location("book_figures", HERE / "draw.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.FIGURES


def figure_cell(name: str, figure, notebook: Path) -> dict:
    image = Path(os.path.relpath(HERE / f"{name}.svg", notebook.parent))  # ../book/figures/<name>.svg
    source = (
        f":::{{figure}} {image.as_posix()}\n"
        f":name: fig-{name.replace('_', '-')}\n"
        f":alt: {figure.alt}\n"
        "\n"
        f"{figure.caption}\n"
        ":::"
    )
    return {
        "cell_type": "markdown",
        "id": f"figure-{name}",
        "metadata": {"tags": [f"figure-{name}"]},
        "source": source.splitlines(keepends=True),
    }


def place(name: str, figure, check: bool) -> str | None:
    """Insert or update the figure's cell; return what changed (or would), None if nothing."""
    path = ROOT / f"{figure.page}.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    cell = figure_cell(name, figure, path)
    ids = [c.get("id") for c in cells]
    if cell["id"] in ids:
        i = ids.index(cell["id"])
        if cells[i]["source"] == cell["source"] and cells[i]["metadata"] == cell["metadata"]:
            return None
        cells[i] = cell
        change = f"{path.name}: updated cell {cell['id']}"
    else:
        if figure.after not in ids:
            raise SystemExit(f"{path.name}: no cell with id {figure.after!r} to put figure {name!r} after; update FIGURES in draw.py")
        cells.insert(ids.index(figure.after) + 1, cell)
        change = f"{path.name}: inserted cell {cell['id']} after {figure.after}"
    if not check:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return change


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks whose figure cell is missing or out of date")
    args = parser.parse_args()
    changes = [c for name, figure in load_figures().items() if figure.after and (c := place(name, figure, args.check))]
    print("\n".join(changes) if changes else "every figure cell is in place")
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())
