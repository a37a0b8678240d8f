"""The model behind the server: loaded once, used by one request at a time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np


def load_fitted(model_or_path: Any) -> Any:
    """Return a fitted classifier: loaded from a directory, or checked as given."""
    if isinstance(model_or_path, (str, Path)):
        from topicbert import BertTopicClassifier

        return BertTopicClassifier.load(model_or_path)
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(model_or_path, "predict_proba"):
        raise TypeError(
            f"create_app needs a fitted classifier or a model directory; got "
            f"{type(model_or_path).__name__}."
        )
    check_is_fitted(model_or_path)
    return model_or_path


class ModelService:
    """Predictions and explanations of one fitted model, safe to call from many threads.

    Fast tokenizers refuse concurrent use ("Already borrowed"), and on a CPU
    one prediction already uses every core, so one call at a time uses the
    model.
    """

    def __init__(self, model_or_path: Any, *, explain_samples: int = 500) -> None:
        self.model = load_fitted(model_or_path)
        self.classes = np.asarray(self.model.classes_).tolist()
        self.name = str(getattr(self.model, "backbone_name_", type(self.model).__name__))
        self.explain_samples = explain_samples
        self._lock = threading.Lock()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in ``classes`` order."""
        with self._lock:
            return np.asarray(self.model.predict_proba(texts), dtype=np.float64)

    def explain(self, text: str, method: str = "lime", num_features: int = 10) -> Any:
        """An :class:`~topicbert.Explanation` of one text (reproducible: seed 0)."""
        from topicbert import explain

        with self._lock:
            return explain(
                self.model,
                text,
                method=method,
                num_features=num_features,
                num_samples=self.explain_samples,
                random_state=0,
            )

    @property
    def multilabel(self) -> bool:
        """Whether the model predicts sets of labels."""
        return str(getattr(self.model, "target_kind_", "single")) != "single"

    def chosen_labels(self, proba: np.ndarray) -> list[list[str]]:
        """Multi-label: the labels each row's probabilities give (thresholds applied)."""
        from topicbert._targets import label_lists

        decided = label_lists(self.model._decide(proba), np.asarray(self.model.classes_))
        return [[str(label) for label in row] for row in decided]

    def probabilities(self, row: np.ndarray) -> dict[str, float]:
        """One row of probabilities as ``{label: probability}``."""
        return {str(label): float(p) for label, p in zip(self.classes, row, strict=True)}
