"""What ``y`` means and back (``topicbert._targets``): single labels, indicators, label sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from topicbert._targets import (
    COLLECTIONS,
    INDICATOR,
    SINGLE,
    as_indicator,
    base_rate_log_odds,
    binarize,
    decode,
    encode_targets,
    label_lists,
    positive_weights,
    target_kind,
)

from .conftest import tiny_classifier


@pytest.mark.parametrize(
    ("y", "error", "message"),
    [
        ([("sport",), "business", ("tech",), ("sport",)], ValueError, "mixes label collections"),
        (np.array([[0, 1], [1, 2], [0, 0], [1, 1]]), ValueError, r"y\[1, 1\] is 2"),
        (np.array([[0, 1], [0.5, 0], [0, 0], [1, 1]]), ValueError, r"y\[1, 0\] is 0.5"),
        (np.ones((3, 2)), ValueError, "4 texts but 3 rows"),
        ([("sport",), (["x"],), (), ()], TypeError, "hashable"),
        ([("sport",)] * 3, ValueError, "4 texts but 3 label sets"),
    ],
)
def test_bad_multilabel_targets(tiny_bert: Path, y, error, message) -> None:
    texts = ["one goal", "market shares", "phone chip", "team score"]
    with pytest.raises(error, match=message):
        tiny_classifier(tiny_bert).fit(texts, y)


def test_labels_must_name_every_indicator_column(tiny_bert: Path) -> None:
    texts = ["one goal", "market shares", "phone chip", "team score"]
    with pytest.raises(ValueError, match="3 columns but labels= names 2"):
        tiny_classifier(tiny_bert, labels=["a", "b"]).fit(texts, np.eye(4, 3, dtype=int))


def test_multilabel_true_needs_label_sets(tiny_bert: Path) -> None:
    texts = ["one goal", "market shares"]
    with pytest.raises(ValueError, match="multilabel=True needs"):
        tiny_classifier(tiny_bert, multilabel=True).fit(texts, ["a", "b"])


def test_tuples_are_single_labels_when_asked(tiny_bert: Path) -> None:
    texts = ["one goal", "market shares", "phone chip", "team score"]
    labels = [("a", 1), ("b", 2), ("a", 1), ("b", 2)]
    clf = tiny_classifier(tiny_bert, epochs=1, multilabel=False).fit(texts, labels)
    assert clf.target_kind_ == "single"
    assert clf.predict(texts[:1])[0] in [("a", 1), ("b", 2)]


@pytest.mark.parametrize(
    ("y", "kind"),
    [
        (["a", "b", "a"], SINGLE),
        (np.array([1, 2, 1]), SINGLE),
        (np.eye(3, dtype=int), INDICATOR),
        (scipy.sparse.csr_matrix(np.eye(3)), INDICATOR),
        ([("a",), ["a", "b"], set()], COLLECTIONS),
        ([frozenset({"a"}), (), ("b",)], COLLECTIONS),
        (None, SINGLE),
        ("abc", SINGLE),
    ],
)
def test_target_kind_reads_how_y_is_given(y, kind: str) -> None:
    assert target_kind(y) == kind


def test_multilabel_false_reads_collections_as_single_labels() -> None:
    assert target_kind([("a", 1), ("b", 2)], multilabel=False) == SINGLE
    assert target_kind(np.eye(2), multilabel=False) == SINGLE


def test_single_labels_are_indices_into_sorted_or_declared_classes() -> None:
    sorted_targets = encode_targets(["b", "c", "a", "b"], 4, labels=None)
    assert sorted_targets.kind == SINGLE and not sorted_targets.multilabel
    assert sorted_targets.classes.tolist() == ["a", "b", "c"]
    assert sorted_targets.encoded.tolist() == [1, 2, 0, 1]
    declared = encode_targets(["b", "c", "a", "b"], 4, labels=["c", "b", "a", "d"])
    assert declared.classes.tolist() == ["c", "b", "a", "d"]
    assert declared.encoded.tolist() == [1, 0, 2, 1]


@pytest.mark.parametrize(
    ("y", "labels", "error", "message"),
    [
        (["a", "a", "a"], None, ValueError, "at least two classes"),
        (["a", "b", "z"], ["a", "b"], ValueError, "label 'z' at position 2"),
        (["a", "b", "a"], ["a", "b", "a"], ValueError, "duplicates"),
        (["a", "b", "a"], "ab", TypeError, "not a\\s+single string"),
        ([1, "b", 2], None, TypeError, "cannot be sorted together"),
    ],
)
def test_bad_single_labels(y, labels, error, message: str) -> None:
    with pytest.raises(error, match=message):
        encode_targets(y, 3, labels=labels)


def test_label_sets_become_an_indicator_over_sorted_labels() -> None:
    targets = encode_targets([("b",), ("a", "c"), ()], 3, labels=None)
    assert targets.kind == COLLECTIONS and targets.multilabel
    assert targets.classes.tolist() == ["a", "b", "c"]
    assert targets.encoded.dtype == np.float32
    assert targets.encoded.tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]


def test_an_indicator_keeps_its_columns_and_takes_their_names_from_labels() -> None:
    y = np.array([[0, 1], [1, 1], [0, 0]])
    unnamed = encode_targets(y, 3, labels=None)
    assert unnamed.kind == INDICATOR and unnamed.classes.tolist() == [0, 1]
    np.testing.assert_array_equal(unnamed.encoded, y.astype(np.float32))
    named = encode_targets(scipy.sparse.csr_matrix(y), 3, labels=["x", "y"])
    assert named.classes.tolist() == ["x", "y"]
    np.testing.assert_array_equal(named.encoded, y.astype(np.float32))


def test_binarize_refuses_unknown_labels_and_rows_that_are_not_collections() -> None:
    classes = np.array(["a", "b"])
    assert binarize([("b",), ["a", "b"]], classes, where="y").tolist() == [[0, 1], [1, 1]]
    with pytest.raises(ValueError, match="label 'z' at position 1"):
        binarize([("a",), ("z",)], classes, where="y")
    with pytest.raises(TypeError, match="position 0 holds str"):
        binarize(["a"], classes, where="the prediction")


def test_decode_gives_back_the_kind_fit_was_given() -> None:
    classes = np.array(["a", "b", "c"])
    rows = np.array([[1, 0, 1], [0, 0, 0]])
    assert decode(rows, COLLECTIONS, classes) == [("a", "c"), ()]
    decoded = decode(rows.astype(np.float32), INDICATOR, classes)
    assert decoded.dtype == np.int64 and decoded.tolist() == rows.tolist()
    assert label_lists(rows, classes) == [["a", "c"], []]
    assert label_lists([("a", "c"), ()], classes) == [["a", "c"], []]


def test_as_indicator_reads_true_label_sets_for_scoring() -> None:
    classes = np.array(["a", "b"])
    np.testing.assert_array_equal(as_indicator([("b",), ()], classes, 2), [[0, 1], [0, 0]])
    np.testing.assert_array_equal(as_indicator(np.eye(2), classes, 2), np.eye(2))
    with pytest.raises(ValueError, match="not one label per text"):
        as_indicator(["a", "b"], classes, 2)
    with pytest.raises(ValueError, match="3 columns but the model has 2"):
        as_indicator(np.ones((2, 3)), classes, 2)
    with pytest.raises(ValueError, match="2 texts but 1 label sets"):
        as_indicator([("a",)], classes, 2)


def test_positive_weights_and_base_rates_of_an_indicator() -> None:
    indicator = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32)
    # negatives per positive; a label without positives gets 1
    np.testing.assert_allclose(positive_weights(indicator), [1 / 3, 3.0, 1.0])
    rates = (indicator.sum(axis=0) + 0.5) / 5.0
    np.testing.assert_allclose(base_rate_log_odds(indicator), np.log(rates / (1 - rates)))
