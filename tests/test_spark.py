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


def test_fit_runs_under_torch_distributor_on_spark_tasks(
    spark: Any, tiny_bert: Path, corpus: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    from pyspark.ml.torch.distributor import TorchDistributor
    from safetensors.torch import load_file

    from topicbert import BertTopicClassifier

    # defined here, it is pickled by value (as a notebook's function is): the
    # processes TorchDistributor starts need not import the tests
    def fit_on_every_rank(tiny_bert: str, out: str, texts: list[str], labels: list[str]) -> str:
        """The training function TorchDistributor runs: one fit per process, as under torchrun."""
        import json
        import os

        import torch
        import torch.distributed as dist
        from safetensors.torch import save_file

        from topicbert import BertTopicClassifier

        torch.set_num_threads(1)
        # a seed of its own on each process: only the process group's shared
        # start and summed gradients make the two fits end equal
        clf = BertTopicClassifier(
            backbone=tiny_bert,
            training="full",
            max_length=64,
            batch_size=8,
            epochs=2,
            learning_rate=3e-3,
            device="cpu",
            precision="fp32",
            random_state=int(os.environ["RANK"]),
        )
        clf.fit(texts, labels)
        rank = dist.get_rank()
        state = {k: v.contiguous() for k, v in clf.model_.state_dict().items()}
        save_file(state, os.path.join(out, f"weights-rank{rank}.safetensors"))
        with open(os.path.join(out, f"history-rank{rank}.json"), "w") as file:
            json.dump([{k: v for k, v in r.items() if k != "seconds"} for r in clf.history_], file)
        clf.save(os.path.join(out, "model"))  # only rank 0 writes
        return f"{dist.get_world_size()} processes"

    # local_mode=False: a barrier job whose two Spark tasks each start a process
    # of the group, as on a cluster's executors
    distributor = TorchDistributor(num_processes=2, local_mode=False, use_gpu=False)
    texts, labels = corpus
    result = distributor.run(fit_on_every_rank, str(tiny_bert), str(tmp_path), texts, labels)
    assert result == "2 processes"
    rank0 = load_file(tmp_path / "weights-rank0.safetensors")
    rank1 = load_file(tmp_path / "weights-rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert (rank0[name] == rank1[name]).all(), name
    histories = [(tmp_path / f"history-rank{r}.json").read_text() for r in (0, 1)]
    assert histories[0] == histories[1]  # the epoch figures are all-reduced
    saved = BertTopicClassifier.load(tmp_path / "model")
    for name, tensor in saved.model_.state_dict().items():
        assert (tensor == rank0[name]).all(), name
