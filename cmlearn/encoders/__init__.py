"""Per-modality feature extractors (article §3.1 part 1, §3.2.1): f(x) = Conv(x; W_c) + b_c, g(s) = RNN(s; W_s) + b_s.

Used in chapters 1, 2, 3, 4, 5, 6, 7, 8, 10 and 11. Every extractor maps one modality's input to a feature (B, D) with ``forward`` and exposes
``out_dim``; most also give token sequences (B, T, D) or feature maps (B, C, H, W) with
``tokens`` for token-level fusion.
"""

from cmlearn.encoders.audio import SpectrogramEncoder, WaveformEncoder, log_mel_spectrogram, mel_filterbank
from cmlearn.encoders.common import PrecomputedFeatures, freeze_, is_frozen
from cmlearn.encoders.image import SmallCNN, TorchvisionImageEncoder, conv2d_by_hand
from cmlearn.encoders.text import (
    BagOfWordsTextEncoder,
    GRUTextEncoder,
    RNNTextEncoder,
    TransformerTextEncoder,
    bag_of_words,
    check_token_batch,
    rnn_by_hand,
)
from cmlearn.encoders.video import Conv3dVideoEncoder, FrameGRUVideoEncoder, FrameMeanVideoEncoder

# The pretrained loaders are imported on first use (PEP 562), so that
# ``python -m cmlearn.encoders.pretrained`` does not find its own module already imported.
_PRETRAINED = ("HFTextEncoder", "install_offline_image_weights", "minilm_path")


def __getattr__(name: str):
    if name in _PRETRAINED:
        from cmlearn.encoders import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'cmlearn.encoders' has no attribute {name!r}")


__all__ = [
    "SmallCNN",
    "TorchvisionImageEncoder",
    "conv2d_by_hand",
    "BagOfWordsTextEncoder",
    "bag_of_words",
    "GRUTextEncoder",
    "RNNTextEncoder",
    "TransformerTextEncoder",
    "HFTextEncoder",
    "check_token_batch",
    "rnn_by_hand",
    "WaveformEncoder",
    "SpectrogramEncoder",
    "log_mel_spectrogram",
    "mel_filterbank",
    "FrameMeanVideoEncoder",
    "FrameGRUVideoEncoder",
    "Conv3dVideoEncoder",
    "PrecomputedFeatures",
    "freeze_",
    "is_frozen",
    "install_offline_image_weights",
    "minilm_path",
]
