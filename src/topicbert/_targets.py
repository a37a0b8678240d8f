"""Targets: what ``y`` means (one label per text, or a set of labels), and back.

scikit-learn's conventions: a 1-D sequence of hashable labels is single-label
(``"multiclass"``/``"binary"``); a 2-D 0/1 indicator array or sparse matrix,
or a sequence of label collections (lists, tuples, sets), is multi-label.
Internally a single-label target is an index into ``classes_`` per text and a
multi-label target a float32 indicator matrix with one column per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topicbert._validation import check_label_values, label_array

SINGLE = "single"
INDICATOR = "indicator"
COLLECTIONS = "collections"
TARGET_KINDS = (SINGLE, INDICATOR, COLLECTIONS)
"""How ``y`` was given: one label per text, an indicator matrix, label collections."""

_COLLECTION_TYPES = (list, tuple, set, frozenset)


@dataclass(frozen=True)
class Targets:
    """Training targets: the classes and ``y`` in the model's terms."""

    kind: str
    classes: np.ndarray
    encoded: np.ndarray
    """Class indices (``SINGLE``) or a float32 indicator matrix (multi-label)."""

    @property
    def multilabel(self) -> bool:
        return is_multilabel(self.kind)


def is_multilabel(kind: str) -> bool:
    """Whether a target kind (``target_kind_``) means sets of labels."""
    return kind != SINGLE


def _is_sparse(y: object) -> bool:
    return hasattr(y, "tocsr") and hasattr(y, "shape")


def target_kind(y: object, multilabel: object = "auto") -> str:
    """Tell how ``y`` is given; ``multilabel=False`` reads collections as single labels."""
    if multilabel is False:
        return SINGLE
    if _is_sparse(y) or getattr(y, "ndim", 1) == 2:
        return INDICATOR
    if y is None or isinstance(y, (str, bytes)) or getattr(y, "ndim", 1) == 0:
        return SINGLE  # check_label_values gives the error
    try:
        rows = y.tolist() if isinstance(y, np.ndarray) else list(y)  # type: ignore[call-overload]
    except TypeError:
        return SINGLE
    collections = [isinstance(row, _COLLECTION_TYPES) for row in rows]
    if rows and all(collections):
        return COLLECTIONS
    if any(collections):
        first = collections.index(True)
        other = collections.index(False)
        raise ValueError(
            "y mixes label collections and single labels: position "
            f"{first} holds {type(rows[first]).__name__} ({rows[first]!r}) but position "
            f"{other} holds {type(rows[other]).__name__} ({rows[other]!r}). Give every text "
            "a collection of labels (an empty one for no label) or every text one label."
        )
    if multilabel is True:
        raise ValueError(
            "multilabel=True needs y as a 2-D indicator array or one collection of labels "
            "per text; got one label per text."
        )
    return SINGLE


def encode_targets(
    y: object,
    n_samples: int,
    *,
    labels: Sequence[Any] | None,
    multilabel: object = "auto",
    owner: str = "BertTopicClassifier.fit",
) -> Targets:
    """Check ``y`` against ``n_samples`` texts and return it as training targets."""
    kind = target_kind(y, multilabel)
    if kind == SINGLE:
        values = check_label_values(y, n_samples, owner=owner)
        classes, index = _single_classes(values, labels)
        return Targets(SINGLE, classes, index)
    if kind == INDICATOR:
        matrix = _indicator(y, n_samples)
        if labels is None:
            classes = np.arange(matrix.shape[1])
        else:
            classes = _declared(labels)
            if len(classes) != matrix.shape[1]:
                raise ValueError(
                    f"y has {matrix.shape[1]} columns but labels= names {len(classes)} labels; "
                    "give one label per column."
                )
        return Targets(INDICATOR, classes, matrix)
    rows = list(y)  # type: ignore[call-overload]
    if len(rows) != n_samples:
        raise ValueError(
            f"X and y have different lengths: {n_samples} texts but {len(rows)} label sets."
        )
    for position, row in enumerate(rows):
        for label in row:
            try:
                hash(label)
            except TypeError:
                raise TypeError(
                    f"Labels must be hashable; the label set at position {position} holds "
                    f"{type(label).__name__}."
                ) from None
    classes = (
        _declared(labels)
        if labels is not None
        else _sorted_labels({label for row in rows for label in row})
    )
    return Targets(COLLECTIONS, classes, binarize(rows, classes, where="y"))


def binarize(rows: Sequence[Any], classes: np.ndarray, *, where: str) -> np.ndarray:
    """Label collections as a float32 indicator matrix over ``classes``."""
    index = {label: i for i, label in enumerate(classes.tolist())}
    matrix = np.zeros((len(rows), len(classes)), dtype=np.float32)
    for position, row in enumerate(rows):
        if not isinstance(row, _COLLECTION_TYPES):
            raise TypeError(
                f"{where} must hold one collection of labels per text; position {position} "
                f"holds {type(row).__name__} ({row!r})."
            )
        for label in row:
            if label not in index:
                raise ValueError(
                    f"{where} holds the label {label!r} at position {position}, which is not "
                    f"among the model's labels {classes.tolist()!r}."
                )
            matrix[position, index[label]] = 1.0
    return matrix


def decode(indicator: np.ndarray, kind: str, classes: np.ndarray) -> Any:
    """Turn predicted 0/1 rows into the kind of target ``fit`` was given."""
    if kind == INDICATOR:
        return indicator.astype(np.int64)
    return [tuple(classes[np.flatnonzero(row)].tolist()) for row in indicator]


def label_lists(predictions: Any, classes: np.ndarray) -> list[list[Any]]:
    """Multi-label predictions (indicator rows or label tuples) as a list of labels per text."""
    if isinstance(predictions, np.ndarray):
        return [classes[np.flatnonzero(row)].tolist() for row in predictions]
    return [list(row) for row in predictions]


def positive_weights(indicator: np.ndarray) -> np.ndarray:
    """Each label's negatives per positive (1 where a label has no positives)."""
    positives = indicator.sum(axis=0)
    negatives = len(indicator) - positives
    weights: np.ndarray = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    return weights


def as_indicator(y: object, classes: np.ndarray, n_samples: int) -> np.ndarray:
    """Read true labels (as ``fit`` took them) as an indicator matrix over ``classes``."""
    given = target_kind(y)
    if given == SINGLE:
        raise ValueError(
            "This model was fitted on sets of labels (multi-label); y must be a 2-D indicator "
            "array or one collection of labels per text, not one label per text."
        )
    if given == INDICATOR:
        matrix = _indicator(y, n_samples)
        if matrix.shape[1] != len(classes):
            raise ValueError(
                f"y has {matrix.shape[1]} columns but the model has {len(classes)} labels."
            )
        return matrix
    rows = list(y)  # type: ignore[call-overload]
    if len(rows) != n_samples:
        raise ValueError(
            f"X and y have different lengths: {n_samples} texts but {len(rows)} label sets."
        )
    return binarize(rows, classes, where="y")


def _indicator(y: Any, n_samples: int) -> np.ndarray:
    matrix = np.asarray(y.toarray() if _is_sparse(y) else y)
    if matrix.ndim != 2:
        raise ValueError(f"A multi-label y must be 2-D; got shape {matrix.shape}.")
    if matrix.shape[0] != n_samples:
        raise ValueError(
            f"X and y have different lengths: {n_samples} texts but {matrix.shape[0]} rows in y."
        )
    if matrix.shape[1] < 1:
        raise ValueError("A multi-label y needs at least one column.")
    if matrix.dtype == object or (
        not np.issubdtype(matrix.dtype, np.number) and matrix.dtype != bool
    ):
        raise ValueError(f"An indicator y must hold 0 and 1; got values of type {matrix.dtype}.")
    values = matrix.astype(np.float64)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"An indicator y must hold only 0 and 1; y[{row}, {column}] is "
            f"{matrix[row, column].item()!r}."
        )
    return values.astype(np.float32)


def _declared(labels: Sequence[Any]) -> np.ndarray:
    if isinstance(labels, (str, bytes)):
        raise TypeError(
            "The 'labels' parameter of BertTopicClassifier must be a sequence of labels, not a "
            "single string."
        )
    declared = list(labels)
    if len(set(declared)) != len(declared):
        raise ValueError(f"The 'labels' parameter contains duplicates: {declared!r}.")
    return label_array(declared)


def _sorted_labels(distinct: set[Any] | list[Any]) -> np.ndarray:
    values = list(dict.fromkeys(distinct))
    try:
        values.sort()
    except TypeError:
        raise TypeError(
            "The labels in y are of types that cannot be sorted together "
            f"({sorted({type(v).__name__ for v in values})}); pass labels=[...] to give their "
            "order."
        ) from None
    return label_array(values)


def _single_classes(y: np.ndarray, labels: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``classes_`` and ``y`` as indices into it."""
    classes = _declared(labels) if labels is not None else _sorted_labels(y.tolist())
    index = {label: i for i, label in enumerate(classes.tolist())}
    y_index = np.empty(len(y), dtype=np.int64)
    for position, label in enumerate(y.tolist()):
        if label not in index:
            raise ValueError(
                f"y contains the label {label!r} at position {position}, which is not in "
                f"labels={classes.tolist()!r}."
            )
        y_index[position] = index[label]
    if len(np.unique(y_index)) < 2:
        raise ValueError(
            "BertTopicClassifier needs at least two classes in y; got only "
            f"{classes[y_index[0]]!r}."
        )
    return classes, y_index


def base_rate_log_odds(indicator: np.ndarray) -> np.ndarray:
    """Each label's log-odds in an indicator matrix, smoothed by half a text.

    Where a multi-label head's biases start: at each label's base rate.
    """
    prior = (indicator.sum(axis=0) + 0.5) / (len(indicator) + 1.0)
    log_odds: np.ndarray = np.log(prior / (1.0 - prior))
    return log_odds
