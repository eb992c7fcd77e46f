"""Vocabulary, object records and caption generation for :mod:`cmlearn.data.scenes`.

Captions, swapped captions (hard negatives for a scene) and caption corruption (typos,
omissions) are all built from the :class:`SceneObjects` records that were rendered, so a
caption is true by construction and a swapped caption is false by construction.

Used in chapters 2, 3, 4, 5, 8 and 10; through :mod:`cmlearn.data.scenes`
wherever scenes are made.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, fields

import numpy as np
import torch

__all__ = ["SHAPES", "COLOURS", "SIZES", "RELATIONS", "INVERSE_RELATION", "CAPTION_KINDS",
           "SceneObjects", "caption_text", "n_templates", "swapped_captions", "corrupt"]

SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = {                       # RGB in [0, 1], far apart so 32x32 renders are unambiguous
    "red": (0.92, 0.12, 0.10),
    "green": (0.15, 0.75, 0.15),
    "blue": (0.15, 0.30, 1.00),
    "yellow": (0.95, 0.90, 0.10),
    "purple": (0.62, 0.15, 0.85),
    "cyan": (0.10, 0.85, 0.90),
}
SIZES = ("small", "large")
RELATIONS = ("left of", "right of", "above", "below")
INVERSE_RELATION = (1, 0, 3, 2)
CAPTION_KINDS = ("single", "relation", "count", "list")
NUMBER_WORDS = ("zero", "one", "two", "three")
_COLOUR_NAMES = tuple(COLOURS)

_TEMPLATES = {
    "single": ("a {a}", "there is a {a}", "a picture of a {a}", "one {a} on a dark background"),
    "relation": ("a {a} {rel} a {b}", "the {a} is {rel} the {b}", "there is a {a} {rel} a {b}",
                 "a {b} {inv} a {a}", "the {b} is {inv} the {a}"),
    "count": ("{list}", "there {be} {list}", "a picture with {list}", "the image shows {list}"),
    "list": ("{list}", "there is {list}", "a picture with {list}", "the image shows {list}"),
}


@dataclass
class SceneObjects:
    """Per-object attributes of N scenes with up to K objects; absent slots hold -1.

    Attributes:
        shape: (N, K) long, index into :data:`SHAPES`.
        colour: (N, K) long, index into :data:`COLOURS` (insertion order).
        size: (N, K) long, index into :data:`SIZES` (0 small, 1 large).
        x, y: (N, K) long, object centre in pixels (x to the right, y downwards).
        radius: (N, K) long, half-width of the object's bounding box in pixels.
        present: (N, K) bool, which slots hold an object.
    """

    shape: torch.Tensor
    colour: torch.Tensor
    size: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    radius: torch.Tensor
    present: torch.Tensor

    def __len__(self) -> int:
        return self.shape.shape[0]

    def subset(self, idx) -> SceneObjects:
        return SceneObjects(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def count(self) -> torch.Tensor:
        """(N,) number of objects per scene."""
        return self.present.sum(dim=1)

    def content_keys(self) -> np.ndarray:
        """(N,) int64 ids equal for scenes with identical records (hence identical clean images)."""
        table = torch.stack([self.shape, self.colour, self.size, self.x, self.y], 2).flatten(1)
        _, inverse = np.unique(table.numpy(), axis=0, return_inverse=True)
        return inverse.reshape(-1).astype(np.int64)

    def records(self, i: int) -> list[dict]:
        """Objects of scene `i` as readable dicts (shape, colour, size names; x, y, radius)."""
        return [dict(shape=SHAPES[int(self.shape[i, k])], colour=_COLOUR_NAMES[int(self.colour[i, k])],
                     size=SIZES[int(self.size[i, k])], x=int(self.x[i, k]), y=int(self.y[i, k]),
                     radius=int(self.radius[i, k]))
                for k in range(self.shape.shape[1]) if bool(self.present[i, k])]


def n_templates(kind: str) -> int:
    """Number of paraphrase templates for a caption kind."""
    return len(_TEMPLATES[kind])


def _phrase(size: int, colour: int, shape: int, mention_size: bool) -> str:
    if mention_size:
        return f"{SIZES[size]} {_COLOUR_NAMES[colour]} {SHAPES[shape]}"
    return f"{_COLOUR_NAMES[colour]} {SHAPES[shape]}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _count_phrase(shapes: list[int], override: dict | None = None) -> tuple[str, int]:
    counts: dict[int, int] = {}
    for s in shapes:
        counts[s] = counts.get(s, 0) + 1
    counts.update(override or {})
    parts = [f"{NUMBER_WORDS[c]} {SHAPES[s]}{'s' if c > 1 else ''}" for s, c in sorted(counts.items())]
    return _join(parts), sum(counts.values())


def _caption(kind, tpl, shape, colour, size, present, rel, mention_size):
    ks = [k for k, p in enumerate(present) if p]
    if kind == "single":
        return tpl.format(a=_phrase(size[0], colour[0], shape[0], mention_size))
    if kind == "relation":
        return tpl.format(a=_phrase(size[0], colour[0], shape[0], mention_size),
                          b=_phrase(size[1], colour[1], shape[1], mention_size),
                          rel=RELATIONS[rel], inv=RELATIONS[INVERSE_RELATION[rel]])
    if kind == "count":
        text, total = _count_phrase([shape[k] for k in ks])
        return tpl.format(list=text, be="are" if total > 1 else "is")
    return tpl.format(list=_join(["a " + _phrase(size[k], colour[k], shape[k], mention_size) for k in ks]))


def caption_text(objects: SceneObjects, relation: torch.Tensor, kind: str, template: np.ndarray,
                 mention_size: bool) -> list[str]:
    """True caption of every scene using paraphrase template index `template[i]`."""
    tpls = _TEMPLATES[kind]
    template = np.asarray(template).tolist()
    present = objects.present.numpy()
    if kind in ("single", "relation"):            # fast path: look phrases up by a flat index
        table = [_phrase(z, c, s, mention_size) for z in range(len(SIZES))
                 for c in range(len(_COLOUR_NAMES)) for s in range(len(SHAPES))]
        flat = ((objects.size.numpy() * len(_COLOUR_NAMES) + objects.colour.numpy()) * len(SHAPES)
                + objects.shape.numpy())
        if kind == "single":
            return [tpls[t].format(a=table[p]) for t, p in zip(template, flat[:, 0].tolist(), strict=True)]
        rel = relation.numpy()
        inv = np.asarray(INVERSE_RELATION)[rel]
        return [tpls[t].format(a=table[a], b=table[b], rel=RELATIONS[r], inv=RELATIONS[i])
                for t, a, b, r, i in zip(template, flat[:, 0].tolist(), flat[:, 1].tolist(),
                                         rel.tolist(), inv.tolist(), strict=True)]
    cols = zip(objects.shape.numpy().tolist(), objects.colour.numpy().tolist(),
               objects.size.numpy().tolist(), present.tolist(), relation.numpy().tolist(), template, strict=True)
    return [_caption(kind, tpls[t], s, c, z, p, r, mention_size) for s, c, z, p, r, t in cols]


def _named_objects(ks, shape, colour, size, mention_size) -> list[tuple]:
    """What a caption says about the objects: sorted (shape, colour[, size]) tuples."""
    return sorted((shape[k], colour[k], size[k]) if mention_size else (shape[k], colour[k]) for k in ks)


def swapped_captions(ds, kind: str, rng: np.random.Generator) -> list[str]:
    """False captions that differ from the truth in one way (see SceneDataset.swapped_captions)."""
    ck = ds.config["caption_kind"]
    mention = ds.config["mention_size"]
    allowed = {"swap_attributes": ("single", "relation", "list"), "swap_relation": ("relation",),
               "wrong_count": ("count",)}
    if kind not in allowed:
        raise ValueError(f"unknown hard-negative kind {kind!r}; expected one of {tuple(allowed)}")
    if ck not in allowed[kind]:
        raise ValueError(f"hard negative {kind!r} needs caption_kind in {allowed[kind]}, "
                         f"this dataset has {ck!r}")
    vocab = [_COLOUR_NAMES.index(c) for c in ds.config["colours"]]
    tpl = _TEMPLATES[ck][0]
    o = ds.objects
    out = []
    for shape, colour, size, present, rel in zip(o.shape.numpy().tolist(), o.colour.numpy().tolist(),
                                                 o.size.numpy().tolist(), o.present.numpy().tolist(),
                                                 ds.relation.numpy().tolist(), strict=True):
        ks = [k for k, p in enumerate(present) if p]
        colour = list(colour)
        if kind == "swap_relation":
            rel = INVERSE_RELATION[rel]
        elif kind == "wrong_count":
            s = shape[ks[int(rng.integers(len(ks)))]]
            true = sum(shape[k] == s for k in ks)
            wrong = {1: 2, 3: 2}.get(true, int(rng.choice([1, 3])))
            text, total = _count_phrase([shape[k] for k in ks], {s: wrong})
            out.append(tpl.format(list=text, be="are" if total > 1 else "is"))
            continue
        else:
            truth = _named_objects(ks, shape, colour, size, mention)
            pair = next(((a, b) for a in ks for b in ks if a < b and colour[a] != colour[b]), None)
            if pair is not None:
                a, b = pair
                colour[a], colour[b] = colour[b], colour[a]
                if _named_objects(ks, shape, colour, size, mention) == truth:
                    colour[a], colour[b] = colour[b], colour[a]   # same scene: recolour instead
                    pair = None
            if pair is None:
                colour[ks[0]] = vocab[(vocab.index(colour[ks[0]]) + 1) % len(vocab)]
        out.append(_caption(ck, tpl, shape, colour, size, present, rel, mention))
    return out


def _typo(word: str, rng: np.random.Generator) -> str:
    op = int(rng.integers(3)) if len(word) > 2 else 1
    i = int(rng.integers(len(word) - (op == 0)))
    if op == 0 and word[i] != word[i + 1]:             # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 2:                                          # drop a character
        return word[:i] + word[i + 1:]
    letters = [ch for ch in string.ascii_lowercase if ch != word[i]]
    return word[:i] + letters[int(rng.integers(len(letters)))] + word[i + 1:]


def corrupt(caption: str, typo_rate: float, omission_rate: float, rng: np.random.Generator) -> str:
    """Drop each word with prob. `omission_rate`, else misspell it with prob. `typo_rate`.

    At least one word is always kept. Each typo changes the word (swap, drop or replace a letter).
    """
    words = caption.split()
    drop = rng.random(len(words)) < omission_rate
    if drop.all():
        drop[int(rng.integers(len(words)))] = False
    typo = rng.random(len(words)) < typo_rate
    return " ".join(_typo(w, rng) if t else w for w, d, t in zip(words, drop, typo, strict=True) if not d)
