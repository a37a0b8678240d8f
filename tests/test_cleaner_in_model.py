"""A model cleans its input as its training texts were cleaned: fitted, saved, exported, served."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from topicbert import BertTopicClassifier, ModelLoadError, TextCleaner

from .conftest import free_port, tiny_classifier
from .test_serving import request_json

RAW = [
    "<p>MATCH &amp; GOAL</p> <script>track()</script> the TEAM <b>won</b> the CUP",
    "<div>Market <i>SHARES</i> &gt; profit</div> at the BANK",
    "<h1>Software</h1> PHONE &amp; <em>chip</em> DATA network",
]


def cleaner() -> TextCleaner:
    return TextCleaner(lowercase=True, remove_punctuation=True, stopwords=["the", "at"])


def marked_up(texts: list[str]) -> list[str]:
    """Training texts wrapped in markup and upper-cased, so that cleaning changes them."""
    return [f"<p>{text.upper()}</p> &amp; <b>THE</b>" for text in texts]


@pytest.fixture(scope="module")
def cleaning_model(tiny_bert: Path, corpus) -> BertTopicClassifier:
    texts, labels = corpus
    return tiny_classifier(tiny_bert, cleaner=cleaner()).fit(marked_up(texts), labels)


@pytest.fixture(scope="module")
def pipeline(tiny_bert: Path, corpus):
    texts, labels = corpus
    return make_pipeline(cleaner(), tiny_classifier(tiny_bert)).fit(marked_up(texts), labels)


def test_the_cleaner_parameter_equals_a_cleaner_in_a_pipeline(cleaning_model, pipeline) -> None:
    np.testing.assert_allclose(
        cleaning_model.predict_proba(RAW), pipeline.predict_proba(RAW), atol=1e-6
    )
    uncleaned = pipeline[-1].predict_proba(RAW)  # the same weights fed raw text
    assert np.abs(uncleaned - pipeline.predict_proba(RAW)).max() > 1e-3


def test_a_saved_model_cleans_as_it_was_trained(cleaning_model, pipeline, tmp_path: Path) -> None:
    directory = cleaning_model.save(tmp_path / "model")
    saved = json.loads((directory / "topicbert.json").read_text())["params"]["cleaner"]
    assert saved["lowercase"] is True and saved["stopwords"] == ["at", "the"]
    loaded = BertTopicClassifier.load(directory, device="cpu")
    assert isinstance(loaded.cleaner, TextCleaner) and loaded.cleaner.lowercase
    np.testing.assert_allclose(loaded.predict_proba(RAW), pipeline.predict_proba(RAW), atol=1e-6)
    copied = pickle.loads(pickle.dumps(cleaning_model))
    np.testing.assert_allclose(copied.predict_proba(RAW), pipeline.predict_proba(RAW), atol=1e-6)


def test_the_onnx_export_cleans_as_the_model(cleaning_model, tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    from topicbert.onnx import OnnxTopicClassifier

    directory = cleaning_model.export_onnx(tmp_path / "export")
    metadata = json.loads((directory / "topicbert-onnx.json").read_text())
    assert metadata["format_version"] == 2 and metadata["cleaner"]["remove_punctuation"] is True
    exported = OnnxTopicClassifier(directory)
    np.testing.assert_allclose(
        exported.predict_proba(RAW), cleaning_model.predict_proba(RAW), atol=1e-5
    )
    metadata["cleaner"] = {"lowercase": "yes"}
    (directory / "topicbert-onnx.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError, match="unusable cleaner"):
        OnnxTopicClassifier(directory)


def test_a_served_model_answers_as_the_pipeline(cleaning_model, pipeline, tmp_path: Path) -> None:
    directory = cleaning_model.save(tmp_path / "served")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "topicbert.cli", "serve", str(directory), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request_json(f"{url}/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        status, body = request_json(f"{url}/api/predict", {"texts": RAW})
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert status == 200
    expected = pipeline.predict_proba(RAW)
    for row, prediction in zip(expected, body["predictions"], strict=True):
        served = [prediction["probabilities"][str(label)] for label in pipeline.classes_]
        np.testing.assert_allclose(served, row, atol=1e-5)
        assert prediction["label"] == str(pipeline.classes_[row.argmax()])


def test_a_cleaner_that_is_not_a_text_cleaner_is_refused(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    with pytest.raises(TypeError, match=r"cleaner must be a topicbert\.TextCleaner"):
        tiny_classifier(tiny_bert, cleaner=str.lower).fit(texts, labels)
    with pytest.raises(ValueError, match="remove_punctuation"):
        tiny_classifier(tiny_bert, cleaner=TextCleaner(remove_punctuation="ascii")).fit(
            texts, labels
        )


def test_text_cleaner_parameters_are_the_cleaning_steps_parameters() -> None:
    from topicbert._cleaning_steps import CLEANER_DEFAULTS

    assert TextCleaner().get_params() == CLEANER_DEFAULTS
