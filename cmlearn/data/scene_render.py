"""Pixels of the synthetic scenes: shape sprites, object placement, vectorized rendering.

Each (shape, size) is rasterized once into an anti-aliased sprite; a batch of scenes is
rendered by pasting all sprites of an object slot with one fancy-indexing assignment, so
no Python loop runs per scene or per pixel. Shared by :mod:`cmlearn.data.scenes`,
:mod:`cmlearn.data.questions` and :mod:`cmlearn.data.video`.

Used by :func:`cmlearn.data.scenes.make_scenes` (every chapter that draws scenes).
"""
from __future__ import annotations

import functools

import numpy as np

from cmlearn.data.scene_text import COLOURS, SHAPES, SceneObjects

__all__ = ["object_radii", "render_sprites", "place_objects", "render_objects"]

_GAP = 2          # minimum distance (px) between the bounding boxes of two objects


def object_radii(image_size: int) -> tuple[int, int]:
    """Sprite radius in pixels for (small, large) objects on an image_size canvas."""
    return max(2, round(image_size * 0.125)), max(3, round(image_size * 0.2))


def _polygon_inside(u: np.ndarray, v: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorized over points (u, v)."""
    inside = np.zeros(u.shape, bool)
    for (x1, y1), (x2, y2) in zip(verts, np.roll(verts, -1, axis=0), strict=True):
        crosses = (y1 > v) != (y2 > v)
        x_at = (x2 - x1) * (v - y1) / (y2 - y1 + 1e-12) + x1
        inside ^= crosses & (u < x_at)
    return inside


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of `shape` in normalized coordinates u, v in [-1, 1] (v points down)."""
    if shape == "circle":
        return u ** 2 + v ** 2 <= 1.0
    if shape == "square":
        return (np.abs(u) <= 0.82) & (np.abs(v) <= 0.82)
    if shape == "triangle":
        return _polygon_inside(u, v, np.array([[0.0, -1.0], [-1.0, 0.8], [1.0, 0.8]]))
    if shape == "star":
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radius = np.where(np.arange(10) % 2 == 0, 1.05, 0.48)
        verts = np.stack([radius * np.cos(angles), radius * np.sin(angles) + 0.08], 1)
        return _polygon_inside(u, v, verts)
    if shape == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95))
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


@functools.lru_cache(maxsize=32)
def render_sprites(radius: int, supersample: int = 4) -> np.ndarray:
    """Anti-aliased coverage masks of every shape in :data:`SHAPES`.

    Args:
        radius: half-width in pixels; the sprite is (2 * radius + 1) pixels wide.
        supersample: sub-pixel samples per axis used for anti-aliasing.

    Returns:
        float32 array (len(SHAPES), S * S) with S = 2 * radius + 1, values in [0, 1].
    """
    side = 2 * radius + 1
    sub = (np.arange(side * supersample) + 0.5) / supersample - 0.5 - radius
    v, u = np.meshgrid(sub / (radius + 0.5), sub / (radius + 0.5), indexing="ij")
    masks = []
    for shape in SHAPES:
        m = _shape_mask(shape, u, v).astype(np.float32)
        m = m.reshape(side, supersample, side, supersample).mean(axis=(1, 3))
        masks.append(m.reshape(-1))
    return np.stack(masks)


def place_objects(rng, radius, present, relation, image_size, max_rounds=5000):
    """Sample integer centres for all objects by vectorized rejection sampling.

    Args:
        rng: numpy Generator.
        radius: (N, K) int array of object radii in pixels.
        present: (N, K) bool array, which slots hold an object.
        relation: (N,) int array, index into RELATIONS that must hold for "object 0 <rel>
            object 1" (-1: no constraint).
        image_size: canvas side in pixels.

    Returns:
        (x, y): two (N, K) int64 arrays; bounding boxes of present objects are >= 1 px apart.
    """
    n, k = radius.shape
    x = np.zeros((n, k), np.int64)
    y = np.zeros((n, k), np.int64)
    todo = np.arange(n)
    for _ in range(max_rounds):
        if todo.size == 0:
            return x, y
        r = radius[todo]
        x[todo] = rng.integers(r, image_size - r)
        y[todo] = rng.integers(r, image_size - r)
        ok = np.ones(todo.size, bool)
        for a in range(k):
            for b in range(a + 1, k):
                both = present[todo, a] & present[todo, b]
                sep_x = np.abs(x[todo, a] - x[todo, b]) - r[:, a] - r[:, b]
                sep_y = np.abs(y[todo, a] - y[todo, b]) - r[:, a] - r[:, b]
                ok &= ~both | (sep_x > _GAP - 1) | (sep_y > _GAP - 1)
        rel = relation[todo]
        has_rel = rel >= 0
        if has_rel.any():
            dx = x[todo, 1] - x[todo, 0]   # object 0 is the subject: "A <rel> B"
            dy = y[todo, 1] - y[todo, 0]
            sep = r[:, 0] + r[:, 1] + _GAP - 1
            # "A left of B": B's box is right of A's box with a gap, and the direction from A
            # to B is within ~27 degrees of the axis (|dx| > 2 |dy|), so no reader would call
            # it "above" or "below" instead.
            horizontal, vertical = np.abs(dx) > 2 * np.abs(dy), np.abs(dy) > 2 * np.abs(dx)
            true_rel = np.select([rel == 0, rel == 1, rel == 2, rel == 3],
                                 [(dx > sep) & horizontal, (-dx > sep) & horizontal,
                                  (dy > sep) & vertical, (-dy > sep) & vertical], True)
            ok &= ~has_rel | true_rel
        todo = todo[~ok]
    raise RuntimeError(f"could not place objects for {todo.size} scenes on a {image_size}px canvas;"
                       " use a larger image_size or fewer objects")


def render_objects(objects: SceneObjects, image_size: int) -> np.ndarray:
    """Paste every present object's sprite, in its colour, onto black canvases.

    Returns:
        float32 numpy array (N, 3, image_size, image_size) in [0, 1].
    """
    n, k = objects.shape.shape
    plane = image_size * image_size
    canvas = np.zeros(n * 3 * plane, np.float32)
    palette = np.array(list(COLOURS.values()), np.float32)      # (n_colours, 3)
    shape, colour, radius = objects.shape.numpy(), objects.colour.numpy(), objects.radius.numpy()
    xs, ys, present = objects.x.numpy(), objects.y.numpy(), objects.present.numpy()
    channel = np.arange(3)[None, :, None] * plane
    for r in np.unique(radius[present]):
        side = 2 * r + 1
        bank = render_sprites(int(r))
        offsets = (np.arange(side)[:, None] * image_size + np.arange(side)[None, :]).reshape(1, 1, -1)
        for slot in range(k):
            rows = np.nonzero(present[:, slot] & (radius[:, slot] == r))[0]
            if rows.size == 0:
                continue
            corner = rows * (3 * plane) + (ys[rows, slot] - r) * image_size + (xs[rows, slot] - r)
            pixels = (corner[:, None, None] + channel) + offsets                # (M, 3, S*S)
            values = bank[shape[rows, slot]][:, None, :] * palette[colour[rows, slot]][:, :, None]
            canvas[pixels] = values
    return canvas.reshape(n, 3, image_size, image_size)
