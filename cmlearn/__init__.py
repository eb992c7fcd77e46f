"""cmlearn: the companion package of the book *Cross-modal learning, as a book you can run*.

Used in chapters 1-12.

``import cmlearn as cm`` gives the book's vocabulary: every name a chapter uses is here (``cm.make_scenes``,
``cm.DualEncoder``, ``cm.fit``, ``cm.retrieval_report``, ...). Each module holds one concept of the book
(the article's section in brackets), and imports flow one way, from data to models to training and metrics:

- :mod:`cmlearn.runtime` — device and precision, seeding, ``glue``, time taken (every chapter's first cell)
- :mod:`cmlearn.data` — datasets the book generates itself (scenes, questions, audio, video, digit
  sequences), real ones (OpenMoji's emoji and their names, image–caption folders), and the caption tokenizer
  (:mod:`cmlearn.data.text`)
- :mod:`cmlearn.batch` — the batch contract: modality keys, modality masks and modality dropout
- :mod:`cmlearn.layers` — attention, positional encodings, pooling
- :mod:`cmlearn.encoders` — feature extractors per modality, f(x) and g(s) (§3.2.1)
- :mod:`cmlearn.shared` — projection heads and the shared space h (§3.2.2)
- :mod:`cmlearn.contrastive` — the CLIP loss and its per-pair terms, SigLIP, hard negatives (§2.2, §3.2.2)
- :mod:`cmlearn.dual_encoder` — the two-tower aligner of chapters 1 and 3
- :mod:`cmlearn.fusion` — z = Σ α_i h_i and the other fusions (§3.2.3)
- :mod:`cmlearn.heads` — task heads, y = Linear(z; W_y) + b_y (§3.2.4)
- :mod:`cmlearn.model` — the four parts composed (§3.1)
- :mod:`cmlearn.anchored` — more modalities in one space, bound to an anchor modality (§5.1)
- :mod:`cmlearn.lit` — two frozen pretrained towers aligned by projections only (LiT), zero-shot prompts;
  :mod:`cmlearn.modality_gap` — the gap between the modalities' embeddings and shifting along it
- :mod:`cmlearn.noisy_pairs` — training on partly wrong pairs; :mod:`cmlearn.generative` — cross-modal VAE
  and conditional GAN (§5.2.1)
- :mod:`cmlearn.train` — the training loop, atomic checkpoints and resume, training under ``torchrun``
- :mod:`cmlearn.metrics` — classification, retrieval (by instance and by class), chance levels, robustness,
  intervals (§6.3); :mod:`cmlearn.experiment` — an experiment over seeds and the claims it supports
- :mod:`cmlearn.plot` — figures
"""

from cmlearn import experiment
from cmlearn.anchored import AnchoredSpace
from cmlearn.batch import modality_dropout_mask, predict, tensor_loader
from cmlearn.contrastive import MAX_LOGIT_SCALE, clip_loss, pair_losses
from cmlearn.data.audio import DIGIT_WORDS, log_mel_spectrogram, make_audio_digits
from cmlearn.data.audio_sequences import ORDINALS, SEQUENCE_ANSWERS, make_digit_sequences, order_blind_ceiling
from cmlearn.data.common import add_pixel_noise
from cmlearn.data.folders import ImageCaptionFolder, write_coco_folder
from cmlearn.data.openmoji import ATTRIBUTION, attribute_twins, load_openmoji, split_emoji
from cmlearn.data.questions import QUESTION_ANSWERS, QUESTION_TYPES, make_questions, question_only_baseline
from cmlearn.data.scene_text import INVERSE_RELATION, RELATIONS, SHAPES, caption_text, corrupt
from cmlearn.data.scenes import (
    COLOURS,
    DEFAULT_SHAPES,
    default_holdout,
    distinct_description_gallery,
    make_scenes,
    scene_description,
)
from cmlearn.data.show import show_audio, show_video
from cmlearn.data.text import CaptionCollator, CaptionTokenizer, caption_loader
from cmlearn.data.video import MOTIONS, make_motion_clips
from cmlearn.dual_encoder import DualEncoder
from cmlearn.encoders import (
    BagOfWordsTextEncoder,
    FrameGRUVideoEncoder,
    FrameMeanVideoEncoder,
    GRUTextEncoder,
    PrecomputedFeatures,
    RNNTextEncoder,
    SmallCNN,
    SpectrogramEncoder,
    TorchvisionImageEncoder,
    TransformerTextEncoder,
    WaveformEncoder,
    bag_of_words,
    conv2d_by_hand,
    freeze_,
    rnn_by_hand,
)
from cmlearn.fusion import (
    ConcatFusion,
    CrossModalAttention,
    FiLM,
    FiLMFusion,
    GatedFusion,
    LateFusion,
    LowRankFusion,
    MetaSpaceFusion,
    MultimodalSelfAttention,
    TensorFusion,
    WeightedSumFusion,
)
from cmlearn.generative import ConditionalGAN, CrossModalVAE
from cmlearn.heads import LinearHead, MatchingHead, MLPHead
from cmlearn.layers import AttentionPooling, attention, positional_encoding_1d
from cmlearn.lit import (
    BoundEncoder,
    LockedTowers,
    frozen_image_features,
    frozen_text_features,
    frozen_text_states,
    prompt_ensemble,
    zero_shot_predict,
)
from cmlearn.metrics import (
    bootstrap_interval,
    chance_class_recall,
    chance_recall_at_k,
    class_retrieval_report,
    classification_report,
    confusion_matrix,
    correct_item_ranks,
    difference_interval,
    mean_average_precision,
    mean_confidence_interval,
    per_class_report,
    recall_at_k,
    retrieval_report,
    robustness_curve,
    seed_summary,
)
from cmlearn.modality_gap import gap_vector, modality_gap, modality_told_apart, shift_along_gap
from cmlearn.model import FourPartModel, build_model
from cmlearn.noisy_pairs import clean_pair_probability, filter_pairs_against_shuffled, trimmed_clip_loss
from cmlearn.plot import (
    confusion_heatmap,
    image_grid,
    retrieval_grid,
    robustness_curves,
    seed_intervals,
    similarity_heatmap,
    training_curves,
)
from cmlearn.runtime import Precision, Stopwatch, cpu_seconds, glue, seed_everything, select_device
from cmlearn.shared import SharedSpace
from cmlearn.train import StackedBatches, StackedSeeds, fit

__version__ = "0.1.0"

# The pretrained towers import transformers/torchvision weights on first use (PEP 562): ``import cmlearn`` stays fast.
_PRETRAINED = ("HFTextEncoder", "TopLayers", "install_offline_image_weights")


def __getattr__(name: str):
    if name in _PRETRAINED:
        from cmlearn.encoders import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'cmlearn' has no attribute {name!r}")


__all__ = [
    # running a chapter
    "Precision", "Stopwatch", "cpu_seconds", "glue", "seed_everything", "select_device", "experiment",
    # data
    "COLOURS", "DEFAULT_SHAPES", "DIGIT_WORDS", "INVERSE_RELATION", "MOTIONS", "ORDINALS", "QUESTION_ANSWERS",
    "QUESTION_TYPES", "RELATIONS", "SEQUENCE_ANSWERS", "SHAPES", "CaptionCollator", "CaptionTokenizer", "caption_loader", "caption_text",
    "corrupt", "default_holdout", "distinct_description_gallery", "log_mel_spectrogram", "make_audio_digits",
    "make_digit_sequences", "make_motion_clips", "make_questions", "make_scenes", "order_blind_ceiling",
    "question_only_baseline", "scene_description", "show_audio", "show_video", "add_pixel_noise",
    "ATTRIBUTION", "ImageCaptionFolder", "attribute_twins", "load_openmoji", "split_emoji", "write_coco_folder",
    # extractors, f(x) and g(s)
    "BagOfWordsTextEncoder", "FrameGRUVideoEncoder", "FrameMeanVideoEncoder", "GRUTextEncoder", "HFTextEncoder",
    "PrecomputedFeatures", "RNNTextEncoder", "SmallCNN", "SpectrogramEncoder", "TopLayers", "TorchvisionImageEncoder",
    "TransformerTextEncoder", "WaveformEncoder", "bag_of_words", "conv2d_by_hand", "freeze_", "install_offline_image_weights",
    "rnn_by_hand",
    # shared space and alignment
    "MAX_LOGIT_SCALE", "AttentionPooling", "DualEncoder", "SharedSpace", "clip_loss", "pair_losses",
    # fusion, heads, the four-part model
    "ConcatFusion", "CrossModalAttention", "FiLM", "FiLMFusion", "GatedFusion", "LateFusion", "LowRankFusion",
    "MetaSpaceFusion", "MultimodalSelfAttention", "TensorFusion", "WeightedSumFusion", "attention",
    "positional_encoding_1d", "LinearHead", "MLPHead", "MatchingHead", "FourPartModel", "build_model",
    # more modalities, weak pairs, generation
    "AnchoredSpace", "BoundEncoder", "LockedTowers", "frozen_image_features", "frozen_text_features", "frozen_text_states",
    "prompt_ensemble", "zero_shot_predict", "gap_vector", "modality_gap", "modality_told_apart", "shift_along_gap",
    "modality_dropout_mask", "clean_pair_probability", "filter_pairs_against_shuffled",
    "trimmed_clip_loss", "ConditionalGAN", "CrossModalVAE",
    # training, metrics, figures
    "fit", "predict", "tensor_loader", "StackedBatches", "StackedSeeds", "bootstrap_interval", "chance_class_recall", "chance_recall_at_k", "class_retrieval_report",
    "classification_report", "confusion_matrix", "correct_item_ranks", "difference_interval",
    "mean_average_precision", "mean_confidence_interval", "per_class_report", "recall_at_k", "retrieval_report",
    "robustness_curve", "seed_summary", "confusion_heatmap", "image_grid", "retrieval_grid", "robustness_curves",
    "seed_intervals", "similarity_heatmap", "training_curves",
]
