"""Benchmark: how many 32x32 two-object captioned scenes cmlearn makes per second on one core.

Target (issue 3): >= 50,000 scenes/s. Run from the repository root:

    .venv/bin/python benchmarks/bench_scenes.py [--n 10000] [--repeats 7] [--image-size 32]

Each repeat builds a full :class:`cmlearn.data.scenes.SceneDataset` (objects, positions,
rendering, paraphrased captions) with a different seed; the median and best rates are printed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cmlearn.data.scenes import make_scenes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="scenes per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--n-objects", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    make_scenes(n=256, n_objects=args.n_objects, image_size=args.image_size, seed=-1 % 2**31)  # warm-up
    rates = []
    for seed in range(args.repeats):
        start = time.perf_counter()
        ds = make_scenes(n=args.n, n_objects=args.n_objects, image_size=args.image_size, seed=seed)
        rates.append(args.n / (time.perf_counter() - start))
        del ds
    print(f"make_scenes: {args.n} scenes x {args.repeats} repeats, {args.image_size}x{args.image_size}, "
          f"{args.n_objects} objects, 1 thread")
    print(f"scenes/s: median {statistics.median(rates):,.0f}, best {max(rates):,.0f}, "
          f"worst {min(rates):,.0f} (target >= 50,000)")


if __name__ == "__main__":
    main()
