"""A scikit-learn pipeline with grid search, and soft voting with TF-IDF.

    python examples/pipeline_grid_search.py path/to/bbc-news.csv
    python examples/pipeline_grid_search.py bbc-news.csv --per-class 30   # a quick run

The grid search chooses ``max_length`` and the long-text strategy by
cross-validation on the training part; the frozen-backbone fast path keeps
each candidate to seconds or minutes. The chosen model is then combined with
TF-IDF + LinearSVC by scikit-learn's ``VotingClassifier``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import VotingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import LinearSVC

from topicbert import BertTopicClassifier, TextCleaner
from topicbert.datasets import drop_duplicate_texts, read_labeled_csv, train_val_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a CSV file with text and label columns")
    parser.add_argument("--per-class", type=int, help="use only this many articles per topic")
    args = parser.parse_args()

    data = drop_duplicate_texts(read_labeled_csv(args.data))
    if args.per_class:
        data = data.groupby("label").head(args.per_class).reset_index(drop=True)
    train, _, test = train_val_test_split(data, val_size=0.0, test_size=0.2, random_state=42)
    X_train, y_train = train["text"].tolist(), train["label"].tolist()

    pipeline = Pipeline(
        [
            ("clean", TextCleaner()),
            ("bert", BertTopicClassifier(training="head", random_state=0)),
        ]
    )
    grid = GridSearchCV(
        pipeline,
        {"bert__max_length": [128, 256], "bert__long_text": ["truncate", "chunks"]},
        cv=3,
    )
    grid.fit(X_train, y_train)
    print("chosen by 3-fold cross-validation:", grid.best_params_)
    print(f"test accuracy, BERT only: {grid.score(test['text'].tolist(), test['label']):.4f}")

    tfidf = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        CalibratedClassifierCV(LinearSVC(), ensemble=False),
    )
    voting = VotingClassifier([("bert", grid.best_estimator_), ("tfidf", tfidf)], voting="soft")
    voting.fit(X_train, y_train)
    print(
        f"test accuracy, soft voting with TF-IDF: {voting.score(test['text'], test['label']):.4f}"
    )


if __name__ == "__main__":
    main()
