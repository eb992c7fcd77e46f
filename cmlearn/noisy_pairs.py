"""Learning from noisy image–text pairs (article §5.2.1, partly correlated data).

Used in chapter 8 (``08_weak_pairs_and_generation``).

Scraped image–caption pairs are partly *mismatched*: the caption belongs to another picture. The
contrastive loss (:func:`cmlearn.contrastive.clip_loss`) treats every pair as true, so it pulls wrong pairs
together. Two remedies from the noisy-label literature, adapted to pairs:

* **small-loss trimming** (co-teaching, Han et al. 2018): inside each batch, average only the
  ``keep_fraction`` of pairs with the smallest loss (:func:`trimmed_clip_loss`); a network fits
  clean pairs before it memorises wrong ones, so wrong pairs tend to have the larger losses early on.
* **divide by a mixture on the losses** (DivideMix, Li et al. 2020; NCR, Huang et al. 2021): score
  every training pair with a warm-up model (:func:`cmlearn.contrastive.pair_losses` over the whole training set), fit a
  two-component 1-D Gaussian mixture to the losses (:func:`two_component_gmm`), and keep the pairs
  that the low-loss component explains (:func:`clean_pair_probability`).

The per-pair loss is the symmetric InfoNCE of pair i with S = exp(logit_scale)·H_img·H_txtᵀ,

.. math::

    \\ell_i = \\tfrac12\\Big[-\\log \\frac{e^{S_{ii}}}{\\sum_j e^{S_{ij}}}
              - \\log \\frac{e^{S_{ii}}}{\\sum_j e^{S_{ji}}}\\Big],

whose mean over i is :func:`cmlearn.contrastive.clip_loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from cmlearn.contrastive import check_pairs, pair_losses


def trimmed_clip_loss(
    image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor, keep_fraction: float
) -> torch.Tensor:
    """Small-loss trimming: the mean of the ⌈keep_fraction·B⌉ smallest ℓ_i (all pairs still serve as negatives).

    Args:
        image_embeddings, text_embeddings: (B, D), L2-normalised.
        logit_scale: log(1/τ).
        keep_fraction: in (0, 1]; 1 gives ``clip_loss``.
    """
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction!r}")
    losses = pair_losses(image_embeddings, text_embeddings, logit_scale)
    keep = max(1, math.ceil(keep_fraction * losses.shape[0]))
    return losses.topk(keep, largest=False).values.mean()


@dataclass
class GaussianMixture1D:
    """A fitted two-component mixture: weights π, means μ and standard deviations σ, each (2,), sorted by μ."""

    weights: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def log_joint(self, values: torch.Tensor) -> torch.Tensor:
        """log π_k + log N(v | μ_k, σ_k²), (N, 2)."""
        v = values.reshape(-1, 1)
        return torch.log(self.weights) - torch.log(self.stds) - 0.5 * math.log(2 * math.pi) - 0.5 * ((v - self.means) / self.stds) ** 2

    def posterior(self, values: torch.Tensor) -> torch.Tensor:
        """p(component k | v), (N, 2); column 0 is the low-mean component."""
        return torch.softmax(self.log_joint(values), dim=1)


def two_component_gmm(values: torch.Tensor, iterations: int = 100, min_std: float = 1e-3) -> GaussianMixture1D:
    """Fit a 1-D mixture of two Gaussians by expectation–maximisation (scikit-learn's ``GaussianMixture``).

    Starts from the lower and upper quartile as means. E-step: responsibilities
    r_ik = p(k | v_i); M-step: π_k = mean_i r_ik, μ_k = Σ r_ik v_i / Σ r_ik, σ_k² = Σ r_ik (v_i − μ_k)² / Σ r_ik.

    Args:
        values: (N,) finite numbers, N >= 2.
        iterations: at most this many EM steps.
        min_std: σ_k² gets min_std² added (scikit-learn's ``reg_covar``), so a component cannot collapse onto one value.

    Returns:
        :class:`GaussianMixture1D` with component 0 the one of lower mean.
    """
    from sklearn.mixture import GaussianMixture

    values = values.detach().reshape(-1).double()
    if values.numel() < 2 or not torch.isfinite(values).all():
        raise ValueError(f"expected at least 2 finite values, got {values.numel()} values (finite: {bool(torch.isfinite(values).all())})")
    spread = max(float(values.std()), min_std)
    quartiles = torch.quantile(values, torch.tensor([0.25, 0.75], dtype=values.dtype))
    fitted = GaussianMixture(
        n_components=2, covariance_type="spherical", max_iter=iterations, reg_covar=min_std ** 2,
        weights_init=[0.5, 0.5], means_init=quartiles.numpy().reshape(2, 1), precisions_init=[(2 / spread) ** 2] * 2,
    ).fit(values.numpy().reshape(-1, 1))
    means = torch.from_numpy(fitted.means_.reshape(2)).float()
    order = torch.argsort(means)
    return GaussianMixture1D(
        weights=torch.from_numpy(fitted.weights_).float()[order],
        means=means[order],
        stds=torch.from_numpy(fitted.covariances_).sqrt().float()[order],  # spherical in 1-D: σ² per component
    )


def clean_pair_probability(losses: torch.Tensor, iterations: int = 100) -> torch.Tensor:
    """p(clean | ℓ_i): the posterior of the low-loss component of a two-Gaussian mixture fitted to ``losses``, (N,).

    Keep the pairs with probability above ½ (DivideMix) or weight each pair by it.
    """
    return two_component_gmm(losses, iterations).posterior(losses.detach().reshape(-1).float())[:, 0]


@dataclass
class PairFilter:
    """What :func:`filter_pairs_against_shuffled` decided: ``keep`` (N,) bool, the loss ``threshold``,
    and the losses of the real pairs and of the shuffled (surely mostly wrong) pairs, (N,) each."""

    keep: torch.Tensor
    threshold: float
    losses: torch.Tensor
    shuffled_losses: torch.Tensor


def filter_pairs_against_shuffled(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    logit_scale: torch.Tensor | float,
    alpha: float = 0.1,
    generator: torch.Generator | None = None,
) -> PairFilter:
    """Keep the pairs that a (warm-up) model finds more alike than random pairs.

    A wrong pair looks to the model like a *random* pair, so we measure what random pairs look
    like: ℓ_i is computed for the real pairs and for the same images with their captions shuffled
    (a random permutation π, so pair (i, π(i))), both against all N captions. A pair is kept if
    ℓ_i is below the α-quantile of the shuffled losses: at most about a fraction α of wrong pairs
    pass, whatever the noise rate, which need not be known.

    Args:
        image_embeddings, text_embeddings: (N, D), L2-normalised, the training pairs embedded by
            the warm-up model.
        logit_scale: the warm-up model's log(1/τ).
        alpha: in (0, 1), the share of random pairs that would pass.
        generator: for the permutation.

    Returns:
        :class:`PairFilter`.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    check_pairs(image_embeddings, text_embeddings)
    n = image_embeddings.shape[0]
    if n < 2:
        raise ValueError(f"expected at least 2 pairs to shuffle, got {n}")
    with torch.no_grad():
        losses = pair_losses(image_embeddings, text_embeddings, logit_scale)  # (N,)
        permutation = torch.randperm(n, generator=generator).to(text_embeddings.device)
        shuffled = pair_losses(image_embeddings, text_embeddings[permutation], logit_scale)  # (N,) pairs (i, π(i))
        threshold = float(torch.quantile(shuffled.float(), alpha))
    return PairFilter(losses < threshold, threshold, losses, shuffled)
