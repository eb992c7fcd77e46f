"""The batch contract: modality inputs, chunked prediction, pixel noise."""

import pytest
import torch
from torch import nn

from cmlearn.batch import MODALITY_INPUTS, check_modalities, modality_inputs, predict
from cmlearn.data.common import add_pixel_noise


class TwoHeads(nn.Module):
    """(B, 3) in a batch dict -> a dict of a float score (B, 2) and an int label (B,); dropout shows the mode."""

    def __init__(self):
        super().__init__()
        self.layer, self.dropout = nn.Linear(3, 2), nn.Dropout(0.5)

    def forward(self, batch):
        scores = self.layer(self.dropout(batch["x"]))
        return {"scores": scores, "label": scores.argmax(dim=1)}


def test_predict_equals_one_big_forward_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(0)
    model = TwoHeads().train()
    x = torch.randn(10, 3)
    out = predict(model, {"x": x}, batch_size=3)  # 4 batches, the last of 1
    assert model.training  # restored
    model.eval()
    expected = model({"x": x})
    torch.testing.assert_close(out["scores"], expected["scores"].detach())
    assert torch.equal(out["label"], expected["label"]) and out["label"].dtype == torch.int64
    assert not out["scores"].requires_grad


def test_predict_slices_tuples_and_custom_forwards():
    model = nn.Linear(4, 1)
    x, weight = torch.randn(7, 4), torch.arange(7.0)
    got = predict(model, (x, weight), lambda m, b: (m(b[0]).squeeze(1) * b[1], b[1]), batch_size=2)
    with torch.no_grad():
        torch.testing.assert_close(got[0], model(x).squeeze(1) * weight)
    torch.testing.assert_close(got[1], weight)
    with pytest.raises(TypeError, match="expected inputs as a tensor"):
        predict(model, {"name": "no tensors"})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        predict(model, x, batch_size=0)


def test_modality_inputs_name_what_is_missing():
    batch = {"image": torch.zeros(2, 3, 4, 4), "input_ids": torch.zeros(2, 5, dtype=torch.long)}
    assert modality_inputs(batch, "image")[0] is batch["image"]
    with pytest.raises(KeyError, match=r"missing \['attention_mask'\] for modality 'text'"):
        modality_inputs(batch, "text")
    with pytest.raises(ValueError, match=r"unknown modality \['smell'\]"):
        check_modalities(["image", "smell"])
    assert set(MODALITY_INPUTS) == {"image", "text", "audio", "video"}


def test_pixel_noise_has_the_asked_std_and_stays_in_range():
    g = torch.Generator().manual_seed(0)
    grey = torch.full((64, 3, 16, 16), 0.5)
    noisy = add_pixel_noise(grey, 0.1, g)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - grey).std().item() == pytest.approx(0.1, rel=0.03)  # 0.5 ± 0.1 is rarely clipped
    per_image = torch.tensor([0.0, 0.2]).view(2, 1, 1, 1)
    two = add_pixel_noise(grey[:2], per_image, g)
    assert torch.equal(two[0], grey[0]) and (two[1] - grey[1]).std() > 0.15
    assert torch.equal(add_pixel_noise(torch.ones(2, 2), 1.0, torch.Generator().manual_seed(1)),
                       add_pixel_noise(torch.ones(2, 2), 1.0, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="noise std >= 0"):
        add_pixel_noise(grey, -0.1)
