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


def test_empty_captions_only_when_allowed():
    tokenizer = CaptionTokenizer.fit(CAPTIONS)
    batch = tokenizer(["", "a red circle"], allow_empty=True)
    assert batch["attention_mask"].tolist() == [[0, 0, 0], [1, 1, 1]]
    assert (batch["input_ids"][0] == tokenizer.pad_id).all()
    assert torch.equal(batch["input_ids"][1], tokenizer(["a red circle"])["input_ids"][0])
    everything_missing = tokenizer(["", " "], allow_empty=True)  # still (B, 1), not (B, 0)
    assert everything_missing["input_ids"].shape == (2, 1) and everything_missing["attention_mask"].sum() == 0
    with pytest.raises(ValueError, match="allow_empty=True"):
        tokenizer(["", "a red circle"])


def test_collator_masks_missing_captions_and_images():
    tokenizer = CaptionTokenizer.fit(CAPTIONS)
    samples = [
        {"image": torch.ones(3, 8, 8), "caption": CAPTIONS[0], "has_image": True, "has_text": True},
        {"image": torch.ones(3, 8, 8), "caption": "", "has_image": True, "has_text": False},
        {"image": torch.zeros(3, 8, 8), "caption": CAPTIONS[1], "has_image": False, "has_text": True},
        {"image": torch.ones(3, 8, 8), "caption": "   "},  # no masks given: a blank caption counts as missing
    ]
    batch = CaptionCollator(tokenizer)(samples)
    assert batch["has_text"].tolist() == [True, False, True, False]
    assert batch["has_image"].tolist() == [True, True, False, True]
    assert batch["attention_mask"].sum(dim=1).tolist() == [8, 0, 8, 0]
    assert torch.equal(batch["input_ids"][0], tokenizer([CAPTIONS[0]])["input_ids"][0])
    assert batch["caption"][3] == ""
    with pytest.raises(TypeError, match="caption 0 must be a str"):
        CaptionCollator(tokenizer)([{"image": torch.zeros(3, 8, 8), "caption": None}])


def test_collator_feeds_partly_paired_scenes_through_a_dataloader():
    from torch.utils.data import DataLoader

    from cmlearn.data.scenes import make_scenes

    scenes = make_scenes(n=40, n_objects=1, seed=0, missing_fraction=0.5, missing_modality="either")
    tokenizer = CaptionTokenizer.fit([c for c in scenes.captions if c])
    batches = list(DataLoader(scenes, batch_size=16, collate_fn=CaptionCollator(tokenizer)))
    has_text = torch.cat([b["has_text"] for b in batches])
    assert torch.equal(has_text, scenes.has_text) and torch.equal(torch.cat([b["has_image"] for b in batches]), scenes.has_image)
    assert all((b["attention_mask"].sum(dim=1) > 0).tolist() == b["has_text"].tolist() for b in batches)


def test_caption_loader_batches_like_a_dataloader_with_the_collator():
    from torch.utils.data import DataLoader

    from cmlearn.data.scenes import make_scenes
    from cmlearn.data.text import CaptionCollator, caption_loader

    scenes = make_scenes(n=40, n_objects=1, seed=0)
    tokenizer = CaptionTokenizer.fit(scenes.captions)
    ours = list(caption_loader(scenes, tokenizer, 16, torch.Generator().manual_seed(2)))
    theirs = list(DataLoader(scenes, batch_size=16, shuffle=True, drop_last=True, collate_fn=CaptionCollator(tokenizer),
                             generator=torch.Generator().manual_seed(2)))
    assert len(ours) == len(theirs) == 2  # 40 // 16, the partial batch dropped
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["input_ids"], b["input_ids"])
