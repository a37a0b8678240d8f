"""MLflow tracking for real: the default local store, a real tracking server,
nested runs under a grid search, and a server that dies mid-training."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

from topicbert import Callback

from .conftest import free_port, tiny_classifier

mlflow = pytest.importorskip("mlflow")
from topicbert.integrations.mlflow import MLflowCallback, load_model  # noqa: E402


@pytest.fixture
def local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and no configured tracking URI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)
    yield tmp_path
    mlflow.set_tracking_uri(None)


def check_run(client, run_id: str, clf, held_out) -> None:
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert set(run.data.params) == set(clf.get_params(deep=False))
    assert run.data.params["backbone"] == str(clf.backbone)
    assert run.data.params["max_length"] == "64"
    history = client.get_metric_history(run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert [m.value for m in history] == [r["train_loss"] for r in clf.history_]
    assert run.data.metrics["test_accuracy"] == clf.score(*held_out)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {
        "training_curves.png",
        "confusion_matrix.png",
        "report.json",
        "report.html",
        "model",
    } <= artifacts


def test_default_local_store_and_reloading(local_store: Path, tiny_bert: Path, corpus, held_out):
    callback = MLflowCallback(experiment_name="local", eval_set=held_out)
    clf = tiny_classifier(tiny_bert, callbacks=[callback]).fit(*corpus)
    assert callback.run_id is not None
    assert any(local_store.iterdir()), "nothing was written to the working directory"
    client = mlflow.MlflowClient()
    check_run(client, callback.run_id, clf, held_out)

    reloaded = load_model(callback.run_id, device="cpu")
    np.testing.assert_allclose(
        reloaded.predict_proba(held_out[0]), clf.predict_proba(held_out[0]), atol=1e-6
    )
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{callback.run_id}/model")
    frame = pd.DataFrame({"text": held_out[0]})
    np.testing.assert_array_equal(pyfunc.predict(frame), clf.predict(held_out[0]))
    proba = pyfunc.predict(frame, params={"predict_proba": True})
    assert list(proba.columns) == ["business", "sport", "tech"]
    np.testing.assert_allclose(proba.to_numpy(), clf.predict_proba(held_out[0]), atol=1e-6)


def test_nested_runs_for_a_grid_search(local_store: Path, tiny_bert: Path, corpus) -> None:
    clf = tiny_classifier(
        tiny_bert, epochs=1, callbacks=[MLflowCallback(experiment_name="search", log_model=False)]
    )
    search = GridSearchCV(clf, {"learning_rate": [1e-3, 3e-3]}, cv=2)
    with mlflow.start_run(run_name="grid") as parent:
        search.fit(*corpus)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("search")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 2 * 2 + 1  # two candidates, two folds, and the refit
    assert {run.data.params["learning_rate"] for run in children} == {"0.001", "0.003"}


def start_server(directory: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{directory / 'mlflow.db'}",
            "--artifacts-destination",
            str(directory / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return process, url
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.5)
    process.kill()
    pytest.fail("the MLflow server did not start")


@pytest.fixture
def tracking_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    process, url = start_server(tmp_path)
    yield process, url
    process.terminate()
    process.wait(timeout=30)


def test_real_tracking_server(tracking_server, tiny_bert: Path, corpus, held_out, monkeypatch):
    _, url = tracking_server
    callback = MLflowCallback(experiment_name="server", tracking_uri=url, eval_set=held_out)
    clf = tiny_classifier(tiny_bert, callbacks=[callback]).fit(*corpus)
    check_run(mlflow.MlflowClient(url), callback.run_id, clf, held_out)
    reloaded = load_model(callback.run_id, tracking_uri=url, device="cpu")
    np.testing.assert_array_equal(reloaded.predict(held_out[0]), clf.predict(held_out[0]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{callback.run_id}/model")
    assert list(pyfunc.predict(pd.DataFrame({"text": held_out[0][:3]}))) == list(
        clf.predict(held_out[0][:3])
    )


def test_server_dying_mid_training_is_reported_once(tracking_server, tiny_bert: Path, corpus):
    process, url = tracking_server

    class StopServer(Callback):
        def on_epoch_end(self, estimator, record) -> None:
            if record["epoch"] == 1:
                process.terminate()
                process.wait(timeout=30)

    callback = MLflowCallback(experiment_name="dies", tracking_uri=url)
    clf = tiny_classifier(tiny_bert, callbacks=[StopServer(), callback])
    with pytest.warns(RuntimeWarning, match="MLflow logging failed") as caught:
        clf.fit(*corpus)
    assert len([w for w in caught if "MLflow" in str(w.message)]) == 1
    assert len(clf.history_) == 4
    assert clf.predict(corpus[0][:2]).shape == (2,)


def test_failed_fit_marks_its_run_failed(local_store: Path, tiny_bert: Path, corpus) -> None:
    class Interrupt(Callback):
        def on_epoch_end(self, estimator, record) -> None:
            raise KeyboardInterrupt

    callback = MLflowCallback(experiment_name="failures", log_model=False)
    clf = tiny_classifier(tiny_bert, callbacks=[callback, Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(*corpus)
    run = mlflow.MlflowClient().get_run(callback.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "KeyboardInterrupt: "


def test_bad_eval_set_fails_before_training_and_marks_nothing_running(
    local_store: Path, tiny_bert: Path, corpus
) -> None:
    texts, _ = corpus
    callback = MLflowCallback(experiment_name="bad-eval", eval_set=(texts[:3], ["x", "y", "z"]))
    clf = tiny_classifier(tiny_bert, callbacks=[callback])
    with pytest.raises(ValueError, match=r"eval_set holds labels the model is not trained on"):
        clf.fit(*corpus)
    assert callback.run_id is None  # no run was started
    assert not hasattr(clf, "model_")
    runs = mlflow.search_runs(experiment_names=["bad-eval"], output_format="list")
    assert all(run.info.status != "RUNNING" for run in runs)


def test_clone_gives_a_fresh_callback_with_the_same_settings(
    local_store: Path, tiny_bert: Path, corpus
) -> None:
    from sklearn.base import clone

    callback = MLflowCallback(experiment_name="cloned", log_model=False, nested=False)
    clf = tiny_classifier(tiny_bert, epochs=1, callbacks=[callback]).fit(*corpus)
    copy = clone(clf)
    (fresh,) = copy.callbacks
    assert fresh is not callback and fresh.run_id is None and fresh._client is None
    assert (fresh.experiment_name, fresh.log_model, fresh.nested) == ("cloned", False, False)
    copy.fit(*corpus)
    assert fresh.run_id is not None and fresh.run_id != callback.run_id


def test_a_multilabel_run_logs_its_metrics_and_a_model_that_predicts_label_lists(
    local_store: Path, tiny_bert: Path
) -> None:
    from .test_multilabel import make_multilabel_corpus

    texts, sets = make_multilabel_corpus(90, seed=1)
    held_texts, held_sets = make_multilabel_corpus(20, seed=2)
    callback = MLflowCallback(experiment_name="multilabel", eval_set=(held_texts, held_sets))
    clf = tiny_classifier(tiny_bert, callbacks=[callback], epochs=3).fit(texts, sets)
    run = mlflow.MlflowClient().get_run(callback.run_id)
    assert run.info.status == "FINISHED"
    for key in ("test_micro_f1", "test_samples_f1", "test_hamming_loss", "test_macro_f1"):
        assert key in run.data.metrics
    assert run.data.metrics["test_accuracy"] == clf.score(held_texts, held_sets)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{callback.run_id}/model")
    predicted = pyfunc.predict(pd.DataFrame({"text": held_texts}))
    assert [list(labels) for labels in predicted] == [
        list(labels) for labels in clf.predict(held_texts)
    ]
    bad = MLflowCallback(experiment_name="multilabel", eval_set=(held_texts[:1], [("weather",)]))
    with pytest.raises(ValueError, match="not trained on"):
        tiny_classifier(tiny_bert, callbacks=[bad], epochs=1).fit(texts, sets)


def test_a_zero_shot_model_is_recorded_with_its_report_and_reloads(
    local_store: Path, tiny_bert: Path, held_out
) -> None:
    from .test_descriptions import zero_shot

    callback = MLflowCallback(experiment_name="zero-shot", eval_set=held_out)
    model = zero_shot(tiny_bert, callbacks=[callback])
    assert callback.run_id is not None
    run = mlflow.MlflowClient().get_run(callback.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["normalize"] == "True"
    assert run.data.metrics["test_accuracy"] == model.score(*held_out)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(callback.run_id)}
    assert {"report.json", "confusion_matrix.png", "model"} <= artifacts
    assert "training_curves.png" not in artifacts  # no epochs, no curves
    reloaded = load_model(callback.run_id, device="cpu")
    np.testing.assert_allclose(
        reloaded.predict_proba(held_out[0]), model.predict_proba(held_out[0]), atol=1e-6
    )
