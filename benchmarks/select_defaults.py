"""Choose BertTopicClassifier's defaults on validation data, never on the test split.

Fine-tunes the offline MiniLM backbone on the training part of the
de-duplicated BBC corpus (stratified 70/10/20, random_state=42) with several
candidate settings and prints validation accuracy after every epoch, with the
seconds each epoch took. The test part is not read.

    python benchmarks/select_defaults.py                     # every candidate
    python benchmarks/select_defaults.py mean-256 cls-256    # some of them
    python benchmarks/select_defaults.py --smoke --backbone DIR  # a trial run, tiny input

Raw figures go to ``benchmarks/results/select-defaults-DATE.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, bbc_frames, bert_params, parse, parser
from benchmarks._results import write
from topicbert import BertTopicClassifier, Callback

DATA = BBC
CANDIDATES: dict[str, dict[str, Any]] = {
    "mean-256": {"pooling": "mean", "max_length": 256},
    "cls-256": {"pooling": "cls", "max_length": 256},
    "mean-128": {"pooling": "mean", "max_length": 128},
}
# Run by name only: python benchmarks/select_defaults.py pooler-256
EXTRA_CANDIDATES: dict[str, dict[str, Any]] = {
    "pooler-256": {"pooling": "pooler", "max_length": 256},
    "mean-256-lr1e-4": {"pooling": "mean", "max_length": 256, "learning_rate": 1e-4},
}


class ValidationScore(Callback):
    """Record accuracy on a fixed validation set after each epoch."""

    def __init__(self, texts: list[str], labels: list[str]) -> None:
        self.texts, self.labels = texts, np.asarray(labels)
        self.scores: list[float] = []

    def on_epoch_end(self, estimator: Any, record: dict[str, float]) -> None:
        started = time.perf_counter()
        accuracy = float((estimator.predict(self.texts) == self.labels).mean())
        self.scores.append(accuracy)
        print(
            f"  epoch {int(record['epoch'])}: train_loss={record['train_loss']:.4f} "
            f"val_accuracy={accuracy:.4f} epoch_seconds={record['seconds']:.0f} "
            f"(validation {time.perf_counter() - started:.0f}s)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    candidates = {**CANDIDATES, **EXTRA_CANDIDATES}
    options = parser(__doc__)
    options.add_argument("names", nargs="*", help=", ".join(candidates))
    args = parse(options, argv)
    unknown = sorted(set(args.names) - set(candidates))
    if unknown:
        options.error(f"unknown candidates {unknown}; choose from {list(candidates)}")

    _, train, val, _ = bbc_frames(DATA, args.limit)
    results = {}
    for name in args.names or list(CANDIDATES):
        params = {"epochs": 3, "random_state": 0, "training": "full", **candidates[name]}
        print(f"{name}: {params}", flush=True)
        scorer = ValidationScore(val["text"].tolist(), val["label"].tolist())
        clf = BertTopicClassifier(callbacks=[scorer], **bert_params(args, params))
        started = time.perf_counter()
        clf.fit(train["text"].tolist(), train["label"].tolist())
        results[name] = {
            "params": params,
            "val_accuracy_per_epoch": scorer.scores,
            "fit_seconds": time.perf_counter() - started,
        }
        print(json.dumps(results[name]), flush=True)
    print(json.dumps(results, indent=2))
    write("select-defaults", results, args.results_dir)


if __name__ == "__main__":
    main()
