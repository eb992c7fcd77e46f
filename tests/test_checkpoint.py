import random

import numpy as np
import pytest
import torch
from torch import nn

from cmlearn.runtime import seed_everything
from cmlearn.train import fit
from cmlearn.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    remove_temporaries,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def tiny_run(checkpoint_dir, lr=0.1):
    generator = seed_everything(0)
    x = torch.randn(32, 3, generator=generator)
    loader = [{"x": x[i:i + 8], "y": x[i:i + 8].sum(1, keepdim=True)} for i in range(0, 32, 8)]
    model = nn.Linear(3, 1)
    history = fit(model, lambda m, b: nn.functional.mse_loss(m(b["x"]), b["y"]), loader, epochs=2, lr=lr, device="cpu",
                  progress=False, checkpoint_dir=checkpoint_dir)
    return history, model


def test_save_and_load_round_trip(tmp_path):
    state = {"model": nn.Linear(2, 2).state_dict(), "train": {"epoch": 3, "history": [{"loss": 0.5}]}}
    path = save_checkpoint(state, tmp_path / "sub" / "last.pt")
    loaded = load_checkpoint(path)
    assert loaded["train"] == state["train"]
    assert torch.equal(loaded["model"]["weight"], state["model"]["weight"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary file left


def test_a_write_that_fails_midway_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint({"value": 1}, tmp_path / "last.pt")
    good_bytes = path.read_bytes()

    def dies_while_writing(obj, file):
        file.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt  # like a disconnect in the middle of torch.save

    monkeypatch.setattr(torch, "save", dies_while_writing)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"value": 2}, path)
    assert path.read_bytes() == good_bytes
    assert load_checkpoint(path)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".last.abc123.pt.tmp").write_bytes(b"partial")
    (tmp_path / "keep.pt").write_bytes(b"not ours to delete")
    assert [p.name for p in remove_temporaries(tmp_path)] == [".last.abc123.pt.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pt"]


@pytest.mark.parametrize("kind, message", [
    ("empty", "corrupt"),
    ("cut short", "corrupt"),  # a copy interrupted halfway
    ("foreign", "not a cmlearn checkpoint"),  # a bare state_dict saved by someone else
])
def test_corrupt_or_foreign_checkpoints_are_refused_and_kept(tmp_path, kind, message):
    path = tmp_path / "last.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "cut short":
        save_checkpoint({"model": nn.Linear(30, 30).state_dict()}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        torch.save(nn.Linear(3, 1).state_dict(), path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=f"{path}.*{message}"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=str(path)):
        tiny_run(tmp_path)
    assert path.read_bytes() == before  # fit did not overwrite it


class Payload:
    """An arbitrary object: weights_only=True refuses to unpickle it (it could run code)."""


def test_loading_uses_weights_only(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"format": "cmlearn-checkpoint", "version": 1, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="corrupt or not a PyTorch file"):
        load_checkpoint(path)


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    tiny_run(tmp_path, lr=0.1)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(CheckpointError, match=r"other settings \(lr: 0.1 in the checkpoint, 0.2 now\)"):
        tiny_run(tmp_path, lr=0.2)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_weights_that_do_not_fit_the_model(tmp_path):
    _, model = tiny_run(tmp_path)
    fresh = nn.Linear(3, 1)
    checkpoint = load_weights(fresh, tmp_path / "last.pt")
    assert checkpoint["train"]["epoch"] == 2
    assert torch.equal(fresh.weight, model.weight)
    with pytest.raises(CheckpointError, match="do not fit this model"):
        load_weights(nn.Linear(4, 1), tmp_path / "last.pt")


def test_rng_state_round_trip():
    generator = torch.Generator().manual_seed(7)
    seed_everything(3)
    state = rng_state([generator])

    def draw():
        return (random.random(), float(np.random.rand()), float(np.random.randn()), float(torch.rand(1)), float(torch.rand(1, generator=generator)))

    first = draw()
    set_rng_state(state, [generator])
    assert draw() == first
    with pytest.raises(CheckpointError, match="generator"):
        set_rng_state(state, [])


def test_a_weights_only_checkpoint_is_not_resumed(tmp_path):
    save_checkpoint({"model": nn.Linear(3, 1).state_dict(), "epoch": 1}, tmp_path / "last.pt")  # like a best.pt copied over
    with pytest.raises(CheckpointError, match=r"last\.pt holds no training state"):
        tiny_run(tmp_path)
