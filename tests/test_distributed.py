"""Two CPU processes on gloo, launched by torchrun, against one process on the combined batch."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from cmlearn.train import distributed

ROOT = Path(__file__).resolve().parent.parent

# Each rank first computes the single-process references (no process group exists yet), then the same
# things as one of W = 2 ranks: a hand-made DDP step on its half of the batch, a whole `fit`, and a `fit`
# interrupted and resumed from its checkpoint.
SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from cmlearn.dual_encoder import DualEncoder
    from cmlearn.runtime import select_device
    from cmlearn.runtime import seed_everything
    from cmlearn.train import distributed, fit

    class ImageEncoder(nn.Module):
        out_dim = 12
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3 * 4 * 4, self.out_dim)
        def forward(self, images):
            return self.linear(images.flatten(1))

    class TextEncoder(nn.Module):
        out_dim = 10
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(20, self.out_dim)
        def forward(self, input_ids, attention_mask):
            mask = attention_mask.unsqueeze(-1).float()
            return (self.embedding(input_ids) * mask).sum(1) / mask.sum(1)

    class Pairs(Dataset):
        def __init__(self, n=16):
            g = torch.Generator().manual_seed(1)
            self.image, self.ids = torch.rand(n, 3, 4, 4, generator=g), torch.randint(0, 20, (n, 5), generator=g)
        def __len__(self):
            return len(self.ids)
        def __getitem__(self, i):
            return {"image": self.image[i], "input_ids": self.ids[i], "attention_mask": torch.ones(5, dtype=torch.long)}

    def make_model():
        seed_everything(0)
        return DualEncoder(ImageEncoder(), TextEncoder(), embed_dim=8, projection_hidden=16)

    def contrastive(model, batch):
        return model.loss(batch)

    class Interrupted(Exception):
        pass

    def train(batch_size, stop_at=None, **options):
        def on_step(info):
            if info["global_step"] == stop_at:
                raise Interrupted
        model = make_model()
        history = fit(model, contrastive, DataLoader(Pairs(), batch_size=batch_size), epochs=3, lr=1e-2, device="cpu", progress=False,
                      on_step=on_step, **options)
        return history["train_loss"].tolist(), [p.detach() for p in model.parameters()]

    out = sys.argv[1]
    data = Pairs()
    batch = {key: torch.stack([data[i][key] for i in range(8)]) for key in ("image", "input_ids", "attention_mask")}

    # 1. One process on the combined batch of 8 pairs (hiding torchrun's WORLD_SIZE, which fit would act on).
    world_size_variable = os.environ.pop("WORLD_SIZE")
    reference = make_model()
    reference_loss = reference.loss(batch)
    reference_loss.backward()
    reference_losses, reference_parameters = train(batch_size=8)
    os.environ["WORLD_SIZE"] = world_size_variable

    # 2. Two processes with 4 pairs each.
    precision = distributed.setup(select_device("cpu"))
    rank, world = distributed.rank(), distributed.world_size()
    model = make_model()
    ddp = distributed.wrap_ddp(model, contrastive, precision.device)
    shard = {key: value[4 * rank: 4 * (rank + 1)] for key, value in batch.items()}
    loss = ddp(shard)
    loss.backward()
    h_image, h_text = model(shard)
    gathered_image, _ = distributed.gather_features(h_image, h_text)
    losses, parameters = train(batch_size=4)  # batch_size is per process

    # 3. Interrupted on both ranks after step 4 (of 6), then resumed from the checkpoint of step 3 that rank 0 wrote.
    checkpoints = os.path.join(out, "checkpoints")
    try:
        train(batch_size=4, stop_at=4, checkpoint_dir=checkpoints, checkpoint_every=1)
    except Interrupted:
        pass
    saved = torch.load(os.path.join(checkpoints, "last.pt"), weights_only=True)
    resumed_losses, resumed_parameters = train(batch_size=4, checkpoint_dir=checkpoints, checkpoint_every=1)

    json.dump({
        "world": world,
        "gathered_rows": gathered_image.shape[0],
        "gathered_order_error": (gathered_image.detach() - reference(batch)[0].detach()).abs().max().item(),
        "loss_error": abs(loss.item() - reference_loss.item()),
        "grad_error": max((p.grad - q.grad).abs().max().item() for p, q in zip(model.parameters(), reference.parameters())),
        "grad_scale": max(q.grad.abs().max().item() for q in reference.parameters()),
        "fit_loss_error": max(abs(a - b) for a, b in zip(losses, reference_losses)),
        "fit_parameter_error": max((p - q).abs().max().item() for p, q in zip(parameters, reference_parameters)),
        "fit_moved": max((p - q).abs().max().item() for p, q in zip(parameters, make_model().parameters())),
        "saved_at": [saved["train"]["global_step"], len(saved["rng"])],
        "resumed_same": resumed_losses == losses and all(torch.equal(p, q) for p, q in zip(parameters, resumed_parameters)),
    }, open(os.path.join(out, f"rank{rank}.json"), "w"))
""")


def test_two_gloo_processes_match_one_process_on_the_combined_batch(tmp_path):
    script = tmp_path / "ddp_check.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    # --standalone: a rendezvous on localhost with a free port.
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for rank in (0, 1):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report["world"] == 2
        assert report["gathered_rows"] == 8  # each rank's loss sees both ranks' pairs: 7 negatives, not 3
        assert report["gathered_order_error"] < 1e-6  # rows in rank order = the combined batch
        assert report["loss_error"] < 1e-5
        assert report["grad_scale"] > 1e-3
        assert report["grad_error"] < 1e-5 * max(1.0, report["grad_scale"])  # DDP average x gathered-gradient scale = one process
        assert report["fit_moved"] > 1e-2
        assert report["fit_loss_error"] < 1e-4
        assert report["fit_parameter_error"] < 1e-4
        assert report["saved_at"] == [3, 2]  # one random state per rank
        assert report["resumed_same"]


def test_single_process_helpers_are_identities():
    assert (distributed.world_size(), distributed.rank(), distributed.is_main_process()) == (1, 0, True)
    image, text = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
    assert distributed.gather_features(image, text) == (image, text)
    loader = DataLoader(list(range(10)), batch_size=4, shuffle=True)
    assert distributed.shard_loader(loader) is loader
    assert distributed.mean_over_ranks(torch.tensor(2.5)) == 2.5
    assert distributed.gather_objects({"a": 1}) == [{"a": 1}]


def test_the_loss_module_calls_the_loss_function_with_the_model():
    model = torch.nn.Linear(2, 1)
    module = distributed.LossModule(model, lambda m, batch: m(batch["x"]).sum())
    assert list(module.parameters()) == list(model.parameters())
    x = torch.ones(3, 2)
    assert module({"x": x}).item() == pytest.approx(model(x).sum().item())
