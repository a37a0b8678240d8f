"""Scoring on Spark (``local[2]``) gives what the in-process ONNX runtime gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topicbert.exceptions import ModelLoadError
from topicbert.onnx import OnnxTopicClassifier

from .test_cli import run as run_cli

pytestmark = pytest.mark.slow


def frame(spark: Any, texts: list[str | None], partitions: int = 2) -> Any:
    rows = [(i, text) for i, text in enumerate(texts)]
    return spark.createDataFrame(rows, "id long, text string").repartition(partitions)


def by_id(df: Any) -> list[Any]:
    return sorted(df.collect(), key=lambda row: row["id"])


def test_score_dataframe_equals_the_in_process_runtime(
    spark: Any, onnx_export: Path, held_out: tuple[list[str], list[str]]
) -> None:
    from topicbert.integrations.spark import score_dataframe

    texts = held_out[0][:30]
    local = OnnxTopicClassifier(onnx_export)
    expected_proba, expected_labels = local.predict_proba(texts), local.predict(texts)
    scored = score_dataframe(frame(spark, texts, partitions=3), onnx_export)
    classes = [str(c) for c in local.classes_]
    assert scored.columns == ["id", "text", "label", *(f"p_{c}" for c in classes)]
    rows = by_id(scored)
    assert [row["text"] for row in rows] == texts
    assert [row["label"] for row in rows] == [str(label) for label in expected_labels]
    proba = np.array([[row[f"p_{c}"] for c in classes] for row in rows])
    np.testing.assert_allclose(proba, expected_proba, atol=1e-5)


def test_multilabel_scores_are_arrays_of_labels(
    spark: Any, multilabel_onnx_export: Path, held_out: tuple[list[str], list[str]]
) -> None:
    from topicbert.integrations.spark import score_dataframe

    texts = held_out[0][:20]
    local = OnnxTopicClassifier(multilabel_onnx_export)
    expected = [sorted(map(str, labels)) for labels in local.predict(texts)]
    scored = score_dataframe(frame(spark, texts), multilabel_onnx_export, id_col="id")
    classes = [str(c) for c in local.classes_]
    assert scored.columns == ["id", "labels", *(f"p_{c}" for c in classes)]
    rows = by_id(scored)
    assert [sorted(row["labels"]) for row in rows] == expected
    proba = np.array([[row[f"p_{c}"] for c in classes] for row in rows])
    np.testing.assert_allclose(proba, local.predict_proba(texts), atol=1e-5)


def test_the_udf_gives_labels_or_a_struct_of_scores(
    spark: Any, onnx_export: Path, held_out: tuple[list[str], list[str]]
) -> None:
    from topicbert.integrations.spark import predict_udf

    texts = held_out[0][:12]
    local = OnnxTopicClassifier(onnx_export)
    df = frame(spark, texts)
    labels = by_id(df.withColumn("topic", predict_udf(onnx_export)("text")))
    assert [row["topic"] for row in labels] == [str(label) for label in local.predict(texts)]
    both = by_id(df.withColumn("scores", predict_udf(onnx_export, output="both")("text")))
    first = both[0]["scores"].asDict()
    classes = [str(c) for c in local.classes_]
    assert list(first) == ["label", *(f"p_{c}" for c in classes)]
    proba = np.array([[row["scores"][f"p_{c}"] for c in classes] for row in both])
    np.testing.assert_allclose(proba, local.predict_proba(texts), atol=1e-5)


def test_null_texts_get_null_scores_and_the_job_goes_on(spark: Any, onnx_export: Path) -> None:
    from topicbert.integrations.spark import predict_udf, score_dataframe

    texts: list[str | None] = ["the match ended in a goal", None, "", "shares and profit"]
    rows = by_id(score_dataframe(frame(spark, texts), onnx_export))
    assert rows[1]["label"] is None
    assert all(value is None for key, value in rows[1].asDict().items() if key.startswith("p_"))
    for row in (rows[0], rows[2], rows[3]):  # an empty text is a text
        assert row["label"] is not None
        assert sum(value for key, value in row.asDict().items() if key.startswith("p_")) == (
            pytest.approx(1.0, abs=1e-5)
        )
    udf_rows = by_id(frame(spark, texts).withColumn("topic", predict_udf(onnx_export)("text")))
    assert [row["topic"] is None for row in udf_rows] == [False, True, False, False]


def test_empty_partitions_and_empty_frames(spark: Any, onnx_export: Path) -> None:
    from topicbert.integrations.spark import score_dataframe

    two_texts = frame(spark, ["the match", "the market"], partitions=6)  # four partitions empty
    assert len(score_dataframe(two_texts, onnx_export).collect()) == 2
    nothing = spark.createDataFrame([], "id long, text string")
    assert score_dataframe(nothing, onnx_export).collect() == []


def test_a_wrong_model_directory_fails_on_the_driver_before_any_job(
    spark: Any, saved_model_dir: Path, tmp_path: Path
) -> None:
    from topicbert.integrations.spark import predict_udf, score_dataframe

    df = frame(spark, ["a text"])
    with pytest.raises(ModelLoadError, match="not a directory"):
        score_dataframe(df, tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="topicbert export"):
        predict_udf(saved_model_dir)  # a saved model, not an export


def test_bad_columns_and_settings_are_refused(spark: Any, onnx_export: Path) -> None:
    from topicbert.integrations.spark import score_dataframe

    df = frame(spark, ["a text"])
    with pytest.raises(ValueError, match="'body' is not a column"):
        score_dataframe(df, onnx_export, text_col="body")
    with pytest.raises(ValueError, match="'key' is not a column"):
        score_dataframe(df, onnx_export, id_col="key")
    with pytest.raises(ValueError, match="holds bigint, not strings"):
        score_dataframe(df, onnx_export, text_col="id")
    labelled = df.withColumn("label", df["text"])
    with pytest.raises(ValueError, match=r"already has column\(s\) \['label'\]"):
        score_dataframe(labelled, onnx_export)
    assert score_dataframe(labelled, onnx_export, id_col="id").columns[:2] == ["id", "label"]
    with pytest.raises(ValueError, match="output must be one of"):
        score_dataframe(df, onnx_export, output="labels")
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        score_dataframe(df, onnx_export, threads=0)


def test_the_command_line_scores_a_folder_of_parquet_files_on_spark(
    spark: Any,  # skips without Java
    onnx_export: Path,
    held_out: tuple[list[str], list[str]],
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = held_out[0][:24]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for part, start in enumerate((0, 12)):
        table = pa.table({"doc": list(range(start, start + 12)), "body": texts[start : start + 12]})
        pq.write_table(table, corpus / f"part-{part}.parquet")
    out = tmp_path / "scores"
    done = run_cli(
        "predict", str(onnx_export), str(corpus), "--engine", "spark", "--text-column", "body",
        "--id-column", "doc", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    scored = pq.read_table(out).to_pandas().sort_values("doc")
    local = OnnxTopicClassifier(onnx_export)
    classes = [str(c) for c in local.classes_]
    assert list(scored.columns) == ["doc", "label", *(f"p_{c}" for c in classes)]
    assert scored["label"].tolist() == [str(label) for label in local.predict(texts)]
    proba = scored[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    np.testing.assert_allclose(proba, local.predict_proba(texts), atol=1e-5)
    again = run_cli("predict", str(onnx_export), str(corpus), "--engine", "spark", "-o", str(out))
    assert again.returncode != 0 and "already exists" in again.stderr  # nothing overwritten
    assert len(pq.read_table(out)) == len(texts)


def test_abstentions_get_the_abstain_label_and_keep_their_probabilities(
    spark: Any, onnx_export: Path, held_out: tuple[list[str], list[str]]
) -> None:
    from topicbert.integrations.spark import score_dataframe

    texts = held_out[0][:10]
    local = OnnxTopicClassifier(onnx_export)
    local.min_confidence = 0.999
    expected = local.predict(texts)
    assert any(label is None for label in expected)  # some texts abstain at that level
    rows = by_id(score_dataframe(frame(spark, texts), onnx_export, min_confidence=0.999))
    assert [row["label"] for row in rows] == [None if e is None else str(e) for e in expected]
    assert all(row[f"p_{local.classes_[0]}"] is not None for row in rows)


def test_an_export_written_again_is_loaded_again(fitted: Any, tmp_path: Path) -> None:
    from topicbert.integrations._scoring import cached_classifier, describe_export

    path = fitted.export_onnx(tmp_path / "export")
    first = cached_classifier(describe_export(path), threads=1, batch_size=8, min_confidence=None)
    again = cached_classifier(describe_export(path), threads=1, batch_size=8, min_confidence=None)
    assert again is first  # loaded once
    fitted.export_onnx(tmp_path / "export")  # replaced in place
    fresh = cached_classifier(describe_export(path), threads=1, batch_size=8, min_confidence=None)
    assert fresh is not first
