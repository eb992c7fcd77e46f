"""The steps fit repeats each epoch (cmlearn.train.epoch) and the replay of a resumed epoch (CheckpointFolder.start_epoch)."""

import pytest
import torch
from noisy_points import NoisyPoints
from torch import nn
from torch.utils.data import DataLoader

from cmlearn.runtime import seed_everything, select_device
from cmlearn.train import CheckpointFolder, TrainingRun, TrainState, end_epoch, loader_generators, train_epoch


def cross_entropy(model, batch):
    return nn.functional.cross_entropy(model(batch["x"]), batch["y"])


def make_run(loss_fn=cross_entropy, steps_per_epoch=6, **options):
    """A TrainingRun as fit builds it, with a constant learning rate."""
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    return TrainingRun(model, loss_fn, optimizer, scheduler, scaler, select_device("cpu"), steps_per_epoch, **options)


def loader(seed=0):
    return DataLoader(NoisyPoints(), batch_size=16, shuffle=True, generator=seed_everything(seed))  # 6 batches


class RecordingFolder:
    """Stands in for a CheckpointFolder: records the (step, global_step) of each save and the best epochs."""

    last_good = "nowhere"

    def __init__(self):
        self.saves, self.best = [], []

    def save(self, model, optimizer, scheduler, scaler, state):
        self.saves.append((state.step, state.global_step))

    def save_best(self, model, epoch, monitor, value):
        self.best.append((epoch, value))


def test_train_epoch_returns_the_mean_loss_of_its_batches_and_takes_one_step_per_batch():
    losses = []
    run = make_run(on_step=lambda info: losses.append(info["loss"]))
    state = TrainState(global_step=12)  # as if two epochs were done
    before = [p.detach().clone() for p in run.model.parameters()]
    train_loss = train_epoch(run, state, iter(loader()))
    assert len(losses) == 6
    assert train_loss == pytest.approx(sum(losses) / 6, rel=1e-12)
    assert (state.step, state.global_step, run.scheduler.last_epoch) == (6, 18, 6)
    assert state.loss_sum == pytest.approx(sum(losses), rel=1e-12) and state.seconds > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    assert run.model.training


def test_train_epoch_counts_the_batches_done_before_a_resume_in_its_mean():
    losses = []
    run = make_run(on_step=lambda info: losses.append((info["step"], info["loss"])))
    state = TrainState(step=2, global_step=2, loss_sum=10.0)  # 2 of 6 batches done before the checkpoint
    train_loss = train_epoch(run, state, iter(list(loader())[2:]))
    assert [step for step, _ in losses] == [3, 4, 5, 6]
    assert train_loss == pytest.approx((10.0 + sum(loss for _, loss in losses)) / 6, rel=1e-12)


def test_train_epoch_checkpoints_every_n_steps_but_not_at_the_epochs_last_batch():
    folder = RecordingFolder()
    run = make_run(checkpoints=folder, checkpoint_every=3)
    state = TrainState()
    train_epoch(run, state, iter(loader()))
    assert folder.saves == [(3, 3)]  # global step 6 is the epoch's end: end_epoch writes that one


def test_train_epoch_stops_on_a_non_finite_loss_naming_the_step():
    run = make_run(loss_fn=lambda model, batch: cross_entropy(model, batch) * float("nan"))
    with pytest.raises(FloatingPointError, match=r"epoch 3, step 1 \(global step 13\).*none \(pass checkpoint_dir"):
        train_epoch(run, TrainState(epoch=2, global_step=12), iter(loader()))


def test_end_epoch_writes_the_row_and_stops_early_after_patience_bad_epochs():
    scores = iter([0.3, 0.2, 0.25, 0.2, 0.1])  # lower is better: best at epoch 2, then bad epochs 3 and 4
    folder = RecordingFolder()
    run = make_run(val_loader=[{"x": torch.zeros(2, 4), "y": torch.tensor([0, 1])}], eval_fn=lambda model: {"error": next(scores)},
                   monitor="error", early_stopping=2, checkpoints=folder)
    state = TrainState()
    for epoch in range(1, 5):
        assert not state.stopped
        state.step, state.loss_sum, state.seconds = 6, 6.0 * epoch, 0.5
        row = end_epoch(run, state, train_loss=float(epoch))
        assert list(row) == ["epoch", "train_loss", "val_loss", "seconds", "error"]
        assert (row["epoch"], row["train_loss"], row["seconds"]) == (epoch, float(epoch), 0.5)
        assert (state.epoch, state.step, state.loss_sum, state.seconds) == (epoch, 0, 0.0, 0.0)
    assert state.stopped and state.bad_epochs == 2 and state.best == 0.2
    assert [row["error"] for row in state.history] == [0.3, 0.2, 0.25, 0.2]  # an equal value is no improvement
    assert folder.best == [(1, 0.3), (2, 0.2)]
    assert folder.saves == [(0, 0)] * 4  # last.pt after every epoch
    assert not run.model.training


def test_end_epoch_without_patience_never_stops_and_checks_the_monitored_column():
    run = make_run(eval_fn=lambda model: {"error": 1.0}, monitor="error")
    state = TrainState(step=6)
    for _ in range(5):
        end_epoch(run, state, train_loss=1.0)
    assert not state.stopped and state.bad_epochs == 4
    with pytest.raises(ValueError, match="'accuracy', which is not among this epoch's columns"):
        end_epoch(make_run(monitor="accuracy", early_stopping=1), TrainState(step=6), train_loss=1.0)


def test_start_epoch_after_a_mid_epoch_checkpoint_replays_the_rest_of_the_epoch(tmp_path):
    def start(data):
        return make_run(), CheckpointFolder(tmp_path, {"epochs": 1}, loader_generators(data))

    # Uninterrupted: 2 batches, each followed by random draws (the training step's dropout), a checkpoint, a draw, the rest.
    data = loader(seed=0)
    run, folder = start(data)
    batches = folder.start_epoch(data)
    seen = []
    for _ in range(2):
        seen.append(next(batches))
        torch.rand(5)
    folder.save(run.model, run.optimizer, run.scheduler, run.scaler, TrainState(step=2, global_step=2))
    draw, rest = torch.rand(3), list(batches)

    # A new process: other random states, the same call resumes the checkpoint and replays the first 2 batches.
    data = loader(seed=1)
    run, folder = start(data)
    assert folder.resume(run.model, run.optimizer, run.scheduler, run.scaler)["train"]["step"] == 2
    batches = folder.start_epoch(data, step=2)
    assert torch.equal(torch.rand(3), draw)
    replayed = list(batches)
    assert len(replayed) == len(rest) == 4
    assert all(torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"]) for a, b in zip(replayed, rest))
    assert not any(torch.equal(a["x"], seen[0]["x"]) for a in replayed)
    # Only the first epoch after resume() replays: the next one starts from the random states as they are.
    assert folder.resumed is None and len(list(folder.start_epoch(data))) == 6
