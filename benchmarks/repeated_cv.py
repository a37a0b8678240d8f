"""Accuracy with its spread: repeated stratified cross-validation against TF-IDF.

One test split moves by more than the gaps between systems (on BBC one article
is 0.23 points), so every system here is scored on the same folds of the
whole de-duplicated corpus (5 folds x ``--repeats`` repeats,
``random_state=42``), and each is compared with TF-IDF + LinearSVC fold by
fold. Reported per system: mean and standard deviation over folds, and the
paired per-fold difference against TF-IDF (and, where it was run, TF-IDF with
tuned thresholds) with its standard deviation and its
corrected standard error (Nadeau & Bengio, 2003: the folds share training
texts, so the plain standard error is too small); a difference is called
larger than its spread when it exceeds twice that corrected error.

BBC (single label): accuracy, macro-F1, log-loss and expected calibration
error (ECE), the last two before and after temperature scaling
(``CalibratedClassifierCV(FrozenEstimator(model), method="temperature")``
fitted on one half of the test fold and applied to the other, both ways), fit
seconds and docs/s. Reuters (multi-label, iterative stratification):
micro-F1, macro-F1 and subset accuracy.

Results are written after every fold, so ``--resume`` continues a run that was
stopped; raw JSON in ``benchmarks/results/``.

    python benchmarks/repeated_cv.py                              # BBC, default systems
    python benchmarks/repeated_cv.py --systems tfidf finetune-minilm --repeats 1
    python benchmarks/repeated_cv.py --corpus reuters --systems tfidf tfidf-tuned frozen-minilm
    python benchmarks/repeated_cv.py --resume FILE --pair frozen-mpnet frozen-minilm
    python benchmarks/repeated_cv.py --smoke --backbone DIR  # a trial run on a tiny input

``--backbone`` replaces the backbone of every BERT system (MiniLM's and MPNet's).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    BBC,
    REUTERS,
    ROOT,
    SEED,
    SMOKE_LIMIT,
    bert_params,
    label_set,
    load_corpus,
    multilabel_system,
    parse,
    parser,
    tfidf_multilabel,
    tfidf_svc,
)
from benchmarks._results import write

DATA = {"bbc": BBC, "reuters": REUTERS}
MPNET = ROOT / "models" / "all-mpnet-base-v2"  # benchmarks/get_mpnet.py puts it there
N_SPLITS = 5
BASELINE = "tfidf"
BACKBONES = {"minilm": "all-MiniLM-L6-v2", "mpnet": str(MPNET)}
# BertTopicClassifier parameters of each system (besides the backbone)
BERT_SYSTEMS: dict[str, dict[str, Any]] = {
    "frozen-minilm": {"training": "head"},
    "frozen-minilm-chunks": {"training": "head", "long_text": "chunks"},
    "frozen-mpnet": {"training": "head"},
    "frozen-mpnet-chunks": {"training": "head", "long_text": "chunks"},
    "finetune-minilm": {"training": "full"},
    "finetune-mpnet": {"training": "full"},
}
SYSTEMS = (BASELINE, "tfidf-tuned", *BERT_SYSTEMS)
# systems every other one is compared with fold by fold, where they were run
REFERENCES = (BASELINE, "tfidf-tuned")


def folds(corpus: str, labels: list[Any], repeats: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same (train, test) index pairs for every system: repeat by repeat, fold by fold."""
    x = np.zeros((len(labels), 1))
    if corpus == "bbc":
        from sklearn.model_selection import RepeatedStratifiedKFold

        splitter: Any = RepeatedStratifiedKFold(
            n_splits=N_SPLITS, n_repeats=repeats, random_state=SEED
        )
        return list(splitter.split(x, labels))
    from iterstrat.ml_stratifiers import RepeatedMultilabelStratifiedKFold
    from sklearn.preprocessing import MultiLabelBinarizer

    indicator = MultiLabelBinarizer().fit_transform(labels)
    splitter = RepeatedMultilabelStratifiedKFold(
        n_splits=N_SPLITS, n_repeats=repeats, random_state=SEED
    )
    return list(splitter.split(x, indicator))


def bert_system_params(system: str, args: Any) -> dict[str, Any]:
    """A BERT system's ``BertTopicClassifier`` parameters, its backbone included."""
    backbone = args.backbone or BACKBONES[system.split("-")[1]]
    if backbone == str(MPNET) and not MPNET.exists():
        raise SystemExit(f"{MPNET} is missing: run python benchmarks/get_mpnet.py first")
    made = bert_params(args, BERT_SYSTEMS[system])
    made["backbone"] = backbone
    return made


def bert(system: str, args: Any) -> Any:
    from topicbert import BertTopicClassifier

    return BertTopicClassifier(random_state=0, **bert_system_params(system, args))


# ------------------------------------------------------------- single label
def calibration_scores(model: Any, texts: list[str], labels: list[str]) -> dict[str, float]:
    """Log-loss and ECE of temperature-scaled probabilities, each half fitted on the other."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    from topicbert import evaluate_report

    proba = np.zeros((len(texts), len(model.classes_)))
    temperatures = []
    halves = StratifiedKFold(n_splits=2, shuffle=True, random_state=SEED).split(texts, labels)
    for fit_half, apply_half in halves:
        calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
        calibrated.fit([texts[i] for i in fit_half], [labels[i] for i in fit_half])
        proba[apply_half] = calibrated.predict_proba([texts[i] for i in apply_half])
        temperatures.append(float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_))
    classes = list(model.classes_)
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    report = evaluate_report(labels, predicted, y_proba=proba, labels=classes)
    return {
        "log_loss_calibrated": float(log_loss(labels, proba, labels=classes)),
        "ece_calibrated": float(report.expected_calibration_error or 0.0),
        "temperature_beta": float(np.mean(temperatures)),
    }


def single_label_fold(
    system: str,
    train: tuple[list[str], list[str]],
    test: tuple[list[str], list[str]],
    args: Any,
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    from topicbert import evaluate_report

    model = tfidf_svc() if system == BASELINE else bert(system, args)
    started = time.perf_counter()
    model.fit(*train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    proba = model.predict_proba(test[0]) if hasattr(model, "predict_proba") else None
    predicted = (
        model.predict(test[0]) if proba is None else np.asarray(model.classes_)[proba.argmax(1)]
    )
    seconds = time.perf_counter() - started
    row: dict[str, Any] = {
        "accuracy": float(accuracy_score(test[1], predicted)),
        "macro_f1": float(f1_score(test[1], predicted, average="macro")),
        "errors": int(sum(p != t for p, t in zip(predicted, test[1], strict=True))),
        "fit_seconds": fit_seconds,
        "docs_per_second": len(test[0]) / seconds,
    }
    if proba is not None:
        classes = list(model.classes_)
        report = evaluate_report(test[1], list(predicted), y_proba=proba, labels=classes)
        row["log_loss"] = float(log_loss(test[1], proba, labels=classes))
        row["ece"] = float(report.expected_calibration_error or 0.0)
        row.update(calibration_scores(model, *test))
    return row


# -------------------------------------------------------------- multi-label
def multilabel_fold(
    system: str, train: Any, test: Any, classes: list[str], args: Any
) -> dict[str, Any]:
    if system in (BASELINE, "tfidf-tuned"):
        return dict(tfidf_multilabel(train, test, classes)[system])
    row = multilabel_system(train, test, classes, **bert_system_params(system, args))
    return {key: value for key, value in row.items() if key not in ("params", "history")}


# ---------------------------------------------------------------- summaries
def summarise(results: dict[str, Any], test_share: float) -> dict[str, Any]:
    """Mean and spread per system and metric, and paired differences against the references."""
    summary: dict[str, Any] = {}
    for system, rows in results["folds"].items():
        metrics = sorted({k for row in rows.values() for k, v in row.items() if _number(v)})
        entry: dict[str, Any] = {"folds": len(rows)}
        for metric in metrics:
            values = np.array([row[metric] for row in rows.values() if metric in row])
            entry[metric] = {"mean": float(values.mean()), "std": _std(values)}
        for reference in REFERENCES[: REFERENCES.index(system) if system in REFERENCES else None]:
            baseline = results["folds"].get(reference, {})
            shared = [key for key in rows if key in baseline]
            for metric in ("accuracy", "macro_f1", "micro_f1"):
                if shared and metric in rows[shared[0]]:
                    entry[f"{metric}_minus_{reference}"] = paired_difference(
                        rows, baseline, metric, test_share
                    )
        summary[system] = entry
    return summary


def paired_difference(
    rows: dict[str, Any], reference: dict[str, Any], metric: str, test_share: float
) -> dict[str, Any]:
    """``rows - reference`` on their shared folds, with its corrected standard error."""
    shared = [key for key in rows if key in reference]
    diff = np.array([rows[k][metric] - reference[k][metric] for k in shared])
    corrected = math.sqrt((1 / len(diff) + test_share / (1 - test_share)) * _var(diff))
    return {
        "mean": float(diff.mean()),
        "std": _std(diff),
        "corrected_se": corrected,
        "folds": len(diff),
        "ahead": int((diff > 0).sum()),
        "behind": int((diff < 0).sum()),
        # one fold has no spread to compare with
        "larger_than_spread": len(diff) > 1 and bool(abs(diff.mean()) > 2 * corrected),
    }


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _var(values: np.ndarray) -> float:
    return float(values.var(ddof=1)) if len(values) > 1 else 0.0


def _std(values: np.ndarray) -> float:
    return math.sqrt(_var(values))


def print_summary(summary: dict[str, Any], metrics: tuple[str, ...]) -> None:
    for system, entry in summary.items():
        cells = [f"{m} {entry[m]['mean']:.4f}±{entry[m]['std']:.4f}" for m in metrics if m in entry]
        print(f"{system:22} folds {entry['folds']:2}  " + "  ".join(cells))
        for key, diff in entry.items():
            if "_minus_" in key:
                verdict = "larger than spread" if diff["larger_than_spread"] else "within spread"
                print(
                    f"{'':22} {key}: {diff['mean']:+.4f} (std {diff['std']:.4f}, corrected "
                    f"se {diff['corrected_se']:.4f}, {diff['folds']} folds): {verdict}"
                )


def print_pair(folds: dict[str, Any], first: str, second: str) -> None:
    for metric in ("accuracy", "macro_f1", "micro_f1"):
        if metric in next(iter(folds[first].values())):
            diff = paired_difference(folds[first], folds[second], metric, 1 / N_SPLITS)
            verdict = "larger than spread" if diff["larger_than_spread"] else "within spread"
            print(
                f"{first} - {second} {metric}: {diff['mean']:+.4f} (corrected se "
                f"{diff['corrected_se']:.4f}, {diff['folds']} folds, ahead in {diff['ahead']}, "
                f"behind in {diff['behind']}): {verdict}"
            )


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.set_defaults(backbone=None)
    options.add_argument("--corpus", choices=sorted(DATA), default="bbc")
    options.add_argument(
        "--systems",
        nargs="+",
        choices=SYSTEMS,
        default=[BASELINE, "frozen-minilm", "frozen-minilm-chunks", "finetune-minilm"],
    )
    options.add_argument("--repeats", type=int, default=3, help="repeats of the 5 folds (3)")
    options.add_argument(
        "--max-folds",
        type=int,
        help="score each system on at most this many folds (the first ones); for slow systems",
    )
    options.add_argument("--resume", type=Path, help="a JSON file of this script to continue")
    options.add_argument(
        "--pair",
        nargs=2,
        metavar=("A", "B"),
        help="with --resume: print A - B on their shared folds for each metric, run nothing",
    )
    args = parse(options, argv, smoke_limit=None)
    if args.smoke and args.limit is None:
        # BBC: temperature scaling cross-validates on each half of a test fold (5 per topic)
        args.limit = 1250 if args.corpus == "bbc" else SMOKE_LIMIT
    if args.pair:
        if args.resume is None:
            options.error("--pair reads the folds of a --resume file")
        print_pair(json.loads(args.resume.read_text())["folds"], *args.pair)
        return

    data = load_corpus(args.corpus, DATA[args.corpus], limit=args.limit)
    texts, labels = data["text"].tolist(), list(data["label"])
    pairs = folds(args.corpus, labels, args.repeats)
    results: dict[str, Any] = {"corpus": args.corpus, "texts": len(texts), "folds": {}}
    if args.resume is not None:
        results = json.loads(args.resume.read_text())
        results.pop("machine", None)
    results.update(repeats=args.repeats, n_splits=N_SPLITS, seed=SEED)
    classes = label_set(labels) if args.corpus == "reuters" else None
    name = f"repeated-cv-{args.corpus}"
    path = None

    for system in args.systems:
        done = results["folds"].setdefault(system, {})
        for number, (train_index, test_index) in enumerate(pairs[: args.max_folds]):
            key = f"r{number // N_SPLITS}f{number % N_SPLITS}"
            if key in done:
                continue
            if classes is None:
                row = single_label_fold(
                    system,
                    ([texts[i] for i in train_index], [labels[i] for i in train_index]),
                    ([texts[i] for i in test_index], [labels[i] for i in test_index]),
                    args,
                )
            else:
                row = multilabel_fold(
                    system, data.iloc[train_index], data.iloc[test_index], classes, args
                )
            done[key] = row
            shown = {k: round(v, 4) for k, v in row.items() if _number(v)}
            print(system, key, shown, flush=True)
            results["summary"] = summarise(results, 1 / N_SPLITS)
            path = write(name, results, args.results_dir)
    metrics = (
        ("accuracy", "macro_f1", "ece", "ece_calibrated")
        if classes is None
        else (
            "micro_f1",
            "macro_f1",
            "subset_accuracy",
        )
    )
    if path is None and args.resume is not None and "summary" in results:
        results["summary"] = summarise(results, 1 / N_SPLITS)  # this version's summary
        path = write(name, results, args.results_dir)
    if "summary" in results:
        print_summary(results["summary"], metrics)
    if path is None:
        print(f"nothing new to run; figures in {args.results_dir}")


if __name__ == "__main__":
    main()
