import os

# Tests never reach a model hub: pretrained weights come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Small tensors run faster on one thread, above all on a shared CPU (no OpenMP hand-offs between cores).

    Notebook tests are unaffected: their kernels are separate processes.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
