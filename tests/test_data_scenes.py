"""Tests for cmlearn.data.scenes: shapes, determinism, geometry, knobs, splits, bad input."""
import re

import numpy as np
import pytest
import torch

from cmlearn.data.scene_corruptions import Corruptions, drop_modalities, mismatch
from cmlearn.data.scene_text import COLOURS, RELATIONS
from cmlearn.data.scenes import default_holdout, make_scenes

PALETTE = torch.tensor(list(COLOURS.values()))
REL_RE = re.compile(r"^(?:the |a |there is a )(\w+) (\w+) (?:is )?(left of|right of|above|below) "
                    r"(?:the |a )(\w+) (\w+)$")


@pytest.fixture(scope="module")
def pairs():
    return make_scenes(n=2000, n_objects=2, image_size=32, seed=0)


def colour_centroid(image, colour_name):
    """Centre (x, y) of the pixels that are (almost) exactly `colour_name`."""
    target = PALETTE[list(COLOURS).index(colour_name)]
    mask = ((image - target[:, None, None]).abs().max(dim=0).values < 0.02)
    ys, xs = torch.nonzero(mask, as_tuple=True)
    assert len(xs) > 0, f"no {colour_name} pixels"
    return xs.float().mean().item(), ys.float().mean().item()


def relation_holds(rel, a, b):
    dx, dy = b[0] - a[0], b[1] - a[1]
    return {"left of": dx > 0 and abs(dx) > 1.5 * abs(dy), "right of": dx < 0 and abs(dx) > 1.5 * abs(dy),
            "above": dy > 0 and abs(dy) > 1.5 * abs(dx), "below": dy < 0 and abs(dy) > 1.5 * abs(dx)}[rel]


def test_shapes_types_and_item(pairs):
    assert pairs.images.shape == (2000, 3, 32, 32) and pairs.images.dtype == torch.float32
    assert pairs.images.min() >= 0 and pairs.images.max() <= 1
    assert len(pairs) == 2000 and len(pairs.captions) == 2000
    item = pairs[5]
    assert item["image"].shape == (3, 32, 32) and item["caption"] == pairs.captions[5] and item["index"] == 5
    assert pairs.objects.shape.shape == (2000, 2) and pairs.objects.count().eq(2).all()
    assert len(set(pairs.captions)) > 500          # paraphrases and varied content
    big = make_scenes(n=50, image_size=64, seed=0)
    assert big.images.shape == (50, 3, 64, 64)


def test_same_seed_identical_different_seed_different(pairs):
    again = make_scenes(n=2000, n_objects=2, image_size=32, seed=0)
    assert torch.equal(again.images, pairs.images) and again.captions == pairs.captions
    other = make_scenes(n=2000, n_objects=2, image_size=32, seed=1)
    assert not torch.equal(other.images, pairs.images) and other.captions != pairs.captions


def test_relation_captions_true_on_rendered_pixels(pairs):
    """Parse every caption, find both objects by colour in the image, check the relation."""
    for i in range(0, 2000, 7):
        m = REL_RE.match(pairs.captions[i])
        assert m, pairs.captions[i]
        col_a, _, rel, col_b, _ = m.groups()
        a = colour_centroid(pairs.images[i], col_a)
        b = colour_centroid(pairs.images[i], col_b)
        assert relation_holds(rel, a, b), (i, pairs.captions[i], a, b)


def test_objects_do_not_overlap_and_centres_have_their_colour():
    ds = make_scenes(n=1500, n_objects=3, seed=2, shapes=("circle", "square", "triangle", "star", "cross"))
    o = ds.objects
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        sep_x = (o.x[:, a] - o.x[:, b]).abs() - o.radius[:, a] - o.radius[:, b]
        sep_y = (o.y[:, a] - o.y[:, b]).abs() - o.radius[:, a] - o.radius[:, b]
        assert ((sep_x >= 1) | (sep_y >= 1)).all()
    n = torch.arange(len(ds))
    for k in range(3):
        centre = ds.images[n, :, o.y[:, k], o.x[:, k]]           # (N, 3)
        assert torch.allclose(centre, PALETTE[o.colour[:, k]], atol=1e-5)


def test_count_captions_match_objects():
    ds = make_scenes(n=600, n_objects=(1, 3), seed=3, paraphrases=False)
    words = {"one": 1, "two": 2, "three": 3}
    for i in range(len(ds)):
        total = sum(words[w] for w in ds.captions[i].replace(",", "").split() if w in words)
        assert total == int(ds.objects.count()[i]), ds.captions[i]
    assert set(ds.objects.count().tolist()) == {1, 2, 3}


def test_mismatch_fraction_really_mismatches():
    ds = make_scenes(n=2000, seed=4, mismatch_fraction=0.3)
    assert abs((~ds.matched).float().mean().item() - 0.3) < 0.005
    served, clean = np.array(ds.captions), np.array(ds.clean_captions)
    assert (served[ds.matched.numpy()] == clean[ds.matched.numpy()]).all()
    assert (served[~ds.matched.numpy()] != clean[~ds.matched.numpy()]).all()
    # a mismatched caption names a colour pair that is not the scene's own (order-free check)
    own = {(int(c0), int(c1)) for c0, c1 in ds.objects.colour[~ds.matched].tolist()}
    assert len(own) > 1


def test_missing_fraction_and_modality_masks():
    ds = make_scenes(n=2000, seed=5, missing_fraction=0.2)
    missing = (~ds.has_image) | (~ds.has_text)
    assert abs(missing.float().mean().item() - 0.2) < 0.005
    assert not ((~ds.has_image) & (~ds.has_text)).any()
    assert 0.3 < (~ds.has_image).sum().item() / missing.sum().item() < 0.7
    assert ds.images[~ds.has_image].abs().sum() == 0
    assert all(c == "" for c, h in zip(ds.captions, ds.has_text, strict=True) if not h)
    only_img = make_scenes(n=500, seed=5, missing_fraction=0.5, missing_modality="image")
    assert (~only_img.has_image).sum() == 250 and only_img.has_text.all()


@pytest.mark.parametrize("n, fraction", [(500, 0.1), (333, 0.25), (101, 0.5), (7, 0.3), (40, 1.0)])
def test_mismatch_fraction_is_the_share_of_unmatched_pairs_to_within_rounding(n, fraction):
    ds = make_scenes(n=n, n_objects=2, seed=11, mismatch_fraction=fraction)
    assert int((~ds.matched).sum()) == round(fraction * n)
    assert abs((~ds.matched).float().mean().item() - fraction) <= 0.5 / n
    served, clean = np.array(ds.captions), np.array(ds.clean_captions)
    assert (served[~ds.matched.numpy()] != clean[~ds.matched.numpy()]).all()
    assert set(served[~ds.matched.numpy()]) <= set(clean)  # a replacement is another scene's true caption


@pytest.mark.parametrize("modality", ["image", "text", "either"])
def test_missing_modality_masks_count_and_blank_what_is_missing(modality):
    n, fraction = 300, 0.3
    clean = make_scenes(n=n, n_objects=1, seed=12)
    ds = make_scenes(n=n, n_objects=1, seed=12, missing_fraction=fraction, missing_modality=modality)
    lost_image, lost_text = ~ds.has_image, ~ds.has_text
    assert int((lost_image | lost_text).sum()) == round(fraction * n) and not (lost_image & lost_text).any()
    assert {"image": not lost_text.any(), "text": not lost_image.any(), "either": lost_image.any() and lost_text.any()}[modality]
    assert ds.images[lost_image].abs().sum() == 0 and torch.equal(ds.images[~lost_image], clean.images[~lost_image])
    assert [c for c, h in zip(ds.captions, ds.has_text, strict=True) if not h] == [""] * int(lost_text.sum())
    assert [c for c, h in zip(ds.captions, ds.has_text, strict=True) if h] == \
        [c for c, h in zip(clean.captions, ds.has_text, strict=True) if h]
    assert ds.config["missing_modality"] == modality and f"missing_modality={modality!r}" in ds.describe()
    items = [ds[i] for i in range(n)]
    assert [it["has_text"] for it in items] == ds.has_text.tolist()


def test_missing_modality_caption_is_now_text():
    with pytest.raises(ValueError, match="missing_modality 'caption' is now called 'text'.*use 'image', 'text' or 'either'"):
        make_scenes(n=10, missing_fraction=0.5, missing_modality="caption")
    with pytest.raises(ValueError, match=r"missing_modality must be 'image', 'text' or 'either', got 'sound'"):
        Corruptions(missing_modality="sound")


@pytest.mark.parametrize("knobs", [dict(mismatch_fraction=0.3), dict(missing_fraction=0.4, missing_modality="text"),
                                   dict(image_noise=0.2), dict(typo_rate=0.3, omission_rate=0.2),
                                   dict(mismatch_fraction=0.2, missing_fraction=0.2, image_noise=0.1, typo_rate=0.1)])
def test_corruptions_come_after_generation_and_leave_the_clean_scenes_alone(knobs):
    clean = make_scenes(n=200, n_objects=(1, 3), seed=13)
    ds = make_scenes(n=200, n_objects=(1, 3), seed=13, **knobs)
    assert ds.clean_captions == clean.clean_captions and torch.equal(ds.relation, clean.relation)
    assert all(torch.equal(getattr(ds.objects, f), getattr(clean.objects, f)) for f in ("shape", "colour", "size", "x", "y", "present"))
    if not knobs.get("image_noise"):
        keep = ds.has_image
        assert torch.equal(ds.images[keep], clean.images[keep])


def test_corruptions_step_on_its_own():
    rng = np.random.default_rng(0)
    images = rng.random((20, 3, 4, 4)).astype(np.float32)
    captions = [f"a caption number {i % 5}" for i in range(20)]
    untouched = Corruptions().apply(images.copy(), captions, lambda: 1 / 0, rng)  # nothing to mismatch: never asks
    assert np.array_equal(untouched.images, images) and untouched.captions == captions and untouched.matched.all()
    assert untouched.present["image"].all() and untouched.present["text"].all()
    state = rng.bit_generator.state
    Corruptions().apply(images.copy(), captions, lambda: captions, rng)
    assert rng.bit_generator.state == state  # all knobs zero: no random numbers drawn
    matched, served = mismatch(captions, lambda: captions, 0.5, np.random.default_rng(1))
    assert (~matched).sum() == 10 and all(s != c for s, c, m in zip(served, captions, matched, strict=True) if not m)
    with pytest.raises(ValueError, match="all scenes have the same content"):
        mismatch(captions, lambda: ["same"] * 20, 0.1, np.random.default_rng(1))
    present = drop_modalities(20, 0.5, "either", np.random.default_rng(2))
    assert set(present) == {"image", "text"} and (~present["image"] | ~present["text"]).sum() == 10
    for name, value in [("mismatch_fraction", 1.5), ("typo_rate", -0.1), ("image_noise", 2.0)]:
        with pytest.raises(ValueError, match=name):
            Corruptions(**{name: value})


def test_image_noise_level():
    clean = make_scenes(n=400, seed=6)
    noisy = make_scenes(n=400, seed=6, image_noise=0.1)
    assert clean.captions == noisy.captions             # same scenes, only pixels change
    background = clean.images == 0
    # noise is clipped at 0 on black background: E[max(0, z)] = sigma / sqrt(2 pi)
    assert abs(noisy.images[background].mean().item() - 0.1 / np.sqrt(2 * np.pi)) < 0.003
    assert torch.equal(clean.images, make_scenes(n=400, seed=6, image_noise=0.0).images)


def test_typo_and_omission_rates():
    clean = make_scenes(n=1500, seed=7, paraphrases=False)
    dropped = make_scenes(n=1500, seed=7, paraphrases=False, omission_rate=0.3)
    kept = sum(len(c.split()) for c in dropped.captions) / sum(len(c.split()) for c in clean.captions)
    assert abs(kept - 0.7) < 0.02
    typo = make_scenes(n=1500, seed=7, paraphrases=False, typo_rate=0.2)
    pairs_ = [(a, b) for c, t in zip(clean.captions, typo.captions, strict=True) for a, b in zip(c.split(), t.split(), strict=True)]
    assert abs(np.mean([a != b for a, b in pairs_]) - 0.2) < 0.02
    assert typo.clean_captions == clean.captions


def test_swapped_captions_are_false(pairs):
    for kind in ("swap_attributes", "swap_relation"):
        negs = pairs.swapped_captions(kind)
        for i in range(0, 2000, 11):
            m = REL_RE.match(negs[i])
            col_a, shape_a, rel, col_b, shape_b = m.groups()
            truth = pairs.objects.records(i)
            if kind == "swap_relation":          # same objects, wrong relation on the pixels
                assert (col_a, shape_a) == (truth[0]["colour"], truth[0]["shape"])
                a = colour_centroid(pairs.images[i], col_a)
                b = colour_centroid(pairs.images[i], col_b)
                assert not relation_holds(rel, a, b)
            else:                                # colours swapped: the named object does not exist
                assert (col_a, shape_a) not in {(t["colour"], t["shape"]) for t in truth}
                assert rel == RELATIONS[int(pairs.relation[i])]
    counts = make_scenes(n=300, n_objects=(1, 3), seed=8, paraphrases=False)
    wrong = counts.swapped_captions("wrong_count")
    assert all(w != c for w, c in zip(wrong, counts.captions, strict=True))
    words = {"one": 1, "two": 2, "three": 3}
    totals = [sum(words.get(w, 0) for w in s.replace(",", "").split()) for s in wrong]
    assert all(t != int(n) for t, n in zip(totals, counts.objects.count(), strict=True))
    single = make_scenes(n=200, n_objects=1, seed=8)
    assert all(a != b for a, b in zip(single.swapped_captions("swap_attributes"), single.clean_captions, strict=True))
    with pytest.raises(ValueError, match="swap_relation"):
        single.swapped_captions("swap_relation")
    with pytest.raises(ValueError, match="unknown hard-negative"):
        single.swapped_captions("shuffle")


def test_split_is_disjoint_complete_and_leak_free():
    ds = make_scenes(n=3000, n_objects=1, seed=9, shapes=("circle",), colours=("red", "blue"))
    train, val, test = ds.split((0.8, 0.1, 0.1), seed=0)
    ids = [set(s.ids.tolist()) for s in (train, val, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert set.union(*ids) == set(range(3000))
    assert abs(len(train) - 2400) < 60 and abs(len(test) - 300) < 60
    # this dataset has many duplicate scenes; none may be shared between train and test
    train_images = {bytes(im.numpy().tobytes()) for im in train.images}
    assert not any(bytes(im.numpy().tobytes()) in train_images for im in test.images)
    assert torch.equal(train[0]["image"], ds.images[train[0]["index"]])
    again = ds.split((0.8, 0.1, 0.1), seed=0)[0]
    assert torch.equal(again.ids, train.ids)
    assert not torch.equal(ds.split((0.8, 0.1, 0.1), seed=1)[0].ids, train.ids)


def test_compositional_split_holds_out_combinations(pairs):
    holdout = default_holdout()
    train, val, test = pairs.compositional_split(seed=0)
    held = {(c, s) for c, s in holdout}

    def combos(ds):
        return [{(r["colour"], r["shape"]) for r in ds.objects.records(i)} for i in range(len(ds))]

    assert len(test) > 100 and all(c & held for c in combos(test))
    assert not any(c & held for c in combos(train) + combos(val))
    seen = set().union(*combos(train))
    assert {c for c, _ in seen} == set(COLOURS) and {s for _, s in seen} == set(pairs.config["shapes"])
    assert len(train) + len(val) + len(test) == len(pairs)


def test_describe_and_repr(pairs):
    text = pairs.describe()
    assert "2000 scenes" in text and "mismatch_fraction=0.0" in text and "(2000, 3, 32, 32)" in text
    assert "SceneDataset(n=2000" in repr(pairs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(colours=("red", "magenta")), "unknown colour 'magenta'"),
    (dict(shapes=("circle", "hexagon")), "unknown shape 'hexagon'"),
    (dict(mismatch_fraction=1.5), "mismatch_fraction must be a fraction in"),
    (dict(missing_fraction=-0.1), "missing_fraction"),
    (dict(typo_rate=2), "typo_rate"),
    (dict(image_size=-32), "image_size must be an int >= 24"),
    (dict(n=-5), "n must be a positive int"),
    (dict(n_objects=4), "n_objects must be in 1..3"),
    (dict(n_objects=(1, 2, 3)), "n_objects must be in 1..3"),
    (dict(n_objects=(3, 1)), "n_objects must be in 1..3"),
    (dict(caption_kind="poem"), "unknown caption_kind 'poem'"),
    (dict(n_objects=3, caption_kind="relation"), "'relation' needs n_objects=2"),
    (dict(image_noise=-1.0), "image_noise"),
    (dict(missing_modality="sound"), "missing_modality"),
])
def test_bad_input_raises_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_scenes(**{"n": 10, **kwargs})


def test_bad_split_fractions(pairs):
    with pytest.raises(ValueError, match="sum to 1"):
        pairs.split((0.8, 0.3, 0.1))
    with pytest.raises(ValueError, match="unknown holdout colour 'pink'"):
        pairs.compositional_split(holdout=[("pink", "circle")])


def test_show_scenes_draws_each_sample_with_its_caption(pairs):
    import matplotlib.pyplot as plt

    from cmlearn.data.show import show_samples, show_scenes
    fig = show_samples(pairs.subset(range(6)))
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes if ax.images]
    assert titles == pairs.captions[:6]
    plt.close(fig)
    with pytest.raises(ValueError, match="out of range"):
        show_scenes(pairs, indices=[5000])
    with pytest.raises(ValueError, match="does not know list"):
        show_samples([1, 2])


def test_captions_tokenize_and_collate_with_the_text_module(pairs):
    from torch.utils.data import DataLoader

    from cmlearn.data.text import CaptionCollator, CaptionTokenizer
    train, _, _ = pairs.split((0.8, 0.1, 0.1), seed=0)
    tokenizer = CaptionTokenizer.fit(train.captions)
    assert {"left", "right", "above", "below", "circle", "purple"} <= set(tokenizer.vocab)
    batch = next(iter(DataLoader(train, batch_size=16, collate_fn=CaptionCollator(tokenizer))))
    assert batch["image"].shape == (16, 3, 32, 32) and batch["input_ids"].shape[0] == 16
    assert batch["attention_mask"].sum(dim=1).tolist() == [len(c.split()) for c in batch["caption"]]


def test_list_captions_and_their_swapped_captions():
    ds = make_scenes(n=400, n_objects=(2, 3), caption_kind="list", seed=10, paraphrases=False)

    def objects_named(caption):
        return sorted(tuple(p.split()[-2:]) for p in re.split(r", | and ", caption))

    negatives = ds.swapped_captions("swap_attributes")
    for i in range(len(ds)):
        truth = sorted((r["colour"], r["shape"]) for r in ds.objects.records(i))
        assert objects_named(ds.captions[i]) == truth
        assert objects_named(negatives[i]) != truth, (negatives[i], truth)


def test_centred_object_crops_put_the_object_in_the_middle():
    scenes = make_scenes(n=40, n_objects=1, image_size=32, seed=3)
    crops = scenes.centred_object_crops(16)
    assert crops.shape == (40, 3, 16, 16) and crops.dtype == torch.float32
    # By hand: roll so that the object's centre (x, y) lands on (16, 16), keep rows/cols 8..23.
    for i in range(40):
        y, x = int(scenes.objects.y[i, 0]), int(scenes.objects.x[i, 0])
        expected = torch.roll(scenes.images[i], (16 - y, 16 - x), dims=(1, 2))[:, 8:24, 8:24]
        assert torch.equal(crops[i], expected)
    # The object is drawn on a constant background: the centre pixel differs from the corner pixel.
    assert (crops[:, :, 8, 8] != crops[:, :, 0, 0]).any(dim=1).float().mean() > 0.9


def test_centred_object_crops_jitter_is_bounded_and_seeded():
    scenes = make_scenes(n=30, n_objects=1, image_size=32, seed=4)
    a = scenes.centred_object_crops(16, jitter=2, generator=torch.Generator().manual_seed(0))
    b = scenes.centred_object_crops(16, jitter=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and not torch.equal(a, scenes.centred_object_crops(16))
    shifts = torch.randint(-2, 3, (30, 2), generator=torch.Generator().manual_seed(0))
    for i in range(30):
        y, x = int(scenes.objects.y[i, 0]), int(scenes.objects.x[i, 0])
        rolled = torch.roll(scenes.images[i], (16 - y + int(shifts[i, 0]), 16 - x + int(shifts[i, 1])), dims=(1, 2))
        assert torch.equal(a[i], rolled[:, 8:24, 8:24])


@pytest.mark.parametrize("kwargs, message", [({"crop": 0}, "crop must be"), ({"crop": 33}, "crop must be"),
                                             ({"crop": 8, "jitter": -1}, "jitter must be")])
def test_centred_object_crops_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_scenes(n=5, n_objects=1, seed=0).centred_object_crops(**kwargs)
