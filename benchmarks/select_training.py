"""Choose where ``training="auto"`` switches from contrastive training to fine-tuning.

On validation data only: no test part is read. For each corpus, size k
(labelled texts per label) and draw d, a training sample is drawn
(``RandomState(d)``) from the corpus's training part, ``"contrastive"`` and
``"full"`` (each with its defaults and the precision a user gets, ``auto``)
are fitted on it and scored on a validation part that no draw touches:

- ``bbc``: k articles of each topic from the training part of the shared
  70/10/20 split, scored on its validation part (accuracy, macro-F1);
- ``reuters``: the ten most frequent topics of the Reuters training part
  (the file's own 80/20 split, its held-out 20% never read), split again
  80/20 by iterative stratification (``random_state=0``) into a part draws
  come from and a validation part; a draw adds wires of the rarest topics
  first until each topic has at least k; multi-label, scored by micro- and
  macro-F1 over the ten topics.

Per corpus and size: each system's mean and standard deviation, the paired
difference ``contrastive - full`` with its spread, and which is ahead by more
than the spread. Raw JSON: ``benchmarks/results/select-training-DATE.json``.

    python benchmarks/select_training.py                       # bbc, 16 32 64, 3 draws
    python benchmarks/select_training.py --corpora reuters --sizes 16 32
    python benchmarks/select_training.py --resume benchmarks/results/select-training-A.json
    python benchmarks/select_training.py --smoke --backbone DIR  # a trial run, tiny input
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    REUTERS,
    bert_params,
    few_labelled,
    label_scores,
    load_split,
    most_frequent,
    multilabel_scores,
    paired,
    parse,
    parser,
    reuters_frames,
    top_topics,
)
from benchmarks._results import write

SYSTEMS = ("contrastive", "full")


def corpus_parts(name: str, limit: int | None) -> dict[str, Any]:
    """The part draws come from and the validation part, as texts and labels."""
    if name == "bbc":
        split = load_split(limit=limit)
        return {"pool": split["train"], "valid": split["val"], "multilabel": False}
    from topicbert.datasets import train_val_test_split

    _, train, _, _ = reuters_frames(REUTERS, limit)
    topics = most_frequent(train)
    kept = top_topics(train, topics)
    pool, _, valid = train_val_test_split(kept, val_size=0.0, test_size=0.2, random_state=0)
    return {
        "pool": (pool["text"].tolist(), pool["label"].tolist()),
        "valid": (valid["text"].tolist(), valid["label"].tolist()),
        "multilabel": True,
        "topics": topics,
    }


def sample(parts: dict[str, Any], size: int, seed: int) -> tuple[list[str], list[Any]]:
    topics = parts["topics"] if parts["multilabel"] else None
    return few_labelled(*parts["pool"], size, seed, topics)


def fit_and_score(
    system: str, args: Any, parts: dict[str, Any], train: tuple[list[str], list[Any]], seed: int
) -> dict[str, float]:
    from topicbert import BertTopicClassifier

    params = {"training": system, "random_state": seed, "max_length": args.max_length}
    model = BertTopicClassifier(**bert_params(args, params))
    started = time.perf_counter()
    model.fit(*train)
    seconds = time.perf_counter() - started
    texts, truth = parts["valid"]
    predicted = model.predict(texts)
    if parts["multilabel"]:
        row = multilabel_scores([tuple(t) for t in truth], predicted, parts["topics"])
    else:
        row = label_scores(truth, predicted)
    return {**row, "fit_seconds": seconds, "train_texts": len(train[0])}


def summarise(runs: dict[str, Any], metric: dict[str, str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for corpus, sizes in runs.items():
        key = metric[corpus]
        summary[corpus] = {"metric": key}
        for size, systems in sizes.items():
            values = {name: [r[key] for r in rows] for name, rows in systems.items()}
            summary[corpus][size] = {
                **{
                    name: {
                        "mean": float(np.mean(v)),
                        "std": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                        "fit_seconds_mean": float(
                            np.mean([r["fit_seconds"] for r in systems[name]])
                        ),
                    }
                    for name, v in values.items()
                },
                "contrastive_minus_full": paired(values, "contrastive", "full"),
            }
    return summary


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__)
    made.add_argument("--corpora", nargs="+", choices=("bbc", "reuters"), default=["bbc"])
    made.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    made.add_argument("--draws", type=int, default=3, help="draws per size (default 3)")
    made.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    made.add_argument("--max-length", type=int, default=128, help="tokens per text (128)")
    made.add_argument("--resume", type=Path, help="an earlier raw file: its runs are kept")
    args = parse(made, argv, smoke_limit=300)
    if args.smoke:
        args.sizes, args.draws = [2], 2
    runs: dict[str, Any] = {}
    if args.resume is not None:
        runs = json.loads(args.resume.read_text())["runs"]
    metric = {"bbc": "accuracy", "reuters": "micro_f1"}
    for corpus in args.corpora:
        parts = corpus_parts(corpus, args.limit)
        for size in args.sizes:
            for d in range(args.draws):
                train = sample(parts, size, seed=d)
                for system in args.systems:
                    rows = runs.setdefault(corpus, {}).setdefault(str(size), {})
                    rows = rows.setdefault(system, [])
                    if len(rows) > d:
                        continue
                    rows.append(fit_and_score(system, args, parts, train, seed=d))
                    print(f"{corpus} k={size} draw {d} {system}: {rows[-1]}", flush=True)
                    figures = {
                        "max_length": args.max_length,
                        "backbone": args.backbone,
                        "precision": "auto",
                        "runs": runs,
                        "summary": summarise(runs, metric),
                    }
                    write("select-training", figures, args.results_dir)
    print(json.dumps(summarise(runs, metric), indent=1))


if __name__ == "__main__":
    main()
