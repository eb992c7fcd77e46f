"""Benchmark: OpenMoji on this machine — SVG renders per second, and frozen-encoder features per second.

Issue 14 asks for the throughputs behind the real-data chapter's budget (<= 2 min warm, <= 3 min cold). Run
from the repository root (the user cache is neither read nor written: the cold/warm load goes to a temporary
folder; the default thread count is used, as in the book):

    .venv/bin/python benchmarks/bench_openmoji.py [--sizes 64 128] [--feature-sizes 128 160] [--n 1914]

Prints images/s for rendering (resvg), the cold and warm load of ``load_openmoji`` at the largest size, images/s
for MobileNetV2's pooled ImageNet features at each input size (the usual last block, and the six blocks chapter 11
pools), and names/s for MiniLM on the English names.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cmlearn.data.openmoji import emoji_catalog, load_openmoji, render_emoji  # noqa: E402


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.1f}/s ({seconds:.1f} s for {n})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[64, 128], help="render sizes in pixels")
    parser.add_argument("--feature-sizes", type=int, nargs="*", default=[128, 160], help="MobileNetV2 input sizes")
    parser.add_argument("--n", type=int, default=None, help="emoji to use (default: all kept)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    table = emoji_catalog()
    if args.n:
        table = table.iloc[: args.n]
    n = len(table)
    print(f"{n} emoji, torch {torch.__version__}, {torch.get_num_threads()} threads")
    renders = {}
    for size in args.sizes:
        start = time.perf_counter()
        renders[size] = render_emoji(table["svg"].tolist(), size)
        print(f"render {size:4d} px      {rate(n, time.perf_counter() - start)}")
    if args.n is None:  # the whole set: the chapter's load, from an empty cache folder and then from the file
        with tempfile.TemporaryDirectory() as folder:
            os.environ["CMLEARN_CACHE"] = folder
            for kind in ("cold", "warm"):
                start = time.perf_counter()
                load_openmoji(max(args.sizes))
                print(f"load_openmoji({max(args.sizes)}) {kind:4s} {time.perf_counter() - start:8.1f} s")
            del os.environ["CMLEARN_CACHE"]
    from cmlearn.encoders import TorchvisionImageEncoder
    from cmlearn.encoders.pretrained import HFTextEncoder, install_offline_image_weights
    from cmlearn.lit import MOBILENET_BLOCKS

    install_offline_image_weights()
    mobilenet = TorchvisionImageEncoder("mobilenet_v2", pretrained=True, freeze=True).eval()
    source = renders[max(renders)].float() / 255.0
    features = {"MobileNetV2": mobilenet, "  six blocks": lambda batch: mobilenet.pooled_blocks(batch, MOBILENET_BLOCKS)}
    with torch.no_grad():
        for side in args.feature_sizes:
            for label, extract in features.items():
                start = time.perf_counter()
                for i in range(0, n, args.batch_size):
                    batch = torch.nn.functional.interpolate(source[i:i + args.batch_size], size=(side, side),
                                                            mode="bilinear", antialias=True, align_corners=False)
                    extract(batch)
                print(f"{label:11s} {side:4d} px {rate(n, time.perf_counter() - start)}")
        minilm = HFTextEncoder("minilm", freeze=True).eval()
        names = table["name"].tolist()
        start = time.perf_counter()
        for i in range(0, n, 256):
            minilm.encode(names[i:i + 256])
        print(f"MiniLM names       {rate(n, time.perf_counter() - start)}")


if __name__ == "__main__":
    main()
