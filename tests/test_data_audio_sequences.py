"""Digit-sound sequences with position / extreme / presence questions (cmlearn.data.audio_sequences)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmlearn.data.audio import DIGIT_WORDS, synthesize_digit_sounds
from cmlearn.data.audio_sequences import (
    ORDINALS,
    QUESTION_KINDS,
    SEQUENCE_ANSWERS,
    DigitSequences,
    make_digit_sequences,
    order_blind_ceiling,
)


@pytest.fixture(scope="module")
def mixed():
    return make_digit_sequences(120, "mixed", n_digits=3, seed=3)


def test_shapes_and_lengths(mixed):
    sr, d, gap = 8000, 0.25, 0.05
    assert mixed.waveforms.shape == (120, 3 * (round(sr * d) + round(sr * gap)))
    assert mixed.digits.shape == mixed.onsets.shape == mixed.offsets.shape == (120, 3)
    assert len(mixed.questions) == len(mixed) == 120
    assert set(mixed.kinds.tolist()) == {0, 1, 2}


def test_digits_sit_in_their_segments_and_silence_elsewhere(mixed):
    T = mixed.waveforms.shape[1]
    inside = torch.zeros_like(mixed.waveforms, dtype=torch.bool)
    for k in range(3):
        t = torch.arange(T)[None, :]
        inside |= (t >= mixed.onsets[:, k, None]) & (t < mixed.offsets[:, k, None])
    assert (mixed.waveforms[~inside] == 0).all(), "gaps and padding must be silent"
    assert (mixed.onsets[:, 1:] >= mixed.offsets[:, :-1]).all(), "digits must not overlap"
    assert (mixed.offsets[:, -1] <= T).all()


def test_segment_is_the_synthesized_digit_sound():
    # One clip, one digit, no gap and no noise: the clip is exactly synthesize_digit_sounds' output.
    data = make_digit_sequences(4, "position", n_digits=1, max_gap=0.0, noise_level=0.0, seed=5)
    rng = np.random.default_rng(5)
    digits = rng.integers(0, 10, (4, 1))
    expected = synthesize_digit_sounds(digits.reshape(-1), 8000, 0.25, int(rng.integers(2 ** 31)), noise_level=0.0)
    assert data.digits.reshape(-1).tolist() == digits.reshape(-1).tolist()
    torch.testing.assert_close(data.waveforms, expected)


def test_answers_follow_the_questions(mixed):
    for i in range(len(mixed)):
        kind, q, a, asked = QUESTION_KINDS[int(mixed.kinds[i])], mixed.questions[i], int(mixed.answers[i]), int(mixed.asked[i])
        digits = mixed.digits[i].tolist()
        if kind == "position":
            assert ORDINALS[asked] in q.split() and a == digits[asked]
        elif kind == "extreme":
            word = ("lowest", "highest")[asked]
            assert word in q.split() and a == (max(digits) if asked else min(digits))
        else:
            assert DIGIT_WORDS[asked] in q.split()
            assert SEQUENCE_ANSWERS[a] == ("yes" if asked in digits else "no")


def test_presence_answers_are_balanced():
    data = make_digit_sequences(2000, "presence", seed=1)
    yes = (data.answers == SEQUENCE_ANSWERS.index("yes")).float().mean()
    assert 0.45 < yes < 0.55


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (make_digit_sequences(20, "mixed", seed=s) for s in (0, 0, 1))
    assert torch.equal(a.waveforms, b.waveforms) and a.questions == b.questions
    assert not torch.equal(a.waveforms, c.waveforms)


def test_order_blind_ceiling_by_hand():
    data = make_digit_sequences(3, "position", seed=0)
    data.digits = torch.tensor([[1, 2, 3], [4, 4, 5], [7, 7, 7]])
    assert order_blind_ceiling(data) == pytest.approx((1 / 3 + 2 / 3 + 1) / 3)
    with pytest.raises(ValueError, match="position"):
        order_blind_ceiling(make_digit_sequences(3, "extreme", seed=0))


def test_frame_segments_cover_the_sound(mixed):
    hop = 128
    first, last = mixed.frame_segments(hop)
    frames = mixed.log_mel(hop_length=hop).shape[-1]
    assert frames == mixed.waveforms.shape[1] // hop + 1
    assert (first <= last).all() and (last < frames).all()
    # Centred frame f covers samples around f·hop: the segment's first/last frame centres lie within half a hop.
    assert ((first * hop - mixed.onsets).abs() <= hop // 2).all()
    assert ((last * hop - (mixed.offsets - 1)).abs() <= hop // 2).all()


def test_split_is_a_partition(mixed):
    parts = mixed.split((0.5, 0.25, 0.25), seed=0)
    assert [len(p) for p in parts] == [60, 30, 30]
    assert all(isinstance(p, DigitSequences) for p in parts)
    rows = torch.cat([p.waveforms for p in parts])
    assert torch.unique(rows, dim=0).shape[0] == torch.unique(mixed.waveforms, dim=0).shape[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "n must be"), (dict(n=5, kind="order"), "kind must be"), (dict(n=5, n_digits=7), "n_digits"),
    (dict(n=5, sample_rate=4000), "sample_rate"), (dict(n=5, max_gap=-0.1), "max_gap"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_digit_sequences(**kwargs)
