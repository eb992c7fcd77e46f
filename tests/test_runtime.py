import random

import numpy as np
import pytest
import torch

from cmlearn.runtime import seed_everything, select_device


def test_auto_picks_cuda_only_when_available():
    precision = select_device("auto")
    assert precision.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if precision.device.type == "cpu":
        assert precision.amp_dtype is None and not precision.needs_grad_scaler
        assert "cpu" in precision.describe()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_says_so_plainly():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        select_device("cuda")


def test_unknown_device_name():
    with pytest.raises(ValueError, match="device must be one of"):
        select_device("tpu")


def test_cpu_autocast_is_a_no_op():
    precision = select_device("cpu")
    with precision.autocast():
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32


def test_seed_everything_repeats_every_generator():
    generator = seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    generator = seed_everything(7)
    second = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    assert first == second
    with pytest.raises(ValueError, match="non-negative int"):
        seed_everything(-1)


def test_stopwatch_counts_wall_and_cpu_time():
    import time

    from cmlearn.runtime import Stopwatch, cpu_seconds

    clock = Stopwatch()
    before = cpu_seconds()
    total = 0
    while cpu_seconds() - before < 0.05:  # burn a little CPU
        total += 1
    time.sleep(0.05)
    assert clock.wall >= 0.1 - 1e-3 and clock.cpu >= 0.05 - 1e-3
    assert clock.cpu <= clock.wall * 64  # CPU time over all threads is bounded by the cores
    assert str(clock).endswith("CPU-seconds)") and " s (" in str(clock)
    clock.restart()
    assert clock.wall < 0.05
