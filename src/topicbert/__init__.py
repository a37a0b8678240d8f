"""topicbert: fine-tune BERT-family encoders for topic classification with scikit-learn.

``import topicbert`` stays light: its names load on first use, and torch and
transformers only when a model is first fitted or loaded.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from topicbert.exceptions import BackboneError, ModelLoadError, ModelSaveError, TopicbertError

if TYPE_CHECKING:
    from topicbert._backbones import PretrainedBackbone
    from topicbert._classifier import BertTopicClassifier
    from topicbert._cleaning import TextCleaner
    from topicbert._embedding_cache import EmbeddingCache, embedding_cache
    from topicbert._evaluation import ClassificationReport, evaluate_report
    from topicbert._explain import Explanation, explain
    from topicbert._plotting import plot_training_curves
    from topicbert.plugins import Callback, available_backbones, register_backbone

_LAZY = {
    "PretrainedBackbone": "topicbert._backbones",
    "BertTopicClassifier": "topicbert._classifier",
    "TextCleaner": "topicbert._cleaning",
    "EmbeddingCache": "topicbert._embedding_cache",
    "embedding_cache": "topicbert._embedding_cache",
    "ClassificationReport": "topicbert._evaluation",
    "evaluate_report": "topicbert._evaluation",
    "Explanation": "topicbert._explain",
    "explain": "topicbert._explain",
    "plot_training_curves": "topicbert._plotting",
    "Callback": "topicbert.plugins",
    "available_backbones": "topicbert.plugins",
    "register_backbone": "topicbert.plugins",
}
"""Names imported on first use, so that ``topicbert.onnx`` runs where only
onnxruntime, tokenizers and numpy are installed."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'topicbert' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = version("topicbert")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BackboneError",
    "BertTopicClassifier",
    "Callback",
    "ClassificationReport",
    "EmbeddingCache",
    "Explanation",
    "ModelLoadError",
    "ModelSaveError",
    "PretrainedBackbone",
    "TextCleaner",
    "TopicbertError",
    "__version__",
    "available_backbones",
    "embedding_cache",
    "evaluate_report",
    "explain",
    "plot_training_curves",
    "register_backbone",
]
