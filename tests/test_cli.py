"""The command line, run for real in a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from topicbert import BertTopicClassifier

from .conftest import make_corpus


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicbert.cli", *args], capture_output=True, text=True, cwd=cwd
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


def test_train_with_the_frozen_backbone_and_chunks(
    tiny_bert: Path, data_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "frozen"
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--freeze-backbone",
        "--long-text",
        "chunks",
        "--max-length",
        "16",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    loaded = BertTopicClassifier.load(out)
    assert loaded.freeze_backbone and loaded.long_text == "chunks"
    assert run("train", str(data_csv), "--long-text", "middle").returncode == 2


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
    for option in (
        "--out",
        "--backbone",
        "--epochs",
        "--max-length",
        "--long-text",
        "--freeze-backbone",
        "--precision",
        "--test-size",
        "--track",
    ):
        assert option in result.stdout
    top = run("--help").stdout
    for command in ("train", "evaluate", "predict", "explain", "serve"):
        assert command in top


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
        cwd=tmp_path,  # MLflow puts the artifacts of a SQLite store under ./mlruns
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mlruns").is_dir()  # the artifacts stayed in the run directory
    run_id = result.stdout.split("MLflow run: ")[1].split()[0]
    finished = mlflow.MlflowClient(store).get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert "test_accuracy" in finished.data.metrics


@pytest.fixture(scope="module")
def model_dir(fitted, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("cli-model") / "model")


def test_evaluate_prints_the_report_and_writes_files(
    model_dir: Path, data_csv: Path, tmp_path: Path
) -> None:
    result = run("evaluate", str(model_dir), str(data_csv), "--report-dir", str(tmp_path / "ev"))
    assert result.returncode == 0, result.stderr
    assert "precision    recall  f1-score   support" in result.stdout
    assert "log-loss" in result.stdout
    written = {p.name for p in (tmp_path / "ev").iterdir()}
    assert written == {"confusion_matrix.png", "report.html", "report.json"}
    assert (tmp_path / "ev" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_csv_and_plain_text_in_csv_and_jsonl_out(
    model_dir: Path, data_csv: Path, tmp_path: Path, fitted
) -> None:
    result = run("predict", str(model_dir), str(data_csv))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "label,p_business,p_sport,p_tech"
    assert len(lines) == 1 + 95

    texts = tmp_path / "texts.txt"
    texts.write_text("match goal team\n\nmarket shares profit\n", encoding="utf-8")
    result = run("predict", str(model_dir), str(texts), "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["label"] for row in rows] == list(
        fitted.predict(["match goal team", "market shares profit"])
    )
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0)

    piped = subprocess.run(
        [sys.executable, "-m", "topicbert.cli", "predict", str(model_dir), "-"],
        input="phone chip software\n",
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0 and piped.stdout.splitlines()[1].startswith("tech,")


def test_explain_prints_words_and_writes_html(model_dir: Path, tmp_path: Path) -> None:
    page = tmp_path / "why.html"
    result = run(
        "explain",
        str(model_dir),
        "the team won the cup with a late goal",
        "--method",
        "occlusion",
        "--html",
        str(page),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("predicted: sport")
    assert "<mark " in page.read_text(encoding="utf-8")


def test_errors_of_the_other_commands(model_dir: Path, tmp_path: Path) -> None:
    missing = run("evaluate", str(tmp_path / "nope"), "x.csv")
    assert missing.returncode == 1 and "no model directory" in missing.stderr
    empty = run("explain", str(model_dir), "   ")
    assert empty.returncode == 1 and empty.stderr.count("\n") == 1
    assert run("predict").returncode == 2
