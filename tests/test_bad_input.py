"""Bad input gets a clear error before any training, and a fitted model survives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import tiny_classifier

TEXTS = ["one goal", "market shares", "phone chip", "team score"]
LABELS = ["sport", "business", "tech", "sport"]


@pytest.mark.parametrize(
    ("X", "y", "error", "message"),
    [
        ("a single string", LABELS, ValueError, "single str"),
        ([], [], ValueError, "X is empty"),
        (["ok", None, "ok", "ok"], LABELS, ValueError, r"missing value \(None\) at position 1"),
        (pd.Series(["ok", "ok", np.nan, "ok"]), LABELS, ValueError, "position 2"),
        (["ok", "ok", "ok", 17], LABELS, TypeError, "position 3 holds int"),
        (np.array([["a", "b"], ["c", "d"]]), LABELS[:2], ValueError, "1-D"),
        (TEXTS, LABELS[:3], ValueError, "4 texts but 3 labels"),
        (TEXTS, ["sport"] * 4, ValueError, "at least two classes"),
        (TEXTS, ["sport", None, "tech", "sport"], ValueError, "missing label"),
        (TEXTS, ["sport", ["x"], "tech", "sport"], ValueError, "mixes label collections"),
        (TEXTS, ["sport", {"x": 1}, "tech", "sport"], TypeError, "hashable"),
        (TEXTS, ["sport", 1, "tech", "sport"], TypeError, "labels="),
        (TEXTS, None, ValueError, "requires y"),
    ],
)
def test_bad_training_data(tiny_bert: Path, X, y, error, message) -> None:
    with pytest.raises(error, match=message):
        tiny_classifier(tiny_bert).fit(X, y)


def test_label_not_in_labels_names_it_and_its_position(tiny_bert: Path) -> None:
    clf = tiny_classifier(tiny_bert, labels=["sport", "business"])
    with pytest.raises(ValueError, match=r"'tech' at position 2, which is not in labels"):
        clf.fit(TEXTS, LABELS)


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"max_length": 0}, ValueError, r"'max_length' parameter .* range \[2, inf\]. Got 0"),
        ({"max_length": 4096}, ValueError, "larger than backbone .* allows .128 tokens"),
        ({"max_length": 12.5}, ValueError, "must be an int"),
        ({"long_text": "middle"}, ValueError, "'long_text' parameter .* 'head_tail'"),
        ({"max_chunks": 0}, ValueError, r"'max_chunks' parameter .* range \[1, inf\]"),
        ({"freeze_backbone": "yes"}, TypeError, "'freeze_backbone' parameter .* True or False"),
        ({"freeze_backbone": 1}, TypeError, "'freeze_backbone' parameter .* True or False"),
        ({"early_stopping": 0}, TypeError, "'early_stopping' parameter .* True or False"),
        ({"class_weight": 0}, ValueError, "'class_weight' parameter"),
        ({"pooling": b"mean"}, ValueError, "'pooling' parameter"),
        ({"batch_size": "16"}, TypeError, "'batch_size'"),
        ({"learning_rate": 0}, ValueError, "'learning_rate'"),
        ({"dropout": 1.0}, ValueError, "'dropout'"),
        ({"attention_dropout": -0.1}, ValueError, "'attention_dropout'"),
        ({"attention_dropout": "none"}, TypeError, "'attention_dropout'"),
        ({"verbose": -1}, ValueError, "'verbose'"),
        ({"validation_fraction": 1.0}, ValueError, "'validation_fraction'"),
        ({"pooling": "max"}, ValueError, "'pooling' parameter .* one of 'mean', 'cls'"),
        ({"class_weight": "auto"}, ValueError, "'class_weight'"),
        ({"head_init": "zeros"}, ValueError, "'head_init' parameter .* 'probe'"),
        ({"precision": "int8"}, ValueError, "'precision'"),
        ({"device": "cuda"}, ValueError, "CUDA is not available"),
        ({"device": "tpu"}, ValueError, "'device' parameter"),
        ({"device": 0}, TypeError, "'device'"),
        ({"callbacks": "mlflow"}, TypeError, "'callbacks'"),
        ({"backbone": 3}, TypeError, "'backbone'"),
        ({"backbone": "./no/such/dir"}, ValueError, "does not exist"),
    ],
)
def test_bad_parameters(tiny_bert: Path, params, error, message) -> None:
    import torch

    if params.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(error, match=message):
        tiny_classifier(tiny_bert, **params).fit(TEXTS, LABELS)


def test_bad_prediction_input(fitted) -> None:
    with pytest.raises(ValueError, match="single str"):
        fitted.predict("just one text")
    with pytest.raises(ValueError, match="position 1"):
        fitted.predict_proba(["fine", None])
    assert fitted.predict_proba([]).shape == (0, 3)


def test_failed_refit_keeps_the_fitted_model(tiny_bert: Path, corpus, held_out) -> None:
    clf = tiny_classifier(tiny_bert, epochs=1).fit(*corpus)
    before = clf.predict_proba(held_out[0])
    with pytest.raises(ValueError, match=r"missing value \(None\) at position 1"):
        clf.fit(["text", None], ["a", "b"])
    clf.set_params(max_length=10_000)
    with pytest.raises(ValueError, match="max_length=10000 is larger than backbone"):
        clf.fit(*corpus)
    np.testing.assert_array_equal(clf.predict_proba(held_out[0]), before)
