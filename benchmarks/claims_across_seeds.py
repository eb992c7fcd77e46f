"""Do the book's claims hold beyond the run that rendered it? Execute chapters with other seeds and threads.

Every chapter is executed at its default sizes (only ``seed`` is overridden) through papermill, once per run:

    seed=0, seed=1, seed=2          with the machine's default thread count
    seed=0 OMP_NUM_THREADS=1        one thread: other kernels, other rounding, as on another processor

and the script prints a table chapter × run → ``passed (time)`` or the assert that failed. A chapter whose
``parameters`` cell has ``n_seeds`` runs seeds ``seed … seed + n_seeds - 1`` in each run, so ``seed=1`` checks a
different (overlapping) set of seeds. Not part of CI: it is several executions of the whole book.

    python benchmarks/claims_across_seeds.py                      # every chapter, the four runs
    python benchmarks/claims_across_seeds.py --chapters 03 04     # some chapters
    CLAIMS_MACHINE_SLOTS=2 python benchmarks/claims_across_seeds.py --runs seed=1,threads=1 seed=2,threads=1 --jobs 2
    make claims                                                   # the same as the first line

Executed notebooks are kept under ``_build/claims/`` (the failing cell's traceback is in them).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = ["seed=0", "seed=1", "seed=2", "seed=0,threads=1"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Executions at once on this machine, across every invocation of this script (a lock file per slot). One by default:
# a run with the default thread count uses every core, and two such runs on 2 cores made OpenMP's spinning threads
# take 5-10 times the CPU of one run (measured). Raise it only for one-thread runs (e.g. 2 on 2 cores).
MACHINE_SLOTS = int(os.environ.get("CLAIMS_MACHINE_SLOTS", "1"))
SLOT_DIR = Path(os.environ.get("CLAIMS_SLOT_DIR", "/tmp/cmlearn-claims-slots"))


@contextlib.contextmanager
def machine_slot(label: str):
    """Hold one of MACHINE_SLOTS lock files while an execution runs; wait (and say so) while all are taken."""
    SLOT_DIR.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        for i in range(MACHINE_SLOTS):
            handle = open(SLOT_DIR / f"slot{i}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if not said:
            print(f"{label}: waiting for one of the {MACHINE_SLOTS} execution slots of this machine "
                  f"(other runs of this script hold them; CLAIMS_MACHINE_SLOTS sets how many)", flush=True)
            said = True
        time.sleep(2)


@dataclass(frozen=True)
class Run:
    seed: int
    threads: int | None

    @classmethod
    def parse(cls, text: str) -> Run:
        fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        unknown = set(fields) - {"seed", "threads"}
        if unknown or "seed" not in fields:
            raise argparse.ArgumentTypeError(f"a run looks like 'seed=1' or 'seed=0,threads=1', got {text!r}")
        return cls(int(fields["seed"]), int(fields["threads"]) if "threads" in fields else None)

    @property
    def name(self) -> str:
        return f"seed={self.seed}" + (f", {self.threads} thread{'s' * (self.threads != 1)}" if self.threads else "")

    @property
    def slug(self) -> str:
        return f"seed{self.seed}" + (f"_threads{self.threads}" if self.threads else "")


def failure_of(executed: Path) -> str | None:
    """The first error of an executed notebook as one line: the exception and the source line that raised it."""
    if not executed.exists():
        return "no output notebook"
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            traceback = [ANSI.sub("", line) for line in output.get("traceback", [])]
            arrows = [line for block in traceback for line in block.splitlines() if re.match(r"\s*-+>", line)]
            where = re.sub(r"^\s*-+>\s*\d+\s*", "", arrows[-1]).strip() if arrows else ""
            message = f"{output.get('ename')}: {output.get('evalue', '')}".strip().rstrip(":")
            message = message.splitlines()[0][:160] if message else "error"
            return f"{message} at `{where[:160]}`" if where else message
    return None


def execute(notebook: Path, run: Run, out_dir: Path, timeout: int) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{notebook.stem}__{run.slug}.ipynb"
    executed.unlink(missing_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if run.threads:
        env.update(OMP_NUM_THREADS=str(run.threads), MKL_NUM_THREADS=str(run.threads))
    command = [sys.executable, "-m", "papermill", str(notebook), str(executed), "-p", "seed", str(run.seed),
               "-k", "python3", "--cwd", str(notebook.parent), "--no-progress-bar", "--log-level", "ERROR"]
    with machine_slot(f"{notebook.stem} {run.name}"):
        started = time.perf_counter()
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
            failure = None if result.returncode == 0 else (failure_of(executed) or (result.stderr.strip().splitlines() or ['papermill failed'])[-1][:200])
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout} s"
        seconds = time.perf_counter() - started
    return {"chapter": notebook.stem, "run": run.name, "passed": failure is None, "seconds": seconds, "failure": failure}


def markdown_table(results: list[dict], runs: list[Run], chapters: list[str]) -> str:
    cell = {(r["chapter"], r["run"]): r for r in results}
    lines = ["| chapter | " + " | ".join(run.name for run in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for chapter in chapters:
        row = []
        for run in runs:
            r = cell.get((chapter, run.name))
            row.append("—" if r is None else f"passed ({r['seconds']:.0f} s)" if r["passed"] else f"**failed** ({r['seconds']:.0f} s): {r['failure']}")
        lines.append(f"| {chapter} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="*", default=None, help="chapter numbers or names (default: all)")
    parser.add_argument("--runs", nargs="*", type=Run.parse, default=[Run.parse(r) for r in DEFAULT_RUNS])
    parser.add_argument("--jobs", type=int, default=1, help="executions at once (each uses the threads its run names)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds before one execution counts as failed")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "claims", help="folder for executed notebooks and the table")
    args = parser.parse_args(argv)

    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.chapters:
        notebooks = [nb for nb in notebooks if any(nb.stem.startswith(c) for c in args.chapters)]
        if not notebooks:
            parser.error(f"no chapter matches {args.chapters}; chapters are named like 03_alignment")
    jobs = [(nb, run) for nb in notebooks for run in args.runs]
    print(f"{len(jobs)} executions ({len(notebooks)} chapters × {len(args.runs)} runs), {args.jobs} at a time", flush=True)

    def one(job):
        result = execute(*job, args.out, args.timeout)
        status = "passed" if result["passed"] else f"FAILED: {result['failure']}"
        print(f"{result['chapter']:32s} {result['run']:20s} {result['seconds']:6.0f} s  {status}", flush=True)
        return result

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(one, jobs))
    table = markdown_table(results, args.runs, [nb.stem for nb in notebooks])
    print("\n" + table)
    (args.out / "claims.md").write_text(table + "\n", encoding="utf-8")
    (args.out / "claims.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    failed = sum(not r["passed"] for r in results)
    print(f"\n{len(results) - failed} of {len(results)} executions passed; table in {args.out / 'claims.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
