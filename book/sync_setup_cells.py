"""Write the Colab setup cell into every chapter notebook, from book/_config.yml.

The repository URL and branch live in one place, ``book/_config.yml`` (``repository:``).
The first cell of each notebook installs ``cmlearn`` from that repository at that ref when
the notebook runs on Google Colab, so the package and the chapter never disagree; anywhere
else it does nothing. Run after changing the repository or branch::

    python book/sync_setup_cells.py          # rewrite the cells
    python book/sync_setup_cells.py --check  # exit 1 if a notebook is out of date

``tests/test_conventions.py`` runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "book" / "_config.yml"
SETUP_TAG = "colab-setup"

SETUP_SOURCE = '''\
# Setup: on Google Colab, install cmlearn from the book's repository at the same ref as
# this notebook, so package and chapter agree. Anywhere else this cell does nothing
# (install locally with `make book` or `pip install -e .` from a clone).
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "cmlearn[pretrained,realdata]"
    source = "git+{url}@{ref}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", f"{{package}} @ {{source}}"],
        check=True,
    )'''


def repository() -> tuple[str, str]:
    """(url, branch) from the ``repository:`` block of book/_config.yml."""
    text = CONFIG.read_text(encoding="utf-8")
    block = re.search(r"^repository:\n((?:[ \t]+.*\n?)+)", text, flags=re.M)
    if not block:
        raise SystemExit(f"{CONFIG}: no 'repository:' block")
    fields = dict(re.findall(r"^\s+(\w+):\s*(\S*)", block.group(1), flags=re.M))
    if not fields.get("url") or not fields.get("branch"):
        raise SystemExit(f"{CONFIG}: repository needs url and branch, got {fields}")
    return fields["url"].removesuffix(".git"), fields["branch"]


def setup_cell_source() -> str:
    url, ref = repository()
    return SETUP_SOURCE.format(url=url, ref=ref)


def setup_cell() -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "colab-setup",
        "metadata": {"tags": [SETUP_TAG, "hide-cell"]},
        "outputs": [],
        "source": setup_cell_source().splitlines(keepends=True),
    }


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def sync(path: Path, check: bool) -> bool:
    """Put the setup cell first in ``path``; return True if the file was (or would be) changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    if cells and SETUP_TAG in cells[0].get("metadata", {}).get("tags", []):
        if "".join(cells[0]["source"]) == setup_cell_source():
            return False
        cells[0] = setup_cell()
    else:
        cells.insert(0, setup_cell())
    if not check:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks whose setup cell is out of date")
    args = parser.parse_args()
    stale = [path.name for path in notebooks() if sync(path, args.check)]
    if args.check and stale:
        print("setup cell out of date in: " + ", ".join(stale) + " (run python book/sync_setup_cells.py)")
        return 1
    print(("would update: " if args.check else "updated: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
