"""Run an exported model with ONNX Runtime: no torch, no transformers.

Needs the ``onnx`` extra (``pip install 'topicbert[onnx]'``): ``onnxruntime``,
``tokenizers`` and ``numpy``. A directory written by
:meth:`topicbert.BertTopicClassifier.export_onnx` or ``topicbert export``
loads here and predicts what the estimator predicted:

>>> from topicbert.onnx import OnnxTopicClassifier
>>> model = OnnxTopicClassifier("models/bbc-onnx")  # doctest: +SKIP
>>> model.predict(["Shares rose after the results."])  # doctest: +SKIP
array(['business'], dtype=object)

Texts are cleaned (the estimator's ``cleaner``, kept in the export),
tokenized and fitted into windows exactly as the estimator does
(``max_length``, ``long_text``, ``max_chunks`` come from the export), so the
probabilities agree with :meth:`~topicbert.BertTopicClassifier.predict_proba`
in float32 (within about 1e-5) and the predicted labels agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topicbert._cleaning_steps import make_cleaner
from topicbert._decision import DecisionRule
from topicbert._tokenizing import Document, fit_windows
from topicbert.exceptions import ModelLoadError

__all__ = ["OnnxTopicClassifier", "is_onnx_export"]

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
ONNX_METADATA_FILE = "topicbert-onnx.json"
ONNX_FORMAT_VERSION = 2
"""The newest export this runtime reads; 2 added the ``cleaner`` entry."""
_REQUIRED = (
    "format_version",
    "classes",
    "classes_dtype",
    "target_kind",
    "max_length",
    "long_text",
    "max_chunks",
    "pad_id",
    "prefix",
    "suffix",
)


def is_onnx_export(path: str | Path) -> bool:
    """Whether ``path`` is a directory written by an ONNX export."""
    return (Path(path) / ONNX_METADATA_FILE).is_file()


class OnnxTopicClassifier:
    """A topic classifier exported to ONNX, run by ONNX Runtime.

    Parameters
    ----------
    path : str or path-like
        A directory written by :meth:`topicbert.BertTopicClassifier.export_onnx`.
    threads : int, optional
        Threads ONNX Runtime uses within one inference (default: its own
        choice, one per physical core).
    providers : sequence of str, optional
        ONNX Runtime execution providers, in order of preference (default:
        ``["CPUExecutionProvider"]``).
    batch_size : int, default=8
        Texts per ONNX Runtime call. On a CPU larger batches were no faster
        and held more memory (BBC, MiniLM, 256 tokens: 617 MiB resident at 8,
        1109 MiB at 32, the same texts/s).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, in the order of ``predict_proba``'s columns.
    target_kind_ : {"single", "indicator", "collections"}
        What ``predict`` returns, as for the estimator that was exported.
    thresholds_ : ndarray of shape (n_classes,) or None
        Multi-label thresholds tuned when fitting.
    threshold : float or "tune"
        How multi-label probabilities become label sets.
    min_labels : int
        1: a multi-label row where no label passes gets its most likely one.
    min_confidence : float or None
        Abstention, as the estimator's parameter: ``predict`` gives no topic
        to a text whose top probability is below it. May be set after loading.
    abstain_label : hashable
        What a single-label ``predict`` gives a text it abstains on.
    backbone_name_ : str
        The backbone the model was fine-tuned from.
    quantize : {None, "int8"}
        How the graph was quantised.

    Raises
    ------
    topicbert.exceptions.ModelLoadError
        When the directory is missing, incomplete or corrupt; the message names the file.
    """

    threshold: float | str
    min_labels: int
    min_confidence: float | None
    abstain_label: Any

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        batch_size: int = 8,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ImportError(
                "Running an exported model needs onnxruntime and tokenizers; install them "
                "with: pip install 'topicbert[onnx]'"
            ) from exc
        directory = Path(path)
        self.path = directory
        metadata = _read_metadata(directory)
        cleaner = metadata.get("cleaner")
        try:
            self._clean = None if cleaner is None else make_cleaner(cleaner)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ModelLoadError(
                f"{str(directory / ONNX_METADATA_FILE)!r} holds an unusable cleaner: {exc}"
            ) from exc
        rule = DecisionRule.from_metadata(metadata, directory / ONNX_METADATA_FILE)
        self.classes_ = rule.classes
        self.target_kind_ = rule.target_kind
        self.thresholds_ = rule.thresholds
        for name in DecisionRule.parameter_names():  # settable after loading, as on the estimator
            setattr(self, name, getattr(rule, name))
        self.backbone_name_ = str(metadata.get("backbone", "onnx"))
        self.quantize = metadata.get("quantize")
        self.max_length = int(metadata["max_length"])
        self.long_text = str(metadata["long_text"])
        self.max_chunks = int(metadata["max_chunks"])
        self.batch_size = batch_size
        self._pad_id = int(metadata["pad_id"])
        self._prefix = [int(i) for i in metadata["prefix"]]
        self._suffix = [int(i) for i in metadata["suffix"]]

        try:
            self._tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        except Exception as exc:
            raise ModelLoadError(
                f"{str(directory / TOKENIZER_FILE)!r} is missing or unreadable: {exc}"
            ) from exc
        self._tokenizer.no_padding()
        if self.long_text == "truncate":  # else whole texts, fitted into windows afterwards
            self._tokenizer.enable_truncation(
                self.max_length, direction=str(metadata.get("truncation_side", "right"))
            )
        else:
            self._tokenizer.no_truncation()

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # shapes change with every batch: memory patterns only hold on to memory
        options.enable_mem_pattern = False
        if threads is not None:
            options.intra_op_num_threads = threads
        graph = directory / ONNX_FILE
        if not graph.is_file():
            raise ModelLoadError(f"{str(graph)!r} is missing: the export is incomplete.")
        try:
            self._session = onnxruntime.InferenceSession(
                str(graph),
                sess_options=options,
                providers=list(providers or ["CPUExecutionProvider"]),
            )
        except Exception as exc:
            raise ModelLoadError(f"{str(graph)!r} is not a usable ONNX model: {exc}") from exc

    def __repr__(self) -> str:
        return f"OnnxTopicClassifier({str(self.path)!r})"

    def tokenize(self, texts: Sequence[str]) -> list[Document]:
        """Token ids of each text's windows, as the exported estimator makes them."""
        if self.long_text == "truncate":
            return [[list(e.ids)] for e in self._tokenizer.encode_batch(list(texts))]
        content = self.max_length - len(self._prefix) - len(self._suffix)
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [
            fit_windows(
                list(e.ids), self.long_text, content, self._prefix, self._suffix, self.max_chunks
            )
            for e in encoded
        ]

    def predict_logits(self, X: Sequence[str]) -> np.ndarray:
        """Return float32 logits, one row per text, longest texts batched together."""
        texts = _check_texts(X)
        if self._clean is not None:  # as the training texts were cleaned
            texts = [self._clean(text) for text in texts]
        documents = self.tokenize(texts)
        lengths = np.array([sum(len(window) for window in doc) for doc in documents])
        order = np.argsort(-lengths, kind="stable")
        result = np.empty((len(texts), len(self.classes_)), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            result[batch] = self._run([documents[i] for i in batch])
        return result

    def _run(self, documents: list[Document]) -> np.ndarray:
        """Logits of a batch of documents: each window's, averaged by token count."""
        windows = [window for doc in documents for window in doc]
        longest = max(1, max(len(window) for window in windows))
        input_ids = np.full((len(windows), longest), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(windows), longest), dtype=np.int64)
        for row, ids in enumerate(windows):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        logits = self._session.run(
            ["logits"], {"input_ids": input_ids, "attention_mask": attention_mask}
        )[0]
        if len(windows) == len(documents):
            return np.asarray(logits, dtype=np.float32)
        weights = np.maximum(attention_mask.sum(axis=1), 1).astype(np.float64)
        owner = np.repeat(np.arange(len(documents)), [len(doc) for doc in documents])
        summed = np.zeros((len(documents), logits.shape[1]))
        np.add.at(summed, owner, logits * weights[:, None])
        totals = np.bincount(owner, weights=weights, minlength=len(documents))
        return (summed / totals[:, None]).astype(np.float32)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Return class probabilities for each text.

        Parameters
        ----------
        X : sequence of str
            Texts to classify.

        Returns
        -------
        proba : ndarray of shape (n_texts, n_classes)
            Probabilities in the order of ``classes_``; rows sum to 1, except
            multi-label, where each is the label's own probability.
        """
        logits = self.predict_logits(X)
        if not len(logits):
            return np.empty((0, len(self.classes_)), dtype=np.float64)
        return self.decision_rule.probabilities(logits)

    def predict(self, X: Sequence[str]) -> Any:
        """Return each text's label (or label set), as the exported estimator would.

        Parameters
        ----------
        X : sequence of str
            Texts to classify.

        Returns
        -------
        labels : ndarray or list
            Single-label: labels from ``classes_``. Multi-label: an indicator
            array or a list of label tuples, the kind the estimator was fitted on.
            With ``min_confidence``, texts without a confident topic get
            ``abstain_label`` (single-label) or no label.
        """
        return self.decision_rule.decide(self.predict_proba(X))

    @property
    def decision_rule(self) -> DecisionRule:
        """How probabilities become predictions, with the attributes' current values."""
        return DecisionRule.from_params(
            vars(self),
            target_kind=self.target_kind_,
            classes=self.classes_,
            thresholds=self.thresholds_,
        )


def _check_texts(X: Sequence[str]) -> list[str]:
    if isinstance(X, (str, bytes)):
        raise ValueError("X must be a sequence of texts, not a single string; wrap it in a list.")
    texts = list(X)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"X must contain only str; position {position} holds {type(text).__name__}."
            )
    return texts


def _read_metadata(directory: Path) -> dict[str, Any]:
    path = directory / ONNX_METADATA_FILE
    if not directory.is_dir():
        raise ModelLoadError(f"{str(directory)!r} is not a directory of an exported model.")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(
            f"{str(path)!r} is missing: {str(directory)!r} is not an ONNX export "
            "(write one with BertTopicClassifier.export_onnx or 'topicbert export')."
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{str(path)!r} is unreadable: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{str(path)!r} is malformed: not a JSON object.")
    missing = [key for key in _REQUIRED if key not in metadata]
    if missing:
        raise ModelLoadError(f"{str(path)!r} is malformed: it lacks {', '.join(missing)}.")
    version = metadata["format_version"]
    if not isinstance(version, int) or version > ONNX_FORMAT_VERSION:
        raise ModelLoadError(
            f"{str(path)!r} has format version {version!r}; this topicbert reads up to "
            f"{ONNX_FORMAT_VERSION}. Upgrade topicbert."
        )
    return metadata
