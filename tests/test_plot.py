import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cmlearn.metrics import confusion_matrix, robustness_curve  # noqa: E402
from cmlearn.plot import (  # noqa: E402
    confusion_heatmap,
    embedding_projection,
    image_grid,
    retrieval_grid,
    robustness_curves,
    similarity_heatmap,
    training_curves,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_figures_are_returned_with_the_expected_axes():
    images = torch.rand(6, 3, 16, 16)
    assert len(image_grid(images, titles=[str(i) for i in range(6)], ncols=3).axes) == 6
    grid = image_grid(images, ncols=3)  # torchvision's make_grid: 2 rows of 3 tiles with 2-pixel padding
    assert grid.axes[0].images[0].get_array().shape == (2 + 2 * 18, 2 + 3 * 18, 3)
    fig = retrieval_grid(["q0", "q1"], images, torch.tensor([[0, 1, 2], [3, 4, 5]]), correct=[0, 5])
    assert len(fig.axes) == 6
    # a grid's title sits above its first row's titles, not on them
    titled = image_grid(images, titles=["a long title\nover two lines"] * 6, ncols=3, title="the grid's title")
    titled.canvas.draw()
    renderer = titled.canvas.get_renderer()
    top_of_row = max(ax.title.get_window_extent(renderer).y1 for ax in titled.axes[:3])
    assert titled._suptitle.get_text() == "the grid's title"
    assert titled._suptitle.get_window_extent(renderer).y0 >= top_of_row
    heat = similarity_heatmap(torch.eye(4), col_labels=list("abcd"))
    assert heat.axes[0].get_xlabel() == "captions"
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0], "seconds": [1, 1], "R@1": [0.1, 0.2]})
    assert len(training_curves(history).axes) == 2


def test_train_and_validation_loss_share_a_panel():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [2.0, 1.0, 0.5], "val_loss": [2.1, 1.4, 1.5], "seconds": [1, 1, 1],
                            "accuracy": [0.3, 0.5, 0.6]})
    fig = training_curves(history)
    loss_panel, accuracy_panel = fig.axes
    assert loss_panel.get_title() == "loss" and accuracy_panel.get_title() == "accuracy"
    assert [line.get_ydata().tolist() for line in loss_panel.get_lines()][:2] == [[2.0, 1.0, 0.5], [2.1, 1.4, 1.5]]


def test_confusion_heatmap_shows_the_counts():
    matrix = confusion_matrix(torch.tensor([0, 1, 1, 2, 2, 2]), torch.tensor([0, 1, 2, 2, 2, 1]), num_classes=3)
    fig = confusion_heatmap(matrix, class_names=["cat", "dog", "bird"])
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.texts] == [str(v) for v in matrix.flatten().tolist()]
    _, own_ax = plt.subplots()
    assert confusion_heatmap(matrix.float() / 6, ax=own_ax) is own_ax.figure


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_projection_colours_by_modality(method):
    g = torch.Generator().manual_seed(0)
    image = torch.randn(12, 8, generator=g)
    text = image + 0.1 * torch.randn(12, 8, generator=g)
    fig = embedding_projection({"image": image, "text": text}, method=method, pairs=5)
    ax = fig.axes[0]
    pair_lines, points = ax.collections
    assert len(points.get_offsets()) == 24  # every embedding is a point
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["image", "text"]
    assert len(pair_lines.get_segments()) == 5  # the lines joining pairs


def test_robustness_curves_put_the_auc_in_the_legend():
    curves = {"late fusion": robustness_curve(lambda p: 0.9 - 0.4 * p, [0, 0.5, 1], "accuracy"),
              "early fusion": robustness_curve(lambda p: 0.9 - 0.8 * p, [0, 0.5, 1], "accuracy")}
    ax = robustness_curves(curves, xlabel="missing rate").axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["late fusion (AUC 0.700)", "early fusion (AUC 0.500)"]
    assert ax.get_xlabel() == "missing rate"


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\)"):
        image_grid(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="2 titles"):
        image_grid(torch.rand(3, 3, 8, 8), titles=["a", "b"])
    with pytest.raises(ValueError, match="no column"):
        training_curves(pd.DataFrame({"epoch": [1]}), ["accuracy"])
    with pytest.raises(ValueError, match="square"):
        confusion_heatmap(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="shared D"):
        embedding_projection({"image": torch.zeros(4, 3), "text": torch.zeros(4, 5)})
    with pytest.raises(ValueError, match="method"):
        embedding_projection({"image": torch.zeros(4, 3)}, method="umap")
