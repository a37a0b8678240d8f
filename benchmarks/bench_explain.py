"""Seconds per LIME explanation: topicbert against the tutorial's prediction function.

One run, same fitted model, same BBC articles, same LIME settings
(1,000 samples, same random_state). The tutorial's prediction function pads
every perturbed copy to 512 tokens; topicbert's batches by length with dynamic
padding, skips duplicate copies and runs under ``torch.inference_mode``. The
run also checks that both give the same word weights, and prints the deletion
check (see ``explain_quality.py``) for LIME and occlusion.

    python benchmarks/bench_explain.py [--articles 3] [--faithfulness 20]

The model is MiniLM fine-tuned for 2 epochs on 600 training articles at 128
tokens (about three minutes here), enough for meaningful explanations.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.explain_quality import deletion_drops
from topicbert import BertTopicClassifier, explain
from topicbert.datasets import (
    drop_duplicate_texts,
    read_labeled_csv,
    train_val_test_split,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc-news.csv"


def tutorial_predictor(clf: BertTopicClassifier, batch_size: int = 16):
    """The tutorial's prediction function: every text padded to 512 tokens."""

    def predict(texts: list[str]) -> np.ndarray:
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = clf.tokenizer_(
                texts[start : start + batch_size],
                truncation=True,
                max_length=clf.max_length,
                padding="max_length",
                return_tensors="pt",
            )
            pad = 512 - batch["input_ids"].shape[1]
            input_ids = torch.nn.functional.pad(batch["input_ids"], (0, pad))
            mask = torch.nn.functional.pad(batch["attention_mask"], (0, pad))
            with torch.no_grad():
                logits = clf.model_(input_ids, mask)
            chunks.append(torch.softmax(logits, dim=-1).numpy())
        return np.concatenate(chunks)

    return predict


class TutorialModel(ClassifierMixin, BaseEstimator):
    """The fitted classifier's weights behind the tutorial's prediction function."""

    def __init__(self, clf: BertTopicClassifier) -> None:
        self.clf = clf

    def fit(self, X, y):
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return tutorial_predictor(self.clf)(texts)

    @property
    def classes_(self) -> np.ndarray:
        return self.clf.classes_

    def __sklearn_is_fitted__(self) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=3)
    parser.add_argument("--faithfulness", type=int, default=20)
    args = parser.parse_args()

    data = drop_duplicate_texts(read_labeled_csv(DATA))
    train, _, test = train_val_test_split(data, random_state=42)
    train = train.groupby("label").head(120)
    started = time.perf_counter()
    clf = BertTopicClassifier(max_length=128, epochs=2, random_state=0, device="cpu")
    clf.fit(train["text"].tolist(), train["label"].tolist())
    print(f"fine-tuned on {len(train)} articles in {time.perf_counter() - started:.0f} s")
    accuracy = clf.score(test["text"].tolist(), test["label"].tolist())
    print(f"test accuracy {accuracy:.4f}")

    articles = test["text"].tolist()[: args.articles]
    tutorial = TutorialModel(clf)
    ours_seconds, theirs_seconds, max_difference = [], [], 0.0
    for text in articles:
        t0 = time.perf_counter()
        ours = explain(clf, text, num_samples=1000, random_state=0)
        t1 = time.perf_counter()
        theirs = explain(tutorial, text, num_samples=1000, random_state=0)
        t2 = time.perf_counter()
        ours_seconds.append(t1 - t0)
        theirs_seconds.append(t2 - t1)
        ours_weights, theirs_weights = dict(ours.as_list()), dict(theirs.as_list())
        assert set(ours_weights) == set(theirs_weights), "different words chosen"
        max_difference = max(
            max_difference, *(abs(ours_weights[w] - theirs_weights[w]) for w in ours_weights)
        )
    ours_mean, theirs_mean = float(np.mean(ours_seconds)), float(np.mean(theirs_seconds))
    print(f"\nLIME, 1000 samples, {len(articles)} articles, max_length={clf.max_length}")
    print(f"{'prediction function':<40}{'s/explanation':>15}")
    print(f"{'tutorial (pad to 512)':<40}{theirs_mean:>15.2f}")
    print(f"{'topicbert':<40}{ours_mean:>15.2f}")
    print(f"speed-up: {theirs_mean / ours_mean:.1f}x")
    print(f"same words; largest weight difference {max_difference:.2e}")

    texts = test["text"].tolist()[: args.faithfulness]
    print(f"\ndeletion check on {len(texts)} test articles, k=5 words")
    print(f"{'method':<12}{'top-k drop':>12}{'random-k drop':>15}{'seconds':>10}")
    for method in ("lime", "occlusion"):
        started = time.perf_counter()
        explained, random = deletion_drops(clf, texts, method=method)
        seconds = time.perf_counter() - started
        print(f"{method:<12}{explained:>12.4f}{random:>15.4f}{seconds:>10.0f}")


if __name__ == "__main__":
    main()
