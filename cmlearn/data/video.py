"""Short clips of shapes moving in a direction, with captions naming the motion.

The smallest dataset where the order of frames matters: a clip of a circle moving left, played
backwards, is a clip of a circle moving right - the same set of frames with the opposite
caption. :meth:`MotionClipDataset.reversed` builds exactly that counterpart, so a model that
averages frames (ignores order) is at chance on direction.

Used in chapters 2 and 7. Shapes and rendering are those of the scenes (:mod:`cmlearn.data.scene_render`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from cmlearn.data.common import check_names, group_split
from cmlearn.data.scene_render import object_radii, render_objects
from cmlearn.data.scene_text import COLOURS, SHAPES, SIZES, SceneObjects
from cmlearn.data.scenes import DEFAULT_SHAPES

__all__ = ["MOTIONS", "MotionClipDataset", "make_motion_clips"]

MOTIONS = ("left", "right", "up", "down")
_VELOCITY = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])      # (dx, dy) per MOTIONS entry, y down
_OPPOSITE = (1, 0, 3, 2)
_TEMPLATES = ("a {obj} moving {m}", "a {obj} moves {m}", "the {obj} is moving {m}", "a {obj} going {m}")


def _caption(template, shape, colour, motion, present):
    parts = [template.format(obj=f"{tuple(COLOURS)[c]} {SHAPES[s]}", m=MOTIONS[m])
             for s, c, m, p in zip(shape, colour, motion, present, strict=True) if p]
    return " and ".join([parts[0]] + [p.replace("the ", "a ", 1) for p in parts[1:]])


class MotionClipDataset(Dataset):
    """Clips (videos) of 1-2 moving shapes with motion captions.

    Attributes:
        videos: (N, T, 3, H, W) float in [0, 1], T = n_frames.
        captions: list of N strings, e.g. "a red circle moving left".
        motion: (N, K) long, index into :data:`MOTIONS` per object slot (-1 absent).
        speed: (N, K) long, pixels per frame.
        objects: :class:`~cmlearn.data.scene_text.SceneObjects` of the first frame.
        ids: (N,) long, index in the generated dataset.
        config: knobs of :func:`make_motion_clips`.
    """

    def __init__(self, videos, captions, motion, speed, objects, ids, config, templates):
        self.videos, self.captions, self.motion, self.speed = videos, list(captions), motion, speed
        self.objects, self.ids, self.config, self.templates = objects, ids, dict(config), templates

    def __len__(self) -> int:
        return self.videos.shape[0]

    def __getitem__(self, i: int) -> dict:
        """dict(video=(T, 3, H, W), caption=str, motion=int (first object), index=int)."""
        return dict(video=self.videos[i], caption=self.captions[i], motion=int(self.motion[i, 0]),
                    index=int(self.ids[i]))

    def subset(self, indices) -> MotionClipDataset:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return MotionClipDataset(self.videos[idx], [self.captions[i] for i in idx.tolist()], self.motion[idx],
                                 self.speed[idx], self.objects.subset(idx), self.ids[idx], self.config,
                                 self.templates[idx])

    def split(self, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[MotionClipDataset, ...]:
        """Disjoint random subsets; clips with identical content stay in one subset."""
        o = self.objects
        content = torch.stack([o.shape, o.colour, o.size, o.x, o.y, self.motion, self.speed], 2).flatten(1)
        _, keys = np.unique(content.numpy(), axis=0, return_inverse=True)
        return tuple(self.subset(ix) for ix in group_split(keys.reshape(-1), fractions, seed))

    def reversed(self) -> MotionClipDataset:
        """The same clips played backwards, captioned with the opposite motions."""
        motion = torch.where(self.motion >= 0, torch.tensor(_OPPOSITE)[self.motion.clamp_min(0)], self.motion)
        captions = [_caption(_TEMPLATES[t], s, c, m, p) for t, s, c, m, p in zip(
            self.templates.tolist(), self.objects.shape.tolist(), self.objects.colour.tolist(),
            motion.tolist(), self.objects.present.tolist(), strict=True)]
        last = self.videos.shape[1] - 1
        start = self.objects.subset(slice(None))
        v = torch.tensor(_VELOCITY)[self.motion.clamp_min(0)] * self.speed[..., None] * last
        start.x = torch.where(start.present, start.x + v[..., 0], start.x)
        start.y = torch.where(start.present, start.y + v[..., 1], start.y)
        return MotionClipDataset(self.videos.flip(1), captions, motion, self.speed, start, self.ids,
                                 {**self.config, "reversed": not self.config.get("reversed", False)},
                                 self.templates)

    def describe(self) -> str:
        c = self.config
        counts = {m: int((self.motion[:, 0] == i).sum()) for i, m in enumerate(MOTIONS)}
        return "\n".join([
            f"MotionClipDataset: {len(self)} clips, videos {tuple(self.videos.shape)} (N, T, C, H, W)",
            f"  objects per clip: {c['n_objects']}, speed {c['min_speed']}-{c['max_speed']} px/frame, "
            f"first-object motions {counts}",
            f"  shapes: {', '.join(c['shapes'])}; colours: {', '.join(c['colours'])}",
            f"  image_noise={c['image_noise']}, paraphrases={c['paraphrases']}, seed={c['seed']}"])

    def __repr__(self) -> str:
        c = self.config
        return (f"MotionClipDataset(n={len(self)}, n_frames={c['n_frames']}, image_size={c['image_size']}, "
                f"n_objects={c['n_objects']}, seed={c['seed']})")


def _place(rng, radius, present, motion, speed, n_frames, image_size, max_rounds=300):
    """Start centres (N, K, 2) keeping every object inside and apart in every frame.

    Returns (start, failed): `failed` indexes clips for which no placement was found.
    """
    n, k = radius.shape
    travel = _VELOCITY[motion.clip(0)] * speed[..., None] * (n_frames - 1)        # (N, K, 2)
    lo = radius[..., None] - np.minimum(travel, 0)
    hi = image_size - radius[..., None] - np.maximum(travel, 0)                   # exclusive
    if (hi <= lo)[present].any():
        raise ValueError(f"objects moving {max(speed.max(), 1)} px/frame for {n_frames} frames do not fit on a "
                         f"{image_size}px canvas; lower max_speed or n_frames")
    start = np.zeros((n, k, 2), np.int64)
    todo = np.arange(n)
    frames = np.arange(n_frames)
    for _ in range(max_rounds):
        if todo.size == 0:
            break
        start[todo] = rng.integers(lo[todo], hi[todo])
        if k == 1:
            return start, todo[:0]
        pos = start[todo, :, None, :] + _VELOCITY[motion[todo].clip(0)][:, :, None, :] * \
            speed[todo][:, :, None, None] * frames[None, None, :, None]            # (M, K, F, 2)
        sep = np.abs(pos[:, 0] - pos[:, 1]) - (radius[todo, 0] + radius[todo, 1])[:, None, None]
        ok = ~present[todo, 1] | ((sep >= 1).any(axis=2)).all(axis=1)
        todo = todo[~ok]
    return start, todo


def make_motion_clips(n: int = 2000, n_frames: int = 8, image_size: int = 32, seed: int = 0, *,
                      n_objects: int = 1, min_speed: int = 1, max_speed: int = 2, shapes=DEFAULT_SHAPES,
                      colours=tuple(COLOURS), paraphrases: bool = True, image_noise: float = 0.0) -> MotionClipDataset:
    """Generate `n` clips of shapes moving left / right / up / down, deterministically from `seed`.

    Args:
        n: number of clips (> 0).
        n_frames: frames per clip T (2..32).
        image_size: frame side H = W (>= 24).
        seed: everything follows from it.
        n_objects: 1 or 2 moving objects (each with its own direction).
        min_speed, max_speed: pixels per frame, drawn uniformly per object.
        shapes, colours: vocabularies (subsets of SHAPES / COLOURS).
        paraphrases: vary the caption template.
        image_noise: std of Gaussian pixel noise, clipped to [0, 1].

    Returns:
        :class:`MotionClipDataset` with videos (n, n_frames, 3, image_size, image_size).
    """
    for name, value, lo, hi in [("n", n, 1, 10 ** 7), ("n_frames", n_frames, 2, 32), ("image_size", image_size, 24, 256),
                                ("n_objects", n_objects, 1, 2), ("min_speed", min_speed, 1, 16),
                                ("max_speed", max_speed, 1, 16)]:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise ValueError(f"{name} must be an int in {lo}..{hi}, got {value!r}")
    if min_speed > max_speed:
        raise ValueError(f"min_speed ({min_speed}) must be <= max_speed ({max_speed})")
    largest = 2 * object_radii(image_size)[1] + 1
    if largest + max_speed * (n_frames - 1) > image_size:
        raise ValueError(f"a large object ({largest} px) moving {max_speed} px/frame for {n_frames} frames does not fit "
                         f"on a {image_size}px canvas; expected max_speed <= {(image_size - largest) // (n_frames - 1)}")
    shapes, colours = tuple(shapes), tuple(colours)
    check_names("shape", shapes, SHAPES)
    check_names("colour", colours, tuple(COLOURS))
    if not (isinstance(image_noise, (int, float)) and 0.0 <= image_noise <= 1.0):
        raise ValueError(f"image_noise must be a std in [0, 1], got {image_noise!r}")

    rng = np.random.default_rng(seed)
    k = n_objects
    shape_ids = np.array([SHAPES.index(s) for s in shapes])
    colour_ids = np.array(sorted(tuple(COLOURS).index(c) for c in colours))
    shape = shape_ids[rng.integers(0, len(shape_ids), (n, k))]
    colour = colour_ids[rng.integers(0, len(colour_ids), (n, k))]
    if k == 2 and len(colour_ids) > 1:      # two objects never share a colour, so captions are unambiguous
        step = rng.integers(1, len(colour_ids), n)
        colour[:, 1] = colour_ids[(np.searchsorted(colour_ids, colour[:, 0]) + step) % len(colour_ids)]
    size = rng.integers(0, len(SIZES), (n, k))
    motion = rng.integers(0, len(MOTIONS), (n, k))
    speed = rng.integers(min_speed, max_speed + 1, (n, k))
    present = np.ones((n, k), bool)
    start, redo = np.zeros((n, k, 2), np.int64), np.arange(n)
    for _ in range(100):     # clips whose motions cannot be placed without collision get new motions
        radius = np.where(size == 1, *object_radii(image_size)[::-1])
        start[redo], failed = _place(rng, radius[redo], present[redo], motion[redo], speed[redo],
                                     n_frames, image_size)
        redo = redo[failed]
        if redo.size == 0:
            break
        size[redo] = rng.integers(0, len(SIZES), (redo.size, k))
        motion[redo] = rng.integers(0, len(MOTIONS), (redo.size, k))
        speed[redo] = rng.integers(min_speed, max_speed + 1, (redo.size, k))
    else:
        raise RuntimeError(f"could not place moving objects for {redo.size} clips on a {image_size}px canvas")
    # one "scene" per (clip, frame): positions advance by velocity * speed each frame
    offset = _VELOCITY[motion][:, None] * speed[:, None, :, None] * np.arange(n_frames)[None, :, None, None]
    pos = start[:, None] + offset                                                       # (N, F, K, 2)
    rep = lambda a: torch.from_numpy(np.repeat(a, n_frames, axis=0).astype(np.int64))  # noqa: E731
    frames = SceneObjects(shape=rep(shape), colour=rep(colour), size=rep(size),
                          x=torch.from_numpy(pos[..., 0].reshape(n * n_frames, k)),
                          y=torch.from_numpy(pos[..., 1].reshape(n * n_frames, k)),
                          radius=rep(radius), present=torch.ones(n * n_frames, k, dtype=torch.bool))
    videos = render_objects(frames, image_size).reshape(n, n_frames, 3, image_size, image_size)
    if image_noise:
        videos += rng.normal(0.0, image_noise, videos.shape).astype(np.float32)
        np.clip(videos, 0.0, 1.0, out=videos)
    templates = rng.integers(0, len(_TEMPLATES), n) if paraphrases else np.zeros(n, np.int64)
    captions = [_caption(_TEMPLATES[t], s, c, m, p) for t, s, c, m, p in zip(
        templates.tolist(), shape.tolist(), colour.tolist(), motion.tolist(), present.tolist(), strict=True)]
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
    first = SceneObjects(shape=t(shape), colour=t(colour), size=t(size), x=t(start[..., 0]), y=t(start[..., 1]),
                         radius=t(radius), present=torch.from_numpy(present))
    config = dict(n=n, n_frames=n_frames, image_size=image_size, seed=seed, n_objects=n_objects,
                  min_speed=min_speed, max_speed=max_speed, shapes=shapes, colours=colours,
                  paraphrases=paraphrases, image_noise=image_noise)
    return MotionClipDataset(torch.from_numpy(videos), captions, t(motion), t(speed), first, torch.arange(n),
                             config, t(templates))
