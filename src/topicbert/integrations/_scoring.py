"""Scoring batches of a table's texts with an ONNX export, in an engine's workers.

Spark's and Ray's adapters share this module: the driver checks the export
and learns its labels (:func:`describe_export`) before any job starts; each
worker process loads the export once (:func:`cached_classifier`) and turns
a batch of texts into output columns (:func:`score_texts`), the same
columns ``topicbert predict`` writes: ``label`` (or ``labels``, a list, for
a multi-label model), then one ``p_LABEL`` probability per label.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from topicbert.exceptions import ModelLoadError

if TYPE_CHECKING:
    import pandas as pd

    from topicbert.onnx import OnnxTopicClassifier

OUTPUTS = ("label", "probabilities", "both")
"""What a scoring call returns: the label(s), the probabilities, or both."""


@dataclass(frozen=True)
class ExportInfo:
    """What the driver needs to know of an export to declare the output's schema."""

    path: str
    classes: tuple[str, ...]
    multilabel: bool
    stamp: tuple[int, ...] = ()
    """Modification times and sizes of the export's files: a new export, a new key."""

    @property
    def label_column(self) -> str:
        """``labels`` (a list of strings) for a multi-label model, else ``label``."""
        return "labels" if self.multilabel else "label"

    @property
    def probability_columns(self) -> list[str]:
        """One ``p_LABEL`` column per label, in the model's order."""
        return [f"p_{label}" for label in self.classes]

    def columns(self, output: str) -> list[str]:
        """The output columns, in order, for ``output`` (see :data:`OUTPUTS`)."""
        check_output(output)
        label = [self.label_column] if output in ("label", "both") else []
        probabilities = self.probability_columns if output in ("probabilities", "both") else []
        return label + probabilities


def check_output(output: str) -> None:
    """Refuse an ``output`` that is not one of :data:`OUTPUTS`."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}; got {output!r}.")


def check_positive(name: str, value: object) -> None:
    """Refuse a count that is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def checked_export(
    model_dir: str | os.PathLike[str], *, output: str, batch_size: int, threads: int
) -> ExportInfo:
    """Check the settings every scoring entry point takes, then the export (on the driver)."""
    check_output(output)
    check_positive("batch_size", batch_size)
    check_positive("threads", threads)
    return describe_export(model_dir)


def describe_export(model_dir: str | os.PathLike[str]) -> ExportInfo:
    """Check on the driver that ``model_dir`` is an ONNX export and read its labels.

    Raises
    ------
    topicbert.exceptions.ModelLoadError
        When the directory is missing, is a saved (not exported) model, or its
        metadata is unusable; the message says what to do.
    """
    from topicbert._decision import DecisionRule
    from topicbert.onnx import ONNX_FILE, ONNX_METADATA_FILE, _read_metadata

    directory = Path(model_dir)
    if directory.is_dir() and not (directory / ONNX_METADATA_FILE).is_file():
        raise ModelLoadError(
            f"{str(directory)!r} is not an ONNX export: the engines' workers run exported "
            f"models without torch. Export it first: topicbert export {directory} EXPORT_DIR"
        )
    metadata = _read_metadata(directory)
    if not (directory / ONNX_FILE).is_file():
        raise ModelLoadError(
            f"{str(directory / ONNX_FILE)!r} is missing: the export is incomplete."
        )
    rule = DecisionRule.from_metadata(metadata, directory / ONNX_METADATA_FILE)
    classes = tuple(str(label) for label in rule.classes)
    if len(set(classes)) < len(classes):
        raise ModelLoadError(
            f"{str(directory)!r} has labels that are the same as strings ({list(classes)!r}): "
            "their score columns would share a name."
        )
    files = [directory / ONNX_FILE, directory / ONNX_METADATA_FILE]
    stamp = tuple(n for s in map(os.stat, files) for n in (s.st_mtime_ns, s.st_size))
    return ExportInfo(
        path=os.fspath(model_dir), classes=classes, multilabel=rule.multilabel, stamp=stamp
    )


_CLASSIFIERS: dict[tuple[Any, ...], OnnxTopicClassifier] = {}
_LOCK = threading.Lock()


def cached_classifier(
    info: ExportInfo, *, threads: int, batch_size: int, min_confidence: float | None
) -> OnnxTopicClassifier:
    """The export loaded once per worker process (and per setting), then reused by every task.

    The key holds the export's file stamps, so an export written again to the
    same folder is loaded again, not served from the cache.

    Tokenizers are told not to start their own threads here, after the
    worker has forked; ONNX Runtime gets ``threads`` threads (an engine's
    ``OMP_NUM_THREADS`` does not reach it).
    """
    key = (info.path, info.stamp, threads, batch_size, min_confidence)
    with _LOCK:
        if key not in _CLASSIFIERS:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from topicbert.onnx import OnnxTopicClassifier

            classifier = OnnxTopicClassifier(info.path, threads=threads, batch_size=batch_size)
            if min_confidence is not None:
                classifier.min_confidence = min_confidence
            _CLASSIFIERS[key] = classifier
        return _CLASSIFIERS[key]


def score_texts(
    classifier: OnnxTopicClassifier, texts: Iterable[Any], info: ExportInfo, output: str
) -> pd.DataFrame:
    """The output columns for a batch of texts; a missing or non-string text gets nulls.

    Labels are strings (a multi-label model's: a list of strings, empty when
    no label passes). With ``min_confidence``, a single-label text without a
    confident topic gets the model's ``abstain_label`` as a string (null when
    it is None, the default); a multi-label one gets an empty list.
    """
    import pandas as pd

    from topicbert._targets import label_lists

    values = list(texts)
    valid = np.array([isinstance(text, str) for text in values], dtype=bool)
    rows = np.flatnonzero(valid)
    proba = classifier.predict_proba([values[i] for i in rows])
    columns: dict[str, Any] = {}
    if output in ("label", "both"):
        labels: list[Any] = [None] * len(values)
        decided = classifier.decision_rule.decide(proba) if len(rows) else []
        if info.multilabel:
            decided = [
                [str(label) for label in row] for row in label_lists(decided, classifier.classes_)
            ]
        else:
            decided = [None if label is None else str(label) for label in decided]
        for row, label in zip(rows, decided, strict=True):
            labels[row] = label
        columns[info.label_column] = pd.Series(labels, dtype=object)
    if output in ("probabilities", "both"):
        for position, name in enumerate(info.probability_columns):
            column = pd.array([pd.NA] * len(values), dtype="Float64")
            column[rows] = proba[:, position]
            columns[name] = column
    scores: pd.DataFrame = pd.DataFrame(columns)
    return scores


def arrow_table(kept: pd.DataFrame, scores: pd.DataFrame, info: ExportInfo) -> Any:
    """The kept columns and the scores as an Arrow table whose score types never vary.

    A batch whose labels or probabilities are all null would otherwise give
    columns of Arrow's null type, and files of one output folder would
    disagree on their schema.
    """
    import pyarrow as pa

    table = pa.Table.from_pandas(kept.reset_index(drop=True), preserve_index=False)
    label_type = pa.list_(pa.string()) if info.multilabel else pa.string()
    for name in scores.columns:
        if name == info.label_column:
            column = pa.array(scores[name].tolist(), type=label_type)
        else:
            values = scores[name].to_numpy(dtype=np.float64, na_value=np.nan)
            column = pa.array(values, type=pa.float64(), from_pandas=True)  # NaN: null
        table = table.append_column(pa.field(name, column.type), column)
    return table


def check_columns(
    columns: Sequence[str], text_col: str, id_col: str | None, outputs: Sequence[str]
) -> list[str]:
    """The input columns kept beside the outputs: ``id_col``, or every column.

    Raises ValueError when ``text_col`` or ``id_col`` is not a column, or a
    kept column has an output's name.
    """
    if text_col not in columns:
        raise ValueError(f"text_col {text_col!r} is not a column: {list(columns)!r}.")
    if id_col is not None and id_col not in columns:
        raise ValueError(f"id_col {id_col!r} is not a column: {list(columns)!r}.")
    kept = [id_col] if id_col is not None else list(columns)
    clashes = sorted(set(kept) & set(outputs))
    if clashes:
        raise ValueError(
            f"the input already has column(s) {clashes!r}, which the scores would be written "
            "to; rename them, or pass id_col to keep only an id column."
        )
    return kept
