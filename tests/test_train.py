import math

import pytest
import torch
from noisy_points import NoisyPoints
from torch import nn
from torch.utils.data import DataLoader

from cmlearn.batch import check_batch, move_to_device
from cmlearn.runtime import seed_everything
from cmlearn.train import fit, load_checkpoint, warmup_cosine


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


def cross_entropy(model, batch):
    return nn.functional.cross_entropy(model(batch["x"]), batch["y"])


def shuffled_run(seed=0, epochs=3, **options):
    """A run that draws from every RNG: DataLoader shuffle, augmentation noise, dropout."""
    generator = seed_everything(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    loader = DataLoader(NoisyPoints(), batch_size=16, shuffle=True, generator=generator)
    history = fit(model, cross_entropy, loader, epochs=epochs, lr=1e-2, device="cpu", progress=False, **options)
    return history.drop(columns="seconds"), model


def test_fit_reduces_the_loss_and_records_history():
    history = train_once(0)
    assert list(history.columns) == ["epoch", "train_loss", "seconds", "weight_norm"]
    assert history["epoch"].tolist() == list(range(1, 16))
    assert history["train_loss"].iloc[-1] < 0.05 * history["train_loss"].iloc[0]


def test_same_seed_same_history():
    first, second = train_once(3), train_once(3)
    assert first["train_loss"].tolist() == second["train_loss"].tolist()
    assert first["weight_norm"].tolist() == second["weight_norm"].tolist()
    # With shuffling, augmentation and dropout too, and a different seed gives different numbers.
    assert shuffled_run(0)[0].equals(shuffled_run(0)[0])
    assert not shuffled_run(0)[0].equals(shuffled_run(1)[0])


def test_fit_equals_a_plain_pytorch_loop():
    # The default path is AdamW with warm-up + cosine and nothing else: the same numbers, bit for bit.
    history, model = shuffled_run(0, epochs=2)
    generator = seed_everything(0)
    reference = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    loader = DataLoader(NoisyPoints(), batch_size=16, shuffle=True, generator=generator)
    optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-2, weight_decay=1e-4)
    total = 2 * len(loader)
    warmup = max(1, int(0.05 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
    losses = []
    for _ in range(2):
        reference.train()
        epoch_losses = []
        for batch in loader:
            loss = cross_entropy(reference, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            epoch_losses.append(loss.item())
        losses.append(sum(epoch_losses) / len(epoch_losses))
    assert history["train_loss"].tolist() == losses
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))


def test_warmup_cosine_schedule():
    factors = [warmup_cosine(step, 4, 20) for step in range(20)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[12] == pytest.approx(0.5) and factors[-1] == pytest.approx(0.0, abs=0.05)
    assert all(a >= b for a, b in zip(factors[4:], factors[5:]))
    seen = []
    shuffled_run(0, epochs=1, on_step=lambda info: seen.append(info["lr"]), warmup_fraction=0.5)
    assert seen[0] == pytest.approx(1e-2 * warmup_cosine(1, 3, 6))  # lr after the first step
    assert seen == sorted(seen[:2]) + sorted(seen[2:], reverse=True)  # up during warm-up, then down


def test_checkpointing_does_not_change_the_numbers(tmp_path):
    plain = shuffled_run(0)[0]
    checkpointed = shuffled_run(0, checkpoint_dir=tmp_path, checkpoint_every=2, val_loader=[{"x": torch.zeros(2, 4), "y": torch.zeros(2).long()}])[0]
    assert checkpointed.drop(columns="val_loss").equals(plain)
    assert load_checkpoint(tmp_path / "last.pt")["train"]["epoch"] == 3


def test_nan_loss_stops_with_the_step():
    def exploding(model, batch):
        return model(batch["x"]).sum() * math.nan

    with pytest.raises(FloatingPointError, match="epoch 1, step 1"):
        fit(nn.Linear(3, 1), exploding, regression_loader(torch.Generator().manual_seed(0)), epochs=1, progress=False, device="cpu")


def test_nan_loss_names_the_last_good_checkpoint(tmp_path):
    steps = []

    def explodes_at_step_7(model, batch):
        steps.append(1)
        loss = mse(model, batch)
        return loss * math.inf if len(steps) == 7 else loss

    loader = regression_loader(torch.Generator().manual_seed(0))  # 4 steps per epoch
    with pytest.raises(FloatingPointError, match=r"inf at epoch 2, step 3 \(global step 7\).*last\.pt \(epoch 2, step 2\)"):
        fit(nn.Linear(3, 1), explodes_at_step_7, loader, epochs=3, progress=False, device="cpu", checkpoint_dir=tmp_path, checkpoint_every=3)
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    assert (checkpoint["train"]["epoch"], checkpoint["train"]["step"]) == (1, 2)  # epoch 2 not finished, 2 of its steps done
    assert all(torch.isfinite(value).all() for value in checkpoint["model"].values())


def test_bad_batches_get_clear_errors():
    good = {"image": torch.zeros(4, 3, 8, 8), "input_ids": torch.zeros(4, 5), "caption": ["a"] * 4}
    check_batch(good, required_keys=["image", "input_ids"])
    with pytest.raises(ValueError, match=r"step 3: .*same batch size.*image: 4, input_ids: 3"):
        check_batch({"image": torch.zeros(4, 3, 8, 8), "input_ids": torch.zeros(3, 5)}, where="epoch 1, step 3")
    with pytest.raises(ValueError, match=r"caption: 2"):
        check_batch({**good, "caption": ["a", "b"]})
    loader = [{"x": torch.zeros(4, 3), "y": torch.zeros(4, 1)}, {"x": torch.zeros(4, 3)}]
    with pytest.raises(ValueError, match=r"epoch 1, step 2: the batch is missing key\(s\) \['y'\]; it has \['x'\]"):
        fit(nn.Linear(3, 1), mse, loader, epochs=1, device="cpu", progress=False, required_keys=["x", "y"])
    mismatched = [{"x": torch.zeros(4, 3), "y": torch.zeros(5, 1)}]
    with pytest.raises(ValueError, match=r"epoch 1, step 1: .*x: 4, y: 5"):
        fit(nn.Linear(3, 1), mse, mismatched, epochs=1, device="cpu", progress=False)


def test_early_stopping_and_best_checkpoint(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9, 0.9])  # best at epoch 2, then two epochs without improvement
    history, _ = shuffled_run(0, epochs=6, eval_fn=lambda model: {"accuracy": next(scores)}, early_stopping=2, monitor="accuracy",
                              mode="max", checkpoint_dir=tmp_path)
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    best = load_checkpoint(tmp_path / "best.pt")
    assert (best["epoch"], best["monitor"], best["value"]) == (2, "accuracy", 0.7)
    # Rerunning a run that stopped early returns its history without training again.
    again, _ = shuffled_run(0, epochs=6, eval_fn=lambda model: pytest.fail("trained again"), early_stopping=2, monitor="accuracy",
                            mode="max", checkpoint_dir=tmp_path)
    assert again["accuracy"].tolist() == [0.5, 0.7, 0.6, 0.65]


def test_gradient_clipping():
    norms = {}

    def record(name):
        def on_step(info):
            model = models[name]
            norms.setdefault(name, []).append(float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm()))
        return on_step

    models = {}
    for name, clip in (("clipped", 0.05), ("free", None)):
        generator = seed_everything(0)
        models[name] = nn.Linear(3, 1)
        fit(models[name], mse, regression_loader(generator), epochs=2, device="cpu", progress=False, max_grad_norm=clip, on_step=record(name))
    assert max(norms["clipped"]) <= 0.05 + 1e-6
    assert max(norms["free"]) > 0.05


def test_validation_loss_column():
    val = [{"x": torch.ones(2, 4), "y": torch.tensor([0, 1])}]
    history, model = shuffled_run(0, epochs=1, val_loader=val)
    assert list(history.columns) == ["epoch", "train_loss", "val_loss"]
    with torch.no_grad():
        assert history["val_loss"].iloc[0] == pytest.approx(cross_entropy(model.eval(), val[0]).item())


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be"):
        fit(nn.Linear(3, 1), mse, [], epochs=0, device="cpu")
    with pytest.raises(TypeError, match="needs a len"):
        fit(nn.Linear(3, 1), mse, iter([]), epochs=1, device="cpu")
    with pytest.raises(ValueError, match="empty"):
        fit(nn.Linear(3, 1), mse, [], epochs=1, device="cpu")
    with pytest.raises(ValueError, match="needs val_loader"):
        fit(nn.Linear(3, 1), mse, [], epochs=1, device="cpu", early_stopping=2)
    with pytest.raises(TypeError, match="scalar tensor"):
        fit(nn.Linear(3, 1), lambda m, b: m(b["x"]), regression_loader(torch.Generator()), epochs=1, device="cpu", progress=False)
    with pytest.raises(TypeError, match="batch dict"):
        move_to_device([torch.zeros(1)], torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        fit(nn.Linear(3, 1), mse, regression_loader(torch.Generator()), epochs=1, device="cuda")


def test_fit_optimizer_is_fused_adamw_with_the_reference_update():
    # fit's AdamW uses PyTorch's fused kernel on CPU; ten steps of it match the reference (loop of small ops).
    from cmlearn.train.loop import adamw

    torch.manual_seed(0)
    reference = torch.nn.Linear(8, 3)
    fused = torch.nn.Linear(8, 3)
    fused.load_state_dict(reference.state_dict())
    initial = reference.weight.detach().clone()
    optimizers = [torch.optim.AdamW(reference.parameters(), lr=1e-2, weight_decay=1e-4, fused=False, foreach=False),
                  adamw(fused.parameters(), lr=1e-2, weight_decay=1e-4, device=torch.device("cpu"))]
    assert optimizers[1].defaults["fused"] is True
    x, y = torch.randn(32, 8), torch.randn(32, 3)
    for _ in range(10):
        for model, optimizer in zip((reference, fused), optimizers):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
    for a, b in zip(reference.parameters(), fused.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert (fused.weight - initial).abs().max() > 1e-2  # the steps did move the weights
