"""Score a Spark DataFrame's texts with an ONNX export (``pip install 'topicbert[spark]'``).

The executors run the export with ONNX Runtime: no torch on them, no model
pickled into tasks. Each Python worker loads the export once (a cache keyed
by its path and settings) and scores Arrow batches of texts through it.

>>> from topicbert.integrations.spark import score_dataframe
>>> scores = score_dataframe(df, "models/bbc-onnx", id_col="id")  # doctest: +SKIP
>>> scores.write.parquet("scores/")  # doctest: +SKIP

The export's path must be readable at the same path on the driver (which
checks it and reads its labels before the job starts) and on every worker:
a shared file system (``/dbfs/...``, NFS), or an archive Spark ships, e.g.
``spark.sparkContext.addArchive("bbc-onnx.zip#bbc-onnx")`` with
``model_dir="bbc-onnx"`` and the unpacked export beside the driver too
(Spark Connect: ``spark.addArtifacts("bbc-onnx.zip", archive=True)``).

A null or non-string text gets a null label and null probabilities; the job
goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pandas as pd

from topicbert.integrations._scoring import (
    ExportInfo,
    cached_classifier,
    check_columns,
    checked_export,
    score_texts,
)

__all__ = ["predict_udf", "score_dataframe"]


def require_pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError as exc:
        raise ImportError("Scoring on Spark needs pyspark: pip install 'topicbert[spark]'") from exc
    return pyspark.sql


def _output_fields(info: ExportInfo, output: str) -> list[Any]:
    """The Spark fields of the output columns."""
    types = require_pyspark().types
    label_type = types.ArrayType(types.StringType()) if info.multilabel else types.StringType()
    fields = []
    for name in info.columns(output):
        data_type = label_type if name == info.label_column else types.DoubleType()
        fields.append(types.StructField(name, data_type, nullable=True))
    return fields


def predict_udf(
    model_dir: str | os.PathLike[str],
    *,
    output: str = "label",
    batch_size: int = 8,
    threads: int = 1,
    min_confidence: float | None = None,
) -> Any:
    """A pandas UDF that scores a column of texts with an ONNX export.

    Parameters
    ----------
    model_dir : str or path-like
        A directory written by :meth:`topicbert.BertTopicClassifier.export_onnx`
        (``topicbert export``), at this path on the driver and the workers.
    output : {"label", "probabilities", "both"}, default="label"
        ``"label"``: the label (a string; a multi-label model's: an array of
        strings). ``"probabilities"``: a struct with one ``p_LABEL`` double
        per label. ``"both"``: a struct with the label field first.
    batch_size : int, default=8
        Texts per ONNX Runtime call.
    threads : int, default=1
        ONNX Runtime threads per Python worker; with one worker per core, 1.
    min_confidence : float, optional
        Abstention, as the estimator's parameter: a text whose top probability
        is below it gets the model's ``abstain_label`` (null by default;
        multi-label: an empty array).

    Returns
    -------
    pyspark.sql.functions.UserDefinedFunction
        Apply it to a string column: ``df.withColumn("topic", udf("text"))``.
        A null text gives a null result. A text without a confident topic
        (``min_confidence``) gets the model's ``abstain_label`` (null by
        default); multi-label, an empty array.

    Raises
    ------
    topicbert.exceptions.ModelLoadError
        On the driver, before any job, when ``model_dir`` is not a usable export.
    """
    sql = require_pyspark()
    info = checked_export(model_dir, output=output, batch_size=batch_size, threads=threads)
    fields = _output_fields(info, output)
    return_type = fields[0].dataType if output == "label" else sql.types.StructType(fields)

    def scores(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        classifier = cached_classifier(
            info, threads=threads, batch_size=batch_size, min_confidence=min_confidence
        )
        for texts in batches:
            yield score_texts(classifier, texts, info, output)

    # Spark reads the kind of UDF from the type hints: a Series for one column, a
    # DataFrame for a struct
    def predict_labels(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        return (frame[info.label_column] for frame in scores(batches))

    def predict_scores(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        return scores(batches)

    function = predict_labels if output == "label" else predict_scores
    return sql.functions.pandas_udf(function, returnType=return_type)


def score_dataframe(
    df: Any,
    model_dir: str | os.PathLike[str],
    *,
    text_col: str = "text",
    id_col: str | None = None,
    output: str = "both",
    batch_size: int = 8,
    threads: int = 1,
    min_confidence: float | None = None,
) -> Any:
    """Score every row of a Spark DataFrame with an ONNX export (``mapInPandas``).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The texts, in the string column ``text_col``.
    model_dir : str or path-like
        An ONNX export's directory, as for :func:`predict_udf`.
    text_col : str, default="text"
        The column of texts.
    id_col : str, optional
        The only input column kept beside the scores; by default every input
        column is kept.
    output : {"label", "probabilities", "both"}, default="both"
        Which score columns: ``label`` (multi-label: ``labels``, an array of
        strings), one ``p_LABEL`` double column per label, or both.
    batch_size, threads, min_confidence
        As for :func:`predict_udf`.

    Returns
    -------
    pyspark.sql.DataFrame
        The kept columns, then the score columns; lazily evaluated, like any
        DataFrame. A null text's scores are null.

    Raises
    ------
    ValueError
        When ``text_col`` or ``id_col`` is not a column, ``text_col`` does not
        hold strings, or a kept column has a score column's name.
    topicbert.exceptions.ModelLoadError
        When ``model_dir`` is not a usable export (on the driver, before any job).
    """
    sql = require_pyspark()
    info = checked_export(model_dir, output=output, batch_size=batch_size, threads=threads)
    fields = _output_fields(info, output)
    kept = check_columns(df.columns, text_col, id_col, [field.name for field in fields])
    text_type = df.schema[text_col].dataType
    if not isinstance(text_type, sql.types.StringType):
        raise ValueError(
            f"text_col {text_col!r} holds {text_type.simpleString()}, not strings; cast it first."
        )
    schema = sql.types.StructType([df.schema[name] for name in kept] + fields)

    def score(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        classifier = cached_classifier(
            info, threads=threads, batch_size=batch_size, min_confidence=min_confidence
        )
        for frame in frames:
            scores = score_texts(classifier, frame[text_col], info, output)
            yield pd.concat([frame[kept].reset_index(drop=True), scores], axis=1)

    return df.mapInPandas(score, schema)
