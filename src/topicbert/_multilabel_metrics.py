"""The scores of label-set predictions, all from ``sklearn.metrics``."""

from __future__ import annotations

from typing import Any

import numpy as np

from topicbert._targets import SINGLE, as_indicator, target_kind
from topicbert._validation import label_array

AVERAGES = ("micro", "macro", "weighted", "samples")


def is_multilabel(y: object) -> bool:
    """Whether ``y`` is a 2-D indicator or a sequence of label collections."""
    try:
        return target_kind(y) != SINGLE
    except ValueError:
        return True  # rows of mixed kinds: let the multi-label path name the problem


def multilabel_scores(y_true: Any, y_pred: Any, labels: Any = None) -> dict[str, Any]:
    """Per-label and averaged precision, recall, F1 and support, and more.

    Returns the fields of a multi-label ``ClassificationReport``: ``labels``,
    ``precision``, ``recall``, ``f1``, ``support``, the ``micro``, ``macro``,
    ``weighted`` and ``samples`` averages, ``accuracy`` (subset accuracy),
    ``hamming_loss`` and ``confusion_matrix`` (one 2x2 matrix per label, as
    ``multilabel_confusion_matrix``: ``[[TN, FP], [FN, TP]]``).
    """
    from sklearn import metrics

    true_kind, pred_kind = target_kind(y_true), target_kind(y_pred)
    if SINGLE in (true_kind, pred_kind):
        raise ValueError(
            "y_true and y_pred must both be sets of labels (indicator arrays or one collection "
            "per text) or both single labels."
        )
    n_samples = y_true.shape[0] if hasattr(y_true, "shape") else len(y_true)
    if labels is None:
        if true_kind == "indicator":
            width = y_true.shape[1]
            label_list: list[Any] = list(range(width))
        else:
            seen = {label for row in list(y_true) + list(y_pred) for label in row}
            try:
                label_list = sorted(seen)
            except TypeError:
                raise TypeError(
                    "The labels are of types that cannot be sorted together; pass labels=[...]."
                ) from None
    else:
        label_list = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    classes = label_array(label_list)
    truth = as_indicator(y_true, classes, n_samples).astype(np.int64)
    predicted = as_indicator(y_pred, classes, n_samples).astype(np.int64)
    if truth.shape != predicted.shape:
        raise ValueError(
            f"y_true and y_pred have different shapes: {truth.shape} and {predicted.shape}."
        )
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        truth, predicted, zero_division=0
    )
    averages = {}
    for average in AVERAGES:
        p, r, f, _ = metrics.precision_recall_fscore_support(
            truth, predicted, average=average, zero_division=0
        )
        averages[average] = {
            "precision": float(p),
            "recall": float(r),
            "f1-score": float(f),
            "support": int(support.sum()),
        }
    return {
        "labels": [
            value.item() if isinstance(value, np.generic) else value for value in label_list
        ],
        "accuracy": float(metrics.accuracy_score(truth, predicted)),
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
        "averages": averages,
        "hamming_loss": float(metrics.hamming_loss(truth, predicted)),
        "confusion_matrix": metrics.multilabel_confusion_matrix(truth, predicted),
    }
