import math

import pytest
import torch
import torch.nn.functional as F

from cmlearn.contrastive import MAX_LOGIT_SCALE, clip_loss
from cmlearn.dual_encoder import DualEncoder
from cmlearn.encoders import GRUTextEncoder, SmallCNN
from cmlearn.shared import ProjectionHead


def unit(rows, dim, generator):
    return F.normalize(torch.randn(rows, dim, generator=generator), dim=-1)


def clip_loss_by_hand(image, text, tau):
    """The symmetric InfoNCE written out term by term."""
    batch = image.shape[0]
    total = 0.0
    for i in range(batch):
        image_row = [float(image[i] @ text[j]) / tau for j in range(batch)]
        text_row = [float(text[i] @ image[j]) / tau for j in range(batch)]
        total += -(image_row[i] - math.log(sum(math.exp(v) for v in image_row)))
        total += -(text_row[i] - math.log(sum(math.exp(v) for v in text_row)))
    return total / (2 * batch)


@pytest.mark.parametrize("batch,tau", [(2, 1.0), (5, 0.07), (8, 0.5)])
def test_clip_loss_matches_the_formula(batch, tau):
    g = torch.Generator().manual_seed(batch)
    image, text = unit(batch, 6, g), unit(batch, 6, g)
    out = clip_loss(image, text, torch.tensor(math.log(1 / tau)))
    assert out.loss.item() == pytest.approx(clip_loss_by_hand(image, text, tau), rel=1e-5)
    assert torch.equal(out.logits_per_text, out.logits_per_image.T)


def test_identical_embeddings_give_log_batch_size():
    # Every similarity is equal, so each softmax is uniform over the B candidates.
    image = F.normalize(torch.ones(7, 4), dim=-1)
    out = clip_loss(image, image.clone(), torch.tensor(2.0))
    assert out.loss.item() == pytest.approx(math.log(7), rel=1e-6)


def test_swapping_modalities_leaves_loss_unchanged():
    g = torch.Generator().manual_seed(0)
    image, text = unit(6, 5, g), unit(6, 5, g)
    scale = torch.tensor(1.3)
    assert clip_loss(image, text, scale).loss.item() == pytest.approx(clip_loss(text, image, scale).loss.item(), rel=1e-6)


def test_logit_scale_is_clamped_at_100():
    g = torch.Generator().manual_seed(1)
    image, text = unit(4, 3, g), unit(4, 3, g)
    clamped = clip_loss(image, text, torch.tensor(10.0)).logits_per_image
    at_limit = clip_loss(image, text, torch.tensor(MAX_LOGIT_SCALE)).logits_per_image
    torch.testing.assert_close(clamped, at_limit)
    torch.testing.assert_close(at_limit, 100 * image @ text.T)


def test_mismatched_batch_sizes_raise():
    with pytest.raises(ValueError, match="pairing up row by row"):
        clip_loss(torch.zeros(3, 4), torch.zeros(2, 4), torch.tensor(0.0))


def test_projection_head_checks_its_input():
    head = ProjectionHead(8, 4)
    assert head(torch.zeros(3, 8)).shape == (3, 4)
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        head(torch.zeros(3, 7))


def make_dual_encoder():
    torch.manual_seed(0)
    return DualEncoder(SmallCNN(out_dim=16, channels=(4, 8, 8)), GRUTextEncoder(12, out_dim=16, embed_dim=8, hidden_dim=8), embed_dim=8)


def make_batch(batch=4):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 12, (batch, 5), generator=g)
    mask = torch.ones(batch, 5, dtype=torch.long)
    mask[0, 3:] = 0
    return {"image": torch.rand(batch, 3, 32, 32, generator=g), "input_ids": ids, "attention_mask": mask}


def test_dual_encoder_embeddings_are_unit_length_and_gradients_reach_every_part():
    model = make_dual_encoder()
    batch = make_batch()
    image_embeddings, text_embeddings = model(batch)
    assert image_embeddings.shape == text_embeddings.shape == (4, 8)
    torch.testing.assert_close(image_embeddings.norm(dim=-1), torch.ones(4))
    model.loss(batch).backward()
    no_grad = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"no gradient reached {no_grad}"
    assert model.temperature == pytest.approx(0.07, rel=1e-5)


def test_embed_matches_forward_in_eval_mode():
    model = make_dual_encoder().eval()
    batch = make_batch(5)
    with torch.no_grad():
        expected = model(batch)
    got = model.embed(batch["image"], batch, batch_size=2)
    torch.testing.assert_close(got[0], expected[0])
    torch.testing.assert_close(got[1], expected[1])


def test_dual_encoder_bad_batches():
    model = make_dual_encoder()
    batch = make_batch()
    with pytest.raises(KeyError, match="input_ids"):
        model({"image": batch["image"]})
    batch["image"] = batch["image"][:3]
    with pytest.raises(ValueError, match="3 samples but text batch has 4"):
        model(batch)
