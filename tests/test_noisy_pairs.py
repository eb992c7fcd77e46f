"""Noisy pairs: per-pair InfoNCE, small-loss trimming, and the two-Gaussian split of losses."""

import math

import pytest
import torch
import torch.nn.functional as F

from cmlearn.contrastive import clip_loss
from cmlearn.noisy_pairs import (
    clean_pair_probability,
    filter_pairs_against_shuffled,
    pair_losses,
    trimmed_clip_loss,
    two_component_gmm,
)


def embeddings(B=8, D=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(B, D, generator=g), dim=1), F.normalize(torch.randn(B, D, generator=g), dim=1)


def test_pair_losses_average_to_clip_loss_and_match_a_loop():
    image, text = embeddings()
    logit_scale = torch.tensor(math.log(1 / 0.07))
    losses = pair_losses(image, text, logit_scale)
    assert losses.shape == (8,)
    assert losses.mean().item() == pytest.approx(clip_loss(image, text, logit_scale).loss.item(), rel=1e-5)
    logits = image @ text.T / 0.07
    i = 3  # by hand: −½[log softmax of row i at i + log softmax of column i at i]
    by_hand = -0.5 * (torch.log_softmax(logits[i], 0)[i] + torch.log_softmax(logits[:, i], 0)[i])
    assert losses[i].item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_identical_embeddings_give_log_b_for_every_pair():
    B = 6
    same = F.normalize(torch.ones(B, 4), dim=1)
    assert torch.allclose(pair_losses(same, same, 0.0), torch.full((B,), math.log(B)))


def test_trimmed_loss_drops_the_largest_losses_and_passes_gradients():
    image, text = embeddings(B=10, seed=1)
    image.requires_grad_(True)
    logit_scale = torch.tensor(2.0)
    losses = pair_losses(image, text, logit_scale)
    kept = trimmed_clip_loss(image, text, logit_scale, keep_fraction=0.35)  # ⌈3.5⌉ = 4 smallest
    assert kept.item() == pytest.approx(losses.sort().values[:4].mean().item(), rel=1e-6)
    assert trimmed_clip_loss(image, text, logit_scale, 1.0).item() == pytest.approx(losses.mean().item(), rel=1e-6)
    kept.backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="keep_fraction"):
        trimmed_clip_loss(image, text, logit_scale, 0.0)


def test_pair_losses_reject_unpaired_shapes():
    image, text = embeddings()
    with pytest.raises(ValueError, match="row by row"):
        pair_losses(image, text[:5], 1.0)


def test_gmm_recovers_two_well_separated_groups():
    g = torch.Generator().manual_seed(0)
    clean = 1.0 + 0.3 * torch.randn(700, generator=g)
    noisy = 4.0 + 0.5 * torch.randn(300, generator=g)
    values = torch.cat([noisy, clean])  # order must not matter: components come back sorted by mean
    mixture = two_component_gmm(values)
    assert mixture.means[0].item() == pytest.approx(1.0, abs=0.1) and mixture.means[1].item() == pytest.approx(4.0, abs=0.15)
    assert mixture.stds[0].item() == pytest.approx(0.3, abs=0.05) and mixture.weights[0].item() == pytest.approx(0.7, abs=0.03)
    p_clean = clean_pair_probability(values)
    assert (p_clean[300:] > 0.5).float().mean() > 0.99 and (p_clean[:300] < 0.5).float().mean() > 0.99
    with pytest.raises(ValueError, match="finite"):
        two_component_gmm(torch.tensor([1.0, float("nan")]))


def test_filter_keeps_true_pairs_and_about_alpha_of_wrong_ones():
    g = torch.Generator().manual_seed(0)
    N, D, wrong = 400, 32, 160
    image = F.normalize(torch.randn(N, D, generator=g), dim=1)
    text = F.normalize(image + 0.3 * torch.randn(N, D, generator=g), dim=1)  # true pairs: close
    text[:wrong] = text[:wrong].roll(1, dims=0)  # the first 160 captions now belong to another image
    result = filter_pairs_against_shuffled(image, text, math.log(10.0), alpha=0.1, generator=g)
    assert result.keep[wrong:].float().mean() > 0.95  # true pairs pass
    assert result.keep[:wrong].float().mean() < 0.2  # wrong pairs pass about as often as random ones (α = 0.1)
    assert (result.losses[result.keep] < result.threshold).all() and result.shuffled_losses.shape == (N,)
    assert (result.shuffled_losses < result.threshold).float().mean() == pytest.approx(0.1, abs=0.01)
    with pytest.raises(ValueError, match="alpha"):
        filter_pairs_against_shuffled(image, text, 1.0, alpha=1.0)
