"""Finding wrong labels and texts labelled twice."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from tests.conftest import make_corpus, tiny_classifier

pytest.importorskip("cleanlab")
from topicbert.quality import (
    find_duplicate_conflicts,
    find_label_issues,
    out_of_fold_proba,
)


def flipped_corpus(n_per_class: int, n_flipped: int, seed: int):
    texts, labels = make_corpus(n_per_class, seed=seed)
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), n_flipped, replace=False)
    noisy = list(labels)
    classes = sorted(set(labels))
    for i in flipped:
        noisy[i] = classes[(classes.index(labels[i]) + 1) % len(classes)]
    return texts, labels, noisy, set(flipped.tolist())


def test_flipped_labels_are_found_with_any_classifier() -> None:
    texts, truth, noisy, flipped = flipped_corpus(60, 9, seed=3)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(C=10, max_iter=1000))
    issues = find_label_issues(model, texts, noisy, cv=5)
    assert list(issues.columns) == [
        "index",
        "given_label",
        "suggested_label",
        "label_quality",
        "suggested_proba",
        "text",
    ]
    found = set(issues["index"].tolist())
    assert len(found & flipped) >= 7  # most flipped labels are flagged
    assert len(found - flipped) <= 3  # and few correct ones
    assert issues["label_quality"].is_monotonic_increasing
    for row in issues.itertuples():
        assert row.given_label == noisy[row.index]
        if row.index in flipped:
            assert row.suggested_label == truth[row.index]
        assert len(row.text) <= 80


def test_with_the_frozen_backbone(tiny_bert, corpus) -> None:
    texts, labels = corpus
    proba, classes = out_of_fold_proba(
        tiny_classifier(tiny_bert, training="head"), texts, labels, cv=3
    )
    assert proba.shape == (len(texts), 3)
    assert list(classes) == ["business", "sport", "tech"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_bad_input_is_refused() -> None:
    model = make_pipeline(TfidfVectorizer(), LogisticRegression())
    texts, labels = make_corpus(4, seed=0)
    with pytest.raises(ValueError, match="fewer than cv=5"):
        find_label_issues(model, texts, labels, cv=5)
    with pytest.raises(ValueError, match="at least 2"):
        out_of_fold_proba(model, texts, labels, cv=1)
    with pytest.raises(ValueError, match="labels"):
        out_of_fold_proba(model, texts, labels[:-1], cv=2)
    with pytest.raises(ValueError, match="single"):
        find_duplicate_conflicts("one text", ["a"])


def test_duplicate_conflicts() -> None:
    texts = [
        "Shares rose after the results.",
        "A late goal won the cup final.",
        "shares   rose after the RESULTS.",  # the same text, another label
        "A late goal won the cup final!",  # the same text, the same label
        "The new phone has a faster chip.",
    ]
    labels = ["business", "sport", "tech", "sport", "tech"]
    pairs = find_duplicate_conflicts(texts, labels)
    assert pairs[["index_a", "index_b", "label_a", "label_b"]].values.tolist() == [
        [0, 2, "business", "tech"]
    ]
    assert pairs["similarity"].iloc[0] == pytest.approx(1.0)
    assert find_duplicate_conflicts(texts[:1], labels[:1]).empty
    with pytest.raises(ValueError, match="similarity"):
        find_duplicate_conflicts(texts, labels, similarity=0)


def test_cli_lists_issues_and_duplicates(tiny_bert, tmp_path, capsys) -> None:
    import pandas as pd

    from topicbert.cli import main

    texts, labels = make_corpus(20, seed=4)
    labels[3] = "tech" if labels[3] != "tech" else "sport"
    texts.append(texts[0])
    labels.append("sport" if labels[0] != "sport" else "tech")
    data = tmp_path / "data.csv"
    pd.DataFrame({"text": texts, "category": labels}).to_csv(data, index=False)
    out = tmp_path / "issues.csv"
    arguments = ["--backbone", str(tiny_bert), "--max-length", "32", "--cv", "3"]
    code = main(["label-issues", str(data), *arguments, "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "texts have a label that looks wrong" in printed
    assert "1 pairs of (nearly) identical texts with different labels" in printed
    written = pd.read_csv(out)
    assert list(written.columns)[:3] == ["index", "given_label", "suggested_label"]
    assert main(["label-issues", str(tmp_path / "missing.csv")]) == 1
