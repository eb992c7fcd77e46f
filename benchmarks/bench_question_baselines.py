"""Single-modality baselines for cmlearn.data.questions: how far does one modality get alone?

Prints test accuracy of

* chance (majority answer) and question-only (Bayes lookup per question string),
* image-only with perfect perception (gradient boosting on the true object records),
* image-only from pixels (a small CNN trained for a few epochs on one core),
* question + perfect perception (the same boosting on both) - shows the task is learnable.

Run from the repository root (about a minute on one core):

    .venv/bin/python benchmarks/bench_question_baselines.py [--n 20000] [--epochs 4]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from torch import nn  # noqa: E402

from cmlearn.data.questions import QUESTION_ANSWERS, make_questions, question_only_baseline, scene_features  # noqa: E402


def question_one_hot(train, test):
    vocab = {q: i for i, q in enumerate(sorted(set(train.questions)))}
    def encode(ds):
        out = np.zeros((len(ds), len(vocab) + 1), np.float32)
        out[np.arange(len(ds)), [vocab.get(q, len(vocab)) for q in ds.questions]] = 1.0
        return out
    return encode(train), encode(test)


def pixel_cnn_accuracy(train, test, epochs: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(64, len(QUESTION_ANSWERS)))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = train.images, train.answers
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(128):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return (model(test.images).argmax(1) == test.answers).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    ds = make_questions(n=args.n, seed=args.seed)
    train, _, test = ds.split((0.8, 0.1, 0.1), seed=args.seed)
    print(f"{ds!r}: train {len(train)}, test {len(test)}")
    rows = [("chance (majority answer)", Counter(test.answers.tolist()).most_common(1)[0][1] / len(test)),
            ("question only (Bayes lookup)", question_only_baseline(train, test))]
    f_train, f_test = scene_features(train), scene_features(test)
    boost = HistGradientBoostingClassifier(max_iter=150, random_state=0)
    rows.append(("image only, perfect perception (boosting)",
                 boost.fit(f_train, train.answers.numpy()).score(f_test, test.answers.numpy())))
    rows.append((f"image only, pixels (small CNN, {args.epochs} epochs)",
                 pixel_cnn_accuracy(train, test, args.epochs, args.seed)))
    q_train, q_test = question_one_hot(train, test)
    both = HistGradientBoostingClassifier(max_iter=300, random_state=0)
    rows.append(("question + perfect perception (boosting)",
                 both.fit(np.hstack([f_train, q_train]), train.answers.numpy())
                 .score(np.hstack([f_test, q_test]), test.answers.numpy())))
    for name, acc in rows:
        print(f"  {name:48s} {acc:6.1%}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
