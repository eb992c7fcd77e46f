"""Captions to token ids: a word-level tokenizer from the `tokenizers` library.

Used in chapters 1-12. The tokenizer is *trained* on the captions of a dataset (it only learns the
vocabulary), so a chapter's text tower sees whole words such as ``circle`` or ``left``.
For the pretrained MiniLM text tower the chapters use MiniLM's own WordPiece tokenizer
through ``transformers`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from torch.utils.data import DataLoader

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


class CaptionTokenizer:
    """Word-level tokenizer with padding and attention masks.

    Build one with :meth:`fit` on the training captions, then call it on a list of
    strings::

        tokenizer = CaptionTokenizer.fit(train_captions)
        batch = tokenizer(["a red circle left of a blue square"])
        batch["input_ids"]       # (B, T) int64, padded with ``pad_id``
        batch["attention_mask"]  # (B, T) int64, 1 for real tokens, 0 for padding

    Words never seen while fitting map to ``[UNK]``. ``fit(..., level="char")`` makes every character a token
    instead, for writing without spaces between words such as Chinese ("红苹果" -> 红, 苹, 果).
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int = 32):
        if max_length < 1:
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = tokenizer.token_to_id(PAD_TOKEN)
        self.unk_id = tokenizer.token_to_id(UNK_TOKEN)
        if self.pad_id is None or self.unk_id is None:
            raise ValueError(f"tokenizer vocabulary must contain {PAD_TOKEN} and {UNK_TOKEN}")
        self._tokenizer.enable_padding(pad_id=self.pad_id, pad_token=PAD_TOKEN)
        self._tokenizer.enable_truncation(max_length=max_length)

    @classmethod
    def fit(cls, captions: Sequence[str], max_length: int = 32, level: str = "word") -> CaptionTokenizer:
        """Learn the vocabulary of ``captions``: lower-cased words and punctuation, or characters (``level="char"``)."""
        captions = _check_captions(captions)
        if level not in ("word", "char"):
            raise ValueError(f"expected level 'word' or 'char', got {level!r}")
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace() if level == "word" else pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")])
        trainer = trainers.WordLevelTrainer(special_tokens=[PAD_TOKEN, UNK_TOKEN], min_frequency=1)
        tokenizer.train_from_iterator(captions, trainer=trainer)
        return cls(tokenizer, max_length=max_length)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    @property
    def vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab()

    def tokenize(self, caption: str) -> list[str]:
        """The word pieces of one caption (for display)."""
        return self._tokenizer.encode(caption).tokens

    def __call__(self, captions: Sequence[str], allow_empty: bool = False) -> dict[str, torch.Tensor]:
        """Encode a batch: ``input_ids`` and ``attention_mask``, both (B, T) int64.

        Args:
            captions: B strings.
            allow_empty: accept empty (or blank) captions, i.e. *missing* captions of partly paired
                data (chapter 8). Their row is all padding with an all-zero attention mask, and T >= 1
                even when every caption is empty. Models must skip such rows, e.g. with the
                ``has_text`` mask that :class:`CaptionCollator` adds.
        """
        captions = _check_captions(captions, allow_empty=allow_empty)
        encodings = self._tokenizer.encode_batch(captions)
        length = max(1, max(len(e.ids) for e in encodings))  # all-empty batches still get one (padding) column
        input_ids = torch.full((len(captions), length), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(captions), length), dtype=torch.long)
        for row, e in enumerate(encodings):
            input_ids[row, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
            attention_mask[row, : len(e.ids)] = torch.tensor(e.attention_mask, dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def to_json(self) -> str:
        """Serialise (vocabulary and settings) so a checkpoint can carry the tokenizer."""
        return self._tokenizer.to_str()

    @classmethod
    def from_json(cls, text: str, max_length: int = 32) -> CaptionTokenizer:
        return cls(Tokenizer.from_str(text), max_length=max_length)

    def __repr__(self) -> str:
        return f"CaptionTokenizer(vocab_size={self.vocab_size}, max_length={self.max_length})"


def _check_captions(captions: Sequence[str], allow_empty: bool = False) -> list[str]:
    if isinstance(captions, str):
        raise TypeError("expected a list of captions, got a single str; wrap it in a list")
    captions = list(captions)
    if not captions:
        raise ValueError("expected at least one caption, got an empty list")
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise TypeError(f"caption {i} must be a str, got {type(caption).__name__}: {caption!r}")
        if not caption.strip() and not allow_empty:
            raise ValueError(
                f"caption {i} is empty; every caption needs at least one word "
                "(for missing captions of partly paired data pass allow_empty=True, or use CaptionCollator)"
            )
    return captions


class CaptionCollator:
    """Collate function for a DataLoader over samples ``{"image": (3,H,W), "caption": str, ...}``.

    Returns a batch dict with ``image`` (B, 3, H, W), ``input_ids`` and ``attention_mask``
    (B, T), ``caption`` (list of str), ``index`` (B,) when samples carry one, and the modality
    masks ``has_image`` and ``has_text`` (B,) bool.

    Partly paired data (chapter 8): a sample whose caption is empty (``""``, as
    :func:`cmlearn.data.scenes.make_scenes` serves a missing caption) or whose ``has_text`` is
    False gets an all-padding row and ``has_text`` False; ``has_image`` is the samples'
    ``has_image`` (True when they carry none). Models that cannot skip missing captions should
    filter with the mask; text encoders reject all-padding rows with a clear error.
    """

    def __init__(self, tokenizer: CaptionTokenizer):
        self.tokenizer = tokenizer

    def __call__(self, samples: list[dict]) -> dict:
        if not samples:
            raise ValueError("cannot collate an empty list of samples")
        for key in ("image", "caption"):
            missing = [i for i, s in enumerate(samples) if key not in s]
            if missing:
                raise KeyError(f"sample(s) {missing[:5]} have no {key!r} key; got keys {sorted(samples[missing[0]])}")
        has_text = torch.tensor([bool(s.get("has_text", True)) and _not_blank(s["caption"]) for s in samples])
        has_image = torch.tensor([bool(s.get("has_image", True)) for s in samples])
        captions = [s["caption"] if present else "" for s, present in zip(samples, has_text.tolist(), strict=True)]
        batch = {"image": torch.stack([s["image"] for s in samples]), "caption": captions}
        batch.update(self.tokenizer(captions, allow_empty=True))
        batch["has_image"], batch["has_text"] = has_image, has_text
        if all("index" in s for s in samples):
            batch["index"] = torch.tensor([int(s["index"]) for s in samples], dtype=torch.long)
        return batch


def _not_blank(caption) -> bool:
    """False only for a blank string; anything else goes on to the tokenizer's type check."""
    return not (isinstance(caption, str) and not caption.strip())


def caption_loader(samples, tokenizer: CaptionTokenizer, batch_size: int, generator: torch.Generator | None = None,
                   shuffle: bool = True, drop_last: bool = True) -> DataLoader:
    """A ``DataLoader`` of image–caption batches: samples (e.g. a :class:`~cmlearn.data.scenes.SceneDataset`)
    collated by :class:`CaptionCollator` into ``{"image": (B, 3, H, W), "input_ids": (B, T), "attention_mask": (B, T), ...}``,
    shuffled by ``generator`` (the batch order of a seed), the last partial batch dropped by default
    (a contrastive loss wants full batches)."""
    return DataLoader(samples, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      collate_fn=CaptionCollator(tokenizer), generator=generator)
