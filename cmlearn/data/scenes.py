"""Synthetic scenes: 1-3 coloured shapes on a canvas, paired with captions.

The smallest image-text dataset whose captions can be checked against the
pixels: every caption is generated from the same object records that were
rendered, relations are geometrically true, and every knob from the book's
themes (how correlated the modalities are, how much is missing, how noisy)
is an argument of :func:`make_scenes`.

Used in chapter 1 (``01_background``), chapter 2 (``02_modalities``), chapter 3 (``03_alignment``),
chapter 5 (``05_multimodal_knowledge``), chapter 6 (``06_framework``), chapter 8
(``08_weak_pairs_and_generation``) and chapter 10 (``10_evaluation``).

Example:
    >>> from cmlearn.data.scenes import make_scenes
    >>> ds = make_scenes(n=6000, n_objects=2, image_size=32, seed=0)
    >>> ds.images.shape            # (N, 3, H, W), float in [0, 1]
    torch.Size([6000, 3, 32, 32])
    >>> train, val, test = ds.split((0.8, 0.1, 0.1), seed=0)

Pixels come from :mod:`cmlearn.data.scene_render` (vectorized sprite pasting), words
from :mod:`cmlearn.data.scene_text` (templates, swapped captions, typos), and the corruption
knobs are applied by :mod:`cmlearn.data.scene_corruptions` after the clean scenes are made.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from cmlearn.data import scene_text as text_
from cmlearn.data.common import check_fraction, check_names, group_split
from cmlearn.data.scene_corruptions import Corruptions
from cmlearn.data.scene_render import object_radii, place_objects, render_objects, render_sprites
from cmlearn.data.scene_text import CAPTION_KINDS, COLOURS, RELATIONS, SHAPES, SIZES, SceneObjects

__all__ = ["SHAPES", "DEFAULT_SHAPES", "COLOURS", "SIZES", "RELATIONS", "CAPTION_KINDS",
           "SceneObjects", "SceneDataset", "make_scenes", "default_holdout", "render_sprites",
           "place_objects", "render_objects", "object_radii", "Corruptions"]

DEFAULT_SHAPES = ("circle", "square", "triangle", "star")


def default_holdout(shapes=DEFAULT_SHAPES, colours=tuple(COLOURS)) -> list[tuple[str, str]]:
    """(colour, shape) pairs held out by :meth:`SceneDataset.compositional_split`.

    One combination per colour, cycling through shapes, so every colour and every
    shape still occurs in training - only the *combinations* are new at test time.
    """
    return [(c, shapes[i % len(shapes)]) for i, c in enumerate(colours)]


class SceneDataset(Dataset):
    """Rendered scenes with captions, object records and modality masks.

    Attributes:
        images: (N, 3, H, W) float tensor in [0, 1]; zeros where ``has_image`` is False.
        captions: list of N strings as served (after mismatch, typos, omissions); "" where
            ``has_text`` is False.
        clean_captions: list of N true captions of the rendered scene (same paraphrase, no noise).
        objects: :class:`SceneObjects`, per-object attribute tensors (N, K).
        relation: (N,) long, index into :data:`RELATIONS` ("object 0 <rel> object 1"), -1 if none.
        matched: (N,) bool, False where the caption was taken from another scene.
        has_image, has_text: (N,) bool modality-presence masks (the model's mask keys "image" and
            "text"; ``missing_modality`` names them so).
        ids: (N,) long, index of each scene in the dataset it was generated as (stable across
            splits, so subsets can be checked for overlap).
        config: the knobs :func:`make_scenes` was called with.
    """

    def __init__(self, images, captions, clean_captions, objects, relation, matched,
                 has_image, has_text, ids, config):
        self.images = images
        self.captions = list(captions)
        self.clean_captions = list(clean_captions)
        self.objects = objects
        self.relation = relation
        self.matched = matched
        self.has_image = has_image
        self.has_text = has_text
        self.ids = ids
        self.config = dict(config)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> dict:
        """One sample: dict(image=(3, H, W), caption=str, index=int, matched, has_image, has_text)."""
        return dict(image=self.images[i], caption=self.captions[i], index=int(self.ids[i]),
                    matched=bool(self.matched[i]), has_image=bool(self.has_image[i]),
                    has_text=bool(self.has_text[i]))

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    def subset(self, indices) -> SceneDataset:
        """A new SceneDataset holding the scenes at `indices` (tensor views / list copies)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        pick = idx.tolist()
        return SceneDataset(self.images[idx], [self.captions[i] for i in pick],
                            [self.clean_captions[i] for i in pick], self.objects.subset(idx),
                            self.relation[idx], self.matched[idx], self.has_image[idx],
                            self.has_text[idx], self.ids[idx], self.config)

    def content_keys(self) -> np.ndarray:
        """(N,) int ids; two scenes share an id iff their object records are identical."""
        return self.objects.content_keys()

    def split(self, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[SceneDataset, ...]:
        """Random disjoint subsets with the given size fractions (must sum to 1).

        Scenes with identical object records (hence identical clean images) always land in
        the same subset, so no test image also appears in training.
        """
        return tuple(self.subset(ix) for ix in group_split(self.content_keys(), fractions, seed))

    def compositional_split(self, holdout=None, val_fraction: float = 0.1, seed: int = 0):
        """Split so that some (colour, shape) combinations are never seen in training.

        Args:
            holdout: list of (colour, shape) pairs; default :func:`default_holdout` for this
                dataset's vocabulary.
            val_fraction: fraction of the non-held-out scenes kept for validation.
            seed: seed of the train/val shuffle.

        Returns:
            (train, val, test): train and val contain no held-out combination at all; test
            holds every scene containing at least one.
        """
        check_fraction("val_fraction", val_fraction)
        shapes, colours = self.config["shapes"], self.config["colours"]
        if holdout is None:
            holdout = default_holdout(shapes, colours)
        held = torch.zeros(len(self), dtype=torch.bool)
        for pair in holdout:
            if len(pair) != 2:
                raise ValueError(f"holdout entries must be (colour, shape) pairs, got {pair!r}")
            c, s = pair
            check_names("holdout colour", [c], colours)
            check_names("holdout shape", [s], shapes)
            hit = (self.objects.colour == COLOURS_INDEX[c]) & (self.objects.shape == SHAPES.index(s))
            held |= (hit & self.objects.present).any(dim=1)
        seen = torch.nonzero(~held).flatten().numpy()
        keys = self.content_keys()[seen]
        tr, va = group_split(keys, (1.0 - val_fraction, val_fraction), seed)
        return self.subset(seen[tr]), self.subset(seen[va]), self.subset(torch.nonzero(held).flatten())

    def swapped_captions(self, kind: str, seed: int = 0) -> list[str]:
        """A false caption per scene that differs from the truth in exactly one way.

        Hard negatives made from the scene records (in-batch hard negatives for matching
        losses are :func:`cmlearn.contrastive.hard_negatives`, a different thing).

        Args:
            kind: "swap_attributes" (colours of two objects exchanged; for one object, a
                different colour), "swap_relation" (relation replaced by its opposite) or
                "wrong_count" (one shape's count off by one).
            seed: seed for the random choices some kinds make.

        Returns:
            list of N captions, each false for its scene.
        """
        return text_.swapped_captions(self, kind, np.random.default_rng(seed))

    def centred_object_crops(self, crop: int, jitter: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
        """The images with their first object moved to the centre, cut to the central crop × crop pixels.

        Each image is rolled (cyclically shifted) by (H/2 − y, W/2 − x), the offset from its first object's
        centre (x, y) to the image centre, plus a random shift of up to ±``jitter`` pixels per axis, and then
        the central ``crop`` × ``crop`` window is kept. Meant for one-object scenes (chapter 8, assignment 5),
        where it gives small images whose content is only the object: generative models then spend their
        capacity on colour and shape rather than on where the object is.

        Args:
            crop: side of the output, 1 to the image size.
            jitter: largest random shift in pixels (0: exactly centred, no random numbers drawn).
            generator: for the random shifts.

        Returns:
            (N, 3, crop, crop) float tensor; ``self`` is not changed.
        """
        size = self.image_size
        if not isinstance(crop, int) or not 1 <= crop <= size:
            raise ValueError(f"crop must be an int from 1 to the image size {size}, got {crop!r}")
        if not isinstance(jitter, int) or jitter < 0:
            raise ValueError(f"jitter must be an int >= 0, got {jitter!r}")
        if len(self) == 0:
            raise ValueError("cannot crop an empty dataset")
        rows = size // 2 - self.objects.y[:, 0]  # (N,)
        cols = size // 2 - self.objects.x[:, 0]
        if jitter:
            shifts = torch.randint(-jitter, jitter + 1, (len(self), 2), generator=generator)  # (N, 2)
            rows, cols = rows + shifts[:, 0], cols + shifts[:, 1]
        rolled = torch.stack([torch.roll(image, (int(r), int(c)), dims=(1, 2))
                              for image, r, c in zip(self.images, rows, cols, strict=True)])  # (N, 3, H, W)
        low = (size - crop) // 2
        return rolled[:, :, low:low + crop, low:low + crop].contiguous()

    def describe(self) -> str:
        """Multi-line summary of sizes and knobs."""
        c = self.config
        lines = [f"SceneDataset: {len(self)} scenes, images {tuple(self.images.shape)} (N, C, H, W)",
                 f"  objects per scene: {c['n_objects']}, caption kind: {c['caption_kind']}, "
                 f"paraphrases: {c['paraphrases']}",
                 f"  shapes: {', '.join(c['shapes'])}",
                 f"  colours: {', '.join(c['colours'])}; sizes: {', '.join(SIZES)}",
                 f"  mismatched captions: {int((~self.matched).sum())} "
                 f"(mismatch_fraction={c['mismatch_fraction']})",
                 f"  missing image: {int((~self.has_image).sum())}, missing caption: "
                 f"{int((~self.has_text).sum())} (missing_fraction={c['missing_fraction']}, "
                 f"missing_modality={c['missing_modality']!r})",
                 f"  image_noise={c['image_noise']}, typo_rate={c['typo_rate']}, "
                 f"omission_rate={c['omission_rate']}, seed={c['seed']}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        c = self.config
        return (f"SceneDataset(n={len(self)}, image_size={c['image_size']}, n_objects={c['n_objects']}, "
                f"caption_kind={c['caption_kind']!r}, mismatch_fraction={c['mismatch_fraction']}, "
                f"missing_fraction={c['missing_fraction']}, image_noise={c['image_noise']}, seed={c['seed']})")


COLOURS_INDEX = {name: i for i, name in enumerate(COLOURS)}


def _sample_objects(rng, n, n_objects, caption_kind, shape_ids, colour_ids, image_size):
    lo, hi = n_objects
    k = hi
    count = rng.integers(lo, hi + 1, size=n)
    present = np.arange(k)[None, :] < count[:, None]
    shape = shape_ids[rng.integers(0, len(shape_ids), size=(n, k))]
    colour = colour_ids[rng.integers(0, len(colour_ids), size=(n, k))]
    if caption_kind == "relation":      # the two objects differ in shape and in colour
        step = rng.integers(1, len(shape_ids), size=n)
        shape[:, 1] = shape_ids[(np.searchsorted(shape_ids, shape[:, 0]) + step) % len(shape_ids)]
        step = rng.integers(1, len(colour_ids), size=n)
        colour[:, 1] = colour_ids[(np.searchsorted(colour_ids, colour[:, 0]) + step) % len(colour_ids)]
    size = rng.integers(0, 2, size=(n, k))
    small, large = object_radii(image_size)
    radius = np.where(size == 1, large, small)
    relation = rng.integers(0, 4, size=n) if caption_kind == "relation" else np.full(n, -1)
    x, y = place_objects(rng, radius, present, relation, image_size)
    fill = lambda a: torch.from_numpy(np.where(present, a, -1).astype(np.int64))  # noqa: E731
    objects = SceneObjects(shape=fill(shape), colour=fill(colour), size=fill(size), x=fill(x),
                           y=fill(y), radius=fill(radius), present=torch.from_numpy(present))
    return objects, torch.from_numpy(relation.astype(np.int64))


def make_scenes(n: int = 6000, n_objects=2, image_size: int = 32, seed: int = 0, *,
                caption_kind: str = "auto", shapes=DEFAULT_SHAPES, colours=tuple(COLOURS),
                paraphrases: bool = True, mention_size=None, mismatch_fraction: float = 0.0,
                missing_fraction: float = 0.0, missing_modality: str = "either",
                image_noise: float = 0.0, typo_rate: float = 0.0,
                omission_rate: float = 0.0) -> SceneDataset:
    """Generate `n` captioned scenes, deterministically from `seed`.

    Two steps, both drawing from one generator seeded with `seed`: clean scenes are generated
    (objects sampled, rendered and captioned), then the last six knobs corrupt them
    (:class:`~cmlearn.data.scene_corruptions.Corruptions`, which documents their order).

    Args:
        n: number of scenes (> 0).
        n_objects: objects per scene, an int in 1..3 or an inclusive range (lo, hi).
        image_size: canvas side H = W in pixels (>= 24; 32 default, 64 for more detail).
        seed: everything (objects, positions, templates, knobs) follows from it.
        caption_kind: "single" (one object: "a small red circle"), "relation" (two objects:
            "a red circle left of a blue square"), "count" ("two circles and one star"),
            "list" ("a red circle and a blue square"), or "auto" (single for 1 object,
            relation for 2, count for 3 or a range).
        shapes: subset of :data:`SHAPES`.
        colours: subset of :data:`COLOURS`.
        paraphrases: draw one of several templates per caption (False: always the first).
        mention_size: say "small"/"large" in object phrases (default: only for "single").
        mismatch_fraction: fraction of scenes whose caption is replaced by the caption of
            another scene with different content (partly correlated modalities, section 5.2.1).
        missing_fraction: fraction of scenes missing a modality (image zeroed or caption "").
        missing_modality: which one goes missing: "image", "text" or "either" (random).
        image_noise: std of Gaussian pixel noise (result clipped to [0, 1]).
        typo_rate: per-word probability of a character typo in served captions.
        omission_rate: per-word probability that a word is dropped from served captions.

    Returns:
        :class:`SceneDataset` with images (n, 3, image_size, image_size).

    Raises:
        ValueError: on unknown names or impossible knob values, naming the value and what
            was expected.
    """
    lo, hi, caption_kind, shapes, colours = _check_generation(n, n_objects, image_size, caption_kind, shapes, colours)
    corruptions = Corruptions(mismatch_fraction, missing_fraction, missing_modality, image_noise, typo_rate, omission_rate)
    if mention_size is None:
        mention_size = caption_kind == "single"

    rng = np.random.default_rng(seed)
    objects, relation, images, clean = _generate(rng, n, (lo, hi), image_size, caption_kind, shapes, colours,
                                                 paraphrases, mention_size)
    canonical = lambda: text_.caption_text(objects, relation, caption_kind, np.zeros(n, np.int64), mention_size)  # noqa: E731
    out = corruptions.apply(images, clean, canonical, rng)

    config = dict(n=n, n_objects=n_objects, image_size=image_size, seed=seed, caption_kind=caption_kind,
                  shapes=shapes, colours=colours, paraphrases=paraphrases, mention_size=mention_size,
                  mismatch_fraction=mismatch_fraction, missing_fraction=missing_fraction,
                  missing_modality=missing_modality, image_noise=image_noise, typo_rate=typo_rate,
                  omission_rate=omission_rate)
    return SceneDataset(torch.from_numpy(out.images), out.captions, clean, objects, relation,
                        torch.from_numpy(out.matched), torch.from_numpy(out.present["image"]),
                        torch.from_numpy(out.present["text"]), torch.arange(n), config)


def _check_generation(n, n_objects, image_size, caption_kind, shapes, colours):
    """Check the generation arguments of make_scenes; return (lo, hi, caption_kind, shapes, colours) resolved."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 24:
        raise ValueError(f"image_size must be an int >= 24 (32 default, 64 option), got {image_size!r}")
    bounds = (n_objects, n_objects) if isinstance(n_objects, (int, np.integer)) else tuple(np.ravel(n_objects))
    if len(bounds) != 2 or not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in bounds) \
            or not 1 <= bounds[0] <= bounds[1] <= 3:
        raise ValueError(f"n_objects must be in 1..3 or a range (lo, hi) within 1..3, got {n_objects!r}")
    lo, hi = int(bounds[0]), int(bounds[1])
    if caption_kind == "auto":
        caption_kind = "single" if hi == 1 else "relation" if lo == hi == 2 else "count"
    if caption_kind not in CAPTION_KINDS:
        raise ValueError(f"unknown caption_kind {caption_kind!r}; expected 'auto' or one of {CAPTION_KINDS}")
    if caption_kind == "single" and hi != 1:
        raise ValueError(f"caption_kind 'single' needs n_objects=1, got {n_objects!r}")
    if caption_kind == "relation" and (lo, hi) != (2, 2):
        raise ValueError(f"caption_kind 'relation' needs n_objects=2, got {n_objects!r}")
    shapes, colours = tuple(shapes), tuple(colours)
    check_names("shape", shapes, SHAPES)
    check_names("colour", colours, tuple(COLOURS))
    if caption_kind == "relation" and (len(shapes) < 2 or len(colours) < 2):
        raise ValueError("caption_kind 'relation' needs at least 2 shapes and 2 colours")
    return lo, hi, caption_kind, shapes, colours


def _generate(rng, n, n_objects, image_size, caption_kind, shapes, colours, paraphrases, mention_size):
    """Clean scenes: objects sampled, rendered and captioned; (objects, relation, images array, captions)."""
    shape_ids = np.array(sorted(SHAPES.index(s) for s in shapes))
    colour_ids = np.array(sorted(COLOURS_INDEX[c] for c in colours))
    objects, relation = _sample_objects(rng, n, n_objects, caption_kind, shape_ids, colour_ids, image_size)
    images = render_objects(objects, image_size)
    n_templates = text_.n_templates(caption_kind)
    template = rng.integers(0, n_templates, size=n) if paraphrases else np.zeros(n, np.int64)
    return objects, relation, images, text_.caption_text(objects, relation, caption_kind, template, mention_size)


def scene_description(scenes: SceneDataset, i: int) -> tuple:
    """What a caption of two-object scene ``i`` can tell apart: both objects' (colour, shape) and the relation.

    The relation is read one way ("right of" and "below" are turned round), so *"a blue square right of a
    red circle"* and *"a red circle left of a blue square"* have the same description. Chapter 1's rule
    for its fair test gallery.
    """
    first = (int(scenes.objects.colour[i, 0]), int(scenes.objects.shape[i, 0]))
    second = (int(scenes.objects.colour[i, 1]), int(scenes.objects.shape[i, 1]))
    relation = RELATIONS[int(scenes.relation[i])]
    inverse = {"right of": "left of", "below": "above"}
    if relation in inverse:
        first, second, relation = second, first, inverse[relation]
    return first, relation, second


def distinct_description_gallery(scenes: SceneDataset) -> SceneDataset:
    """The first scene of each distinct :func:`scene_description`, in order: chapter 1's fair test gallery.

    Deduplicating by caption string is not enough: paraphrases and the two readings of a relation give one
    scene several captions, and a gallery with two scenes that fit a query equally well has no single right
    answer for R@1.
    """
    keep, seen = [], set()
    for i in range(len(scenes)):
        key = scene_description(scenes, i)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return scenes.subset(keep)
