"""How well find_label_issues finds wrong labels: flip 5% of BBC training labels.

On the BBC training split (de-duplicated corpus, stratified 70/10/20 split,
random_state=42), 5% of the labels are changed to another label at random
(seed 0). ``topicbert.quality.find_label_issues`` (frozen MiniLM,
``max_length=256``, 5-fold out-of-fold probabilities, cleanlab's confident
learning) flags texts; precision and recall of finding the flipped ones are
compared with the plain ranking by the out-of-fold probability of the given
label cut at the number flipped (which a user does not know), for cleanlab's
``low_self_confidence``, ``prune_by_noise_rate`` and ``confident_learning``
filters, with two seeds of the flipping. Then the
same search on the whole unflipped corpus lists its most suspect labels.

    python benchmarks/label_issues.py
    python benchmarks/label_issues.py --smoke --backbone DIR  # a trial run on a tiny input

Raw figures go to ``benchmarks/results/label-issues-DATE.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, bbc_frames, bert_params, parse, parser
from benchmarks._results import write
from topicbert import BertTopicClassifier
from topicbert.quality import find_duplicate_conflicts, find_label_issues, out_of_fold_proba

DATA = BBC


def precision_recall(found: set[int], flipped: set[int]) -> dict[str, float]:
    hits = len(found & flipped)
    return {
        "flagged": len(found),
        "precision": hits / max(1, len(found)),
        "recall": hits / len(flipped),
    }


def flip(labels: list[str], share: float, seed: int) -> tuple[list[str], set[int]]:
    classes = sorted(set(labels))
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), round(share * len(labels)), replace=False)
    noisy = list(labels)
    for i in flipped:
        others = [c for c in classes if c != labels[i]]
        noisy[i] = others[rng.integers(len(others))]
    return noisy, set(flipped.tolist())


def main(argv: list[str] | None = None) -> None:
    from cleanlab.filter import find_label_issues as cleanlab_find

    args = parse(parser(__doc__), argv)
    params = bert_params(args, {"training": "head", "max_length": 256})

    def model() -> BertTopicClassifier:
        return BertTopicClassifier(random_state=0, **params)

    data, train, _, _ = bbc_frames(DATA, args.limit)
    texts, labels = train["text"].tolist(), train["label"].tolist()
    results: dict[str, Any] = {"texts": len(texts), "seeds": {}}
    for seed in (0, 1):
        noisy, flipped = flip(labels, 0.05, seed)
        started = time.perf_counter()
        proba, classes = out_of_fold_proba(model(), texts, noisy, cv=5)
        seconds = time.perf_counter() - started
        given = np.searchsorted(classes, np.asarray(noisy))
        ranking = np.argsort(proba[np.arange(len(noisy)), given], kind="stable")
        rows: dict[str, Any] = {"flipped": len(flipped), "oof_seconds": seconds}
        for filter_by in ("low_self_confidence", "prune_by_noise_rate", "confident_learning"):
            found = cleanlab_find(given, proba, filter_by=filter_by)
            rows[f"cleanlab-{filter_by}"] = precision_recall(set(np.flatnonzero(found)), flipped)
        rows["lowest_given_proba_top_flipped"] = precision_recall(
            set(ranking[: len(flipped)].tolist()), flipped
        )
        results["seeds"][seed] = rows
        print(f"seed {seed}: {len(flipped)} of {len(texts)} labels flipped")
        for name, row in rows.items():
            if isinstance(row, dict):
                print(
                    f"  {name:<36} flagged {row['flagged']:>4}  precision "
                    f"{row['precision']:.3f}  recall {row['recall']:.3f}"
                )

    everything = find_label_issues(
        model(), data["text"].tolist(), data["label"].tolist(), cv=5, preview_chars=70
    )
    conflicts = find_duplicate_conflicts(data["text"].tolist(), data["label"].tolist())
    print(
        f"\nwhole corpus ({len(data)} texts): {len(everything)} flagged, "
        f"{len(conflicts)} near-duplicate pairs with different labels"
    )
    print(everything.head(10).to_string(index=False))
    results["whole_corpus"] = {
        "texts": len(data),
        "flagged": len(everything),
        "top": everything.head(20).to_dict(orient="records"),
        "duplicate_conflicts": conflicts.to_dict(orient="records"),
    }
    write("label-issues", results, args.results_dir)


if __name__ == "__main__":
    main()
