"""Losses: CLIP and SigLIP against the formulas written out and open_clip; ITM hard negatives; VAE KL."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from cmlearn.losses import (
    ClipLoss,
    SigLipLoss,
    clip_loss,
    gaussian_kl,
    hard_negatives,
    itm_loss,
    reconstruction_loss,
    siglip_loss,
    vae_loss,
)


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


# ----------------------------------------------------------------------------- VAE


def test_gaussian_kl_equals_torch_distributions():
    g = gen()
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), reference, atol=1e-6)
    assert torch.equal(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))  # q = prior


def test_vae_loss_is_reconstruction_plus_beta_kl():
    g = gen()
    logits, x = torch.randn(2, 1, 2, 2, generator=g), torch.rand(2, 1, 2, 2, generator=g)
    mu, logvar = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)
    p = torch.sigmoid(logits)
    by_hand = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1).mean()
    out = vae_loss(logits, x, mu, logvar, beta=0.5)
    assert out.reconstruction.item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert out.loss.item() == pytest.approx((out.reconstruction + 0.5 * gaussian_kl(mu, logvar).mean()).item(), rel=1e-6)
    assert reconstruction_loss(torch.zeros(1, 2), torch.tensor([[1.0, 3.0]]), "gaussian").item() == pytest.approx(5.0)
    token_logits = torch.zeros(1, 2, 4)  # uniform over 4 tokens: -log(1/4) per real token
    assert reconstruction_loss(token_logits, torch.tensor([[1, 2]]), "categorical", torch.tensor([[1, 0]])).item() == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match="expected likelihood one of"):
        reconstruction_loss(logits, x, "poisson")
