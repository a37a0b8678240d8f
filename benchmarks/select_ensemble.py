"""Choose how to combine BertTopicClassifier with TF-IDF, on the training split only.

Every candidate member is cross-validated on the training part of the
de-duplicated BBC corpus (stratified 70/10/20, random_state=42; 5 seeded
folds) and its out-of-fold probabilities are saved under ``build/oof/``, so a
member costs its folds once. Then each member alone, soft votes of two or
three members with weights on a grid, and stacking (a logistic regression on
the members' out-of-fold log-probabilities, scored by a second 5-fold CV) are
scored on those out-of-fold probabilities and listed by accuracy, then
log-loss. The validation and test parts are not read. What the benchmark
took from this table, and why, is recorded beside ``VOTING`` in
``benchmarks/compare.py``.

    python benchmarks/select_ensemble.py                          # every member
    python benchmarks/select_ensemble.py --members finetune       # compute one member
    python benchmarks/select_ensemble.py --members none           # score saved members
    python benchmarks/select_ensemble.py --smoke --backbone DIR   # a trial run, tiny input

Raw figures (every candidate's scores) go to
``benchmarks/results/select-ensemble-DATE.json``.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    BBC,
    bert_params,
    load_split,
    parse,
    parser,
    seeded_folds,
    tfidf_calibrated_svc,
)
from benchmarks._results import write

DATA = BBC
OOF_DIR = Path("build/oof")


def tfidf_logreg() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=30.0)
    )


RUN: dict[str, Any] = {}  # the run's options, set by main()


def bert(**params: Any) -> Callable[[], Any]:
    def make() -> Any:
        from topicbert import BertTopicClassifier

        made = {"random_state": 0, "training": "full", **params}
        if "options" in RUN:  # the run's backbone; tiny settings in a --smoke run
            made = bert_params(RUN["options"], made)
        return BertTopicClassifier(**made)

    return make


MEMBERS: dict[str, Callable[[], Any]] = {
    "tfidf-svc": tfidf_calibrated_svc,
    "tfidf-logreg": tfidf_logreg,
    "frozen-chunks-256": bert(training="head", long_text="chunks"),
    "frozen-512": bert(training="head", max_length=512),
    "finetune": bert(),
    "finetune-attention-dropout-0.1": bert(attention_dropout=None),  # the backbone's own rate
    "finetune-128": bert(max_length=128),
    "finetune-seed-1": bert(random_state=1),  # the defaults, another seed
}


def out_of_fold(name: str, texts: list[str], labels: list[str], oof_dir: Path) -> np.ndarray:
    """Out-of-fold probabilities of one member (columns in sorted label order)."""
    from sklearn.model_selection import cross_val_predict

    path = oof_dir / f"{name}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    proba = cross_val_predict(
        MEMBERS[name](), texts, labels, cv=seeded_folds(), method="predict_proba", verbose=1
    )
    oof_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, proba)
    print(f"{name}: out-of-fold probabilities in {time.perf_counter() - started:.0f} s")
    return proba


def score(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import log_loss

    return float(np.mean(proba.argmax(1) == y)), float(log_loss(y, np.clip(proba, 1e-7, 1)))


def stacked(probas: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Second-level out-of-fold probabilities of a logistic regression on log-probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    features = np.hstack([np.log(np.clip(p, 1e-7, 1)) for p in probas])
    stacker = LogisticRegression(C=1.0)
    proba = cross_val_predict(stacker, features, y, cv=seeded_folds(), method="predict_proba")
    return np.asarray(proba)


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--data", type=Path, default=DATA)
    options.add_argument("--members", nargs="*", default=list(MEMBERS))
    options.add_argument(
        "--oof-dir",
        type=Path,
        help=f"where out-of-fold probabilities are kept ({OOF_DIR}; with --smoke, a temporary "
        "folder: a trial run neither reuses nor leaves any)",
    )
    args = parse(options, argv)
    scratch = tempfile.TemporaryDirectory() if args.smoke and args.oof_dir is None else None
    oof_dir = Path(scratch.name) if scratch else args.oof_dir or OOF_DIR
    RUN["options"] = args
    warnings.filterwarnings("ignore")
    texts, labels = load_split(args.data, args.limit)["train"]
    classes, y = np.unique(labels, return_inverse=True)
    saved = {
        name: out_of_fold(name, texts, labels, oof_dir)
        for name in MEMBERS
        if name in args.members or (oof_dir / f"{name}.npy").exists()
    }
    if scratch is not None:
        scratch.cleanup()
    rows: list[tuple[float, float, str]] = []
    for name, proba in saved.items():
        rows.append((*score(proba, y), name))
    weights = np.linspace(0.1, 0.9, 9)
    for a, b in itertools.combinations(saved, 2):
        for w in weights:
            rows.append((*score(w * saved[a] + (1 - w) * saved[b], y), f"vote {a}={w:.1f} {b}"))
        rows.append((*score(stacked([saved[a], saved[b]], y), y), f"stack {a} {b}"))
    for trio in itertools.combinations(saved, 3):
        rows.append((*score(sum(saved[n] for n in trio) / 3, y), "vote equal " + " ".join(trio)))
        rows.append((*score(stacked([saved[n] for n in trio], y), y), "stack " + " ".join(trio)))
    rows.sort(key=lambda row: (-row[0], row[1]))
    print(f"\n{len(texts)} training articles, 5-fold out-of-fold scores ({len(classes)} topics)")
    print(f"{'accuracy':>8} {'log-loss':>8}  candidate")
    for accuracy, loss, name in rows[:25]:
        print(f"{accuracy:8.4f} {loss:8.4f}  {name}")
    print("members alone:")
    for accuracy, loss, name in rows:
        if name in saved:
            print(f"{accuracy:8.4f} {loss:8.4f}  {name}")
    figures = {
        "train_texts": len(texts),
        "members": list(saved),
        "candidates": [
            {"candidate": name, "accuracy": accuracy, "log_loss": loss}
            for accuracy, loss, name in rows
        ],
    }
    write("select-ensemble", figures, args.results_dir)


if __name__ == "__main__":
    main()
