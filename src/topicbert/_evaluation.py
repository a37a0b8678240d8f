"""evaluate_report: a classification report to read, plot, compare and save.

Works with any scikit-learn classifier; imports neither torch nor matplotlib
until a plot is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from topicbert._validation import label_array

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ClassificationReport", "evaluate_report"]

_NORMALIZE = (None, "true", "pred", "all")


def _to_list(values: object, name: str) -> list[Any]:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of labels, not a single string.")
    if values is None:
        raise ValueError(f"{name} is required.")
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    result: list[Any] = list(values)  # type: ignore[call-overload]
    return result


def _plain(value: Any) -> Any:
    """Turn numpy scalars into Python ones so that JSON and equality behave."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class ClassificationReport:
    """Scores of a classifier on labelled data; build it with :func:`evaluate_report`.

    Attributes
    ----------
    labels : list
        The class labels, in the order of every table and matrix.
    accuracy : float
        Share of correct predictions.
    precision, recall, f1, support : list
        Per-class scores, in ``labels`` order.
    macro_avg, weighted_avg : dict
        ``precision``, ``recall``, ``f1-score`` and ``support`` averaged over
        classes, unweighted and weighted by support.
    confusion_matrix : ndarray of shape (n_labels, n_labels)
        Rows are true labels, columns predicted labels.
    log_loss : float or None
        Cross-entropy of the probabilities (when given).
    top_k_accuracy : dict
        ``{k: accuracy}`` for k = 2 .. min(5, n_labels - 1) (with probabilities).
    expected_calibration_error : float or None
        Mean gap between confidence and accuracy over 10 equal-width bins of
        the top probability, weighted by bin size (with probabilities).
    calibration : list of dict
        Per bin: ``lower``, ``upper``, ``count``, ``confidence``, ``accuracy``.
    history : list of dict
        Per-epoch training records (a fitted classifier's ``history_``), if known.
    multilabel : bool
        Whether the texts carry sets of labels. Then ``accuracy`` is the
        subset accuracy (the whole set right), ``micro_avg`` and
        ``samples_avg`` join the averages, ``hamming_loss`` is the share of
        wrong text-label pairs, and ``confusion_matrix`` has shape
        ``(n_labels, 2, 2)``, one ``[[TN, FP], [FN, TP]]`` matrix per label as
        ``sklearn.metrics.multilabel_confusion_matrix`` gives.
    """

    labels: list[Any]
    accuracy: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    macro_avg: dict[str, float]
    weighted_avg: dict[str, float]
    confusion_matrix: np.ndarray
    log_loss: float | None = None
    top_k_accuracy: dict[int, float] = field(default_factory=dict)
    expected_calibration_error: float | None = None
    calibration: list[dict[str, float]] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    multilabel: bool = False
    micro_avg: dict[str, float] = field(default_factory=dict)
    samples_avg: dict[str, float] = field(default_factory=dict)
    hamming_loss: float | None = None

    # ----------------------------------------------------------- constructors
    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: Sequence[str],
        y: Sequence[Any],
        *,
        labels: Sequence[Any] | None = None,
    ) -> ClassificationReport:
        """Score a fitted classifier (or a ``Pipeline`` ending in one) on ``X`` and ``y``.

        With ``predict_proba``, the predictions are its most probable classes
        (as ``predict`` gives for most classifiers) and the probabilities add
        log-loss, top-k accuracy and calibration; the final step's
        ``history_`` gives the training curves.

        Parameters
        ----------
        estimator : fitted classifier
            Anything with ``predict`` and ``classes_``.
        X : sequence of str
            Texts (or whatever the estimator takes).
        y : sequence
            True labels.
        labels : sequence, optional
            Label order of the report; ``estimator.classes_`` by default.

        Returns
        -------
        report : ClassificationReport
            The report.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        classes = np.asarray(
            getattr(estimator, "classes_", getattr(final, "classes_", []))
        ).tolist()
        order = classes if labels is None else _to_list(labels, "labels")
        if len(order) != len(classes) or set(order) != set(classes):
            raise ValueError(
                f"labels={order!r} must list the estimator's classes {classes!r} in some order."
            )
        if getattr(final, "target_kind_", "single") != "single":
            return evaluate_report(
                y,
                estimator.predict(X),
                labels=order,
                history=list(getattr(final, "history_", []) or []),
            )
        proba = None
        if hasattr(estimator, "predict_proba"):
            proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
            y_pred = label_array(classes)[proba.argmax(axis=1)]
            proba = proba[:, [classes.index(label) for label in order]]
        else:
            y_pred = estimator.predict(X)
        return evaluate_report(
            y,
            y_pred,
            y_proba=proba,
            labels=order,
            history=list(getattr(final, "history_", []) or []),
        )

    # ------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict; :meth:`from_dict` inverts it."""
        return {
            "labels": [_plain(label) for label in self.labels],
            "accuracy": self.accuracy,
            "per_class": [
                {
                    "label": _plain(label),
                    "precision": p,
                    "recall": r,
                    "f1-score": f,
                    "support": s,
                }
                for label, p, r, f, s in zip(
                    self.labels, self.precision, self.recall, self.f1, self.support, strict=True
                )
            ],
            "macro avg": dict(self.macro_avg),
            "weighted avg": dict(self.weighted_avg),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "log_loss": self.log_loss,
            "top_k_accuracy": {str(k): v for k, v in self.top_k_accuracy.items()},
            "expected_calibration_error": self.expected_calibration_error,
            "calibration": [dict(b) for b in self.calibration],
            "history": [dict(record) for record in self.history],
            "multilabel": self.multilabel,
            "micro avg": dict(self.micro_avg),
            "samples avg": dict(self.samples_avg),
            "hamming_loss": self.hamming_loss,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassificationReport:
        """Rebuild a report from :meth:`to_dict`'s output."""
        rows = data["per_class"]
        return cls(
            labels=list(data["labels"]),
            accuracy=data["accuracy"],
            precision=[row["precision"] for row in rows],
            recall=[row["recall"] for row in rows],
            f1=[row["f1-score"] for row in rows],
            support=[row["support"] for row in rows],
            macro_avg=dict(data["macro avg"]),
            weighted_avg=dict(data["weighted avg"]),
            confusion_matrix=np.asarray(data["confusion_matrix"], dtype=np.int64),
            log_loss=data.get("log_loss"),
            top_k_accuracy={int(k): v for k, v in data.get("top_k_accuracy", {}).items()},
            expected_calibration_error=data.get("expected_calibration_error"),
            calibration=list(data.get("calibration", [])),
            history=list(data.get("history", [])),
            multilabel=bool(data.get("multilabel", False)),
            micro_avg=dict(data.get("micro avg", {})),
            samples_avg=dict(data.get("samples avg", {})),
            hamming_loss=data.get("hamming_loss"),
        )

    def to_json(self, **kwargs: Any) -> str:
        """Return :meth:`to_dict` as JSON text (``kwargs`` go to ``json.dumps``)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> ClassificationReport:
        """Rebuild a report from :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClassificationReport):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ text
    def format(self, digits: int = 2) -> str:
        """Return the text report, laid out as scikit-learn's ``classification_report``."""
        from topicbert._report_rendering import to_text

        return to_text(self, digits)

    def __str__(self) -> str:
        from topicbert._report_rendering import extra_scores

        extra = extra_scores(self)
        return self.format() + ("\n" + "\n".join(extra) + "\n" if extra else "")

    def to_markdown(self, digits: int = 4) -> str:
        """Return the per-class table and the averages as a Markdown table."""
        from topicbert._report_rendering import to_markdown

        return to_markdown(self, digits)

    def to_html(self, title: str = "Classification report") -> str:
        """Return one self-contained HTML page with the tables and figures embedded."""
        from topicbert._report_rendering import to_html

        return to_html(self, title)

    # ----------------------------------------------------------------- plots
    def normalized_confusion_matrix(self, normalize: str | None = None) -> np.ndarray:
        """Return the confusion matrix, as counts or normalised.

        ``normalize`` is ``"true"`` (rows sum to 1), ``"pred"`` (columns sum to
        1), ``"all"`` (the matrix sums to 1) or ``None`` (counts).
        """
        if normalize not in _NORMALIZE:
            raise ValueError(f"normalize must be one of {_NORMALIZE}; got {normalize!r} instead.")
        matrix = self.confusion_matrix.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if normalize == "true":
                matrix = matrix / matrix.sum(axis=1, keepdims=True)
            elif normalize == "pred":
                matrix = matrix / matrix.sum(axis=0, keepdims=True)
            elif normalize == "all":
                matrix = matrix / matrix.sum()
        return np.nan_to_num(matrix) if normalize else self.confusion_matrix

    def plot_confusion_matrix(self, ax: Axes | None = None, normalize: str | None = None) -> Axes:
        """Draw the confusion matrix as an annotated heatmap.

        Multi-label reports draw, per label, its true positives, false
        negatives and false positives as stacked horizontal bars, one row per
        label, which stays readable with a hundred labels.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure is made when omitted.
        normalize : {"true", "pred", "all"} or None, default=None
            Show counts, or shares of each true label, predicted label or all.

        Returns
        -------
        ax : matplotlib Axes
            The axes drawn on; ``ax.figure.savefig("cm.png")`` saves it.
        """
        if self.multilabel:
            from topicbert._plotting import plot_label_outcomes

            return plot_label_outcomes(self.confusion_matrix, self.labels, ax=ax)
        from topicbert._plotting import plot_confusion_matrix

        matrix = self.normalized_confusion_matrix(normalize)
        return plot_confusion_matrix(matrix, self.labels, ax=ax, normalized=normalize)

    def plot_training_curves(self, history: Sequence[dict[str, float]] | None = None) -> Figure:
        """Plot loss and accuracy per epoch, training against validation.

        Parameters
        ----------
        history : list of dict, optional
            Per-epoch records (a classifier's ``history_``); the report's own
            ``history`` by default.

        Returns
        -------
        figure : matplotlib Figure
            Two panels, loss and accuracy.
        """
        from topicbert._plotting import plot_training_curves

        return plot_training_curves(history if history is not None else self.history)

    def plot_calibration(self, ax: Axes | None = None) -> Axes:
        """Draw a reliability diagram: accuracy against confidence per bin.

        Returns
        -------
        ax : matplotlib Axes
            The axes drawn on.
        """
        if not self.calibration:
            raise ValueError("The report has no probabilities; pass y_proba to evaluate_report.")
        from topicbert._plotting import plot_reliability

        return plot_reliability(self.calibration, self.expected_calibration_error or 0.0, ax)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the report: HTML for ``.html``/``.htm``, JSON for ``.json``.

        Returns
        -------
        path : pathlib.Path
            The file written.
        """
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix in (".html", ".htm"):
            target.write_text(self.to_html(), encoding="utf-8")
        elif suffix == ".json":
            target.write_text(self.to_json(), encoding="utf-8")
        else:
            raise ValueError(f"Cannot tell the format of {str(target)!r}: use .html or .json.")
        return target


def _calibration(
    correct: np.ndarray, confidence: np.ndarray, n_bins: int = 10
) -> tuple[float, list[dict[str, float]]]:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        mean_confidence = float(confidence[members].mean()) if count else 0.0
        accuracy = float(correct[members].mean()) if count else 0.0
        ece += count / len(confidence) * abs(accuracy - mean_confidence)
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "confidence": mean_confidence,
                "accuracy": accuracy,
            }
        )
    return float(ece), bins


def evaluate_report(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    y_proba: Any = None,
    labels: Sequence[Any] | None = None,
    history: Sequence[dict[str, float]] | None = None,
) -> ClassificationReport:
    """Score predictions against true labels.

    Every number comes from ``sklearn.metrics``, so it equals what scikit-learn
    reports.

    Parameters
    ----------
    y_true : sequence or array-like
        True labels: one per text, or (multi-label) a 2-D 0/1 indicator array
        or one collection of labels per text.
    y_pred : sequence or array-like
        Predicted labels, of the same kind as ``y_true``.
    y_proba : array-like of shape (n_samples, n_labels), optional
        Predicted probabilities, columns in ``labels`` order; adds log-loss,
        top-k accuracy and calibration.
    labels : sequence, optional
        The label set and its order; by default the sorted labels seen in
        ``y_true`` and ``y_pred``. Required to match ``y_proba``'s columns.
    history : list of dict, optional
        Per-epoch training records to plot as training curves.

    Returns
    -------
    report : ClassificationReport
        Printable, plottable and serialisable.

    Examples
    --------
    >>> from topicbert import evaluate_report
    >>> report = evaluate_report(["a", "b", "b"], ["a", "b", "a"])
    >>> round(report.accuracy, 3), report.confusion_matrix.tolist()
    (0.667, [[1, 0], [1, 1]])
    """
    from sklearn import metrics

    from topicbert._multilabel_metrics import is_multilabel, multilabel_scores

    if is_multilabel(y_true) or is_multilabel(y_pred):
        if y_proba is not None:
            raise ValueError(
                "y_proba is for single-label reports; a multi-label report scores label sets."
            )
        scores = multilabel_scores(y_true, y_pred, labels)
        averages = scores.pop("averages")
        return ClassificationReport(
            **scores,
            macro_avg=averages["macro"],
            weighted_avg=averages["weighted"],
            micro_avg=averages["micro"],
            samples_avg=averages["samples"],
            multilabel=True,
            history=[dict(record) for record in history or []],
        )
    true = _to_list(y_true, "y_true")
    pred = _to_list(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true and y_pred have different lengths: {len(true)} and {len(pred)}.")
    if not true:
        raise ValueError("evaluate_report needs at least one sample; y_true is empty.")
    if labels is None:
        try:
            label_list = sorted(set(true) | set(pred))
        except TypeError:
            raise TypeError(
                "The labels are of types that cannot be sorted together; pass labels=[...]."
            ) from None
    else:
        label_list = _to_list(labels, "labels")
        if len(set(label_list)) != len(label_list):
            raise ValueError(f"labels contains duplicates: {label_list!r}.")
        known = set(label_list)
        for name, values in (("y_true", true), ("y_pred", pred)):
            for position, value in enumerate(values):
                if value not in known:
                    raise ValueError(
                        f"{name} contains the label {value!r} at position {position}, which is "
                        f"not in labels={label_list!r}."
                    )
    true_arr, pred_arr = label_array(true), label_array(pred)
    labels_arr = label_array(label_list)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        true_arr, pred_arr, labels=labels_arr, zero_division=0
    )
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            true_arr, pred_arr, labels=labels_arr, average=average, zero_division=0
        )
        averages[average] = {
            "precision": float(p),
            "recall": float(r),
            "f1-score": float(f),
            "support": int(support.sum()),
        }
    report = ClassificationReport(
        labels=[_plain(label) for label in label_list],
        accuracy=float(metrics.accuracy_score(true_arr, pred_arr)),
        precision=[float(v) for v in precision],
        recall=[float(v) for v in recall],
        f1=[float(v) for v in f1],
        support=[int(v) for v in support],
        macro_avg=averages["macro"],
        weighted_avg=averages["weighted"],
        confusion_matrix=metrics.confusion_matrix(true_arr, pred_arr, labels=labels_arr),
        history=[dict(record) for record in history or []],
    )
    if y_proba is not None:
        _add_probability_scores(report, true_arr, labels_arr, y_proba)
    return report


def _add_probability_scores(
    report: ClassificationReport, true: np.ndarray, labels: np.ndarray, y_proba: Any
) -> None:
    from sklearn import metrics

    proba = np.asarray(y_proba, dtype=np.float64)
    n_labels = len(labels)
    if proba.ndim != 2 or proba.shape != (len(true), n_labels):
        raise ValueError(
            f"y_proba must have shape (n_samples, n_labels) = ({len(true)}, {n_labels}); "
            f"got {proba.shape}."
        )
    if not np.isfinite(proba).all() or (proba < 0).any():
        raise ValueError("y_proba must hold finite, non-negative probabilities.")
    sums = proba.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
    if bad.size:
        raise ValueError(
            f"Each row of y_proba must sum to 1; row {bad[0]} sums to {sums[bad[0]]:.6g}."
        )
    # Scored on label indices: sklearn's probability metrics expect sorted labels,
    # and the user's order (or mixed label types) need not be sortable.
    position = {label: i for i, label in enumerate(labels.tolist())}
    true_index = np.asarray([position[label] for label in true.tolist()])
    indices = np.arange(n_labels)
    report.log_loss = float(metrics.log_loss(true_index, proba, labels=indices))
    for k in range(2, min(5, n_labels - 1) + 1):
        report.top_k_accuracy[k] = float(
            metrics.top_k_accuracy_score(true_index, proba, k=k, labels=indices)
        )
    correct = (proba.argmax(axis=1) == true_index).astype(np.float64)
    report.expected_calibration_error, report.calibration = _calibration(correct, proba.max(axis=1))
