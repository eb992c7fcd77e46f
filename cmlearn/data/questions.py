"""Questions over scenes with class answers, balanced against single-modality shortcuts.

Each sample is (image, question, answer). Five question types::

    colour    "what colour is the circle?"          -> red / green / ... (the only circle)
    shape     "what shape is the red object?"       -> circle / square / ...
    exists    "is there a red square?"              -> yes / no
    count     "how many triangles are there?"       -> zero / one / two / three
    relation  "what is left of the star?"           -> the shape of the other object

Balancing: a question is drawn first, then its answer uniformly from the answers that
question allows, and only then a scene that makes the answer true. So the question alone
gives no more than chance within its type (about 30% overall), and the image alone cannot
tell which of its objects or attributes is being asked about. :func:`question_only_baseline`
and :func:`scene_features` measure both shortcuts (see ``benchmarks/bench_question_baselines.py``).

One shortcut remains by design: a relation question is asked about a scene of exactly two objects
whose shapes differ, so its answer is also "the shape the question does not name" — answerable by
elimination from the image and the question's shape, without reading the relation (chapter 4
measures it). Colour, exists and count questions have no such shortcut.

Used in chapters 4 and 5. The scenes are those of :mod:`cmlearn.data.scenes`.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict

import numpy as np
import torch
from torch.utils.data import Dataset

from cmlearn.data.common import check_names, group_split
from cmlearn.data.scene_render import object_radii, place_objects, render_objects
from cmlearn.data.scene_text import COLOURS, INVERSE_RELATION, RELATIONS, SHAPES, SceneObjects
from cmlearn.data.scenes import DEFAULT_SHAPES

__all__ = ["QUESTION_TYPES", "QUESTION_ANSWERS", "QuestionDataset", "make_questions",
           "question_only_baseline", "scene_features"]

QUESTION_TYPES = ("colour", "shape", "exists", "count", "relation")
NUMBER_ANSWERS = ("zero", "one", "two", "three")
QUESTION_ANSWERS = tuple(COLOURS) + SHAPES + ("yes", "no") + NUMBER_ANSWERS
_TEMPLATES = {
    "colour": ("what colour is the {shape}?", "which colour does the {shape} have?"),
    "shape": ("what shape is the {colour} object?", "which shape is {colour}?"),
    "exists": ("is there a {colour} {shape}?", "does the picture contain a {colour} {shape}?"),
    "count": ("how many {shape}s are there?", "how many {shape}s?"),
    "relation": ("what is {relation} the {shape}?", "which shape is {relation} the {shape}?"),
}
_COLOUR_IDS = {c: i for i, c in enumerate(COLOURS)}


class QuestionDataset(Dataset):
    """Scenes paired with one question each and a class answer.

    Attributes:
        images: (N, 3, H, W) float tensor in [0, 1].
        questions: list of N question strings.
        answers: (N,) long, index into :data:`QUESTION_ANSWERS` (``answer_names``).
        question_types: (N,) long, index into :data:`QUESTION_TYPES`.
        question_args: list of N dicts with the question's slots (shape / colour / relation).
        objects: :class:`~cmlearn.data.scene_text.SceneObjects` records, (N, 3) per field.
        relation: (N,) long, for relation questions "object 0 <relation> object 1", else -1.
        ids: (N,) long, index in the generated dataset (stable across splits).
        config: the knobs :func:`make_questions` was called with.
    """

    answer_names = QUESTION_ANSWERS
    type_names = QUESTION_TYPES

    def __init__(self, images, questions, answers, question_types, question_args, objects,
                 relation, ids, config):
        self.images, self.questions, self.answers = images, list(questions), answers
        self.question_types, self.question_args = question_types, list(question_args)
        self.objects, self.relation, self.ids, self.config = objects, relation, ids, dict(config)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> dict:
        """dict(image=(3, H, W), question=str, answer=int, question_type=int, index=int)."""
        return dict(image=self.images[i], question=self.questions[i], answer=int(self.answers[i]),
                    question_type=int(self.question_types[i]), index=int(self.ids[i]))

    def subset(self, indices) -> QuestionDataset:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        pick = idx.tolist()
        return QuestionDataset(self.images[idx], [self.questions[i] for i in pick], self.answers[idx],
                               self.question_types[idx], [self.question_args[i] for i in pick],
                               self.objects.subset(idx), self.relation[idx], self.ids[idx], self.config)

    def split(self, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[QuestionDataset, ...]:
        """Disjoint random subsets; samples with identical scenes stay in the same subset."""
        return tuple(self.subset(ix) for ix in group_split(self.objects.content_keys(), fractions, seed))

    def describe(self) -> str:
        c = self.config
        types = Counter(QUESTION_TYPES[t] for t in self.question_types.tolist())
        answers = Counter(QUESTION_ANSWERS[a] for a in self.answers.tolist())
        return "\n".join([
            f"QuestionDataset: {len(self)} (image, question, answer) samples, images "
            f"{tuple(self.images.shape)} (N, C, H, W), {len(set(self.questions))} distinct questions",
            f"  question types: {dict(types)}",
            f"  answers ({len(QUESTION_ANSWERS)} classes, {len(answers)} used): {dict(answers.most_common(6))} ...",
            f"  shapes: {', '.join(c['shapes'])}; colours: {', '.join(c['colours'])}",
            f"  image_noise={c['image_noise']}, seed={c['seed']}"])

    def __repr__(self) -> str:
        c = self.config
        return (f"QuestionDataset(n={len(self)}, image_size={c['image_size']}, "
                f"question_types={c['question_types']}, seed={c['seed']})")


def _question(r: random.Random, qtype: str, shapes, colours):
    """Draw (question slots, answer name, objects [(shape, colour)], relation id or -1)."""
    def others(exclude_shape=None, exclude_colour=None, exclude_pair=None):
        while True:
            s, c = r.choice(shapes), r.choice(colours)
            if s != exclude_shape and c != exclude_colour and (s, c) != exclude_pair:
                return s, c

    n_extra = r.randint(0, 2)
    if qtype == "colour":
        shape, answer = r.choice(shapes), r.choice(colours)
        objs = [(shape, answer)] + [others(exclude_shape=shape) for _ in range(n_extra)]
        return dict(shape=shape), answer, objs, -1
    if qtype == "shape":
        colour, answer = r.choice(colours), r.choice(shapes)
        objs = [(answer, colour)] + [others(exclude_colour=colour) for _ in range(n_extra)]
        return dict(colour=colour), answer, objs, -1
    if qtype == "exists":
        shape, colour = r.choice(shapes), r.choice(colours)
        answer = r.choice(("yes", "no"))
        objs = [others(exclude_pair=(shape, colour)) for _ in range(n_extra + (answer == "no"))]
        if objs and r.random() < 0.5:          # a near miss: right shape or right colour, not both
            objs[0] = (shape, others(exclude_pair=(shape, colour), exclude_colour=colour)[1]) \
                if r.random() < 0.5 else (others(exclude_shape=shape)[0], colour)
        if answer == "yes":
            objs.append((shape, colour))
        return dict(shape=shape, colour=colour), answer, objs, -1
    if qtype == "count":
        shape, count = r.choice(shapes), r.randint(0, 3)
        total = max(count, r.randint(1, 3))
        objs = [(shape, r.choice(colours)) for _ in range(count)]
        objs += [others(exclude_shape=shape) for _ in range(total - count)]
        return dict(shape=shape), NUMBER_ANSWERS[count], objs, -1
    # relation: "what is <rel> the <shape>?" -> object 0 (the answer) <rel> object 1 (the reference)
    shape, rel = r.choice(shapes), r.randrange(4)
    answer = r.choice([s for s in shapes if s != shape])
    return dict(shape=shape, relation=RELATIONS[rel]), answer, [(answer, r.choice(colours)),
                                                                (shape, r.choice(colours))], rel


def make_questions(n: int = 10000, image_size: int = 32, seed: int = 0, *,
                   question_types=QUESTION_TYPES, shapes=DEFAULT_SHAPES, colours=tuple(COLOURS),
                   paraphrases: bool = True, image_noise: float = 0.0) -> QuestionDataset:
    """Generate `n` balanced (scene image, question, answer) samples from `seed`.

    Args:
        n: number of samples (> 0).
        image_size: canvas side H = W (>= 24).
        seed: everything follows from it.
        question_types: subset of :data:`QUESTION_TYPES`, drawn uniformly.
        shapes, colours: vocabularies (subsets of SHAPES / COLOURS; >= 2 of each).
        paraphrases: two templates per question type (False: always the first).
        image_noise: std of Gaussian pixel noise, clipped to [0, 1].

    Returns:
        :class:`QuestionDataset` with images (n, 3, image_size, image_size) and 1-3 objects per scene.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 24:
        raise ValueError(f"image_size must be an int >= 24, got {image_size!r}")
    question_types, shapes, colours = tuple(question_types), tuple(shapes), tuple(colours)
    check_names("question type", question_types, QUESTION_TYPES)
    check_names("shape", shapes, SHAPES)
    check_names("colour", colours, tuple(COLOURS))
    if len(shapes) < 2 or len(colours) < 2:
        raise ValueError(f"need at least 2 shapes and 2 colours, got {shapes} and {colours}")
    if not (isinstance(image_noise, (int, float)) and 0.0 <= image_noise <= 1.0):
        raise ValueError(f"image_noise must be a std in [0, 1], got {image_noise!r}")

    rng = np.random.default_rng(seed)
    r = random.Random(int(rng.integers(2 ** 63)))
    qtype_ids = rng.integers(0, len(question_types), size=n)
    table = np.full((n, 3, 2), -1, np.int64)            # (shape, colour) per object slot
    relation = np.full(n, -1, np.int64)
    questions, answers, args = [], np.empty(n, np.int64), []
    for i, t in enumerate(qtype_ids.tolist()):
        qtype = question_types[t]
        slots, answer, objs, rel = _question(r, qtype, shapes, colours)
        if rel < 0:
            r.shuffle(objs)
        for k, (s, c) in enumerate(objs):
            table[i, k] = SHAPES.index(s), _COLOUR_IDS[c]
        relation[i] = rel
        template = _TEMPLATES[qtype][r.randrange(2) if paraphrases else 0]
        questions.append(template.format(**slots))
        answers[i] = QUESTION_ANSWERS.index(answer)
        args.append(slots)
    present = table[:, :, 0] >= 0
    size = rng.integers(0, 2, size=(n, 3))
    small, large = object_radii(image_size)
    radius = np.where(size == 1, large, small)
    x, y = place_objects(rng, radius, present, relation, image_size)
    fill = lambda a: torch.from_numpy(np.where(present, a, -1).astype(np.int64))  # noqa: E731
    objects = SceneObjects(shape=fill(table[:, :, 0]), colour=fill(table[:, :, 1]), size=fill(size),
                           x=fill(x), y=fill(y), radius=fill(radius), present=torch.from_numpy(present))
    images = render_objects(objects, image_size)
    if image_noise:
        images += rng.normal(0.0, image_noise, images.shape).astype(np.float32)
        np.clip(images, 0.0, 1.0, out=images)
    type_index = np.array([QUESTION_TYPES.index(q) for q in question_types])[qtype_ids]
    config = dict(n=n, image_size=image_size, seed=seed, question_types=question_types, shapes=shapes,
                  colours=colours, paraphrases=paraphrases, image_noise=image_noise)
    return QuestionDataset(torch.from_numpy(images), questions, torch.from_numpy(answers),
                           torch.from_numpy(type_index), args, objects, torch.from_numpy(relation),
                           torch.arange(n), config)


def question_only_baseline(train: QuestionDataset, test: QuestionDataset) -> float:
    """Accuracy on `test` of the best question-only guess learned on `train`.

    For every distinct question string the majority training answer is predicted (unseen
    questions: the overall majority). This is the Bayes-optimal question-only classifier up to
    sampling noise, so it is an upper bound for any model that ignores the image.
    """
    by_question = defaultdict(Counter)
    for q, a in zip(train.questions, train.answers.tolist(), strict=True):
        by_question[q][a] += 1
    fallback = Counter(train.answers.tolist()).most_common(1)[0][0]
    guess = {q: c.most_common(1)[0][0] for q, c in by_question.items()}
    predictions = torch.tensor([guess.get(q, fallback) for q in test.questions])
    return (predictions == test.answers).float().mean().item()


def scene_features(ds) -> np.ndarray:
    """Perfect-perception image features, for image-only baselines without a vision model.

    Returns:
        float32 array (N, C * S + 4 * S * S + 3): counts of every (colour, shape) pair, for
        two-object scenes the geometric relation between the two shapes (one-hot per ordered
        shape pair and relation), and the number of objects (one-hot 1..3).
    """
    o = ds.objects
    n_s, n_c = len(SHAPES), len(COLOURS)
    shape, colour, present = o.shape.numpy(), o.colour.numpy(), o.present.numpy()
    feats = np.zeros((len(ds), n_c * n_s + 4 * n_s * n_s + 3), np.float32)
    rows = np.nonzero(present)
    np.add.at(feats, (rows[0], colour[rows] * n_s + shape[rows]), 1.0)
    two = np.nonzero(present.sum(1) == 2)[0]
    dx = (o.x[two, 1] - o.x[two, 0]).numpy()
    dy = (o.y[two, 1] - o.y[two, 0]).numpy()
    rel = np.where(np.abs(dx) >= np.abs(dy), np.where(dx > 0, 0, 1), np.where(dy > 0, 2, 3))  # 0 <rel> 1
    first = shape[two, 0] <= shape[two, 1]              # order the pair by shape id
    a = np.where(first, shape[two, 0], shape[two, 1])
    b = np.where(first, shape[two, 1], shape[two, 0])
    rel = np.where(first, rel, np.asarray(INVERSE_RELATION)[rel])
    feats[two, n_c * n_s + (a * n_s + b) * 4 + rel] = 1.0
    feats[np.arange(len(ds)), -3 + present.sum(1) - 1] = 1.0
    return feats
