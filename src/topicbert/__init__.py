"""topicbert: fine-tune BERT-family encoders for topic classification with scikit-learn.

``import topicbert`` stays light: torch and transformers load when a model is
first fitted or loaded.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from topicbert._backbones import PretrainedBackbone
from topicbert._classifier import BertTopicClassifier
from topicbert._cleaning import TextCleaner
from topicbert._embedding_cache import EmbeddingCache, embedding_cache
from topicbert._evaluation import ClassificationReport, evaluate_report
from topicbert._explain import Explanation, explain
from topicbert._plotting import plot_training_curves
from topicbert.exceptions import BackboneError, ModelLoadError, ModelSaveError, TopicbertError
from topicbert.plugins import Callback, available_backbones, register_backbone

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
