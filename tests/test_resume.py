"""A run killed with SIGKILL in the middle of an epoch, rerun with the same call, ends as if never killed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from cmlearn.runtime import seed_everything
from cmlearn.train import fit, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent

# 3 epochs of 12 steps, a checkpoint every 5 steps. Everything random is in play: the DataLoader's
# shuffle, augmentation noise drawn in __getitem__, dropout, and NumPy / Python draws in the loss.
# `train.py DIR KILL_AT` trains with checkpoints in DIR and waits to be killed after step KILL_AT;
# `train.py DIR 0 REFERENCE_DIR` trains to the end in DIR, then once more, uninterrupted, in REFERENCE_DIR
# (in the same process, so both runs share one environment), and writes both results to result.json.
SCRIPT = textwrap.dedent("""
    import json, random, sys, time
    from pathlib import Path

    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from cmlearn.runtime import seed_everything
    from cmlearn.train import fit
    from noisy_points import NoisyPoints  # tests/ is on PYTHONPATH (see launch)

    def loss_fn(model, batch):
        jitter = 1 + 0.01 * (float(np.random.rand()) + random.random())
        return jitter * nn.functional.cross_entropy(model(batch["x"]), batch["y"])

    def train(checkpoint_dir, kill_at=0):
        steps = []
        def on_step(info):
            steps.append(info["global_step"])
            if info["global_step"] == kill_at:
                (checkpoint_dir / "ready").write_text("killing me now is mid-epoch")
                time.sleep(120)  # the test kills the process here

        generator = seed_everything(0)
        model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
        loader = DataLoader(NoisyPoints(), batch_size=8, shuffle=True, generator=generator)
        history = fit(model, loss_fn, loader, epochs=3, lr=1e-2, device="cpu", checkpoint_dir=checkpoint_dir, checkpoint_every=5,
                      eval_fn=lambda m: {"accuracy": float((m(loader.dataset.x).argmax(1) == loader.dataset.y).float().mean())},
                      on_step=on_step)
        return {"history": history.drop(columns="seconds").to_dict("list"),
                "parameters": [p.detach().flatten().tolist() for p in model.parameters()], "steps": steps}

    checkpoint_dir, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    resumed = train(checkpoint_dir, kill_at)
    reference = train(Path(sys.argv[3]))
    (checkpoint_dir / "result.json").write_text(json.dumps({"resumed": resumed, "reference": reference}))
""")


def launch(script, *arguments):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), *map(str, arguments)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_epoch_then_rerun_gives_the_uninterrupted_result(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    victim = launch(script, killed_dir, 17)  # killed after step 17: epoch 2, step 5

    deadline = time.monotonic() + 120
    while not (killed_dir / "ready").exists():
        if victim.poll() is not None:
            pytest.fail(f"the run ended before it could be killed:\n{victim.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            victim.kill()
            pytest.fail("the run never reached step 17")
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    victim.communicate()

    # The last checkpoint is from the middle of epoch 2 (global step 15): resuming must replay its batches.
    saved = load_checkpoint(killed_dir / "last.pt")["train"]
    assert (saved["epoch"], saved["step"], saved["global_step"]) == (1, 3, 15)

    rerun = launch(script, killed_dir, 0, tmp_path / "reference")  # the same call, then a run never killed
    log = "".join(rerun.communicate(timeout=180))
    assert rerun.returncode == 0, log[-3000:]
    assert f"resuming from {killed_dir / 'last.pt'} (epoch 2, step 3)" in log

    result = json.loads((killed_dir / "result.json").read_text())
    resumed, expected = result["resumed"], result["reference"]
    assert resumed["steps"] == list(range(16, 37))  # it continued, it did not start over
    assert expected["steps"] == list(range(1, 37))
    assert resumed["history"] == expected["history"]  # every epoch's loss and accuracy, exactly
    assert resumed["parameters"] == expected["parameters"]


class Interrupted(Exception):
    pass


def run_in_process(checkpoint_dir, stop_at=None):
    """3 epochs of 6 steps, checkpoints every 4 steps and at each epoch's end; shuffle and dropout in play."""
    generator = seed_everything(0)
    data = [{"x": x, "y": y} for x, y in zip(torch.randn(48, 4, generator=generator), torch.randint(0, 3, (48,), generator=generator))]
    loader = DataLoader(data, batch_size=8, shuffle=True, generator=generator)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))

    def on_step(info):
        if info["global_step"] == stop_at:
            raise Interrupted

    history = fit(model, lambda m, b: nn.functional.cross_entropy(m(b["x"]), b["y"]), loader, epochs=3, lr=1e-2, device="cpu",
                  progress=False, checkpoint_dir=checkpoint_dir, checkpoint_every=4, on_step=on_step)
    return history.drop(columns="seconds"), model


def test_interrupted_at_any_step_resumes_exactly(tmp_path):
    expected, expected_model = run_in_process(tmp_path / "reference")
    # Checkpoints are written after steps 4, 6 (end of epoch 1), 8, 12 (end of epoch 2), 16 and 18. Stopping at step 3
    # leaves none; at 7 and 13 the last one is from an epoch's end; at 6, 10 and 17 from the middle of an epoch.
    for stop_at in (3, 6, 7, 10, 13, 17):
        folder = tmp_path / f"stop{stop_at}"
        with pytest.raises(Interrupted):
            run_in_process(folder, stop_at)
        history, model = run_in_process(folder)
        assert history.equals(expected), f"stopped at step {stop_at}"
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), expected_model.parameters())), f"stopped at step {stop_at}"
