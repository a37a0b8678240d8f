"""The command line, run for real in a subprocess."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from topicbert import BertTopicClassifier

from .conftest import make_corpus


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicbert.cli", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = make_corpus(30, seed=3)
    path = tmp_path_factory.mktemp("data") / "news.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "category", "text"])
        for i, (text, label) in enumerate(zip(texts + texts[:5], labels + labels[:5], strict=True)):
            writer.writerow([f"{label}/{i}", label, text])
    return path


def test_train_prints_held_out_figures_and_saves(
    tiny_bert: Path, data_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--epochs",
        "4",
        "--learning-rate",
        "3e-3",
        "--max-length",
        "64",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert "5 duplicate texts removed" in result.stdout
    assert "held-out accuracy:" in result.stdout and "held-out macro-F1:" in result.stdout
    accuracy = float(result.stdout.split("held-out accuracy:")[1].split()[0])
    assert accuracy >= 0.8
    assert {"report.html", "report.json"} <= {p.name for p in out.iterdir()}
    loaded = BertTopicClassifier.load(out)
    assert loaded.classes_.tolist() == ["business", "sport", "tech"]


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    result = run("train", str(tmp_path / "absent.csv"))
    assert result.returncode == 1
    assert result.stderr.startswith("topicbert train: error: There is no file")
    assert "Traceback" not in result.stderr


def test_bad_usage_exits_2() -> None:
    assert run("train").returncode == 2
    assert run("train", "x.csv", "--epochs", "0").returncode == 2
    assert run("frobnicate").returncode == 2


def test_help_lists_the_options() -> None:
    result = run("train", "--help")
    assert result.returncode == 0
    for option in ("--out", "--backbone", "--epochs", "--max-length", "--test-size"):
        assert option in result.stdout


def test_train_with_mlflow_tracking(tiny_bert: Path, data_csv: Path, tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--epochs",
        "2",
        "--max-length",
        "64",
        "--device",
        "cpu",
        "--quiet",
        "--track",
        "cli",
        "--tracking-uri",
        store,
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.split("MLflow run: ")[1].split()[0]
    finished = mlflow.MlflowClient(store).get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert "test_accuracy" in finished.data.metrics
