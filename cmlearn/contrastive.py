"""Contrastive alignment: the symmetric InfoNCE of CLIP, its per-pair terms, SigLIP, and hard negatives.

Used in chapters 3, 5, 6 and 12. Two L2-normalised embedding
matrices H_img, H_txt (B, D) pair up row by row. With S = H_img H_txtᵀ / τ, the per-pair loss

.. math::

    \\ell_i = \\tfrac12\\Big[-\\log \\frac{e^{S_{ii}}}{\\sum_j e^{S_{ij}}}
              - \\log \\frac{e^{S_{ii}}}{\\sum_j e^{S_{ji}}}\\Big]

(:func:`pair_losses`) has the CLIP loss as its mean, :func:`clip_loss`
(Radford et al. 2021) = ½[CE(S, I) + CE(Sᵀ, I)]. τ is learned as ``logit_scale`` = log(1/τ), never its
exponential, initialised at log(1/0.07) and clamped so that 1/τ ≤ 100, as open_clip does; the module
:class:`ClipLoss` owns that parameter, and every model in the book that aligns two modalities holds one.

Also here: extra negatives in the image→text direction (``clip_loss(..., extra_text_embeddings=...)``,
e.g. a caption with its attributes swapped, chapter 5); SigLIP's pairwise sigmoid loss
(Zhai et al. 2023),

.. math::

    \\mathcal{L} = -\\frac{1}{B} \\sum_{i,j} \\log \\sigma\\big(z_{ij} (t\\, x_i \\cdot y_j + b)\\big),
    \\qquad z_{ij} = 1 \\text{ if } i = j \\text{ else } -1

with t = exp(logit_scale) (init 10) and bias b (init −10); and image–text matching (ITM): binary
cross-entropy on matched pairs and in-batch *hard* negatives, for each image the most similar wrong
caption and for each caption the most similar wrong image (ALBEF, Li et al. 2021).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

INITIAL_TEMPERATURE = 0.07
MAX_LOGIT_SCALE = math.log(100.0)  # 1/τ ≤ 100


@dataclass
class ContrastiveOutput:
    """What :func:`clip_loss` computed: the loss and both logit matrices, (B, B) each."""

    loss: torch.Tensor
    logits_per_image: torch.Tensor
    logits_per_text: torch.Tensor


def check_pairs(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> None:
    """Raise a ValueError unless both are (B, D) of one shape, pairing up row by row."""
    if not isinstance(image_embeddings, torch.Tensor) or not isinstance(text_embeddings, torch.Tensor):
        raise TypeError(f"expected two tensors, got {type(image_embeddings).__name__} and {type(text_embeddings).__name__}")
    if image_embeddings.ndim != 2 or image_embeddings.shape != text_embeddings.shape:
        raise ValueError(
            "expected image and text embeddings of one shape (B, D), pairing up row by row; got image "
            f"{tuple(image_embeddings.shape)} and text {tuple(text_embeddings.shape)}"
        )


def inverse_temperature(logit_scale: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """1/τ = exp(min(logit_scale, ln 100)) on ``like``'s device.

    A tensor ``logit_scale`` keeps its dtype (a float32 parameter stays float32 under autocast); a number
    becomes a tensor of ``like``'s dtype.
    """
    if not isinstance(logit_scale, torch.Tensor):
        logit_scale = torch.tensor(float(logit_scale), dtype=like.dtype, device=like.device)
    return logit_scale.to(like.device).clamp(max=MAX_LOGIT_SCALE).exp()


def similarity_logits(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """S = exp(logit_scale) · H_img H_txtᵀ: (B, D), (B, D) -> (B, B), row = image, column = text."""
    check_pairs(image_embeddings, text_embeddings)
    return inverse_temperature(logit_scale, image_embeddings) * image_embeddings @ text_embeddings.T


def pair_losses(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """ℓ_i of every pair (see the module docstring): (B,), whose mean is ``clip_loss(...).loss``.

    Args:
        image_embeddings, text_embeddings: (B, D), L2-normalised, row i of each is pair i.
        logit_scale: log(1/τ), a scalar (clamped at ln 100).
    """
    logits = similarity_logits(image_embeddings, text_embeddings, logit_scale)  # (B, B): S_ij
    labels = torch.arange(logits.shape[0], device=logits.device)
    image_to_text = F.cross_entropy(logits, labels, reduction="none")  # (B,)
    text_to_image = F.cross_entropy(logits.T, labels, reduction="none")  # (B,)
    return (image_to_text + text_to_image) / 2


def clip_loss(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    logit_scale: torch.Tensor | float,
    extra_text_embeddings: torch.Tensor | None = None,
    extra_text_mask: torch.Tensor | None = None,
) -> ContrastiveOutput:
    """Symmetric InfoNCE over a batch of B matching pairs (row i of each input is a pair): the mean of :func:`pair_losses`.

    Args:
        image_embeddings: (B, D), L2-normalised.
        text_embeddings: (B, D), L2-normalised.
        logit_scale: scalar log(1/τ) — the *log* of the inverse temperature, not its exponential.
        extra_text_embeddings: (M, D) more captions that match no image of the batch (hard negatives):
            they join every image's softmax, S becomes (B, B + M); the text→image direction is unchanged.
        extra_text_mask: (M,) bool, False for extra captions to leave out of every softmax.

    Returns:
        :class:`ContrastiveOutput` with ``logits_per_image`` = S = exp(logit_scale)·H_img·[H_txt; H_extra]ᵀ
        (B, B [+ M]) and ``logits_per_text`` = the (B, B) text-vs-image logits.
    """
    check_pairs(image_embeddings, text_embeddings)
    scale = inverse_temperature(logit_scale, image_embeddings)  # 1/τ
    logits_per_image = scale * image_embeddings @ text_embeddings.T  # (B, B): image i vs every text
    logits_per_text = logits_per_image.T  # (B, B): text j vs every image
    if extra_text_embeddings is not None:
        if extra_text_embeddings.ndim != 2 or extra_text_embeddings.shape[1] != text_embeddings.shape[1]:
            raise ValueError(f"expected extra_text_embeddings of shape (M, {text_embeddings.shape[1]}), "
                             f"got {tuple(extra_text_embeddings.shape)}")
        extra = scale * image_embeddings @ extra_text_embeddings.T  # (B, M)
        if extra_text_mask is not None:
            if extra_text_mask.shape != (extra_text_embeddings.shape[0],):
                raise ValueError(f"expected extra_text_mask of shape ({extra_text_embeddings.shape[0]},), "
                                 f"got {tuple(extra_text_mask.shape)}")
            extra = extra.masked_fill(~extra_text_mask.bool(), float("-inf"))
        logits_per_image = torch.cat([logits_per_image, extra], dim=1)  # (B, B + M)
    labels = torch.arange(image_embeddings.shape[0], device=image_embeddings.device)
    loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
    return ContrastiveOutput(loss, logits_per_image, logits_per_text)


class ClipLoss(nn.Module):
    """The CLIP loss with its learnable temperature: ``logit_scale`` = log(1/τ), init ln(1/0.07).

    Forward: image_embeddings, text_embeddings (B, D), L2-normalised -> :class:`ContrastiveOutput`.
    """

    def __init__(self, init_temperature: float = INITIAL_TEMPERATURE, learnable: bool = True):
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f"expected a positive temperature, got {init_temperature}")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)), requires_grad=learnable)

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.logit_scale.detach().clamp(max=MAX_LOGIT_SCALE)))

    def forward(self, image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, **extra) -> ContrastiveOutput:
        """clip_loss with this module's ``logit_scale``; ``extra`` takes clip_loss's extra-negative arguments."""
        return clip_loss(image_embeddings, text_embeddings, self.logit_scale, **extra)


def siglip_loss(
    image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor
) -> ContrastiveOutput:
    """SigLIP's pairwise sigmoid loss (see the module docstring), summed over pairs, divided by B.

    Args:
        image_embeddings, text_embeddings: (B, D), L2-normalised; row i of each is a pair.
        logit_scale: scalar log t (clamped at ln 100).
        logit_bias: scalar b.

    Returns:
        :class:`ContrastiveOutput` with ``logits_per_image`` = t·H_img·H_txtᵀ + b (B, B) and its transpose.
    """
    check_pairs(image_embeddings, text_embeddings)
    B = image_embeddings.shape[0]
    logits = logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * image_embeddings @ text_embeddings.T + logit_bias  # (B, B)
    labels = 2 * torch.eye(B, device=logits.device, dtype=logits.dtype) - 1  # +1 on the diagonal, −1 elsewhere
    loss = -F.logsigmoid(labels * logits).sum() / B
    return ContrastiveOutput(loss, logits, logits.T)


class SigLipLoss(nn.Module):
    """SigLIP with learnable log t (init ln 10) and bias b (init −10), as in Zhai et al. 2023."""

    def __init__(self, init_logit_scale: float = math.log(10.0), init_logit_bias: float = -10.0):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
        self.logit_bias = nn.Parameter(torch.tensor(float(init_logit_bias)))

    def forward(self, image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> ContrastiveOutput:
        return siglip_loss(image_embeddings, text_embeddings, self.logit_scale, self.logit_bias)


# ----------------------------------------------------------------------------- image–text matching


@dataclass
class ITMOutput:
    """What :func:`itm_loss` computed: loss, the 3B pair logits and labels, and the negatives chosen (B,) each."""

    loss: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    negative_text: torch.Tensor
    negative_image: torch.Tensor


def hard_negatives(
    similarity: torch.Tensor,
    same_content: torch.Tensor | None = None,
    sample: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick an in-batch hard negative for every image and every text.

    For image i, text j ≠ i is drawn with probability ∝ softmax_j(S_ij) (or the argmax when
    ``sample=False``); for text j likewise over images, softmax_i(S_ij). Pairs marked in
    ``same_content`` (e.g. two images with the same caption) are never negatives.

    Args:
        similarity: (B, B), S_ij = similarity of image i and text j (detached here).
        same_content: (B, B) bool, True where image i and text j also match; the diagonal is implied.
        sample: sample in proportion to softmax (ALBEF) or take the hardest.
        generator: for reproducible sampling.

    Returns:
        (negative_text (B,), negative_image (B,)) int64 indices.
    """
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"expected a square similarity matrix (B, B), got {tuple(similarity.shape)}")
    B = similarity.shape[0]
    if B < 2:
        raise ValueError(f"expected a batch of at least 2 pairs to find negatives in, got B={B}")
    forbidden = torch.eye(B, dtype=torch.bool, device=similarity.device)
    if same_content is not None:
        if same_content.shape != (B, B):
            raise ValueError(f"expected same_content of shape ({B}, {B}), got {tuple(same_content.shape)}")
        forbidden = forbidden | same_content.bool()
    if forbidden.all(dim=1).any() or forbidden.all(dim=0).any():
        raise ValueError("some image or text has no possible negative in this batch (everything matches it)")
    S = similarity.detach().float()

    def pick(rows: torch.Tensor, banned: torch.Tensor) -> torch.Tensor:
        if not sample:
            return rows.masked_fill(banned, float("-inf")).argmax(dim=1)
        weights = torch.softmax(rows.masked_fill(banned, float("-inf")), dim=1)
        if generator is not None:
            weights = weights.to(generator.device)  # a seeded CPU generator samples on the CPU
        return torch.multinomial(weights, 1, generator=generator).squeeze(1).to(rows.device)

    return pick(S, forbidden), pick(S.T, forbidden.T)


def itm_loss(
    score_pairs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    similarity: torch.Tensor,
    same_content: torch.Tensor | None = None,
    sample: bool = True,
    generator: torch.Generator | None = None,
) -> ITMOutput:
    """ITM binary cross-entropy on B matched pairs and 2B hard negatives.

    .. math::

        \\mathcal{L} = -\\frac{1}{3B}\\Big[\\sum_i \\log \\sigma(s_{i,i})
        + \\sum_i \\log\\big(1 - \\sigma(s_{i,j^-_i})\\big) + \\sum_j \\log\\big(1 - \\sigma(s_{i^-_j,j})\\big)\\Big]

    Args:
        score_pairs: maps (image_index (N,), text_index (N,)) to matching logits (N,) — e.g.
            ``lambda i, t: head(fusion({"image": h_img[i], "text": h_txt[t]}))``.
        similarity: (B, B) image–text similarities used to find hard negatives (e.g. the CLIP logits).
        same_content, sample, generator: see :func:`hard_negatives`.
    """
    negative_text, negative_image = hard_negatives(similarity, same_content, sample, generator)
    B = similarity.shape[0]
    rows = torch.arange(B, device=similarity.device)
    image_index = torch.cat([rows, rows, negative_image])  # positives, (i, j⁻_i), (i⁻_j, j)
    text_index = torch.cat([rows, negative_text, rows])
    logits = score_pairs(image_index, text_index)
    if logits.shape != (3 * B,):
        raise ValueError(f"expected score_pairs to return logits of shape ({3 * B},), got {tuple(logits.shape)}")
    labels = torch.cat([torch.ones(B), torch.zeros(2 * B)]).to(logits)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    return ITMOutput(loss, logits, labels, negative_text, negative_image)
