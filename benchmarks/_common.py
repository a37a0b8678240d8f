"""Shared by the benchmark scripts: corpora, splits, baselines, timing, scores, options.

Every BBC benchmark reads the de-duplicated corpus split 70/10/20 (stratified,
``random_state=42``); every Reuters benchmark reads the de-duplicated ModApte
training file split 80/20 (iterative stratification, ``random_state=42``).
Those splits are made here and nowhere else, so that figures from different
scripts stay comparable.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._results import RESULTS

ROOT = Path(__file__).resolve().parents[1]

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SEED = 42
"""Seed of every split and fold of the corpora."""
CORPORA = {"bbc": "bbc-news.csv", "reuters": "reuters-21578-modapte-train.csv"}
"""File name of each corpus (the repository keeps them gzip-compressed)."""
LABEL_SEPARATORS = {"bbc": None, "reuters": "|"}
DATA_DIRS = (ROOT / "data", ROOT.parent / "shared" / "data")
"""Where corpora are looked for, in order: the repository's copies first."""
DEFAULT_BACKBONE = "all-MiniLM-L6-v2"
SMOKE_DIR = ROOT / "build" / "smoke"
"""Where ``--smoke`` runs write, unless told otherwise: never beside real results."""
SMOKE_LIMIT = 60
"""Texts a ``--smoke`` run reads, unless ``--limit`` says otherwise."""

BBC_DESCRIPTIONS = {
    "business": "Business news: companies, markets, trade, profits and the economy.",
    "entertainment": "Entertainment news: films, music, television, celebrities and awards.",
    "politics": "Politics news: the government, elections, parliament, parties and ministers.",
    "sport": "Sport news: football, rugby, tennis, athletics, matches and players.",
    "tech": "Technology news: computers, the internet, mobile phones, software and games.",
}
"""One sentence per BBC topic, written once before any zero-shot figure was seen."""

REUTERS_TOPICS = 10
"""Few-label Reuters benchmarks keep this many topics: the most frequent of the training part."""
REUTERS_DESCRIPTIONS = {
    "acq": "Mergers and acquisitions: a company buys, takes over or acquires a stake in another.",
    "corn": "Corn: harvests, sales, exports and prices of corn (maize).",
    "crude": "Crude oil: oil production, oil prices, OPEC output and the petroleum industry.",
    "earn": "Company earnings: quarterly or annual profit, net income, revenue and dividends.",
    "grain": "Grain: production, trade and prices of cereals such as wheat, corn and barley.",
    "interest": "Interest rates: central bank rate decisions, prime rates and lending rates.",
    "money-fx": "Foreign exchange: currencies, exchange rates, the dollar and intervention.",
    "ship": "Shipping: ships, ports, tankers, freight and strikes at sea or in docks.",
    "trade": "International trade: exports, imports, trade deficits, tariffs and disputes.",
    "wheat": "Wheat: harvests, sales, exports and prices of wheat.",
}
"""One sentence per kept Reuters topic, written once before any few-label figure was seen."""


# ------------------------------------------------------------------ corpora
def data_path(corpus: str) -> Path:
    """The corpus file: the repository's ``data/NAME.csv.gz``, else one in ``../shared/data``."""
    name = CORPORA[corpus]
    for directory in DATA_DIRS:
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                return candidate
    return DATA_DIRS[0] / f"{name}.gz"  # missing: the error names the expected place


BBC = data_path("bbc")
REUTERS = data_path("reuters")


def load_corpus(
    corpus: str = "bbc",
    path: Path | str | None = None,
    *,
    deduplicate: bool = True,
    limit: int | None = None,
) -> pd.DataFrame:
    """Read a corpus (``text`` and ``label`` columns), de-duplicated unless told otherwise.

    ``limit`` keeps only that many texts, for trial runs: the first ones of
    each label in file order (single-label), or the first ones (multi-label).
    """
    from topicbert.datasets import drop_duplicate_texts, read_labeled_csv

    data = read_labeled_csv(path or data_path(corpus), label_separator=LABEL_SEPARATORS[corpus])
    if deduplicate:
        data = drop_duplicate_texts(data)
    return subsample(data, limit)


def subsample(data: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """At most ``limit`` rows, every label kept (single-label); all rows when ``limit`` is None."""
    from topicbert.datasets import is_multilabel_frame

    if limit is None or limit >= len(data):
        return data
    if is_multilabel_frame(data):
        return data.head(limit).reset_index(drop=True)
    per_label = max(1, limit // data["label"].nunique())
    return data.groupby("label", sort=False).head(per_label).reset_index(drop=True)


def bbc_frames(
    path: Path | str | None = None, limit: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The de-duplicated BBC corpus and its 70/10/20 split: ``data, train, val, test``."""
    from topicbert.datasets import train_val_test_split

    data = load_corpus("bbc", path, limit=limit)
    train, val, test = train_val_test_split(data, random_state=SEED)
    return data, train, val, test


def load_split(
    path: Path | str | None = None, limit: int | None = None
) -> dict[str, tuple[list[str], list[str]]]:
    """The BBC split as ``(texts, labels)`` lists under ``all``, ``train``, ``val``, ``test``."""
    data, train, val, test = bbc_frames(path, limit)
    parts = {"all": data, "train": train, "val": val, "test": test}
    return {k: (v["text"].tolist(), v["label"].tolist()) for k, v in parts.items()}


def reuters_frames(
    path: Path | str | None = None, limit: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """De-duplicated Reuters, its 80/20 split and its topics: ``data, train, test, classes``."""
    from topicbert.datasets import train_val_test_split

    data = load_corpus("reuters", path, limit=limit)
    train, _, test = train_val_test_split(data, val_size=0.0, test_size=0.2, random_state=SEED)
    return data, train, test, label_set(data["label"])


def top_topics(frame: pd.DataFrame, topics: list[str]) -> pd.DataFrame:
    """``frame``'s wires with their labels cut to ``topics``; wires left with none dropped."""
    kept = frame.assign(label=frame["label"].map(lambda s: tuple(t for t in s if t in topics)))
    return kept[kept["label"].map(len) > 0].reset_index(drop=True)


def most_frequent(frame: pd.DataFrame, n: int = REUTERS_TOPICS) -> list[str]:
    """The ``n`` most frequent labels of a column of label sets, sorted by name."""
    counts = frame["label"].explode().value_counts()
    return sorted(counts.index[:n])


def label_set(label_sets: Iterable[Iterable[str]]) -> list[str]:
    """The sorted labels occurring in a column of label sets."""
    return sorted({label for labels in label_sets for label in labels})


def seeded_folds() -> Any:
    """The 5 stratified, shuffled, seeded folds every BBC cross-validation uses."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(5, shuffle=True, random_state=SEED)


# ---------------------------------------------------------------- baselines
def tfidf_svc() -> Any:
    """TF-IDF (1-2 grams, sublinear tf) + LinearSVC: the single-label reference."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC())


def tfidf_calibrated_svc() -> Any:
    """The same with calibrated probabilities, for soft voting."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        CalibratedClassifierCV(LinearSVC(), ensemble=False),
    )


def squash(decisions: np.ndarray) -> np.ndarray:
    """Decision values into (0, 1), order kept."""
    import numpy as np

    result: np.ndarray = 1.0 / (1.0 + np.exp(-decisions))
    return result


def tfidf_one_vs_rest() -> Any:
    """TF-IDF (1-2 grams, sublinear tf, ``min_df=2``) + one-vs-rest LinearSVC, for label sets.

    Fitted on an indicator matrix; a label is predicted where its decision
    value is positive.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
        OneVsRestClassifier(LinearSVC(C=1.0)),
    )


def tfidf_multilabel(train: Any, test: Any, classes: list[str]) -> dict[str, Any]:
    """The multi-label references ``tfidf`` and ``tfidf-tuned``, scored on ``test``.

    ``tfidf``: :func:`tfidf_one_vs_rest`. ``tfidf-tuned``:
    per-label thresholds need decision values of a model used as it is (those
    of a model refitted on more data are shifted), so the SVM is fitted on 85%
    of ``train`` and its thresholds tuned on the other 15%.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    from topicbert._thresholds import apply_thresholds, tune_thresholds
    from topicbert.datasets import train_val_test_split

    binarizer = MultiLabelBinarizer(classes=classes)
    y_train = binarizer.fit_transform(train["label"])
    results: dict[str, Any] = {}

    started = time.perf_counter()
    svc = tfidf_one_vs_rest().fit(train["text"], y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    decisions = svc.decision_function(test["text"])
    seconds = time.perf_counter() - started
    predicted = (decisions > 0).astype(int)
    results["tfidf"] = {
        **multilabel_scores(list(test["label"]), predicted, classes),
        "fit_seconds": fit_seconds,
        "docs_per_second": len(test) / seconds,
    }

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
    tuned = apply_thresholds(squash(test_decisions), thresholds, 0)
    results["tfidf-tuned"] = {
        **multilabel_scores(list(test["label"]), tuned, classes),
        "fit_seconds": fit_seconds,
        "docs_per_second": results["tfidf"]["docs_per_second"],
        "thresholds": thresholds.tolist(),
    }
    return results


# ------------------------------------------------------------------- scores
def label_scores(labels: list[str], predicted: Any) -> dict[str, float]:
    """Single-label accuracy and macro-F1."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro")),
    }


def scores(model: Any, texts: list[str], labels: list[str]) -> dict[str, float]:
    """A fitted model's accuracy and macro-F1 on ``texts``."""
    return label_scores(labels, model.predict(texts))


def multilabel_scores(
    truth: list[tuple[str, ...]], predicted: Any, classes: list[str]
) -> dict[str, float]:
    """Micro-, macro- and samples-F1, subset accuracy and Hamming loss of label sets."""
    from topicbert import evaluate_report

    report = evaluate_report(truth, predicted, labels=classes)
    return {
        "micro_f1": report.micro_avg["f1-score"],
        "macro_f1": report.macro_avg["f1-score"],
        "samples_f1": report.samples_avg["f1-score"],
        "subset_accuracy": report.accuracy,
        "hamming_loss": float(report.hamming_loss or 0.0),
    }


# ------------------------------------------------------------ few labels
def draw(
    texts: list[str], labels: list[str], per_label: int, seed: int
) -> tuple[list[str], list[str]]:
    """``per_label`` texts of each label, drawn with ``RandomState(seed)``, in a seeded order."""
    import numpy as np

    rng = np.random.RandomState(seed)
    y = np.asarray(labels)
    chosen = np.concatenate(
        [
            rng.choice(np.flatnonzero(y == label), per_label, replace=False)
            for label in sorted(set(labels))
        ]
    )
    rng.shuffle(chosen)
    return [texts[i] for i in chosen], [labels[i] for i in chosen]


def draw_at_least(
    label_sets: list[tuple[str, ...]], topics: list[str], per_label: int, seed: int
) -> list[int]:
    """Positions of wires such that each topic has at least ``per_label`` (or all it has).

    Topics are filled rarest first, each from the wires not yet chosen, in
    an order drawn with ``RandomState(seed)``.
    """
    import numpy as np

    rng = np.random.RandomState(seed)
    order = rng.permutation(len(label_sets))
    counts = {topic: 0 for topic in topics}
    frequency = {t: sum(t in labels for labels in label_sets) for t in topics}
    chosen: list[int] = []
    taken = set()
    for topic in sorted(topics, key=lambda t: (frequency[t], t)):
        for i in order:
            if counts[topic] >= per_label:
                break
            if i in taken or topic not in label_sets[i]:
                continue
            taken.add(i)
            chosen.append(int(i))
            for label in label_sets[i]:
                counts[label] += 1
    rng.shuffle(chosen)
    return chosen


def few_labelled(
    texts: list[str], labels: list[Any], per_label: int, seed: int, topics: list[str] | None
) -> tuple[list[str], list[Any]]:
    """A few-label training sample: ``draw`` for single labels, ``draw_at_least`` for sets.

    ``topics`` is ``None`` for single labels, else the label sets' topics.
    """
    if topics is None:
        return draw(texts, labels, per_label, seed)
    chosen = draw_at_least(labels, topics, per_label, seed)
    return [texts[i] for i in chosen], [list(labels[i]) for i in chosen]


def paired(values: dict[str, list[float]], system: str, reference: str) -> dict[str, Any] | None:
    """Mean and standard deviation of the per-draw difference ``system - reference``.

    Over the draws both systems have (draws run in order, so the first n).
    """
    import numpy as np

    if system not in values or reference not in values:
        return None
    shared = min(len(values[system]), len(values[reference]))
    if shared == 0:
        return None
    difference = np.asarray(values[system][:shared]) - np.asarray(values[reference][:shared])
    spread = float(difference.std(ddof=1)) if len(difference) > 1 else float("nan")
    return {
        "mean": float(difference.mean()),
        "std": spread,
        "draws": shared,
        "ahead": int((difference > 0).sum()),
        "behind": int((difference < 0).sum()),
        "larger_than_spread": bool(len(difference) > 1 and abs(difference.mean()) > spread),
    }


# ------------------------------------------------------------ fit and time
def fit_timed(model: Any, texts: list[str], labels: list[Any]) -> float:
    """Fit ``model`` and return the seconds it took."""
    started = time.perf_counter()
    model.fit(texts, labels)
    return time.perf_counter() - started


def predict_timed(predict: Callable[[list[str]], Any], texts: list[str]) -> tuple[Any, float]:
    """Call ``predict(texts)``; return its result and the texts per second."""
    started = time.perf_counter()
    result = predict(texts)
    return result, len(texts) / (time.perf_counter() - started)


def timed_fit(model: Any, split: dict[str, Any]) -> dict[str, Any]:
    """Fit on train; score val and test; measure predict throughput on test."""
    result: dict[str, Any] = {"fit_seconds": fit_timed(model, *split["train"])}
    result["val"] = scores(model, *split["val"])
    test_texts, test_labels = split["test"]
    started = time.perf_counter()
    result["test"] = scores(model, test_texts, test_labels)
    result["docs_per_second"] = len(test_texts) / (time.perf_counter() - started)
    return result


def multilabel_system(
    train: Any, test: Any, classes: list[str], backbone: str = DEFAULT_BACKBONE, **params: Any
) -> dict[str, Any]:
    """``BertTopicClassifier(threshold="tune")`` fitted on ``train``, scored on ``test``."""
    from topicbert import BertTopicClassifier

    clf = BertTopicClassifier(
        backbone=backbone, labels=classes, threshold="tune", random_state=0, **params
    )
    fit_seconds = fit_timed(clf, train["text"].tolist(), list(train["label"]))
    predicted, docs_per_second = predict_timed(clf.predict, test["text"].tolist())
    return {
        **multilabel_scores(list(test["label"]), predicted, classes),
        "fit_seconds": fit_seconds,
        "docs_per_second": docs_per_second,
        "params": {"threshold": "tune", **params},
        "history": clf.history_,
    }


# -------------------------------------------------------------- explaining
def delete_words(text: str, words: list[str]) -> str:
    """``text`` without every occurrence of each of ``words``."""
    from topicbert._explain import delete_word

    for word in words:
        text = delete_word(text, word)
    return text


def deletion_drops(
    model: Any,
    texts: list[str],
    *,
    method: str,
    k: int = 5,
    num_samples: int = 500,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean probability drop of the predicted class: (explanation's top-k, random k).

    For each text, the explanation's top-k words (every occurrence) are
    deleted and, separately, k random distinct words of the same text; a
    faithful explanation lowers the predicted class's probability more.
    """
    import numpy as np

    from topicbert import explain

    rng = np.random.RandomState(seed)
    explained, random = [], []
    for text in texts:
        explanation = explain(
            model, text, method=method, num_features=k, num_samples=num_samples, random_state=seed
        )
        column = explanation.classes.index(explanation.predicted_label)
        top = [word for word, weight in explanation.as_list() if weight > 0][:k]
        words = sorted(set(re.findall(r"\w+", text)))
        chosen = [str(w) for w in rng.choice(words, size=min(k, len(words)), replace=False)]
        before = explanation.probabilities[column]
        after = model.predict_proba([delete_words(text, top), delete_words(text, chosen)])
        explained.append(before - after[0, column])
        random.append(before - after[1, column])
    return float(np.mean(explained)), float(np.mean(random))


# ------------------------------------------------------------ command line
def parser(
    doc: str | None, *, backbone: bool = True, limit: bool = True
) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares.

    ``--results-dir`` (where the raw JSON goes), ``--smoke`` (a trial run on a
    tiny input, seconds: it checks that the script runs; its figures mean
    nothing), and, where they apply, ``--limit`` and ``--backbone``.
    """
    made = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    made.add_argument(
        "--results-dir",
        type=Path,
        help=f"where the raw JSON goes (default {RESULTS.relative_to(ROOT)}/, "
        f"or {SMOKE_DIR.relative_to(ROOT)}/results/ with --smoke)",
    )
    made.add_argument(
        "--smoke",
        action="store_true",
        help="a trial run on a tiny input (seconds): checks the script, its figures mean nothing",
    )
    if limit:
        made.add_argument(
            "--limit",
            type=int,
            metavar="N",
            help=f"read only N texts of the corpus (default: all; {SMOKE_LIMIT} with --smoke)",
        )
    if backbone:
        made.add_argument(
            "--backbone",
            default=DEFAULT_BACKBONE,
            help=f"the BERT backbone, a name or a folder (default {DEFAULT_BACKBONE})",
        )
    return made


def parse(
    made: argparse.ArgumentParser, argv: list[str] | None, smoke_limit: int | None = SMOKE_LIMIT
) -> argparse.Namespace:
    """Parse ``argv`` and fill in what ``--smoke`` implies (``smoke_limit`` texts at most)."""
    args = made.parse_args(argv)
    if args.results_dir is None:
        args.results_dir = SMOKE_DIR / "results" if args.smoke else RESULTS
    if args.smoke and getattr(args, "limit", False) is None:
        args.limit = smoke_limit
    return args


def smoke_length(max_length: int, smoke: bool) -> int:
    """``max_length`` itself, or an eighth of it in a ``--smoke`` run (tiny backbones)."""
    return max(8, max_length // 8) if smoke else max_length


def bert_params(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    """``BertTopicClassifier`` parameters: ``params`` with the run's backbone.

    In a ``--smoke`` run, one epoch and an eighth of the texts' length.
    """
    from topicbert._validation import DEFAULT_MAX_LENGTH

    made = {"backbone": args.backbone, **params}
    if getattr(args, "smoke", False):
        made["max_length"] = smoke_length(made.get("max_length", DEFAULT_MAX_LENGTH), True)
        made["epochs"] = 1
    return made


def first(mapping: dict[str, Any], smoke: bool) -> dict[str, Any]:
    """All of ``mapping``, or only its first entry in a ``--smoke`` run."""
    return dict(list(mapping.items())[:1]) if smoke else dict(mapping)
