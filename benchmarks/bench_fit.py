"""Benchmark: samples/s of ``cmlearn.fit`` against a plain hand-written PyTorch loop, same model and data.

Target (issue 5): fit / plain >= 0.97 on CPU. Run from the repository root:

    .venv/bin/python benchmarks/bench_fit.py [--model chapter1|mlp] [--repeats 7] [--epochs 2] [--threads 1]

Both loops train the same freshly initialised model (AdamW, warm-up + cosine schedule, one
``loss.item()`` per step) on the same pre-made batches, in this one process, in the order plain,
fit, then fit, plain, and so on, so that a busy shared machine slows both alike and neither always
runs first; the ratio of each adjacent pair is taken and the median of those ratios printed. Rates
are given by wall-clock time and by the CPU time of this process: with ``--threads 1`` the CPU time
counts only the work done, so it is the steadier measure on a machine shared with other jobs.
``fit`` runs with its checks (batch sizes, finite loss) and, in a second variant, with its progress
bar (written to a buffer).

Models: ``chapter1`` is the dual encoder of chapter 1 (SmallCNN + GRU text encoder, 32x32 images,
batch 128), ``mlp`` a tiny two-tower MLP whose steps are so short that any per-step overhead shows.
On a GPU the script also compares ``fit`` with mixed precision (autocast) against ``fit`` in float32.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from cmlearn.dual_encoder import DualEncoder  # noqa: E402
from cmlearn.encoders import GRUTextEncoder, SmallCNN  # noqa: E402
from cmlearn.runtime import select_device  # noqa: E402
from cmlearn.train import fit, warmup_cosine  # noqa: E402
from cmlearn.train.loop import adamw  # noqa: E402

VOCAB, SEQ = 64, 12


class MLPTower(nn.Module):
    def __init__(self, in_dim: int, out_dim: int = 64):
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, 128), nn.GELU(), nn.Linear(128, out_dim))

    def forward(self, x, attention_mask=None):
        return self.net(x.float())


def make_model(kind: str) -> DualEncoder:
    torch.manual_seed(0)
    if kind == "chapter1":
        return DualEncoder(SmallCNN(out_dim=128), GRUTextEncoder(VOCAB, out_dim=128, pad_id=0), embed_dim=64)
    return DualEncoder(MLPTower(3 * 8 * 8), MLPTower(SEQ), embed_dim=32, projection_hidden=64)


def make_batches(kind: str, n_batches: int, batch_size: int, device: torch.device) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    size = 32 if kind == "chapter1" else 8
    batches = []
    for _ in range(n_batches):
        batches.append({
            "image": torch.rand(batch_size, 3, size, size, generator=g).to(device),
            "input_ids": torch.randint(1, VOCAB, (batch_size, SEQ), generator=g).to(device),
            "attention_mask": torch.ones(batch_size, SEQ, dtype=torch.long).to(device),
        })
    return batches


def contrastive(model, batch):
    return model.loss(batch)


def plain_loop(model, batches, epochs: int, lr: float, device: torch.device) -> float:
    """What a reader would write by hand: the same optimiser, schedule and logging as fit's default path."""
    model.to(device)
    optimizer = adamw(model.parameters(), lr=lr, weight_decay=1e-4, device=device)  # fit's optimiser (fused on CPU/CUDA)
    total = epochs * len(batches)
    warmup = max(1, int(0.05 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
    started = _clock()
    for _ in range(epochs):
        model.train()
        running = 0.0
        for batch in batches:
            loss = contrastive(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item()
    return _elapsed(started)


def fit_loop(model, batches, epochs: int, lr: float, precision, progress: bool = False) -> tuple[float, float]:
    started = _clock()
    with contextlib.redirect_stderr(io.StringIO()):  # the bar's text, when shown, goes nowhere
        fit(model, contrastive, batches, epochs=epochs, lr=lr, device=precision, progress=progress)
    return _elapsed(started)


def _clock() -> tuple[float, float]:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter(), time.process_time()


def _elapsed(started: tuple[float, float]) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of this process) since ``started``."""
    now = _clock()
    return now[0] - started[0], now[1] - started[1]


def compare(name_a, run_a, name_b, run_b, samples: int, repeats: int) -> float:
    """Alternate the two runs ``repeats`` times; print median samples/s of each and the median ratio b / a.

    Returns:
        The median ratio by CPU time (by wall-clock time on a GPU, where the CPU mostly waits).
    """
    times_a, times_b = [], []
    for repeat in range(repeats):  # a b, b a, a b, ...: neither always runs first
        if repeat % 2 == 0:
            times_a.append(run_a())
            times_b.append(run_b())
        else:
            times_b.append(run_b())
            times_a.append(run_a())
    medians = {}
    for clock, name in ((0, "wall-clock"), (1, "CPU time")):
        ratios = [a[clock] / b[clock] for a, b in zip(times_a, times_b)]  # = samples/s of b over samples/s of a
        rate_a = samples / statistics.median(t[clock] for t in times_a)
        rate_b = samples / statistics.median(t[clock] for t in times_b)
        medians[clock] = statistics.median(ratios)
        print(f"  by {name:<10}: {name_a} {rate_a:.0f} samples/s, {name_b} {rate_b:.0f} samples/s; ratio {name_b} / {name_a} "
              f"median {medians[clock]:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, {repeats} pairs)")
    return medians[0] if torch.cuda.is_available() and torch.cuda.is_initialized() else medians[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["chapter1", "mlp"], default="chapter1")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=None, help="batches per epoch (default: 20 chapter1, 200 mlp)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared machine)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_batches = args.batches or (20 if args.model == "chapter1" else 200)
    lr = 1e-3
    fp32 = select_device(args.device, mixed_precision=False)
    device = fp32.device
    batches = make_batches(args.model, n_batches, args.batch_size, device)
    samples = args.epochs * n_batches * args.batch_size
    print(f"bench_fit: model {args.model}, {n_batches} batches of {args.batch_size} x {args.epochs} epochs, {fp32.describe()}, "
          f"torch {torch.__version__}")

    def plain():
        return plain_loop(make_model(args.model), batches, args.epochs, lr, device)

    plain()  # warm-up: allocator, kernels, lazy imports
    fit_loop(make_model(args.model), batches, args.epochs, lr, fp32)
    compare("plain PyTorch loop", plain, "fit", lambda: fit_loop(make_model(args.model), batches, args.epochs, lr, fp32),
            samples, args.repeats)
    compare("plain PyTorch loop", plain, "fit (progress bar)",
            lambda: fit_loop(make_model(args.model), batches, args.epochs, lr, fp32, progress=True), samples, args.repeats)
    if device.type == "cuda":
        amp = select_device(args.device)
        if amp.amp_dtype is not None:
            compare("fit float32", lambda: fit_loop(make_model(args.model), batches, args.epochs, lr, fp32),
                    f"fit autocast {str(amp.amp_dtype).removeprefix('torch.')}",
                    lambda: fit_loop(make_model(args.model), batches, args.epochs, lr, amp), samples, args.repeats)


if __name__ == "__main__":
    main()
