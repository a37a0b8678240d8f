"""The example scripts run, on a small part of the BBC corpus (smoke tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BBC_CSV

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.integration


def run_example(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_train_evaluate_explain(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = str(EXAMPLES / "train_evaluate_explain.py")
    stdout = run_example(script, str(BBC_CSV), "--per-class", "12", "--fast", "--out", str(out))
    assert "accuracy" in stdout and "Words behind" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"] > 0.5
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<mark" in (out / "explanation.html").read_text()  # highlighted words
    assert (out / "model" / "model.safetensors").is_file()


def test_pipeline_grid_search() -> None:
    stdout = run_example(
        str(EXAMPLES / "pipeline_grid_search.py"), str(BBC_CSV), "--per-class", "12"
    )
    assert "chosen by 3-fold cross-validation" in stdout
    assert "soft voting with TF-IDF" in stdout


def test_serve_model_answers_over_http(fitted, tmp_path: Path) -> None:
    model_dir = fitted.save(tmp_path / "model")
    stdout = run_example(str(EXAMPLES / "serve_model.py"), str(model_dir), "--check")
    answer = json.loads(stdout)
    assert answer["predictions"][0]["label"] in fitted.classes_.tolist()


def test_backbone_plugin_package_installs_and_trains(tmp_path: Path) -> None:
    import os
    import shutil

    # a copy, so that the build leaves nothing in the source tree
    package = shutil.copytree(EXAMPLES / "plugin_package", tmp_path / "plugin_package")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(package),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = f"""
import pandas as pd
from topicbert import BertTopicClassifier, available_backbones
assert "minilm-l3" in available_backbones(), available_backbones()
data = pd.read_csv({str(BBC_CSV)!r}).groupby("category").head(8)
clf = BertTopicClassifier(backbone="minilm-l3", training="head", max_length=64)
clf.fit(data["text"].tolist(), data["category"].tolist())
clf.save({str(tmp_path / "model")!r})
loaded = BertTopicClassifier.load({str(tmp_path / "model")!r})
print(loaded.backbone_name_, len(loaded.model_.encoder.encoder.layer), clf.score(
    data["text"].tolist(), data["category"].tolist()))
"""
    env = {**os.environ, "PYTHONPATH": str(target)}
    stdout = run_example("-c", code, env=env, cwd=tmp_path)
    name, layers, accuracy = stdout.split()
    assert name == "minilm-l3" and layers == "3" and float(accuracy) > 0.5
