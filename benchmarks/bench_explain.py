"""Seconds per LIME explanation: topicbert against the tutorial's prediction function.

One run, same fitted model, same BBC articles, same LIME settings
(1,000 samples, same random_state), one warm-up explanation for each before
timing. The tutorial's prediction function pads every perturbed copy to 512
tokens in fp32; topicbert's batches by length with dynamic padding, skips
duplicate copies and runs under ``torch.inference_mode``, timed in fp32 (like
with like) and in its default precision on this machine. The run prints how
far each one's word weights are from the tutorial's, and the deletion check
(see ``explain_quality.py``) for LIME and occlusion.

    python benchmarks/bench_explain.py [--articles 3] [--faithfulness 20]
    python benchmarks/bench_explain.py --smoke --backbone DIR  # a trial run on a tiny input

The model is MiniLM fine-tuned for 2 epochs on 600 training articles at 128
tokens (about three minutes here), enough for meaningful explanations. A
``--smoke`` run explains one article and checks two, with 50 LIME samples.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, bbc_frames, bert_params, deletion_drops, parse, parser
from benchmarks._results import write
from topicbert import BertTopicClassifier, explain

DATA = BBC


def tutorial_predictor(clf: BertTopicClassifier, batch_size: int = 16, pad_to: int = 512):
    """The tutorial's prediction function: every text padded to ``pad_to`` (512) tokens."""

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
            pad = pad_to - batch["input_ids"].shape[1]
            input_ids = torch.nn.functional.pad(batch["input_ids"], (0, pad))
            mask = torch.nn.functional.pad(batch["attention_mask"], (0, pad))
            with torch.no_grad():
                logits = clf.model_(input_ids, mask)
            chunks.append(torch.softmax(logits, dim=-1).numpy())
        return np.concatenate(chunks)

    return predict


class TutorialModel(ClassifierMixin, BaseEstimator):
    """The fitted classifier's weights behind the tutorial's prediction function."""

    def __init__(self, clf: BertTopicClassifier, pad_to: int = 512) -> None:
        self.clf = clf
        self.pad_to = pad_to

    def fit(self, X, y):
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return tutorial_predictor(self.clf, pad_to=self.pad_to)(texts)

    @property
    def classes_(self) -> np.ndarray:
        return self.clf.classes_

    def __sklearn_is_fitted__(self) -> bool:
        return True


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--articles", type=int, help="articles timed (3; 1 with --smoke)")
    options.add_argument(
        "--faithfulness", type=int, help="articles of the deletion check (20; 2 with --smoke)"
    )
    args = parse(options, argv)
    articles_timed = args.articles or (1 if args.smoke else 3)
    checked = args.faithfulness or (2 if args.smoke else 20)
    samples = 50 if args.smoke else 1000  # LIME's samples per explanation
    check_samples = 50 if args.smoke else 500  # and in the deletion check
    pad_to = 64 if args.smoke else 512

    _, train, _, test = bbc_frames(DATA, args.limit)
    train = train.groupby("label").head(120)
    started = time.perf_counter()
    params = bert_params(args, {"max_length": 128, "epochs": 2, "training": "full"})
    clf = BertTopicClassifier(random_state=0, device="cpu", **params)
    clf.fit(train["text"].tolist(), train["label"].tolist())
    print(f"fine-tuned on {len(train)} articles in {time.perf_counter() - started:.0f} s")
    accuracy = clf.score(test["text"].tolist(), test["label"].tolist())
    print(f"test accuracy {accuracy:.4f}")

    from topicbert._devices import resolve_precision

    default_precision = str(resolve_precision(clf.precision, clf.device_) or "fp32")
    articles = test["text"].tolist()[1 : articles_timed + 1]
    tutorial = TutorialModel(clf, pad_to)
    # the tutorial's function runs in fp32; topicbert is timed in fp32 (like
    # with like) and in its default precision on this machine
    models = {
        "tutorial (fp32, pad to 512)": (tutorial, "fp32"),
        "topicbert fp32": (clf, "fp32"),
        f"topicbert default ({default_precision})": (clf, clf.precision),
    }
    seconds: dict[str, list[float]] = {name: [] for name in models}
    weights: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for name, (model, precision) in models.items():
        clf.set_params(precision=precision)
        explain(model, test["text"].tolist()[0], num_samples=100, random_state=0)  # warm-up
        for text in articles:
            started = time.perf_counter()
            explanation = explain(model, text, num_samples=samples, random_state=0)
            seconds[name].append(time.perf_counter() - started)
            weights[name].append(dict(explanation.as_list()))
    clf.set_params(precision="auto")
    baseline = "tutorial (fp32, pad to 512)"
    print(f"\nLIME, {samples} samples, {len(articles)} articles, max_length={clf.max_length}")
    print(f"{'prediction function':<40}{'s/explanation':>15}{'speed-up':>10}{'max |dw|':>10}")
    for name in models:
        mean = float(np.mean(seconds[name]))
        difference = max(
            abs(ours[word] - theirs.get(word, 0.0))
            for ours, theirs in zip(weights[name], weights[baseline], strict=True)
            for word in ours
        )
        print(
            f"{name:<40}{mean:>15.2f}{np.mean(seconds[baseline]) / mean:>9.1f}x{difference:>10.1e}"
        )
    print("max |dw|: largest difference from the tutorial's word weights")
    figures: dict[str, object] = {
        "articles": len(articles),
        "max_length": clf.max_length,
        "test_accuracy": accuracy,
        "seconds_per_explanation": {name: float(np.mean(seconds[name])) for name in models},
    }

    texts = test["text"].tolist()[:checked]
    print(f"\ndeletion check on {len(texts)} test articles, k=5 words")
    print(f"{'method':<12}{'top-k drop':>12}{'random-k drop':>15}{'seconds':>10}")
    for method in ("lime", "occlusion"):
        started = time.perf_counter()
        explained, random = deletion_drops(clf, texts, method=method, num_samples=check_samples)
        elapsed = time.perf_counter() - started
        print(f"{method:<12}{explained:>12.4f}{random:>15.4f}{elapsed:>10.0f}")
        figures[f"deletion_{method}"] = {"top_k": explained, "random_k": random, "seconds": elapsed}
    write("explain", figures, args.results_dir)


if __name__ == "__main__":
    main()
