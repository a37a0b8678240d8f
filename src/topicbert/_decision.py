"""The decision made from probabilities, shared by the estimator, the ONNX runtime and the server.

A :class:`DecisionRule` holds everything that turns a row of probabilities
into a prediction: the labels and how ``y`` was given, the multi-label
threshold (one for all labels or one per label), ``min_labels``, and
abstention (``min_confidence`` and ``abstain_label``). Its fields other than
the fitted ones are estimator parameters of the same names, and its metadata
form is what an ONNX export stores, so a new prediction-time parameter is one
field here (plus the estimator's ``__init__`` argument and its check).

Numpy only: the torch-free ONNX runtime uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from topicbert._files import from_json_value, to_json_value
from topicbert._probabilities import sigmoid, softmax
from topicbert._targets import SINGLE, TARGET_KINDS, decode, is_multilabel
from topicbert._thresholds import apply_thresholds, check_abstain_label
from topicbert._validation import label_array
from topicbert.exceptions import ModelLoadError


def classes_to_metadata(classes: np.ndarray) -> dict[str, object]:
    """The ``classes`` and ``classes_dtype`` entries that :func:`classes_from_metadata` reads."""
    return {
        "classes": to_json_value(classes, what="classes_"),
        "classes_dtype": classes.dtype.str if classes.dtype != object else "O",
    }


def classes_from_metadata(metadata: Mapping[str, Any], path: Path) -> np.ndarray:
    """The labels a metadata file holds (``classes`` and ``classes_dtype``), checked."""
    try:
        values = from_json_value(metadata["classes"])
        dtype = metadata["classes_dtype"]
        classes = label_array(values) if dtype == "O" else np.asarray(values, dtype=dtype)
        if classes.ndim != 1 or len(set(classes.tolist())) != len(classes):
            raise ValueError("the labels must be distinct")
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{str(path)!r} holds unusable classes: {exc}.") from exc
    return classes


@dataclasses.dataclass(frozen=True)
class DecisionRule:
    """How probabilities become predictions.

    Attributes
    ----------
    target_kind : {"single", "indicator", "collections"}
        How ``y`` was given when fitting, hence what ``decide`` returns.
    classes : ndarray of shape (n_classes,)
        The labels, in the order of the probability columns.
    thresholds : ndarray of shape (n_classes,) or None
        Per-label thresholds learnt when fitting (``threshold="tune"``).
    threshold : float or "tune"
        Multi-label: the probability from which a label is given, or
        ``"tune"`` for ``thresholds``.
    min_labels : {0, 1}
        Multi-label: 1 gives a text with no label over threshold its most
        probable label.
    min_confidence : float or None
        A text whose top probability is below this gets no topic.
    abstain_label : hashable
        Single-label: what a text without a confident topic gets.
    """

    target_kind: str
    classes: np.ndarray
    thresholds: np.ndarray | None = None
    threshold: float | str = 0.5
    min_labels: int = 0
    min_confidence: float | None = None
    abstain_label: Any = None

    FITTED: ClassVar[tuple[str, ...]] = ("target_kind", "classes", "thresholds")
    """The fields learnt when fitting; every other field is an estimator parameter."""

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """The estimator parameters that the rule reads, by name."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in cls.FITTED)

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any],
        *,
        target_kind: str,
        classes: np.ndarray,
        thresholds: np.ndarray | None,
    ) -> DecisionRule:
        """The rule of a fitted estimator: its fitted values and its parameters."""
        chosen = {name: params[name] for name in cls.parameter_names() if name in params}
        return cls(target_kind=target_kind, classes=classes, thresholds=thresholds, **chosen)

    @property
    def multilabel(self) -> bool:
        """Whether predictions are label sets."""
        return is_multilabel(self.target_kind)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Logits to probabilities: independent per label, or a softmax over the classes."""
        return sigmoid(logits) if self.multilabel else softmax(logits)

    def replace(self, **changes: Any) -> DecisionRule:
        """A copy with some fields changed (a request's own ``min_confidence``, say)."""
        return dataclasses.replace(self, **changes)

    def decide(self, proba: np.ndarray) -> Any:
        """Turn probabilities into predictions: the top class, or the labels over threshold.

        With ``min_confidence``, a row whose top probability is below it
        abstains: single-label, it gets ``abstain_label`` (the result is then
        an object array); multi-label, no label at all, whatever
        ``min_labels`` says.
        """
        confident = None
        if self.min_confidence is not None:
            confident = proba.max(axis=1) >= self.min_confidence
        if not self.multilabel:
            result: np.ndarray = self.classes[proba.argmax(axis=1)]
            if confident is None:
                return result
            check_abstain_label(self.abstain_label, self.classes)
            decided = result.astype(object)
            decided[~confident] = self.abstain_label
            return decided
        indicator = apply_thresholds(proba, self.per_label_thresholds(), self.min_labels)
        if confident is not None:
            indicator[~confident] = 0
        return decode(indicator, self.target_kind, self.classes)

    def per_label_thresholds(self) -> np.ndarray:
        """The threshold of each label (multi-label)."""
        if isinstance(self.threshold, str):
            if self.thresholds is None:
                raise ValueError(
                    "threshold='tune' was set after this model was fitted, so no thresholds "
                    "were learnt; fit again, or set a probability such as threshold=0.5."
                )
            return np.asarray(self.thresholds, dtype=np.float64)
        return np.full(len(self.classes), float(self.threshold))

    def to_metadata(self) -> dict[str, object]:
        """The rule as JSON values; :meth:`from_metadata` reads them back."""
        metadata: dict[str, object] = {
            **classes_to_metadata(self.classes),
            "target_kind": self.target_kind,
            "thresholds": to_json_value(self.thresholds, what="thresholds_"),
        }
        for name in self.parameter_names():
            value = getattr(self, name)
            metadata[name] = to_json_value(value, what=f"The parameter {name}={value!r}")
        return metadata

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], path: Path) -> DecisionRule:
        """Read the rule written by :meth:`to_metadata`; a problem names ``path``."""
        classes = classes_from_metadata(metadata, path)
        kind = metadata.get("target_kind", SINGLE)
        if kind not in TARGET_KINDS:
            raise ModelLoadError(
                f"{str(path)!r} is malformed: target_kind must be one of {', '.join(TARGET_KINDS)}."
            )
        thresholds = metadata.get("thresholds")
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        params = {
            name: from_json_value(metadata.get(name, defaults[name]))
            for name in cls.parameter_names()
        }
        return cls(
            target_kind=kind,
            classes=classes,
            thresholds=None if thresholds is None else np.asarray(thresholds, np.float64),
            **params,
        )


def rule_of(model: Any) -> DecisionRule:
    """The decision rule of a fitted model: its own, or a plain top-class rule.

    topicbert's estimator and ONNX runtime have a ``decision_rule``; a
    scikit-learn pipeline ending in one uses its last step's; any other
    classifier with ``classes_`` gets the most probable class.
    """
    rule = getattr(model, "decision_rule", None)
    if isinstance(rule, DecisionRule):
        return rule
    steps = getattr(model, "steps", None)
    if steps:
        return rule_of(steps[-1][1])
    return DecisionRule(target_kind=SINGLE, classes=np.asarray(model.classes_))
