"""Spoken-digit-like sequences and questions about them: a clip of several digit sounds, one question.

Used in chapter 9 (``09_modality_differences``) to show when cross-modal attention pays off.
Each clip concatenates ``n_digits`` digit sounds of :func:`cmlearn.data.audio.synthesize_digit_sounds`
(pitch, beep count and timbre identify the digit), each preceded by a random silence of
0 to ``max_gap`` seconds; the clip is padded with silence to a fixed length. Every clip gets one
question of one of two kinds:

* ``"position"``: *"what is the second digit ?"*, answered by a digit word. The answer depends on
  *where* in time a digit is, so a word ("second") has to be aligned with a time segment.
* ``"extreme"``: *"what is the highest digit ?"* (or lowest), answered by a digit word: the
  largest (smallest) digit in the clip, which is also the one of highest (lowest) pitch. The answer
  depends only on *which* digits the clip holds, not on their order.
* ``"presence"``: *"is there a seven ?"*, answered ``yes``/``no`` (balanced: the answer is drawn
  first, the asked digit second). Also order-free, but the question word must be matched with a sound.

Answers index :data:`SEQUENCE_ANSWERS` (ten digit words, then ``"no"``, ``"yes"``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from cmlearn.data.audio import DIGIT_WORDS, log_mel_spectrogram, synthesize_digit_sounds

__all__ = ["SEQUENCE_ANSWERS", "ORDINALS", "QUESTION_KINDS", "DigitSequences", "make_digit_sequences",
           "order_blind_ceiling"]

SEQUENCE_ANSWERS = (*DIGIT_WORDS, "no", "yes")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
QUESTION_KINDS = ("position", "extreme", "presence")
_TEMPLATES = {"position": ("what is the {} digit ?", "which digit comes {} ?", "name the {} digit ."),
              "extreme": ("what is the {} digit ?", "which digit is the {} ?", "name the {} digit ."),
              "presence": ("is there a {} ?", "does the clip contain a {} ?", "do you hear a {} ?")}


class DigitSequences:
    """Clips of digit sounds with one question each.

    Attributes:
        waveforms: (N, T) float, T = round(sample_rate * clip_duration).
        digits: (N, n_digits) long, the digits in temporal order.
        onsets, offsets: (N, n_digits) long, sample index where each digit's sound starts / ends.
        questions: list of N strings.
        kinds: (N,) long index into :data:`QUESTION_KINDS`.
        asked: (N,) long, the asked position (``"position"``), 0 = lowest / 1 = highest (``"extreme"``)
            or the asked digit (``"presence"``).
        answers: (N,) long index into :data:`SEQUENCE_ANSWERS`.
        config: the knobs of :func:`make_digit_sequences`.
    """

    def __init__(self, waveforms, digits, onsets, offsets, questions, kinds, asked, answers, config):
        self.waveforms, self.digits, self.onsets, self.offsets = waveforms, digits, onsets, offsets
        self.questions, self.kinds, self.asked, self.answers = list(questions), kinds, asked, answers
        self.config = dict(config)

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    def __len__(self) -> int:
        return self.answers.shape[0]

    def __getitem__(self, i: int) -> dict:
        """dict(waveform=(T,), question=str, answer=int, kind=int)."""
        return dict(waveform=self.waveforms[i], question=self.questions[i], answer=int(self.answers[i]),
                    kind=int(self.kinds[i]))

    def log_mel(self, n_fft: int = 256, hop_length: int = 128, n_mels: int = 32) -> torch.Tensor:
        """Log-mel features of all clips, (N, n_mels, frames) with frames = T // hop_length + 1."""
        return log_mel_spectrogram(self.waveforms, self.sample_rate, n_fft, hop_length, n_mels)

    def frame_segments(self, hop_length: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
        """Each digit's first and last STFT frame (centred frames, frame f at sample f·hop): two (N, n_digits)."""
        first = torch.div(self.onsets + hop_length // 2, hop_length, rounding_mode="floor")
        last = torch.div(self.offsets - 1 + hop_length // 2, hop_length, rounding_mode="floor")
        return first, last

    def subset(self, indices) -> DigitSequences:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return DigitSequences(self.waveforms[idx], self.digits[idx], self.onsets[idx], self.offsets[idx],
                              [self.questions[i] for i in idx.tolist()], self.kinds[idx], self.asked[idx],
                              self.answers[idx], self.config)

    def split(self, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[DigitSequences, ...]:
        """Disjoint random subsets with the given fractions (the last takes the remainder)."""
        if not math.isclose(sum(fractions), 1.0) or min(fractions) < 0:
            raise ValueError(f"expected non-negative fractions summing to 1, got {fractions}")
        order = np.random.default_rng(seed).permutation(len(self))
        cuts = np.round(np.cumsum(fractions)[:-1] * len(self)).astype(int)
        return tuple(self.subset(part) for part in np.split(order, cuts))

    def describe(self) -> str:
        c = self.config
        kinds = torch.bincount(self.kinds, minlength=len(QUESTION_KINDS)).tolist()
        return "\n".join([
            f"DigitSequences: {len(self)} clips of {c['n_digits']} digit sounds + one question each",
            f"  waveforms {tuple(self.waveforms.shape)} (N, T) at {c['sample_rate']} Hz, "
            f"{c['digit_duration']} s per digit, silence of 0-{c['max_gap']} s before each",
            f"  questions: {dict(zip(QUESTION_KINDS, kinds, strict=True))}, e.g. {self.questions[0]!r}",
            f"  noise_level={c['noise_level']}, seed={c['seed']}"])

    def __repr__(self) -> str:
        c = self.config
        return f"DigitSequences(n={len(self)}, n_digits={c['n_digits']}, kind={c['kind']!r}, seed={c['seed']})"


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}, got {value!r}")


def _check_float(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def make_digit_sequences(n: int, kind: str = "position", n_digits: int = 3, sample_rate: int = 8000,
                         digit_duration: float = 0.25, max_gap: float = 0.05, noise_level: float = 0.1,
                         seed: int = 0) -> DigitSequences:
    """Generate ``n`` clips of ``n_digits`` digit sounds, each with a question of ``kind``.

    Args:
        n: number of clips (>= 1).
        kind: ``"position"``, ``"extreme"``, ``"presence"`` or ``"mixed"`` (each clip draws one of the three).
        n_digits: digits per clip, 1..6; digits are drawn uniformly from 0-9, repeats allowed.
        sample_rate: 8000 to 16000 Hz.
        digit_duration: seconds of each digit sound, in [0.1, 1].
        max_gap: longest silence (seconds) before each digit, in [0, 1]; the clip lasts
            n_digits · (digit_duration + max_gap) seconds.
        noise_level: white-noise std relative to each digit sound's RMS (see ``synthesize_digit_sounds``).
        seed: drives digits, gaps, sounds and questions.

    Returns:
        :class:`DigitSequences`.
    """
    _check_int("n", n, 1, 10 ** 7)
    if kind not in (*QUESTION_KINDS, "mixed"):
        raise ValueError(f"kind must be one of {(*QUESTION_KINDS, 'mixed')}, got {kind!r}")
    _check_int("n_digits", n_digits, 1, len(ORDINALS))
    _check_int("sample_rate", sample_rate, 8000, 16000)
    _check_float("digit_duration", digit_duration, 0.1, 1.0)
    _check_float("max_gap", max_gap, 0.0, 1.0)
    _check_float("noise_level", noise_level, 0.0, 10.0)
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, (n, n_digits))                                            # (N, K)
    sounds = synthesize_digit_sounds(digits.reshape(-1), sample_rate, digit_duration, int(rng.integers(2 ** 31)),
                                     noise_level=noise_level).view(n, n_digits, -1)        # (N, K, T_d)
    digit_len = sounds.shape[-1]
    gap_len = int(round(max_gap * sample_rate))
    gaps = rng.integers(0, gap_len + 1, (n, n_digits))                                      # silence before each digit
    onsets = np.cumsum(gaps, axis=1) + digit_len * np.arange(n_digits)[None, :]             # (N, K)
    clip_len = n_digits * (digit_len + gap_len)
    waveforms = torch.zeros(n, clip_len)
    for k in range(n_digits):                     # place digit k of every clip at its onset
        index = torch.from_numpy(onsets[:, k, None] + np.arange(digit_len)[None, :])       # (N, T_d)
        waveforms.scatter_(1, index, sounds[:, k])

    kinds = rng.integers(0, len(QUESTION_KINDS), n) if kind == "mixed" else np.full(n, QUESTION_KINDS.index(kind))
    templates = rng.integers(0, 3, n)
    asked, answers, questions = np.zeros(n, np.int64), np.zeros(n, np.int64), []
    for i in range(n):
        if QUESTION_KINDS[kinds[i]] == "position":
            asked[i] = rng.integers(n_digits)
            answers[i] = digits[i, asked[i]]
            word = ORDINALS[asked[i]]
        elif QUESTION_KINDS[kinds[i]] == "extreme":
            asked[i] = rng.integers(2)
            answers[i] = digits[i].max() if asked[i] else digits[i].min()
            word = ("lowest", "highest")[asked[i]]
        else:
            present = set(digits[i].tolist())
            absent = sorted(set(range(10)) - present)
            yes = bool(rng.integers(2)) or not absent
            asked[i] = rng.choice(sorted(present)) if yes else rng.choice(absent)
            answers[i] = SEQUENCE_ANSWERS.index("yes" if yes else "no")
            word = DIGIT_WORDS[asked[i]]
        questions.append(_TEMPLATES[QUESTION_KINDS[kinds[i]]][templates[i]].format(word))
    config = dict(n=n, kind=kind, n_digits=n_digits, sample_rate=sample_rate, digit_duration=digit_duration,
                  max_gap=max_gap, noise_level=noise_level, seed=seed)
    as_long = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))  # noqa: E731
    return DigitSequences(waveforms, as_long(digits), as_long(onsets), as_long(onsets + digit_len), questions,
                          as_long(kinds), as_long(asked), as_long(answers), config)


def order_blind_ceiling(data: DigitSequences) -> float:
    """Best accuracy on ``"position"`` questions of a model that knows which digits a clip holds but not their order.

    Such a model can do no better than answering the clip's most frequent digit, right with
    probability (its count) / n_digits. Returned as the mean over the position questions of ``data``.
    """
    position = data.kinds == QUESTION_KINDS.index("position")
    if not position.any():
        raise ValueError("expected at least one 'position' question, got none")
    digits = data.digits[position]                                   # (N_p, K)
    counts = torch.nn.functional.one_hot(digits, 10).sum(1)          # (N_p, 10)
    return float((counts.amax(dim=1).float() / digits.shape[1]).mean())
