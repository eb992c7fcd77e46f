import math

import pytest
import torch
from torch import nn

from cmlearn.seed import seed_everything
from cmlearn.train import fit, move_to_device


def regression_loader(generator, n=64, batch=16):
    x = torch.randn(n, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    return [{"x": x[i:i + batch], "y": y[i:i + batch]} for i in range(0, n, batch)]


def mse(model, batch):
    return nn.functional.mse_loss(model(batch["x"]), batch["y"])


def train_once(seed):
    generator = seed_everything(seed)
    model = nn.Linear(3, 1)
    return fit(model, mse, regression_loader(generator), epochs=15, lr=0.1, device="cpu", progress=False,
               eval_fn=lambda m: {"weight_norm": float(m.weight.norm())})


def test_fit_reduces_the_loss_and_records_history():
    history = train_once(0)
    assert list(history.columns) == ["epoch", "train_loss", "seconds", "weight_norm"]
    assert history["epoch"].tolist() == list(range(1, 16))
    assert history["train_loss"].iloc[-1] < 0.05 * history["train_loss"].iloc[0]


def test_same_seed_same_history():
    first, second = train_once(3), train_once(3)
    assert first["train_loss"].tolist() == second["train_loss"].tolist()
    assert first["weight_norm"].tolist() == second["weight_norm"].tolist()


def test_nan_loss_stops_with_the_step():
    def exploding(model, batch):
        return model(batch["x"]).sum() * math.nan

    with pytest.raises(FloatingPointError, match="epoch 1, step 1"):
        fit(nn.Linear(3, 1), exploding, regression_loader(torch.Generator().manual_seed(0)), epochs=1, progress=False, device="cpu")


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be"):
        fit(nn.Linear(3, 1), mse, [], epochs=0, device="cpu")
    with pytest.raises(TypeError, match="batch dict"):
        move_to_device([torch.zeros(1)], torch.device("cpu"))
