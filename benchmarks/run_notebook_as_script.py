"""Run a chapter notebook's code cells as one Python script, for machines without Jupyter.

    python benchmarks/run_notebook_as_script.py notebooks/01_background.ipynb [name=value ...]

The Colab setup cell is skipped; ``name=value`` pairs (Python literals) override the cell
tagged ``parameters``, like papermill's ``-p``. Prints the wall time of the whole run.
"""

from __future__ import annotations

import ast
import json
import sys
import time
from pathlib import Path


def notebook_source(path: Path, overrides: dict) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    parts = []
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or "colab-setup" in tags:
            continue
        parts.append("".join(cell["source"]))
        if "parameters" in tags and overrides:
            parts.append("\n".join(f"{name} = {value!r}" for name, value in overrides.items()))
    return "\n\n".join(parts)


def main() -> None:
    path = Path(sys.argv[1])
    overrides = {}
    for pair in sys.argv[2:]:
        name, _, value = pair.partition("=")
        overrides[name] = ast.literal_eval(value)
    source = notebook_source(path, overrides)
    started = time.perf_counter()
    exec(compile(source, str(path), "exec"), {"__name__": "__main__"})
    print(f"{path.name}: ran in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
