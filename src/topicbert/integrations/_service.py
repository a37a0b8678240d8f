"""The model behind the server: loaded once, its predictions batched across requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topicbert._decision import rule_of
from topicbert._targets import label_lists
from topicbert.integrations._micro_batching import MicroBatcher, ServerBusyError


def load_fitted(model_or_path: Any) -> Any:
    """Return a fitted classifier: loaded from a directory, or checked as given."""
    if isinstance(model_or_path, (str, Path)):
        from topicbert.onnx import OnnxTopicClassifier, is_onnx_export

        if is_onnx_export(model_or_path):
            return OnnxTopicClassifier(model_or_path)
        from topicbert import BertTopicClassifier

        return BertTopicClassifier.load(model_or_path)
    from topicbert.onnx import OnnxTopicClassifier

    if isinstance(model_or_path, OnnxTopicClassifier):
        return model_or_path
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(model_or_path, "predict_proba"):
        raise TypeError(
            f"create_app needs a fitted classifier or a model directory; got "
            f"{type(model_or_path).__name__}."
        )
    check_is_fitted(model_or_path)
    return model_or_path


@dataclass(frozen=True)
class BatchingSettings:
    """How the server gathers concurrent requests into batches.

    Parameters
    ----------
    enabled : bool, default=True
        False: each request runs alone, one at a time.
    max_wait_ms : float, default=5.0
        The longest the server holds a batch back for requests it expects:
        as many as its last batch answered (those clients tend to send again
        at once) plus those that arrived while that batch ran. A lone client
        never waits; clients calling in a loop share full batches. 0: no
        waiting; requests that arrive while the model is busy still share the
        next batch, which answers sooner when many independent users send
        near the server's capacity (open traffic). Measured in
        ``docs/results.md``.
    max_batch_texts : int, default=64
        Most texts in one batch.
    max_queue_texts : int, default=1024
        Most texts waiting; beyond it requests get 503 with ``Retry-After``.
    """

    enabled: bool = True
    max_wait_ms: float = 5.0
    max_batch_texts: int = 64
    max_queue_texts: int = 1024

    def __post_init__(self) -> None:
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}.")
        if self.max_batch_texts < 1 or self.max_queue_texts < 1:
            raise ValueError("max_batch_texts and max_queue_texts must be at least 1.")


class ModelService:
    """Predictions and explanations of one fitted model, safe to call from many threads.

    Fast tokenizers refuse concurrent use ("Already borrowed"), and on a CPU
    one batch already uses every core, so one call at a time uses the model:
    with batching on, a worker thread runs the requests that arrive together
    as one batch (see :class:`~topicbert.integrations._micro_batching.MicroBatcher`).
    """

    def __init__(
        self,
        model_or_path: Any,
        *,
        explain_samples: int = 500,
        batching: BatchingSettings | None = None,
        min_confidence: float | None = None,
    ) -> None:
        self.model = load_fitted(model_or_path)
        self.rule = rule_of(self.model)
        if min_confidence is None:
            min_confidence = self.rule.min_confidence
        self.min_confidence = min_confidence
        self.classes = np.asarray(self.model.classes_).tolist()
        self.name = str(getattr(self.model, "backbone_name_", type(self.model).__name__))
        self.explain_samples = explain_samples
        self.batching = batching or BatchingSettings()
        self._lock = threading.Lock()
        self._batcher: MicroBatcher | None = None
        if self.batching.enabled:
            self._batcher = MicroBatcher(
                self._model_proba,
                max_batch_texts=self.batching.max_batch_texts,
                max_wait=self.batching.max_wait_ms / 1000.0,
                max_queue_texts=self.batching.max_queue_texts,
                run_exclusively=self._lock,
            )
        self.stopping = False
        self._stopped = False

    def _model_proba(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.predict_proba(texts), dtype=np.float64)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in ``classes`` order.

        Raises
        ------
        ServerBusyError
            When the queue is full or the service is stopping.
        """
        if self._stopped:
            raise ServerBusyError("The server is shutting down.")
        if self._batcher is not None:
            return self._batcher.submit(texts)
        with self._lock:
            return self._model_proba(texts)

    @property
    def batch_sizes(self) -> dict[int, int]:
        """Model calls made by the batching worker so far, by texts per call (empty when off)."""
        return self._batcher.batch_sizes() if self._batcher is not None else {}

    @property
    def ready(self) -> bool:
        """Whether the model is loaded and new requests are welcome (False once stopping)."""
        return not self.stopping

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new predictions and finish the queued ones."""
        self.stopping = True
        self._stopped = True
        if self._batcher is not None:
            self._batcher.close(timeout)

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
        return self.rule.multilabel

    def decide(self, proba: np.ndarray, min_confidence: float | None = None) -> list[Any]:
        """Each row's predicted label (``None``: no confident topic), or its label list.

        ``min_confidence`` (default: the service's) is the top probability
        below which a row gets no topic.
        """
        if min_confidence is None:
            min_confidence = self.min_confidence
        # JSON's null for "no confident topic", whatever the model's own abstain_label
        rule = self.rule.replace(min_confidence=min_confidence, abstain_label=None)
        decided = rule.decide(proba)
        if rule.multilabel:
            return [[str(label) for label in row] for row in label_lists(decided, rule.classes)]
        return [None if label is None else str(label) for label in decided.tolist()]

    def probabilities(self, row: np.ndarray) -> dict[str, float]:
        """One row of probabilities as ``{label: probability}``."""
        return {str(label): float(p) for label, p in zip(self.classes, row, strict=True)}
