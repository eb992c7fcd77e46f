"""Tests for cmlearn.data.questions: answers are right, balance, baselines, splits, bad input."""
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from cmlearn.data.questions import NUMBER_ANSWERS, QUESTION_ANSWERS, QUESTION_TYPES, make_questions, question_only_baseline, scene_features


@pytest.fixture(scope="module")
def qa():
    return make_questions(n=6000, image_size=32, seed=0)


def answer_from_records(records, qtype, args):
    """Independent answer oracle: evaluate the question on the rendered objects' records."""
    if qtype == "colour":
        (hit,) = [o for o in records if o["shape"] == args["shape"]]
        return hit["colour"]
    if qtype == "shape":
        (hit,) = [o for o in records if o["colour"] == args["colour"]]
        return hit["shape"]
    if qtype == "exists":
        return "yes" if any((o["shape"], o["colour"]) == (args["shape"], args["colour"]) for o in records) else "no"
    if qtype == "count":
        return NUMBER_ANSWERS[sum(o["shape"] == args["shape"] for o in records)]
    (ref,) = [o for o in records if o["shape"] == args["shape"]]
    hits = []
    for o in records:
        dx, dy = ref["x"] - o["x"], ref["y"] - o["y"]           # o <relation> ref
        holds = {"left of": dx > 0 and abs(dx) > abs(dy), "right of": dx < 0 and abs(dx) > abs(dy),
                 "above": dy > 0 and abs(dy) > abs(dx), "below": dy < 0 and abs(dy) > abs(dx)}
        if o is not ref and holds[args["relation"]]:
            hits.append(o["shape"])
    (shape,) = hits
    return shape


def test_shapes_and_item(qa):
    assert qa.images.shape == (6000, 3, 32, 32) and qa.answers.shape == (6000,)
    item = qa[3]
    assert set(item) >= {"image", "question", "answer", "question_type", "index"}
    assert item["question"].endswith("?") and 0 <= item["answer"] < len(QUESTION_ANSWERS)
    assert set(qa.question_types.tolist()) == set(range(len(QUESTION_TYPES)))


def test_every_answer_is_true_for_its_scene(qa):
    for i in range(0, len(qa), 3):
        qtype = QUESTION_TYPES[int(qa.question_types[i])]
        expected = answer_from_records(qa.objects.records(i), qtype, qa.question_args[i])
        assert QUESTION_ANSWERS[int(qa.answers[i])] == expected, (qa.questions[i], qa.objects.records(i))


def test_answers_balanced_within_each_question(qa):
    """For each question string, no answer dominates: the question alone is near chance."""
    by_question = {}
    for q, a in zip(qa.questions, qa.answers.tolist(), strict=True):
        by_question.setdefault(q, Counter())[a] += 1
    shares = [c.most_common(1)[0][1] / sum(c.values()) for c in by_question.values() if sum(c.values()) >= 60]
    assert len(shares) > 20 and max(shares) < 0.65
    yes_no = Counter(QUESTION_ANSWERS[a] for a, t in zip(qa.answers.tolist(), qa.question_types.tolist(), strict=True)
                     if QUESTION_TYPES[t] == "exists")
    assert abs(yes_no["yes"] / (yes_no["yes"] + yes_no["no"]) - 0.5) < 0.04


def test_single_modality_baselines_are_low(qa):
    """Question-only (Bayes lookup) and image-only (perfect-perception features) stay < 40%."""
    from sklearn.linear_model import LogisticRegression

    train, _, test = qa.split((0.8, 0.1, 0.1), seed=0)
    q_only = question_only_baseline(train, test)
    assert 0.2 < q_only < 0.4, q_only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a rough fit is enough to show the ceiling is low
        model = LogisticRegression(max_iter=100, tol=1e-3).fit(scene_features(train), train.answers.numpy())
    image_only = model.score(scene_features(test), test.answers.numpy())
    assert image_only < 0.4, image_only
    majority = Counter(test.answers.tolist()).most_common(1)[0][1] / len(test)
    assert majority < 0.15


def test_determinism_and_seed_sensitivity(qa):
    again = make_questions(n=6000, seed=0)
    assert torch.equal(again.images, qa.images) and again.questions == qa.questions
    assert torch.equal(again.answers, qa.answers)
    other = make_questions(n=6000, seed=1)
    assert other.questions != qa.questions and not torch.equal(other.images, qa.images)


def test_split_is_disjoint_and_leak_free(qa):
    parts = qa.split((0.7, 0.15, 0.15), seed=3)
    ids = [set(p.ids.tolist()) for p in parts]
    assert sum(map(len, ids)) == len(qa) and len(set.union(*ids)) == len(qa)
    keys = qa.objects.content_keys()
    key_sets = [set(keys[p.ids.numpy()]) for p in parts]
    assert not (key_sets[0] & key_sets[2]) and not (key_sets[0] & key_sets[1])
    sub = parts[2]
    assert torch.equal(sub.images[0], qa.images[int(sub.ids[0])]) and sub.questions[0] == qa.questions[int(sub.ids[0])]


def test_question_type_subset_and_describe():
    ds = make_questions(n=300, seed=2, question_types=("count",), paraphrases=False)
    assert set(ds.questions) <= {f"how many {s}s are there?" for s in ("circle", "square", "triangle", "star")}
    assert {QUESTION_ANSWERS[a] for a in ds.answers.tolist()} == set(NUMBER_ANSWERS)
    text = ds.describe()
    assert "300 (image, question, answer) samples" in text and "count" in text
    assert "QuestionDataset(n=300" in repr(ds)
    assert scene_features(ds).shape[0] == 300 and np.isfinite(scene_features(ds)).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(question_types=("colour", "why")), "unknown question type 'why'"),
    (dict(colours=("red", "teal")), "unknown colour 'teal'"),
    (dict(shapes=("circle",)), "at least 2 shapes"),
    (dict(n=0), "n must be a positive int"),
    (dict(image_size=8), "image_size must be an int >= 24"),
    (dict(image_noise=3.0), "image_noise"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_questions(**{"n": 20, **kwargs})


def test_show_questions(qa):
    import matplotlib.pyplot as plt

    from cmlearn.data.show import show_samples
    fig = show_samples(qa, n=4)
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes if ax.images]
    assert len(titles) == 4 and titles[0] == f"Q: {qa.questions[0]} A: {QUESTION_ANSWERS[int(qa.answers[0])]}"
    plt.close(fig)


def test_relation_questions_are_answered_by_elimination(qa):
    # The shortcut the module docstring (and chapters 4 and 5) describe: two objects, and the answer is the
    # shape the question does not name, so the relation word is never needed.
    relation = QUESTION_TYPES.index("relation")
    rows = [i for i in range(len(qa)) if int(qa.question_types[i]) == relation]
    assert rows
    for i in rows:
        shapes = [o["shape"] for o in qa.objects.records(i)]
        assert len(shapes) == 2 and qa.question_args[i]["shape"] in shapes
        (other,) = [s for s in shapes if s != qa.question_args[i]["shape"]]
        assert QUESTION_ANSWERS[int(qa.answers[i])] == other
