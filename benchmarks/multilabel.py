"""Reuters-21578 (ModApte training file, 90 topics): multi-label topics against TF-IDF.

One run, one machine. The de-duplicated file is split once, by iterative
stratification (``random_state=42``), into a training part (80%) and a
held-out part (20%) that no system sees before it is scored; thresholds are
tuned on data taken from the training part only (cross-validated predictions
or the estimator's own validation split). Systems:

1. TF-IDF (1-2 grams, sublinear tf) + one-vs-rest LinearSVC, labels where the
   decision value is positive;
2. the same with per-label thresholds: the SVM fitted on 85% of the training
   part, its thresholds tuned on the other 15% (thresholds tuned on
   cross-validated decision values do not carry over to an SVM refitted on
   all the data, whose decision values are shifted: micro-F1 fell to 0.41);
3. ``BertTopicClassifier(freeze_backbone=True, threshold="tune")``;
4. ``BertTopicClassifier(threshold="tune")`` fine-tuned with the defaults.

Reported: micro-F1, macro-F1, samples-F1, subset accuracy, fit seconds and
docs/s of prediction on the held-out part; raw JSON under
``benchmarks/results/``.

    python benchmarks/multilabel.py [--skip finetune]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import write
from topicbert import BertTopicClassifier, evaluate_report
from topicbert._thresholds import apply_thresholds, tune_thresholds
from topicbert.datasets import drop_duplicate_texts, read_labeled_csv, train_val_test_split

DATA = Path(__file__).resolve().parents[1] / "data" / "reuters-21578-modapte-train.csv.gz"
SYSTEMS = ("tfidf", "tfidf-tuned", "frozen", "finetune")


def scores(truth: list[tuple[str, ...]], predicted: Any, classes: list[str]) -> dict[str, float]:
    report = evaluate_report(truth, predicted, labels=classes)
    return {
        "micro_f1": report.micro_avg["f1-score"],
        "macro_f1": report.macro_avg["f1-score"],
        "samples_f1": report.samples_avg["f1-score"],
        "subset_accuracy": report.accuracy,
        "hamming_loss": float(report.hamming_loss or 0.0),
    }


def squash(decisions: np.ndarray) -> np.ndarray:
    """Decision values into (0, 1), order kept."""
    result: np.ndarray = 1.0 / (1.0 + np.exp(-decisions))
    return result


def tfidf_systems(train: Any, test: Any, classes: list[str]) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    binarizer = MultiLabelBinarizer(classes=classes)
    y_train = binarizer.fit_transform(train["label"])
    results: dict[str, Any] = {}

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x_train = vectorizer.fit_transform(train["text"])
    svc = OneVsRestClassifier(LinearSVC(C=1.0)).fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    decisions = svc.decision_function(vectorizer.transform(test["text"]))
    seconds = time.perf_counter() - started
    predicted = (decisions > 0).astype(int)
    results["tfidf"] = {
        **scores(list(test["label"]), predicted, classes),
        "fit_seconds": fit_seconds,
        "docs_per_second": len(test) / seconds,
    }

    # tuned: thresholds need decision values of a model that will be used as it is
    # (those of models refitted on more data are shifted), so the SVM is fitted on
    # 85% of the training part and its per-label thresholds tuned on the other 15%
    started = time.perf_counter()
    fit_part, _, tune_part = train_val_test_split(
        train, val_size=0.0, test_size=0.15, random_state=0
    )
    tuned_vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x_fit = tuned_vectorizer.fit_transform(fit_part["text"])
    tuned_svc = OneVsRestClassifier(LinearSVC(C=1.0)).fit(
        x_fit, binarizer.transform(fit_part["label"])
    )
    held = tuned_svc.decision_function(tuned_vectorizer.transform(tune_part["text"]))
    _, thresholds = tune_thresholds(squash(held), binarizer.transform(tune_part["label"]))
    fit_seconds = time.perf_counter() - started
    test_decisions = tuned_svc.decision_function(tuned_vectorizer.transform(test["text"]))
    results["tfidf-tuned"] = {
        **scores(
            list(test["label"]), apply_thresholds(squash(test_decisions), thresholds, 0), classes
        ),
        "fit_seconds": fit_seconds,
        "docs_per_second": results["tfidf"]["docs_per_second"],
        "thresholds": thresholds.tolist(),
    }
    return results


def bert_system(train: Any, test: Any, classes: list[str], **params: Any) -> dict[str, Any]:
    clf = BertTopicClassifier(labels=classes, threshold="tune", random_state=0, **params)
    started = time.perf_counter()
    clf.fit(train["text"].tolist(), list(train["label"]))
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = clf.predict(test["text"].tolist())
    seconds = time.perf_counter() - started
    return {
        **scores(list(test["label"]), predicted, classes),
        "fit_seconds": fit_seconds,
        "docs_per_second": len(test) / seconds,
        "params": {"threshold": "tune", **params},
        "history": clf.history_,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], choices=SYSTEMS)
    parser.add_argument(
        "--reuse",
        type=Path,
        help="an earlier raw JSON of this script: skipped systems are copied from it, marked",
    )
    args = parser.parse_args()

    data = drop_duplicate_texts(read_labeled_csv(DATA, label_separator="|"))
    train, _, test = train_val_test_split(data, val_size=0.0, test_size=0.2, random_state=42)
    classes = sorted({label for labels in data["label"] for label in labels})
    print(f"Reuters: {len(train)} training and {len(test)} held-out wires, {len(classes)} topics")
    results: dict[str, Any] = {"n_train": len(train), "n_test": len(test)}
    if "tfidf" not in args.skip:
        results.update(tfidf_systems(train, test, classes))
    if "frozen" not in args.skip:
        results["frozen"] = bert_system(train, test, classes, freeze_backbone=True)
    if "finetune" not in args.skip:
        results["finetune"] = bert_system(train, test, classes)

    if args.reuse is not None:
        import json

        earlier = json.loads(args.reuse.read_text())
        for name in args.skip:
            if name in earlier:
                results[name] = {**earlier[name], "reused_from": args.reuse.name}
    print(f"\n{'system':<14}{'micro-F1':>9}{'macro-F1':>9}{'samples':>9}{'subset':>8}"
          f"{'fit s':>8}{'docs/s':>8}")  # fmt: skip
    for name in SYSTEMS:
        if name in results:
            r = results[name]
            print(
                f"{name:<14}{r['micro_f1']:>9.4f}{r['macro_f1']:>9.4f}{r['samples_f1']:>9.4f}"
                f"{r['subset_accuracy']:>8.4f}{r['fit_seconds']:>8.0f}{r['docs_per_second']:>8.0f}"
            )
    write("multilabel-reuters", results)


if __name__ == "__main__":
    main()
