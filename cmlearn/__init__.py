"""cmlearn: the companion package of the book *Cross-modal learning, as a book you can run*.

Each module holds one concept of the book (the article's section in brackets):

- :mod:`cmlearn.device` — CPU or GPU, and mixed precision
- :mod:`cmlearn.seed` — one seeding call
- :mod:`cmlearn.data` — datasets the book generates itself (scenes, questions, audio, video),
  loaders for real image–caption folders, and the caption tokenizer (:mod:`cmlearn.data.text`)
- :mod:`cmlearn.encoders` — feature extractors per modality, f(x) and g(s) (§3.2.1)
- :mod:`cmlearn.shared` and :mod:`cmlearn.align` — the shared space h and contrastive alignment (§3.2.2)
- :mod:`cmlearn.fusion` — z = Σ α_i h_i and the other fusions (§3.2.3)
- :mod:`cmlearn.heads` — task heads, y = Linear(z; W_y) + b_y (§3.2.4)
- :mod:`cmlearn.model` — the four parts composed (§3.1)
- :mod:`cmlearn.losses` — CLIP, SigLIP, image–text matching, VAE losses
- :mod:`cmlearn.binding` — more modalities in one space, bound to an anchor modality; modality dropout (§5.1)
- :mod:`cmlearn.generative` — cross-modal VAE and conditional GAN (§5.2.1);
  :mod:`cmlearn.noisy_pairs` — training on partly wrong pairs (§5.2.1)
- :mod:`cmlearn.data.audio_sequences` — spoken-digit sequences with questions about positions (§5.2.2)
- :mod:`cmlearn.train` — the training loop (:mod:`cmlearn.train.loop`, one epoch in :mod:`cmlearn.train.epoch`);
  :mod:`cmlearn.train.checkpoint` — atomic checkpoints and resume;
  :mod:`cmlearn.train.distributed` — the same training under ``torchrun`` with gathered negatives;
  :mod:`cmlearn.scripts.train_ddp` — the entry point ``torchrun`` starts (appendix, scaling)
- :mod:`cmlearn.metrics` — retrieval and classification metrics (§6.3)
- :mod:`cmlearn.plot` — figures
"""

from cmlearn.align import DualEncoder, ProjectionHead, clip_loss
from cmlearn.binding import BindingSpace
from cmlearn.device import select_device
from cmlearn.encoders import (
    Conv3dVideoEncoder,
    FrameGRUVideoEncoder,
    GRUTextEncoder,
    RNNTextEncoder,
    SmallCNN,
    SpectrogramEncoder,
    TorchvisionImageEncoder,
    TransformerTextEncoder,
    WaveformEncoder,
    freeze_,
)
from cmlearn.fusion import (
    ConcatFusion,
    CrossModalAttention,
    FiLMFusion,
    GatedFusion,
    LateFusion,
    LowRankFusion,
    MetaSpaceFusion,
    MultimodalSelfAttention,
    TensorFusion,
    WeightedSumFusion,
)
from cmlearn.generative import ConditionalGAN, CrossModalVAE, product_of_experts
from cmlearn.heads import LinearHead, MatchingHead, MLPHead
from cmlearn.losses import ClipLoss, SigLipLoss, gaussian_kl, itm_loss, siglip_loss, vae_loss
from cmlearn.metrics import classification_report, retrieval_report, robustness_auc, robustness_curve
from cmlearn.model import FourPartModel, build_model
from cmlearn.seed import seed_everything
from cmlearn.shared import AttentionPooling, SharedSpace
from cmlearn.train.checkpoint import CheckpointError, load_weights
from cmlearn.train.loop import fit

__version__ = "0.1.0"

__all__ = [
    "AttentionPooling", "BindingSpace", "CheckpointError", "ClipLoss", "classification_report", "load_weights", "retrieval_report",
    "robustness_auc", "robustness_curve", "ConcatFusion", "ConditionalGAN", "Conv3dVideoEncoder", "CrossModalAttention",
    "CrossModalVAE", "DualEncoder", "FiLMFusion", "FourPartModel", "FrameGRUVideoEncoder", "GRUTextEncoder",
    "GatedFusion", "LateFusion", "LinearHead", "LowRankFusion", "MLPHead", "MatchingHead", "MetaSpaceFusion",
    "MultimodalSelfAttention", "ProjectionHead", "RNNTextEncoder", "SharedSpace", "SigLipLoss", "SmallCNN",
    "SpectrogramEncoder", "TensorFusion", "TorchvisionImageEncoder", "TransformerTextEncoder", "WaveformEncoder",
    "WeightedSumFusion", "build_model", "clip_loss", "fit", "freeze_", "gaussian_kl", "itm_loss", "product_of_experts",
    "seed_everything", "select_device", "siglip_loss", "vae_loss", "__version__",
]
