"""Turning independent label probabilities into label sets.

Thresholds are tuned on probabilities of texts held out from training (a
validation split or out-of-fold predictions), never on the caller's test data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
"""The thresholds tried when tuning."""

MIN_POSITIVES = 3
"""Held-out texts carrying a label needed before that label gets its own threshold."""


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def tune_thresholds(proba: np.ndarray, truth: np.ndarray) -> tuple[float, np.ndarray]:
    """Return the global threshold best for micro-F1 and one threshold per label.

    Each label with at least :data:`MIN_POSITIVES` held-out positives gets the
    threshold that maximises its own F1 (ties: the one nearest the global);
    the other labels keep the global threshold.
    """
    truth = truth.astype(bool)
    micro = []
    per_label = np.empty((len(GRID), truth.shape[1]))
    for row, threshold in enumerate(GRID):
        predicted = proba >= threshold
        tp = (predicted & truth).sum(axis=0)
        fp = (predicted & ~truth).sum(axis=0)
        fn = (~predicted & truth).sum(axis=0)
        micro.append(float(_f1(tp.sum(), fp.sum(), fn.sum())))
        per_label[row] = _f1(tp, fp, fn)
    global_threshold = float(GRID[int(np.argmax(micro))])
    thresholds = np.full(truth.shape[1], global_threshold)
    nearness = -np.abs(GRID - global_threshold)[:, None] * 1e-9  # break ties towards the global
    best = np.argmax(per_label + nearness, axis=0)
    enough = truth.sum(axis=0) >= MIN_POSITIVES
    thresholds[enough] = GRID[best[enough]]
    return global_threshold, thresholds


def apply_thresholds(proba: np.ndarray, thresholds: np.ndarray, min_labels: int) -> np.ndarray:
    """0/1 rows: the labels whose probability reaches their threshold.

    With ``min_labels=1``, a row where no label passes gets its most likely one.
    """
    predicted = (proba >= thresholds).astype(np.int64)
    if min_labels and len(predicted):
        empty = predicted.sum(axis=1) == 0
        predicted[empty, proba[empty].argmax(axis=1)] = 1
    return predicted


def check_abstain_label(abstain_label: Any, classes: np.ndarray) -> None:
    """Refuse an abstention label that is also a real label."""
    if any(abstain_label == label for label in classes.tolist()):
        raise ValueError(
            f"abstain_label={abstain_label!r} is one of the labels; choose a value that is "
            "not, such as None or 'unknown', so that abstentions stay apart."
        )
