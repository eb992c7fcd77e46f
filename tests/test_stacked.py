"""Seeds trained together as one batched model equal the seeds trained one by one; tensor_loader's batches."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, StackDataset

from cmlearn.batch import tensor_loader
from cmlearn.train import StackedBatches, StackedSeeds, fit

FROZEN = nn.Linear(3, 4).requires_grad_(False)  # shared by every copy, like chapter 4's frozen extractors


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.extractors = nn.ModuleDict({"x": FROZEN})
        self.norm = nn.BatchNorm1d(4)  # running statistics: buffers, one set per copy
        self.head = nn.Linear(4, 2)

    def forward(self, batch):
        return self.head(torch.relu(self.norm(self.extractors["x"](batch["x"]))))


def loss_fn(model, batch):
    return F.cross_entropy(model(batch), batch["y"])


def data(n=48):
    g = torch.Generator().manual_seed(7)
    return {"x": torch.randn(n, 3, generator=g), "y": torch.randint(0, 2, (n,), generator=g)}


def test_stacked_seeds_train_each_copy_as_if_alone():
    tensors, seeds = data(), [0, 1, 2]
    copies, loaders = [], []
    for s in seeds:
        torch.manual_seed(s)
        copies.append(Small())
        loaders.append(tensor_loader(tensors, 8, torch.Generator().manual_seed(s)))
    stack = StackedSeeds(copies, loss_fn, shared=["extractors"])
    assert len(stack.weights) == 4 and stack.weights[0].shape[0] == 3  # norm weight/bias, head weight/bias, (S, ...)
    fit(stack, lambda m, b: m.loss(b), StackedBatches(loaders), epochs=2, lr=1e-2, device="cpu", progress=False)
    together = stack.unstack()
    for s, model in zip(seeds, together, strict=True):
        torch.manual_seed(s)
        alone = Small()
        fit(alone, loss_fn, tensor_loader(tensors, 8, torch.Generator().manual_seed(s)), epochs=2, lr=1e-2, device="cpu",
            progress=False)
        for (name, a), (_, b) in zip(alone.state_dict().items(), model.state_dict().items(), strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    assert together[0].extractors["x"] is FROZEN  # the shared part is untouched
    assert not torch.equal(together[0].head.weight, together[1].head.weight)  # the seeds differ


def test_stacked_inputs_are_checked():
    with pytest.raises(ValueError, match="one model class"):
        StackedSeeds([Small(), nn.Linear(2, 2)], loss_fn)
    with pytest.raises(ValueError, match="same number of batches"):
        StackedBatches([tensor_loader(data(16), 8), tensor_loader(data(32), 8)])


def test_tensor_loader_gives_the_batches_of_a_dataloader_over_the_rows():
    tensors = data(20)
    ours = list(tensor_loader(tensors, 6, torch.Generator().manual_seed(3)))
    theirs = list(DataLoader(StackDataset(**tensors), batch_size=6, shuffle=True, drop_last=True,
                             generator=torch.Generator().manual_seed(3)))
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])
    with pytest.raises(ValueError, match="same number of rows"):
        tensor_loader({"x": torch.zeros(3), "y": torch.zeros(4)}, 2)
