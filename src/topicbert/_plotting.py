"""Figures shared by reports, explanations and dataset summaries (matplotlib, imported late).

Figures are made with ``matplotlib.figure.Figure`` directly, never through
pyplot's global state, so plotting is safe in servers and threads.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = ["PLOT_HINT", "new_figure", "plot_training_curves"]

PLOT_HINT = "Plotting needs matplotlib; install it with: pip install 'topicbert[plot]'"


def new_figure(**kwargs: Any) -> Figure:
    """A matplotlib Figure that does not go through pyplot's global state."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(PLOT_HINT) from exc
    return Figure(layout="constrained", **kwargs)


def png_img_tag(figure: Figure | SubFigure, alt: str) -> str:
    """Return an ``<img>`` tag holding the figure as an embedded PNG."""
    buffer = io.BytesIO()
    figure.get_figure(root=True).savefig(buffer, format="png", dpi=100)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def plot_confusion_matrix(
    matrix: np.ndarray, labels: Sequence[Any], *, ax: Axes | None, normalized: str | None
) -> Axes:
    """Draw a confusion matrix (counts or shares) as an annotated heatmap."""
    if ax is None:
        n = len(labels)
        ax = new_figure(figsize=(2.5 + 0.8 * n, 2 + 0.7 * n)).subplots()
    from sklearn.metrics import ConfusionMatrixDisplay

    names = [str(x) for x in labels]
    display = ConfusionMatrixDisplay(matrix, display_labels=names)
    display.plot(
        ax=ax,
        cmap="Blues",
        values_format=".2f" if normalized else "d",
        xticks_rotation=45 if max(len(name) for name in names) > 6 else "horizontal",
        colorbar=True,
    )
    ax.set_title("Confusion matrix" + (f" (normalised over {normalized})" if normalized else ""))
    return ax


def plot_training_curves(history: Sequence[dict[str, float]]) -> Figure:
    """Plot loss and accuracy per epoch from a classifier's ``history_``.

    Parameters
    ----------
    history : list of dict
        Per-epoch records with ``train_loss``, ``train_accuracy`` and, when
        there was a validation split, ``valid_loss`` and ``valid_accuracy``.

    Returns
    -------
    figure : matplotlib Figure
        Two panels, loss and accuracy, training against validation;
        ``figure.savefig("curves.png")`` saves it.

    Examples
    --------
    >>> from topicbert import plot_training_curves
    >>> figure = plot_training_curves(clf.history_)  # doctest: +SKIP
    """
    records = list(history)
    if not records:
        raise ValueError(
            "There is no training history to plot: build the report with "
            "ClassificationReport.from_estimator on a fitted BertTopicClassifier, or pass "
            "history=clf.history_."
        )
    figure = new_figure(figsize=(10, 4))
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    epochs = [record.get("epoch", i + 1) for i, record in enumerate(records)]
    for ax, metric in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
        for split, style in (("train", "o-"), ("valid", "s--")):
            key = f"{split}_{metric}"
            if all(key in record for record in records):
                label = "training" if split == "train" else "validation"
                ax.plot(epochs, [record[key] for record in records], style, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric.capitalize()} per epoch")
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def plot_reliability(bins: Sequence[dict[str, float]], ece: float, ax: Axes | None) -> Axes:
    """Draw a reliability diagram: accuracy against confidence per bin."""
    if ax is None:
        ax = new_figure(figsize=(5, 5)).subplots()
    filled = [b for b in bins if b["count"] > 0]
    centres = [(b["lower"] + b["upper"]) / 2 for b in filled]
    ax.bar(
        centres,
        [b["accuracy"] for b in filled],
        width=[b["upper"] - b["lower"] for b in filled],
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.plot(centres, [b["confidence"] for b in filled], "ro", label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    return ax


def plot_label_outcomes(matrices: np.ndarray, labels: Sequence[Any], *, ax: Axes | None) -> Axes:
    """Per label: true positives, false negatives and false positives as stacked bars.

    ``matrices`` is ``multilabel_confusion_matrix``'s ``(n_labels, 2, 2)``.
    Labels are listed by support, largest first, one row each.
    """
    names = [str(x) for x in labels]
    tp, fn, fp = matrices[:, 1, 1], matrices[:, 1, 0], matrices[:, 0, 1]
    order = np.argsort(-(tp + fn), kind="stable")[::-1]
    if ax is None:
        ax = new_figure(figsize=(8, 1.5 + 0.22 * len(names))).subplots()
    rows = np.arange(len(names))
    ax.barh(rows, tp[order], color="tab:green", label="true positives")
    ax.barh(rows, fn[order], left=tp[order], color="tab:orange", label="false negatives")
    ax.barh(
        rows, fp[order], left=(tp + fn)[order], color="tab:red", alpha=0.6, label="false positives"
    )
    ax.set_yticks(rows, [names[i] for i in order], fontsize=8 if len(names) > 30 else 10)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel("texts")
    ax.set_title("Per-label outcomes (support = true positives + false negatives)")
    ax.legend(loc="lower right")
    return ax
