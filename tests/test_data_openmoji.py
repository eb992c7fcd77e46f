"""The OpenMoji loader: counts, both languages, deterministic and leak-free splits, the cache, bad input."""

import time
import warnings

import numpy as np
import pytest
import torch

from cmlearn.data import openmoji
from cmlearn.data.openmoji import cached_tensor, emoji_catalog, load_openmoji, render_emoji, split_emoji


@pytest.fixture(scope="module")
def catalog():
    return emoji_catalog()


def test_catalog_keeps_about_1900_named_emoji_in_nine_groups(catalog):
    assert 1800 <= len(catalog) <= 2100
    assert catalog["hexcode"].is_unique and catalog["emoji"].is_unique
    assert set(catalog["group"]) == {"Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Activities",
                                     "Travel & Places", "Objects", "Symbols", "Flags"}
    assert catalog["subgroup"].nunique() >= 90
    assert (catalog["name"].str.len() > 0).all() and (catalog["name_zh"].str.len() > 0).all()
    dog = catalog.set_index("hexcode").loc["1F436"]
    assert dog["name"] == "dog face" and dog["name_zh"] == "狗脸" and dog["subgroup"] == "animal-mammal"
    assert (catalog["skin_tone"] == 0).all()  # variants="drop"


def test_skin_tones_are_kept_as_an_attribute_on_request(catalog):
    with_tones = emoji_catalog("skin_tone")
    assert set(with_tones["skin_tone"]) == {0, 1, 2, 3, 4, 5}
    assert len(with_tones[with_tones["skin_tone"] == 0]) == len(catalog)
    toned = with_tones[with_tones["skin_tone"] == 3].iloc[0]
    assert chr(0x1F3FD) in toned["emoji"]  # medium skin tone
    with pytest.raises(ValueError, match="expected variants one of"):
        emoji_catalog("keep")


def test_renders_are_rgb_on_white(catalog):
    images = render_emoji(catalog["svg"].tolist()[:3], size=32)
    assert images.shape == (3, 3, 32, 32) and images.dtype == torch.uint8
    corners = images[:, :, 0, 0].float()
    assert (corners == 255).all()  # white background
    assert (images.float().std(dim=(1, 2, 3)) > 20).all()  # a drawing, not a blank page
    with pytest.raises(ValueError, match="between 8 and 1024"):
        render_emoji(catalog["svg"].tolist()[:1], size=4)


def test_splits_are_deterministic_and_subgroup_splits_hold_out_whole_subgroups(catalog):
    a_train, a_test = split_emoji(catalog, "random", 0.2, seed=3)
    b_train, b_test = split_emoji(catalog, "random", 0.2, seed=3)
    assert np.array_equal(a_test, b_test) and np.array_equal(a_train, b_train)
    assert len(a_test) == round(0.2 * len(catalog)) and not set(a_train) & set(a_test)
    assert not np.array_equal(split_emoji(catalog, "random", 0.2, seed=4)[1], a_test)
    train, test = split_emoji(catalog, "subgroup", 0.2, seed=0)
    assert len(train) + len(test) == len(catalog) and not set(train) & set(test)
    assert not set(catalog["subgroup"].iloc[train]) & set(catalog["subgroup"].iloc[test])
    assert 0.1 < len(test) / len(catalog) < 0.3
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="test_fraction"):
            split_emoji(catalog, "random", bad)
    with pytest.raises(ValueError, match="by='random' or by='subgroup'"):
        split_emoji(catalog, "group", 0.2)


def test_cache_is_reused_and_a_corrupt_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("CMLEARN_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(6.0).view(3, 2)

    first = cached_tensor("features", "model=x size=2", compute, expected_rows=3)
    again = cached_tensor("features", "model=x size=2", compute, expected_rows=3)
    assert torch.equal(first, again) and len(calls) == 1  # the second call read the file
    other = cached_tensor("features", "model=y size=2", compute, expected_rows=3)
    assert len(calls) == 2 and torch.equal(other, first)  # another key, another file
    (path,) = [p for p in tmp_path.glob("features-*.pt")][:1]
    path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="rebuilding the cache file"):
        rebuilt = cached_tensor("features", "model=x size=2", compute, expected_rows=3)
    assert torch.equal(rebuilt, first) and len(calls) == 3
    with pytest.warns(UserWarning, match="expected a tensor of 5 rows"):
        cached_tensor("features", "model=x size=2", compute, expected_rows=5)
    assert not list(tmp_path.glob("*.tmp"))


def test_load_openmoji_caches_its_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("CMLEARN_CACHE", str(tmp_path))
    started = time.perf_counter()
    cold = load_openmoji(size=16)
    cold_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good cache file is read without complaint
        warm = load_openmoji(size=16)
    warm_seconds = time.perf_counter() - started
    assert torch.equal(cold.images, warm.images) and cold.images.shape == (len(cold), 3, 16, 16)
    assert len(list(tmp_path.glob("openmoji-renders-*.pt"))) == 1
    assert warm_seconds < cold_seconds  # rendering 1,900 SVGs is the slow part
    assert warm.names("zh")[0] and warm.names("en")[0] == "grinning face"
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        warm.names("fr")
    sub = warm.subset([2, 0])
    assert len(sub) == 2 and torch.equal(sub.images[1], warm.images[0]) and sub.float_images().max() <= 1.0


def test_missing_packages_name_the_extra_to_install(monkeypatch):
    real_import = openmoji.importlib.import_module

    def fake_import(name, *args):
        if name == "resvg_py":
            raise ImportError("no resvg")
        return real_import(name, *args)

    monkeypatch.setattr(openmoji.importlib, "import_module", fake_import)
    with pytest.raises(ImportError, match=r"\['resvg-py'\].*cmlearn\[realdata\]"):
        emoji_catalog()
