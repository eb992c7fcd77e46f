import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cmlearn.plot import image_grid, retrieval_grid, similarity_heatmap, training_curves  # noqa: E402


def test_figures_are_returned_with_the_expected_axes():
    images = torch.rand(6, 3, 16, 16)
    assert len(image_grid(images, titles=[str(i) for i in range(6)], ncols=3).axes) == 6
    fig = retrieval_grid(["q0", "q1"], images, torch.tensor([[0, 1, 2], [3, 4, 5]]), correct=[0, 5])
    assert len(fig.axes) == 6
    heat = similarity_heatmap(torch.eye(4), col_labels=list("abcd"))
    assert heat.axes[0].get_xlabel() == "captions"
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0], "seconds": [1, 1], "R@1": [0.1, 0.2]})
    assert len(training_curves(history).axes) == 2


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\)"):
        image_grid(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="2 titles"):
        image_grid(torch.rand(3, 3, 8, 8), titles=["a", "b"])
    with pytest.raises(ValueError, match="no column"):
        training_curves(pd.DataFrame({"epoch": [1]}), ["accuracy"])
