"""From label probabilities to label sets (``topicbert._thresholds``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from topicbert._thresholds import (
    GRID,
    MIN_POSITIVES,
    apply_thresholds,
    check_abstain_label,
    tune_thresholds,
)


def held_out(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of three labels whose best thresholds differ: low, middle and high."""
    rng = np.random.default_rng(seed)
    truth = rng.random((400, 3)) < [0.3, 0.3, 0.3]
    noise = rng.random((400, 3))
    # label 0's positives sit low, label 2's negatives sit high
    proba = np.where(truth, [0.25, 0.6, 0.95], [0.05, 0.4, 0.75]) + 0.15 * (noise - 0.5)
    return np.clip(proba, 0.0, 1.0), truth.astype(np.float32)


def test_the_global_threshold_is_the_grids_best_for_micro_f1() -> None:
    proba, truth = held_out()
    global_threshold, _ = tune_thresholds(proba, truth)
    scores = [f1_score(truth, proba >= t, average="micro") for t in GRID]
    assert global_threshold == GRID[int(np.argmax(scores))]


def test_each_label_with_enough_positives_gets_its_own_best_threshold() -> None:
    proba, truth = held_out()
    _, thresholds = tune_thresholds(proba, truth)
    for label in range(3):
        scores = [f1_score(truth[:, label], proba[:, label] >= t) for t in GRID]
        assert f1_score(truth[:, label], proba[:, label] >= thresholds[label]) == max(scores)
    # the labels' probabilities sit in different places, and so do their thresholds
    assert thresholds[0] < thresholds[1] < thresholds[2]


def test_a_label_with_too_few_positives_keeps_the_global_threshold() -> None:
    proba, truth = held_out()
    truth[:, 2] = 0.0
    truth[: MIN_POSITIVES - 1, 2] = 1.0  # one positive too few
    proba[: MIN_POSITIVES - 1, 2] = 0.99
    global_threshold, thresholds = tune_thresholds(proba, truth)
    assert thresholds[2] == global_threshold
    truth[MIN_POSITIVES - 1, 2] = 1.0  # now just enough
    proba[MIN_POSITIVES - 1, 2] = 0.99
    global_threshold, thresholds = tune_thresholds(proba, truth)
    assert thresholds[2] != global_threshold


def test_ties_go_to_the_threshold_nearest_the_global_one() -> None:
    # label 1 is perfectly separated by every threshold from 0.3 to 0.7
    proba = np.array([[0.9, 0.8], [0.9, 0.75], [0.9, 0.72], [0.1, 0.2], [0.1, 0.25], [0.1, 0.1]])
    truth = np.array([[1, 1], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]], dtype=np.float32)
    global_threshold, thresholds = tune_thresholds(proba, truth)
    assert global_threshold == GRID[np.argmax(GRID > 0.25)]  # the first that separates both
    assert thresholds[1] == global_threshold


def test_apply_thresholds_per_label() -> None:
    proba = np.array([[0.5, 0.5, 0.5], [0.2, 0.9, 0.6]])
    thresholds = np.array([0.4, 0.6, 0.7])
    assert apply_thresholds(proba, thresholds, 0).tolist() == [[1, 0, 0], [0, 1, 0]]


def test_min_labels_gives_an_empty_row_its_most_likely_label() -> None:
    proba = np.array([[0.1, 0.3, 0.2], [0.9, 0.1, 0.8], [0.0, 0.0, 0.4]])
    thresholds = np.full(3, 0.5)
    assert apply_thresholds(proba, thresholds, 0).tolist() == [[0, 0, 0], [1, 0, 1], [0, 0, 0]]
    assert apply_thresholds(proba, thresholds, 1).tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 1]]
    empty = np.zeros((0, 3))
    assert apply_thresholds(empty, thresholds, 1).shape == (0, 3)


@pytest.mark.parametrize(
    ("abstain_label", "refused"), [("sport", True), (1, True), (None, False), ("other", False)]
)
def test_an_abstention_label_must_not_be_a_real_one(abstain_label, refused: bool) -> None:
    classes = np.array(["sport", 1, "tech"], dtype=object)
    if refused:
        with pytest.raises(ValueError, match="is one of the labels"):
            check_abstain_label(abstain_label, classes)
    else:
        check_abstain_label(abstain_label, classes)
