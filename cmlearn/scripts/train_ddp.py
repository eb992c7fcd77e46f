"""Train the chapter-1 image–caption aligner on W processes with DistributedDataParallel (chapter 12).

Run it on one process, or on several with ``torchrun``; the same command works on CPUs (gloo) and
on the GPUs of one machine (NCCL)::

    python -m cmlearn.scripts.train_ddp --output runs/w1 --batch-size 64
    python -m torch.distributed.run --standalone --nproc_per_node 2 -m cmlearn.scripts.train_ddp --output runs/w2 --batch-size 64

``--batch-size`` is the *global* batch: each of the W ranks takes ``batch_size / W`` pairs per step, and the
contrastive loss gathers the embeddings of all ranks (:func:`cmlearn.train.distributed.gather_features`), so both
commands above train on the same batches of 64 pairs with 63 negatives per pair. Every rank writes
``rank{r}.json`` into ``--output``: the loss of the first batch with and without gathering, the training
history and the held-out recall; rank 0 also writes ``gradient.pt`` (the first step's gradient, after DDP's
average, flattened) and ``parameters.pt`` (the trained weights, flattened). :func:`launch` runs the command
from Python and reads the files back.

The aligner is chapter 1's (:class:`~cmlearn.encoders.SmallCNN` and :class:`~cmlearn.encoders.GRUTextEncoder`)
with one change: the CNN's batch norms are replaced by group norms (:func:`replace_batch_norm`). Batch norm
normalises with the statistics of the batch *on this rank*, so W processes with B/W pairs each would not
compute what one process computes on B pairs; ``torch.nn.SyncBatchNorm`` fixes that on GPUs only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from cmlearn.batch import move_to_device
from cmlearn.contrastive import clip_loss
from cmlearn.data.scenes import SceneDataset, distinct_description_gallery, make_scenes
from cmlearn.data.text import CaptionCollator, CaptionTokenizer
from cmlearn.dual_encoder import DualEncoder
from cmlearn.encoders import GRUTextEncoder, SmallCNN
from cmlearn.metrics import retrieval_report
from cmlearn.runtime import seed_everything, select_device
from cmlearn.train import distributed, fit


@dataclass
class SceneData:
    """Training scenes, a test gallery with one scene per distinct description, and the tokenizer."""

    train: SceneDataset
    gallery: SceneDataset
    tokenizer: CaptionTokenizer


def make_data(n_scenes: int, seed: int = 0) -> SceneData:
    """``n_scenes`` two-object scenes split 80/10/10 (the validation tenth is unused), as in chapter 1.

    The gallery keeps one test scene per distinct description (:func:`distinct_description_gallery`),
    so that R@1 has one right answer per query.
    """
    scenes = make_scenes(n=n_scenes, n_objects=2, image_size=32, seed=seed)
    train, _, test = scenes.split((0.8, 0.1, 0.1), seed=seed)
    return SceneData(train, distinct_description_gallery(test), CaptionTokenizer.fit(train.captions))


def replace_batch_norm(module: nn.Module, groups: int = 8) -> nn.Module:
    """Replace every ``BatchNorm2d`` in ``module`` (in place) by a ``GroupNorm`` over the same channels.

    Group norm normalises each sample on its own, so a model that uses it computes the same thing on
    any split of a batch across processes.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.GroupNorm(min(groups, child.num_features), child.num_features))
        else:
            replace_batch_norm(child, groups)
    return module


def build_aligner(vocab_size: int, pad_id: int, embed_dim: int = 64, seed: int = 0) -> DualEncoder:
    """Chapter 1's dual encoder with group norm in the CNN, initialised from ``seed``."""
    seed_everything(seed)
    image_encoder = replace_batch_norm(SmallCNN(out_dim=128))
    return DualEncoder(image_encoder, GRUTextEncoder(vocab_size, out_dim=128, pad_id=pad_id), embed_dim=embed_dim)


def gallery_recall(model: DualEncoder, data: SceneData) -> dict[str, float]:
    """R@1 and R@5 in both directions on the test gallery."""
    image_embeddings, text_embeddings = model.embed(data.gallery.images, data.tokenizer(data.gallery.captions))
    report = retrieval_report(image_embeddings @ text_embeddings.T, ks=(1, 5))  # (N, N) similarities
    return {key: value for key, value in report.items() if "R@" in key}


def contrastive(model: DualEncoder, batch: dict) -> torch.Tensor:
    """The training loss: :meth:`DualEncoder.loss` (gathers the negatives of all ranks)."""
    return model.loss(batch)


def flat(tensors) -> torch.Tensor:
    """Concatenate tensors into one float32 vector on the CPU."""
    return torch.cat([t.detach().float().reshape(-1).cpu() for t in tensors])


def first_batch_losses(model: DualEncoder, batch: dict) -> dict:
    """The contrastive loss of this rank's first batch with the negatives of all ranks and with its own only."""
    was_training = model.training
    model.eval()  # the check should not move anything (e.g. running statistics)
    with torch.no_grad():
        image_features, text_features = model(batch)  # (B/W, D) each
        gathered_image, gathered_text = distributed.gather_features(image_features, text_features)  # (B, D) each
        gathered = clip_loss(gathered_image, gathered_text, model.logit_scale)
        local = clip_loss(image_features, text_features, model.logit_scale)
    model.train(was_training)
    return {"loss_gathered": gathered.loss.item(), "logits_gathered": list(gathered.logits_per_image.shape),
            "loss_local": local.loss.item(), "logits_local": list(local.logits_per_image.shape)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="folder for rank{r}.json, gradient.pt and parameters.pt")
    parser.add_argument("--n-scenes", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size, divided among the ranks")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help='"auto", "cpu" or "cuda"; under torchrun each rank uses GPU LOCAL_RANK')
    args = parser.parse_args(argv)

    precision = distributed.setup(select_device(args.device))  # joins torchrun's process group, if any
    world_size, rank = distributed.world_size(), distributed.rank()
    if args.batch_size % world_size:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the number of processes {world_size}")
    data = make_data(args.n_scenes, args.seed)
    model = build_aligner(data.tokenizer.vocab_size, data.tokenizer.pad_id, args.embed_dim, args.seed).to(precision.device)
    # The same shuffle on every rank; rank r takes every W-th index, so the W shards of step k together are the
    # batch that one process takes at step k.
    sampler = DistributedSampler(data.train, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(data.train, batch_size=args.batch_size // world_size, sampler=sampler, drop_last=True,
                        collate_fn=CaptionCollator(data.tokenizer))
    if len(loader) == 0:
        raise SystemExit(f"{len(data.train)} training scenes make no batch of {args.batch_size}: raise --n-scenes or lower --batch-size")
    sampler.set_epoch(1)  # fit uses epochs 1, 2, ...: look at the batch it will train on first
    first = first_batch_losses(model, move_to_device(next(iter(loader)), precision.device))

    first_gradient = {}

    def keep_first_gradient(info):
        if info["global_step"] == 1:
            first_gradient["loss"] = info["loss"]
            first_gradient["vector"] = flat(p.grad for p in model.parameters())

    history = fit(model, contrastive, loader, epochs=args.epochs, lr=args.lr, device=precision,
                  progress=False, on_step=keep_first_gradient)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        torch.save(first_gradient["vector"], output / "gradient.pt")
        torch.save(flat(model.parameters()), output / "parameters.pt")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {"world_size": world_size, "rank": rank, "batch_per_rank": args.batch_size // world_size,
              "steps": int(len(loader) * args.epochs), "first_batch": first, "first_step_loss": first_gradient["loss"],
              "history": history.drop(columns="seconds").to_dict("list"), "test": gallery_recall(model, data),
              "cpu_seconds": usage.ru_utime + usage.ru_stime}
    (output / f"rank{rank}.json").write_text(json.dumps(report, indent=1))
    distributed.barrier()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def launch(output: str | Path, nproc: int = 1, timeout: float = 600, **options) -> list[dict]:
    """Run this script on ``nproc`` processes (``torchrun --standalone`` when ``nproc`` > 1) and read its reports.

    Each process gets ``OMP_NUM_THREADS=1`` (several processes share the CPU cores). Keyword options are
    the script's flags, e.g. ``launch("runs/w2", nproc=2, batch_size=64, epochs=2)``.

    Returns:
        One report dict per rank, in rank order (see :func:`main`).

    Raises:
        ValueError: for ``nproc`` < 1 or a batch size that ``nproc`` does not divide.
        RuntimeError: when the run fails or times out, with the end of its output.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    if options.get("batch_size", 64) % nproc:
        raise ValueError(f"batch_size {options.get('batch_size', 64)} must be divisible by nproc = {nproc}")
    flags = [f"--output={output}"] + [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    if nproc == 1:
        command = [sys.executable, "-m", "cmlearn.scripts.train_ddp", *flags]
    else:  # --standalone: a rendezvous on localhost at a free port
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   "-m", "cmlearn.scripts.train_ddp", *flags]
    env = {key: value for key, value in os.environ.items()
           if key not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    package_root = str(Path(__file__).resolve().parents[2])  # so the children import this cmlearn
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{' '.join(command)} did not finish within {timeout} s") from error
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}")
    return [json.loads((Path(output) / f"rank{r}.json").read_text()) for r in range(nproc)]


if __name__ == "__main__":
    main()
