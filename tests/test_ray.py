"""Scoring on Ray (two local CPUs) gives what the in-process ONNX runtime gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from topicbert.exceptions import ModelLoadError
from topicbert.onnx import OnnxTopicClassifier

from .test_cli import run as run_cli

pytestmark = pytest.mark.slow


def dataset(ray_local: Any, texts: list[str | None], blocks: int = 2) -> Any:
    """The texts in ``blocks`` blocks, made before scoring: with two CPUs, two scoring
    actors would leave no CPU for a repartition running beside them."""
    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    return ray_local.data.from_pandas(frame).repartition(blocks).materialize()


def by_id(ds: Any) -> pd.DataFrame:
    return ds.to_pandas().sort_values("id").reset_index(drop=True)


def test_score_dataset_equals_the_in_process_runtime(
    ray_local: Any, onnx_export: Path, held_out: tuple[list[str], list[str]]
) -> None:
    from topicbert.integrations.ray import score_dataset

    texts = held_out[0][:30]
    local = OnnxTopicClassifier(onnx_export)
    classes = [str(c) for c in local.classes_]
    scored = by_id(score_dataset(dataset(ray_local, texts, blocks=3), onnx_export, concurrency=2))
    assert list(scored.columns) == ["id", "text", "label", *(f"p_{c}" for c in classes)]
    assert scored["text"].tolist() == texts
    assert scored["label"].tolist() == [str(label) for label in local.predict(texts)]
    proba = scored[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    np.testing.assert_allclose(proba, local.predict_proba(texts), atol=1e-5)


def test_the_scorer_class_works_by_hand_and_on_multilabel_exports(
    ray_local: Any, multilabel_onnx_export: Path, held_out: tuple[list[str], list[str]]
) -> None:
    from topicbert.integrations.ray import TopicScorer

    texts = held_out[0][:20]
    local = OnnxTopicClassifier(multilabel_onnx_export)
    scored = by_id(
        dataset(ray_local, texts).map_batches(
            TopicScorer,
            fn_constructor_kwargs={"model_dir": str(multilabel_onnx_export), "id_col": "id"},
            compute=ray_local.data.ActorPoolStrategy(size=1),
            batch_format="pandas",
        )
    )
    classes = [str(c) for c in local.classes_]
    assert list(scored.columns) == ["id", "labels", *(f"p_{c}" for c in classes)]
    assert [sorted(labels) for labels in scored["labels"]] == [
        sorted(map(str, labels)) for labels in local.predict(texts)
    ]
    proba = scored[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    np.testing.assert_allclose(proba, local.predict_proba(texts), atol=1e-5)


def test_null_texts_get_null_scores_and_empty_blocks_work(
    ray_local: Any, onnx_export: Path
) -> None:
    from topicbert.integrations.ray import score_dataset

    texts: list[str | None] = ["the match ended in a goal", None, "", "shares and profit"]
    scored = by_id(score_dataset(dataset(ray_local, texts, blocks=8), onnx_export))
    assert scored["label"].isna().tolist() == [False, True, False, False]
    probabilities = scored.filter(like="p_")
    assert probabilities.iloc[1].isna().all()
    totals = probabilities.drop(index=1).sum(axis=1).to_numpy(dtype=float)
    np.testing.assert_allclose(totals, 1.0, atol=1e-5)
    empty = ray_local.data.from_pandas(pd.DataFrame({"id": [], "text": []}, dtype=object))
    assert score_dataset(empty, onnx_export).count() == 0


def test_wrong_models_and_columns_fail_on_the_driver(
    ray_local: Any, onnx_export: Path, saved_model_dir: Path, tmp_path: Path
) -> None:
    from topicbert.integrations.ray import TopicScorer, score_dataset

    ds = dataset(ray_local, ["a text"])
    with pytest.raises(ModelLoadError, match="not a directory"):
        score_dataset(ds, tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="topicbert export"):
        score_dataset(ds, saved_model_dir)
    with pytest.raises(ValueError, match="'body' is not a column"):
        score_dataset(ds, onnx_export, text_col="body")
    with pytest.raises(ValueError, match=r"already has column\(s\) \['label'\]"):
        score_dataset(ds.add_column("label", lambda df: df["text"]), onnx_export)
    with pytest.raises(ValueError, match="concurrency must be a positive integer"):
        score_dataset(ds, onnx_export, concurrency=0)
    with pytest.raises(ModelLoadError):
        TopicScorer(tmp_path / "missing")


def test_the_command_line_scores_a_csv_file_on_ray(
    onnx_export: Path, held_out: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    # quoted newlines, and first texts that look like numbers
    texts = ["2024", "17.5"] + [text.replace(" ", "\n", 1) for text in held_out[0][:14]]
    source = tmp_path / "news.csv"
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(source, index=False)
    out = tmp_path / "scores"
    done = run_cli("predict", str(onnx_export), str(source), "--engine", "ray", "-o", str(out))
    assert done.returncode == 0, done.stderr
    scored = pq.read_table(out).to_pandas()
    assert scored["id"].map(type).eq(str).all()  # CSV columns are read as strings, as on Spark
    scored = scored.assign(id=scored["id"].astype(int)).sort_values("id")
    local = OnnxTopicClassifier(onnx_export)
    assert scored["text"].tolist() == texts
    assert scored["label"].tolist() == [str(label) for label in local.predict(texts)]
    classes = [str(c) for c in local.classes_]
    proba = scored[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    np.testing.assert_allclose(proba, local.predict_proba(texts), atol=1e-5)


def test_fit_runs_on_ray_train_workers_and_reports_every_epoch_from_each(
    ray_local: Any, tiny_bert: Path, corpus: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from safetensors.torch import load_file

    def train_loop(config: dict[str, Any]) -> None:  # runs in each Ray Train worker
        import json

        import torch.distributed as dist
        from safetensors.torch import save_file

        from topicbert import BertTopicClassifier, Callback
        from topicbert.integrations.ray import RayReport

        class CountReports(RayReport):
            def on_epoch_end(self, estimator: Any, record: dict[str, float]) -> None:
                super().on_epoch_end(estimator, record)
                reports.append(record)

        class RankZeroOnly(Callback):
            def on_train_begin(self, estimator: Any) -> None:
                Path(config["out"], f"plain-callback-rank{dist.get_rank()}").touch()

        reports: list[dict[str, float]] = []
        model = BertTopicClassifier(
            backbone=config["backbone"], training="full", max_length=64, batch_size=8, epochs=3,
            learning_rate=3e-3, device="cpu", precision="fp32", random_state=0,
            early_stopping=True, callbacks=[CountReports(), RankZeroOnly()],
        )  # fmt: skip
        model.fit(config["texts"], config["labels"])
        rank = dist.get_rank()
        weights = {name: value.contiguous() for name, value in model.model_.state_dict().items()}
        save_file(weights, str(Path(config["out"], f"weights-rank{rank}.safetensors")))
        Path(config["out"], f"reports-rank{rank}.json").write_text(json.dumps(reports))

    texts, labels = corpus
    config = {"backbone": str(tiny_bert), "texts": texts, "labels": labels, "out": str(tmp_path)}
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=2, use_gpu=False),
        run_config=RunConfig(storage_path=str(tmp_path / "ray"), name="fit"),
    )
    trainer.fit()
    rank0 = load_file(tmp_path / "weights-rank0.safetensors")
    rank1 = load_file(tmp_path / "weights-rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:  # DDP on Ray's process group: one model
        assert (rank0[name] == rank1[name]).all(), name
    reports = [json.loads((tmp_path / f"reports-rank{r}.json").read_text()) for r in (0, 1)]
    assert len(reports[0]) == len(reports[1]) >= 1
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in rows] for rows in reports]
    assert strip[0] == strip[1]  # the same all-reduced figures on both workers
    assert (tmp_path / "plain-callback-rank0").exists()
    assert not (tmp_path / "plain-callback-rank1").exists()


def test_blocks_of_only_null_texts_keep_the_score_types(
    ray_local: Any, onnx_export: Path, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from topicbert.integrations.ray import score_dataset

    texts: list[str | None] = [None, None, "the match", "the market"]
    blocks = [pd.DataFrame({"id": [i], "text": [text]}) for i, text in enumerate(texts)]
    ds = ray_local.data.from_pandas(blocks).materialize()  # blocks 0 and 1: only nulls
    score_dataset(ds, onnx_export, id_col="id").write_parquet(str(tmp_path / "scores"))
    table = pq.read_table(tmp_path / "scores")  # every file has the same schema
    assert table.schema.field("label").type == pa.string()
    assert all(
        table.schema.field(name).type == pa.float64()
        for name in table.column_names
        if name.startswith("p_")
    )
    labels = dict(zip(table["id"].to_pylist(), table["label"].to_pylist(), strict=True))
    assert labels[0] is None and labels[1] is None and labels[2] is not None


def tiny_params(tiny_bert: Path, **params: Any) -> dict[str, Any]:
    return {
        "backbone": str(tiny_bert), "training": "full", "max_length": 64, "batch_size": 8,
        "epochs": 3, "device": "cpu", "precision": "fp32", "random_state": 0,
        "early_stopping": True, "validation_fraction": 0.25, "n_iter_no_change": 3, **params,
    }  # fmt: skip


def test_tune_search_stops_a_bad_trial_early_and_returns_the_best_model_fitted(
    ray_local: Any,
    tiny_bert: Path,
    corpus: tuple[list[str], list[str]],
    held_out: tuple[list[str], list[str]],
    tmp_path: Path,
) -> None:
    from ray import tune

    from topicbert import BertTopicClassifier
    from topicbert.integrations.ray import tune_search

    found = tune_search(
        *corpus,
        {"learning_rate": tune.grid_search([3e-3, 1e-9])},  # in this order, one at a time
        params=tiny_params(tiny_bert),
        max_concurrent_trials=1,
        storage_path=tmp_path / "tune",
        name="search",
        save_to=tmp_path / "best",
    )
    trials = {found.results[i].config["learning_rate"]: found.results[i] for i in range(2)}
    good, bad = trials[3e-3], trials[1e-9]
    reported = good.metrics_dataframe
    assert reported["epoch"].tolist()[:3] == [1.0, 2.0, 3.0]  # each epoch, as it ended
    assert len(reported) == 4 and good.checkpoint is not None  # then the kept one, saved
    # ASHA: at epoch 1 the second trial is worse than the first, and stopped there
    assert bad.metrics_dataframe["valid_loss"].iloc[0] > reported["valid_loss"].iloc[0]
    assert len(bad.metrics_dataframe) == 1 and bad.checkpoint is None

    assert found.best_params == {"learning_rate": 3e-3}
    best = found.best_estimator
    assert best.learning_rate == 3e-3 and len(best.history_) == 3
    assert found.best_score == min(record["valid_loss"] for record in best.history_)
    assert found.best_score == reported["valid_loss"].iloc[-1]
    texts = held_out[0]
    saved = BertTopicClassifier.load(tmp_path / "best")
    np.testing.assert_allclose(saved.predict_proba(texts), best.predict_proba(texts))
    with good.checkpoint.as_directory() as folder:
        trial_model = BertTopicClassifier.load(folder)
    np.testing.assert_allclose(trial_model.predict_proba(texts), best.predict_proba(texts))


def test_tune_search_refuses_bad_searches_before_any_trial(
    tiny_bert: Path, corpus: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    from ray import tune

    from topicbert.exceptions import ModelSaveError
    from topicbert.integrations.ray import tune_search

    params = tiny_params(tiny_bert)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"param_space": {"learning_rat": [1e-3]}}, ValueError, "learning_rat"),
        ({"param_space": {"epochs": 2}, "params": params}, ValueError, "both"),
        ({"param_space": {"callbacks": []}}, ValueError, "callbacks"),
        ({"metric": "valid_f1", "params": params}, ValueError, "metric"),
        ({"params": {**params, "early_stopping": False}}, ValueError, "early_stopping"),
        ({"params": {**params, "batch_size": 0}}, ValueError, "batch_size"),
        ({"params": params, "reduction_factor": 1}, ValueError, "reduction_factor"),
        ({"params": params, "labels": corpus[1][:-1]}, ValueError, "labels"),
        ({"params": params, "max_concurrent_trials": 0}, ValueError, "max_concurrent"),
        # values fixed in the search space and each value of a grid are checked too
        ({"params": params, "param_space": {"learning_rate": 0.0}}, ValueError, "learning_rate"),
        (
            {"params": params, "param_space": {"learning_rate": tune.grid_search([1e-3, -1.0])}},
            ValueError,
            "learning_rate",
        ),
    ]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    cases.append(({"params": params, "save_to": tmp_path / "notes"}, ModelSaveError, "notes"))
    for given, error, words in cases:
        call: dict[str, Any] = {"param_space": {}, "labels": corpus[1], **given}
        with pytest.raises(error, match=words):
            tune_search(corpus[0], call.pop("labels"), call.pop("param_space"), **call)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_tune_search_says_why_when_every_trial_failed(
    ray_local: Any, tiny_bert: Path, corpus: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    from ray import tune

    from topicbert.integrations.ray import tune_search

    # only a fit finds that the labels hold one class
    with pytest.raises(RuntimeError, match="No trial of the search finished") as raised:
        tune_search(
            corpus[0],
            ["sport"] * len(corpus[0]),
            {"learning_rate": tune.grid_search([1e-3, 3e-3])},
            params=tiny_params(tiny_bert),
            storage_path=tmp_path / "tune",
        )
    assert "two classes" in str(raised.value)


def test_a_diverged_epoch_is_never_the_kept_record() -> None:
    from types import SimpleNamespace

    from topicbert.integrations.ray import kept_record

    history = [
        {"epoch": 1.0, "valid_loss": float("nan")},
        {"epoch": 2.0, "valid_loss": 0.7},
        {"epoch": 3.0, "valid_loss": 0.9},
    ]
    estimator = SimpleNamespace(history_=history, early_stopping=True)
    assert kept_record(estimator)["epoch"] == 2.0  # type: ignore[arg-type]
    estimator.history_ = [{"epoch": 1.0, "valid_loss": float("nan")}]
    assert kept_record(estimator)["epoch"] == 1.0  # type: ignore[arg-type]


def test_storage_uris_are_kept_and_folders_made_absolute(tmp_path) -> None:
    from topicbert.integrations.ray import _storage

    assert _storage("s3://bucket/runs") == "s3://bucket/runs"
    assert _storage(None) is None
    assert _storage(tmp_path / "runs") == str((tmp_path / "runs").resolve())
