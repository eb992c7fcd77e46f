"""The four-part model of article §3.1: extractors → shared space → fusion → head.

Used in chapter 4 (``04_fusion``), chapter 5 (``05_multimodal_knowledge``), chapter 6 (``06_framework``)
and chapter 7 (``07_more_modalities``).

.. math::

    f = \\operatorname{Conv}(x; W_c) + b_c, \\quad g = \\operatorname{RNN}(s; W_s) + b_s
    \\;\\to\\; h = \\operatorname{MLP}(f, g) \\text{ or } \\operatorname{Attention}(f, g)
    \\;\\to\\; z = \\textstyle\\sum_i \\alpha_i h_i \\text{ or } \\operatorname{Fusion}(h)
    \\;\\to\\; y = \\operatorname{Linear}(z; W_y) + b_y

A batch is the flat dict the data loaders make; each modality reads its inputs from it by
name (:data:`cmlearn.batch.MODALITY_INPUTS`): ``image`` (B, C, H, W); ``input_ids`` and ``attention_mask``
(B, T) for ``text``; ``audio`` (B, N); ``video`` (B, T, C, H, W). Build a model by hand with
:class:`FourPartModel`, or from names with :func:`build_model`::

    model = build_model({"image": {}, "text": {"vocab_size": 40}}, fusion="weighted_sum",
                        head={"kind": "linear", "out_dim": 2})
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from cmlearn import encoders
from cmlearn.batch import check_modalities, modality_inputs
from cmlearn.fusion.registry import FUSION_REGISTRY
from cmlearn.heads import LinearHead, MatchingHead, MLPHead
from cmlearn.shared import SharedSpace


@dataclass
class FourPartOutput:
    """Every stage's output: y (B, out) from the head, z (B, D_z), and the dicts h and f per modality."""

    y: torch.Tensor
    z: torch.Tensor
    h: dict[str, torch.Tensor]
    f: dict[str, torch.Tensor]


class FourPartModel(nn.Module):
    """extractors → shared space → fusion → head, configured per modality by name.

    Args:
        extractors: modality name (``"image"``, ``"text"``, ``"audio"``, ``"video"``) -> extractor.
        fusion: a module from :mod:`cmlearn.fusion` (dict of h, mask -> z).
        head: a module from :mod:`cmlearn.heads` (z -> y), or ``nn.Identity()`` after late fusion.
        shared: a :class:`cmlearn.shared.SharedSpace`; modalities it does not list pass f through
            unchanged (e.g. the raw image FiLM modulates). ``None``: h = f.

    An extractor is asked for ``tokens(...)`` instead of its vector when its modality is in
    ``shared.token_modalities`` (or, without a shared space, when the fusion takes tokens);
    a text's ``attention_mask`` then becomes the fusion's ``token_mask``, and the extractor's
    own final vector layer (``project``) is not on the path.

    Forward:
        batch (dict, see the module docstring), mask {modality: (B,) bool} -> :class:`FourPartOutput`.
    """

    def __init__(self, extractors: dict[str, nn.Module], fusion: nn.Module, head: nn.Module, shared: SharedSpace | None = None):
        super().__init__()
        if not isinstance(extractors, dict) or not extractors:
            raise ValueError(f"expected extractors as a non-empty dict {{modality: module}}, got {extractors!r}")
        check_modalities(extractors)
        self.extractors = nn.ModuleDict(extractors)
        self.shared = shared
        self.fusion = fusion
        self.head = head
        if shared is not None:
            check_modalities(shared.in_dims)
            extra = [m for m in shared.in_dims if m not in extractors]
            if extra:
                raise ValueError(f"shared space has modalities {extra} without an extractor; extractors: {list(extractors)}")
            self.token_modalities = tuple(shared.token_modalities)
        elif getattr(fusion, "takes_tokens", False):
            self.token_modalities = tuple(m for m, e in extractors.items() if hasattr(e, "tokens"))
        else:
            self.token_modalities = ()
        lacking = [m for m in self.token_modalities if not hasattr(extractors[m], "tokens")]
        if lacking:
            raise ValueError(f"extractors for {lacking} have no tokens() method, but the shared space expects tokens from them")

    def inputs(self, batch: dict, modality: str) -> list[torch.Tensor]:
        """The tensors of ``batch`` that ``modality``'s extractor reads, in order."""
        return modality_inputs(batch, modality)

    def extract(self, batch: dict) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """f per modality (vectors or tokens/maps) and the token masks of token sequences."""
        if not isinstance(batch, dict):
            raise TypeError(f"expected a batch dict with keys for {list(self.extractors)}, got {type(batch).__name__}")
        inputs = {m: self.inputs(batch, m) for m in self.extractors}
        sizes = {m: int(x[0].shape[0]) for m, x in inputs.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"expected the same batch size B for every modality, got {sizes}")
        f, token_mask = {}, {}
        for m, extractor in self.extractors.items():
            if m in self.token_modalities:
                f[m] = extractor.tokens(*inputs[m])  # (B, T, F) or (B, F, H, W)
                if m == "text" and f[m].ndim == 3:
                    token_mask[m] = inputs[m][1].bool()  # attention_mask: True for real tokens
            else:
                f[m] = extractor(*inputs[m])  # (B, F)
        return f, token_mask

    def forward(self, batch: dict, mask: dict[str, torch.Tensor] | None = None) -> FourPartOutput:
        f, token_mask = self.extract(batch)
        if self.shared is None:
            h = f
        else:
            h = {**f, **self.shared({m: f[m] for m in self.shared.in_dims}, token_mask)}
        if getattr(self.fusion, "takes_tokens", False):
            z = self.fusion(h, mask=mask, token_mask=token_mask)
        else:
            z = self.fusion(h, mask=mask)
        return FourPartOutput(y=self.head(z), z=z, h=h, f=f)

    @classmethod
    def from_config(cls, config: dict) -> FourPartModel:
        """:func:`build_model` from one dict (e.g. read from YAML)."""
        return build_model(**config)


# ----------------------------------------------------------------------------- building from names

EXTRACTORS = {
    "image": {
        "small_cnn": encoders.SmallCNN,
        "resnet18": partial(encoders.TorchvisionImageEncoder, "resnet18"),
        "resnet50": partial(encoders.TorchvisionImageEncoder, "resnet50"),
        "mobilenet_v2": partial(encoders.TorchvisionImageEncoder, "mobilenet_v2"),
    },
    "text": {
        "gru": encoders.GRUTextEncoder,
        "rnn": encoders.RNNTextEncoder,
        "transformer": encoders.TransformerTextEncoder,
        "hf": lambda *args, **kwargs: encoders.HFTextEncoder(*args, **kwargs),
        "minilm": lambda **kwargs: encoders.HFTextEncoder("minilm", **kwargs),
    },
    "audio": {"spectrogram": encoders.SpectrogramEncoder, "waveform": encoders.WaveformEncoder},
    "video": {"frame_gru": encoders.FrameGRUVideoEncoder, "conv3d": encoders.Conv3dVideoEncoder},
}
FUSIONS = tuple(FUSION_REGISTRY)  # see cmlearn.fusion.registry
TOKEN_FUSIONS = tuple(name for name, entry in FUSION_REGISTRY.items() if entry.takes_tokens)
VECTOR_FUSIONS = tuple(name for name, entry in FUSION_REGISTRY.items() if not entry.takes_tokens and entry.raw_target is None)
HEADS = ("linear", "mlp", "matching")


def _spec(spec: str | dict, what: str, choices) -> tuple[str, dict]:
    if isinstance(spec, str):
        kind, kwargs = spec, {}
    elif isinstance(spec, dict) and "kind" in spec:
        kwargs = dict(spec)
        kind = kwargs.pop("kind")
    else:
        raise TypeError(f"expected {what} as a name or a dict with a 'kind' key, got {spec!r}")
    if kind not in choices:
        raise ValueError(f"unknown {what} {kind!r}; expected one of {list(choices)}")
    return kind, kwargs


def build_model(
    modalities: dict[str, dict],
    fusion: str | dict = "concat",
    head: str | dict | None = None,
    shared_dim: int = 64,
    shared_hidden: int | None = 256,
) -> FourPartModel:
    """Build a :class:`FourPartModel` from names.

    Args:
        modalities: modality -> extractor settings; ``"kind"`` picks the extractor (default: image
            ``small_cnn``, text ``gru``, audio ``spectrogram``, video ``frame_gru``; see :data:`EXTRACTORS`),
            the other keys go to its constructor (e.g. ``{"text": {"vocab_size": 40}}``).
        fusion: a name from :data:`FUSIONS` (built as :data:`cmlearn.fusion.registry.FUSION_REGISTRY`
            says) or ``{"kind": name, **kwargs}``. Cross-attention takes
            ``query``/``context`` (default: the first two modalities); FiLM takes ``target`` (default
            ``"image"``), whose extractor then becomes the FiLM-ed CNN inside the fusion.
        head: ``"linear"``, ``"mlp"`` or ``"matching"``, or ``{"kind": ..., "out_dim": ...}``
            (default linear with 2 outputs). With late fusion the head's ``out_dim`` sizes the
            per-modality predictors and the head itself is the identity.
        shared_dim, shared_hidden: D of the shared space and the width of its MLPs.
    """
    if not isinstance(modalities, dict) or not modalities:
        raise ValueError(f"expected modalities as a non-empty dict {{name: settings}}, got {modalities!r}")
    check_modalities(modalities)
    fusion_kind, fusion_kwargs = _spec(fusion, "fusion", FUSIONS)
    head_kind, head_kwargs = _spec(head or {"kind": "linear", "out_dim": 2}, "head", HEADS)
    entry = FUSION_REGISTRY[fusion_kind]
    names = list(modalities)

    raw_target = fusion_kwargs.setdefault("target", entry.raw_target) if entry.raw_target else None
    extractors = {}
    for m, settings in modalities.items():
        kind, kwargs = _spec({"kind": next(iter(EXTRACTORS[m])), **(settings or {})}, f"{m} extractor", EXTRACTORS[m])
        extractors[m] = nn.Identity() if m == raw_target else EXTRACTORS[m][kind](**kwargs)

    vector_dims = {m: e.out_dim for m, e in extractors.items() if m != raw_target}
    token_modalities = tuple(m for m, e in extractors.items() if entry.takes_tokens and hasattr(e, "tokens"))
    in_dims = {m: (extractors[m].token_dim if m in token_modalities else d) for m, d in vector_dims.items()}
    shared = SharedSpace(in_dims, shared_dim, shared_hidden, token_modalities=token_modalities)
    dims = {m: shared_dim for m in in_dims}

    out_dim = fusion_kwargs.pop("out_dim", None)
    fuse = entry.build(dims, names, shared_dim, out_dim, head_kwargs.get("out_dim", 2), **fusion_kwargs)

    if entry.predicts:
        head_module = nn.Identity()
    elif head_kind == "matching":
        head_module = MatchingHead(fuse.out_dim, **head_kwargs)
    else:
        head_module = (LinearHead if head_kind == "linear" else MLPHead)(fuse.out_dim, **{"out_dim": 2, **head_kwargs})
    return FourPartModel(extractors, fuse, head_module, shared)
