"""Generative models: product of experts by hand, partly paired VAE training, text-to-image GAN."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from cmlearn.encoders import bag_of_words
from cmlearn.generative import ConditionalGAN, CrossModalVAE, gaussian_kl, product_of_experts, reconstruction_loss, vae_loss

B, VOCAB, L = 6, 12, 5


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def make_batch(image_size=16, seed=0):
    g = gen(seed)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[:, 4:] = 0
    colours = (torch.rand(B, 3, 1, 1, generator=g) > 0.5).float()  # one flat colour per image: learnable fast
    return {
        "image": colours.expand(B, 3, image_size, image_size).clone(),
        "input_ids": torch.randint(1, VOCAB, (B, L), generator=g) * mask,
        "attention_mask": mask,
    }


def small_vae(image_size=16):
    torch.manual_seed(0)
    return CrossModalVAE(VOCAB, max_length=L, latent_dim=4, image_size=image_size, channels=(8, 8, 8), embed_dim=8, hidden_dim=16)


def test_product_of_experts_by_hand():
    mu = torch.tensor([[[1.0]], [[3.0]]])  # expert 1: N(1, 1); expert 2: N(3, 0.5)
    logvar = torch.log(torch.tensor([[[1.0]], [[0.5]]]))
    m, lv = product_of_experts(mu, logvar)  # precisions 1 (prior) + 1 + 2 = 4; mean (1·1 + 2·3) / 4
    assert m.item() == pytest.approx(7 / 4) and lv.exp().item() == pytest.approx(1 / 4)
    m, lv = product_of_experts(mu, logvar, prior=False)  # (1·1 + 2·3) / 3, variance 1/3
    assert m.item() == pytest.approx(7 / 3) and lv.exp().item() == pytest.approx(1 / 3)
    m, lv = product_of_experts(mu, logvar, present=torch.tensor([[False], [True]]))  # prior and expert 2: precision 3
    assert m.item() == pytest.approx(2.0) and lv.exp().item() == pytest.approx(1 / 3)
    m, lv = product_of_experts(mu, logvar, present=torch.tensor([[False], [False]]))  # nothing observed: the prior
    assert m.item() == 0.0 and lv.item() == 0.0


def test_vae_generates_an_image_from_text_and_text_from_an_image():
    vae = small_vae(image_size=32).eval()
    batch = make_batch(image_size=32)
    images = vae.generate_image(batch["input_ids"], batch["attention_mask"])
    assert images.shape == (B, 3, 32, 32) and images.min() >= 0 and images.max() <= 1
    assert vae.generate_text(batch["image"]).shape == (B, L)
    mu, logvar = vae.posterior(batch, use=("text",))  # q(z | text) = text expert × prior
    t_mu, t_logvar = vae.encode_text(batch["input_ids"], batch["attention_mask"])
    expected = product_of_experts(t_mu[None], t_logvar[None])
    assert torch.allclose(mu, expected[0]) and torch.allclose(logvar, expected[1])


def test_vae_missing_modality_uses_only_present_experts():
    vae = small_vae().eval()
    batch = make_batch()
    mask = {"text": torch.tensor([False, True, True, True, True, True]), "image": torch.tensor([True, False] + [True] * 4)}
    loss = vae.loss(batch, mask, generator=gen()).loss
    changed = {k: v.clone() for k, v in batch.items()}
    changed["input_ids"][0], changed["attention_mask"][0] = 0, 0  # sample 0 has no caption: an empty text is fine
    changed["image"][1] = torch.rand(3, 16, 16, generator=gen(5))  # sample 1 has no image: its pixels do not matter
    assert vae.loss(changed, mask, generator=gen()).loss.item() == pytest.approx(loss.item(), rel=1e-5)
    mu, logvar = vae.posterior(changed, mask)
    i_mu, i_logvar = vae.encode_image(changed["image"][:1])
    assert torch.allclose(mu[0], product_of_experts(i_mu[None], i_logvar[None])[0][0], atol=1e-6)  # image expert only
    with pytest.raises(ValueError, match="every sample needs an image or a caption"):
        vae.loss(batch, {"text": torch.zeros(B, dtype=torch.bool), "image": torch.tensor([False] + [True] * 5)})
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, 16, 16\), got \(6, 1, 16, 16\)"):
        vae.loss({**batch, "image": batch["image"][:, :1]})


def test_vae_trains_on_partly_paired_data():
    vae = small_vae()
    batch = make_batch()
    mask = {"text": torch.tensor([True, True, True, True, False, False]), "image": torch.tensor([True, True, False, False, True, True])}
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
    vae.eval()
    before = vae.loss(batch, mask, generator=gen()).loss.item()
    vae.train()
    for step in range(15):
        loss = vae.loss(batch, mask, generator=gen(step)).loss
        optimizer.zero_grad(), loss.backward(), optimizer.step()
    vae.eval()
    assert vae.loss(batch, mask, generator=gen()).loss.item() < 0.9 * before


def test_conditional_gan_shapes_and_both_players_learn():
    torch.manual_seed(0)
    gan = ConditionalGAN(condition_dim=6, noise_dim=8)
    condition = torch.randn(4, 6, generator=gen())
    images = gan.generate(condition, generator=gen())
    assert images.shape == (4, 3, 32, 32) and images.min() >= 0 and images.max() <= 1
    real = torch.rand(4, 3, 32, 32, generator=gen(1))
    d_opt = torch.optim.Adam(gan.discriminator.parameters(), lr=2e-3)
    d_before = gan.discriminator_loss(real, condition, gen()).item()
    for _ in range(5):
        loss = gan.discriminator_loss(real, condition, gen())
        d_opt.zero_grad(), loss.backward(), d_opt.step()
    assert gan.discriminator_loss(real, condition, gen()).item() < d_before
    g_opt = torch.optim.Adam(gan.generator.parameters(), lr=2e-3)
    g_before = gan.generator_loss(condition, gen()).item()
    for _ in range(5):
        loss = gan.generator_loss(condition, gen())
        g_opt.zero_grad(), loss.backward(), g_opt.step()
    assert gan.generator_loss(condition, gen()).item() < g_before
    with pytest.raises(ValueError, match=r"expected condition of shape \(B, 6\), got \(4, 5\)"):
        gan.generate(torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, 32, 32\), got \(4, 3, 16, 16\)"):
        gan.discriminator_loss(torch.rand(4, 3, 16, 16), condition)


def test_conditional_gan_of_other_sizes_and_widths():
    torch.manual_seed(0)
    gan = ConditionalGAN(condition_dim=5, noise_dim=4, generator_channels=(16, 8, 4), discriminator_channels=(4, 8, 16), image_size=16)
    condition = torch.randn(3, 5, generator=gen())
    images = gan.generate(condition, generator=gen())
    assert images.shape == (3, 3, 16, 16)
    assert torch.equal(images, gan.generate(condition, generator=gen()))  # the seeded noise decides the sample
    assert not torch.equal(images, gan.generate(condition, generator=gen(1)))
    assert gan.discriminator_loss(images, condition, gen()).ndim == 0
    with pytest.raises(ValueError, match="divisible by 8"):
        ConditionalGAN(condition_dim=5, image_size=20)


def test_bag_of_words_by_hand():
    ids = torch.tensor([[3, 1, 3, 0], [2, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    words = bag_of_words(ids, mask, vocab_size=5)
    assert torch.equal(words, torch.tensor([[0.0, 1, 0, 1, 0], [0, 0, 1, 0, 0]]))  # a repeated word counts once; padding never
    assert torch.equal(bag_of_words(ids[:, [2, 1, 0, 3]], mask[:, [2, 1, 0, 3]], 5), words)  # word order is lost
    with pytest.raises(ValueError, match=r"expected token ids in \[0, 3\)"):
        bag_of_words(ids, mask, vocab_size=3)


def test_vae_with_a_bag_of_words_text_expert_trains_and_ignores_word_order():
    torch.manual_seed(0)
    vae = CrossModalVAE(VOCAB, max_length=L, latent_dim=4, image_size=16, channels=(8, 8, 8), hidden_dim=16, text_encoder="bag_of_words")
    batch = make_batch()
    order = [3, 2, 1, 0, 4]  # the 4 real tokens reversed, padding last
    mu, logvar = vae.encode_text(batch["input_ids"], batch["attention_mask"])
    r_mu, r_logvar = vae.encode_text(batch["input_ids"][:, order], batch["attention_mask"][:, order])
    assert torch.allclose(mu, r_mu) and torch.allclose(logvar, r_logvar)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
    before = vae.eval().loss(batch, generator=gen()).loss.item()
    vae.train()
    for step in range(15):
        loss = vae.loss(batch, generator=gen(step)).loss
        optimizer.zero_grad(), loss.backward(), optimizer.step()
    assert vae.eval().loss(batch, generator=gen()).loss.item() < 0.9 * before
    with pytest.raises(ValueError, match="text_encoder: expected 'gru' or 'bag_of_words'"):
        CrossModalVAE(VOCAB, text_encoder="bow")


def test_mvae_objective_reconstructs_only_the_subsets_own_modalities():
    # Same weights, same noise: both objectives have the same posteriors (same KL); the cross objective adds the
    # image decoded from q(z | text) and the text decoded from q(z | image) to the reconstruction terms.
    batch = make_batch()
    losses = {}
    for objective in ("cross", "mvae"):
        torch.manual_seed(0)
        vae = CrossModalVAE(VOCAB, max_length=L, latent_dim=4, image_size=16, channels=(8, 8, 8), embed_dim=8, hidden_dim=16,
                            objective=objective).eval()
        losses[objective] = vae.loss(batch, generator=gen())
    assert losses["cross"].kl.item() == pytest.approx(losses["mvae"].kl.item())  # same posteriors, same samples
    assert losses["cross"].reconstruction.item() > losses["mvae"].reconstruction.item()
    # By hand for the mvae objective: the three subsets' own reconstruction terms, their latents drawn in one call
    # (joint, image only, text only: (3B, Z)) as the loss draws them.
    from cmlearn.generative import reparameterize

    posteriors = [vae.posterior(batch, use=use) for use in (("image", "text"), ("image",), ("text",))]
    z = reparameterize(torch.cat([mu for mu, _ in posteriors]), torch.cat([logvar for _, logvar in posteriors]), gen())
    expected = 0.0
    for i, use in enumerate((("image", "text"), ("image",), ("text",))):
        out = vae.decode(z[i * B:(i + 1) * B])  # eval mode: BatchNorm uses its running statistics, so decoding apart is the same
        if "image" in use:
            expected += reconstruction_loss(out["image"], batch["image"], "bernoulli").mean()
        if "text" in use:
            expected += reconstruction_loss(out["text"], batch["input_ids"], "categorical", batch["attention_mask"]).mean()
    assert losses["mvae"].reconstruction.item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="objective: expected 'cross' or 'mvae'"):
        CrossModalVAE(VOCAB, objective="elbo")


def test_discriminator_loss_is_the_matching_aware_loss_by_hand():
    # D sees real, wrong-caption and generated pairs in one pass; the loss is the one written out term by term.
    torch.manual_seed(0)
    gan = ConditionalGAN(condition_dim=5, noise_dim=4, generator_channels=(16, 8, 4), discriminator_channels=(4, 8, 16), image_size=16).eval()
    condition, real = torch.randn(3, 5, generator=gen()), torch.rand(3, 3, 16, 16, generator=gen(1))
    fake, D, softplus = gan.generate(condition, gen(2)), gan.discriminator, torch.nn.functional.softplus
    expected = softplus(-D(real, condition)).mean() + 0.5 * (softplus(D(real, condition.roll(1, dims=0))).mean() + softplus(D(fake, condition)).mean())
    assert gan.discriminator_loss(real, condition, gen(2)).item() == pytest.approx(expected.item(), rel=1e-5)


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
