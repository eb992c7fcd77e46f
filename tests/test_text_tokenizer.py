import pytest
import torch

from cmlearn.data.text import CaptionCollator, CaptionTokenizer

CAPTIONS = ["a red circle left of a blue square", "the green star is above the red circle"]


def test_fit_learns_words_and_encodes_with_padding():
    tokenizer = CaptionTokenizer.fit(CAPTIONS)
    batch = tokenizer(["A red circle", "the green star is above the red circle"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 8)
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert (batch["input_ids"][0, 3:] == tokenizer.pad_id).all()
    # Lower-casing: "A" is the same token as "a".
    assert tokenizer.tokenize("A red circle") == ["a", "red", "circle"]
    assert batch["input_ids"].dtype == torch.long


def test_unknown_words_map_to_unk():
    tokenizer = CaptionTokenizer.fit(CAPTIONS)
    ids = tokenizer(["a purple hexagon"])["input_ids"][0].tolist()
    assert ids[1] == ids[2] == tokenizer.unk_id
    assert ids[0] != tokenizer.unk_id


def test_truncation_and_round_trip_through_json():
    tokenizer = CaptionTokenizer.fit(CAPTIONS, max_length=4)
    assert tokenizer(CAPTIONS)["input_ids"].shape == (2, 4)
    restored = CaptionTokenizer.from_json(tokenizer.to_json(), max_length=4)
    assert torch.equal(restored(CAPTIONS)["input_ids"], tokenizer(CAPTIONS)["input_ids"])
    assert restored.vocab == tokenizer.vocab


@pytest.mark.parametrize("bad,error,match", [
    ([], ValueError, "empty list"),
    (["fine", "  "], ValueError, "caption 1 is empty"),
    (["fine", 3], TypeError, "caption 1 must be a str"),
    ("a single string", TypeError, "single str"),
])
def test_bad_captions(bad, error, match):
    tokenizer = CaptionTokenizer.fit(CAPTIONS)
    with pytest.raises(error, match=match):
        tokenizer(bad)


def test_collator_stacks_images_and_tokenizes():
    tokenizer = CaptionTokenizer.fit(CAPTIONS)
    samples = [{"image": torch.zeros(3, 8, 8), "caption": c, "index": i} for i, c in enumerate(CAPTIONS)]
    batch = CaptionCollator(tokenizer)(samples)
    assert batch["image"].shape == (2, 3, 8, 8)
    assert batch["index"].tolist() == [0, 1]
    assert batch["input_ids"].shape[0] == 2
    with pytest.raises(KeyError, match="'caption'"):
        CaptionCollator(tokenizer)([{"image": torch.zeros(3, 8, 8)}])
