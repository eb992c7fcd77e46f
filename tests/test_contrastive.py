"""Contrastive losses: CLIP and SigLIP against the formulas written out and open_clip; per-pair terms; extra negatives; ITM."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cmlearn.contrastive import ClipLoss, SigLipLoss, clip_loss, hard_negatives, itm_loss, pair_losses, siglip_loss


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def embeddings(B=5, D=8, seed=0):
    g = gen(seed)
    return F.normalize(torch.randn(B, D, generator=g), dim=1), F.normalize(torch.randn(B, D, generator=g), dim=1)


def open_clip_loss_module():
    """open_clip's loss.py, loaded on its own: it needs only torch (the package __init__ pulls in timm)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("open-clip-torch is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "loss.py"
    module_spec = importlib.util.spec_from_file_location("_open_clip_loss", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- CLIP


def test_clip_loss_module_starts_at_tau_007_and_clamps_at_100():
    loss = ClipLoss()
    assert loss.logit_scale.item() == pytest.approx(math.log(1 / 0.07)) and loss.temperature == pytest.approx(0.07)
    img, txt = embeddings()
    with torch.no_grad():
        loss.logit_scale.fill_(10.0)  # exp(10) > 100: clamped
    assert loss.temperature == pytest.approx(0.01)
    assert torch.allclose(loss(img, txt).logits_per_image, 100 * img @ txt.T, atol=1e-4)


def test_clip_loss_equals_the_formula_written_out():
    img, txt = embeddings()
    scale = torch.tensor(math.log(1 / 0.07))
    out = ClipLoss()(img, txt)
    S = img @ txt.T / 0.07
    B = S.shape[0]
    image_to_text = -sum(S[i, i] - torch.logsumexp(S[i], 0) for i in range(B)) / B
    text_to_image = -sum(S[j, j] - torch.logsumexp(S[:, j], 0) for j in range(B)) / B
    assert out.loss.item() == pytest.approx(((image_to_text + text_to_image) / 2).item(), rel=1e-5)
    assert clip_loss(txt, img, scale).loss.item() == pytest.approx(out.loss.item(), rel=1e-6)  # symmetric


def test_clip_loss_of_identical_embeddings_is_log_b():
    same = F.normalize(torch.ones(6, 4), dim=1)
    assert ClipLoss()(same, same).loss.item() == pytest.approx(math.log(6), rel=1e-6)


def test_clip_loss_equals_open_clip():
    ClipLossRef = open_clip_loss_module().ClipLoss
    img, txt = embeddings(B=7)
    ours = ClipLoss()
    reference = ClipLossRef()(img, txt, ours.logit_scale.exp())  # open_clip takes exp(logit_scale)
    assert ours(img, txt).loss.item() == pytest.approx(reference.item(), rel=1e-6)


def test_clip_loss_gradient_reaches_logit_scale():
    img, txt = embeddings()
    loss = ClipLoss()
    loss(img, txt).loss.backward()
    assert loss.logit_scale.grad is not None and loss.logit_scale.grad != 0


# ----------------------------------------------------------------------------- SigLIP


def test_siglip_one_pair_by_hand():
    x = torch.tensor([[1.0, 0.0]])
    out = SigLipLoss()(x, x)  # t = 10, b = -10, x·y = 1: -log σ(10 - 10) = log 2
    assert out.loss.item() == pytest.approx(math.log(2))


def test_siglip_equals_the_formula_and_open_clip():
    img, txt = embeddings(B=6)
    scale, bias = torch.tensor(math.log(10.0)), torch.tensor(-10.0)
    out = siglip_loss(img, txt, scale, bias)
    B = 6
    by_hand = 0.0
    for i in range(B):
        for j in range(B):
            z = 1.0 if i == j else -1.0
            by_hand -= math.log(1 / (1 + math.exp(-z * (10 * float(img[i] @ txt[j]) - 10))))
    assert out.loss.item() == pytest.approx(by_hand / B, rel=1e-5)
    reference = open_clip_loss_module().SigLipLoss()(img, txt, scale.exp(), bias)
    assert out.loss.item() == pytest.approx(reference.item(), rel=1e-5)


def test_contrastive_losses_reject_unpaired_batches():
    img, txt = embeddings()
    with pytest.raises(ValueError, match=r"expected image and text embeddings of one shape \(B, D\).*\(5, 8\).*\(4, 8\)"):
        siglip_loss(img, txt[:4], torch.tensor(0.0), torch.tensor(0.0))
    with pytest.raises(ValueError, match=r"got image \(5, 8\) and text \(4, 8\)"):
        ClipLoss()(img, txt[:4])


# ----------------------------------------------------------------------------- ITM


def test_hard_negatives_pick_the_most_similar_wrong_partner():
    S = torch.tensor([[9.0, 5.0, 1.0], [2.0, 9.0, 7.0], [6.0, 3.0, 9.0]])  # S[i, j]: image i vs text j
    negative_text, negative_image = hard_negatives(S, sample=False)
    assert negative_text.tolist() == [1, 2, 0]  # per row, the largest off-diagonal
    assert negative_image.tolist() == [2, 0, 1]  # per column
    same = torch.zeros(3, 3, dtype=torch.bool)
    same[0, 1] = True  # text 1 also describes image 0
    assert hard_negatives(S, same, sample=False)[0].tolist() == [2, 2, 0]


def test_sampled_hard_negatives_are_never_positives():
    S = torch.randn(6, 6, generator=gen())
    for seed in range(5):
        negative_text, negative_image = hard_negatives(S, generator=gen(seed))
        assert not torch.any(negative_text == torch.arange(6)) and not torch.any(negative_image == torch.arange(6))
    with pytest.raises(ValueError, match="at least 2 pairs.*got B=1"):
        hard_negatives(torch.zeros(1, 1))


def test_itm_loss_is_bce_on_positives_and_hard_negatives():
    S = torch.tensor([[9.0, 5.0, 1.0], [2.0, 9.0, 7.0], [6.0, 3.0, 9.0]])
    score = torch.randn(3, 3, generator=gen())  # pretend matching logits for every (image, text) pair
    out = itm_loss(lambda i, t: score[i, t], S, sample=False)
    positives = [score[i, i] for i in range(3)]
    negatives = [score[0, 1], score[1, 2], score[2, 0], score[2, 0], score[0, 1], score[1, 2]]
    by_hand = -(sum(F.logsigmoid(p) for p in positives) + sum(F.logsigmoid(-n) for n in negatives)) / 9
    assert out.loss.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert out.labels.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0]


# ----------------------------------------------------------------------------- per-pair terms, extra negatives


def test_clip_loss_is_exactly_the_mean_of_the_pair_losses():
    image, text = embeddings(B=6, D=4, seed=3)
    scale = torch.tensor(math.log(1 / 0.1))
    losses = pair_losses(image, text, scale)
    assert losses.shape == (6,)
    torch.testing.assert_close(losses.mean(), clip_loss(image, text, scale).loss, rtol=1e-6, atol=1e-7)
    # pair i's term by hand: ½[−log softmax_j(S_ij)_i − log softmax_j(S_ji)_i]
    S = image @ text.T / 0.1
    i = 2
    by_hand = -0.5 * (torch.log_softmax(S[i], 0)[i] + torch.log_softmax(S[:, i], 0)[i])
    assert losses[i].item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_extra_negatives_join_only_the_image_to_text_softmax():
    image, text = embeddings(B=4, D=6, seed=1)
    extra = F.normalize(torch.randn(3, 6, generator=gen(9)), dim=1)
    scale = torch.tensor(math.log(1 / 0.2))
    out = clip_loss(image, text, scale, extra_text_embeddings=extra)
    assert out.logits_per_image.shape == (4, 7) and out.logits_per_text.shape == (4, 4)
    S, E = image @ text.T / 0.2, image @ extra.T / 0.2  # (4, 4), (4, 3)
    labels = torch.arange(4)
    by_hand = (F.cross_entropy(torch.cat([S, E], 1), labels) + F.cross_entropy(S.T, labels)) / 2
    torch.testing.assert_close(out.loss, by_hand)
    assert out.loss > clip_loss(image, text, scale).loss  # more negatives, larger loss
    # masked out or none at all: the plain CLIP loss
    plain = clip_loss(image, text, scale).loss
    torch.testing.assert_close(clip_loss(image, text, scale, extra, torch.zeros(3, dtype=torch.bool)).loss, plain)
    torch.testing.assert_close(clip_loss(image, text, scale, extra[:0]).loss, plain)
    with pytest.raises(ValueError, match=r"expected extra_text_embeddings of shape \(M, 6\)"):
        clip_loss(image, text, scale, torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"expected extra_text_mask of shape \(3,\)"):
        clip_loss(image, text, scale, extra, torch.ones(2, dtype=torch.bool))


def test_the_temperature_stays_float32_under_bfloat16_autocast():
    # open_clip and the book's aligners keep logit_scale in float32; rounding it to bfloat16 would move 1/τ by ~0.4%.
    image, text = embeddings(B=4, D=8, seed=2)
    scale = torch.tensor(math.log(1 / 0.07))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = clip_loss(image.bfloat16(), text.bfloat16(), scale)
    expected = (scale.exp() * image.bfloat16() @ text.bfloat16().T)
    torch.testing.assert_close(out.logits_per_image, expected, rtol=0, atol=0)  # a bfloat16 1/τ differs by up to 0.06 here
    assert clip_loss(image, text, 2.0).loss.dtype == torch.float32  # a plain number works too
