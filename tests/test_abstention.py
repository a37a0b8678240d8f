"""Calibrated probabilities and abstention: "no confident topic" below a chosen probability."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline

from topicbert import BertTopicClassifier, TextCleaner
from topicbert.integrations.serving import create_app

from .conftest import make_corpus, tiny_classifier
from .test_multilabel import make_multilabel_corpus


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return make_corpus(15, seed=5)[0]


def middle_confidence(model: BertTopicClassifier, texts: list[str]) -> float:
    """A probability that some texts' top probability reaches and others' does not."""
    top = np.sort(model.predict_proba(texts).max(axis=1))
    assert top[0] < top[-1]
    return float((top[len(top) // 2 - 1] + top[len(top) // 2]) / 2)


def test_texts_below_min_confidence_get_the_abstain_label(fitted, texts) -> None:
    proba = fitted.predict_proba(texts)
    plain = fitted.predict(texts)
    cut = middle_confidence(fitted, texts)
    model = pickle.loads(pickle.dumps(fitted)).set_params(min_confidence=cut)

    predicted = model.predict(texts)
    confident = proba.max(axis=1) >= cut
    assert predicted.dtype == object and 0 < confident.sum() < len(texts)
    assert all(label is None for label in predicted[~confident])
    assert list(predicted[confident]) == list(plain[confident])

    model.set_params(abstain_label="unknown")
    assert set(model.predict(texts)[~confident]) == {"unknown"}
    model.set_params(min_confidence=0.0)
    assert list(model.predict(texts)) == list(plain)  # 0 never abstains


def test_score_counts_an_abstention_as_a_mistake(fitted, held_out) -> None:
    texts, labels = held_out
    model = pickle.loads(pickle.dumps(fitted))
    model.set_params(min_confidence=middle_confidence(fitted, texts))
    predicted = model.predict(texts)
    expected = np.mean([p == y for p, y in zip(predicted, labels, strict=True)])
    assert model.score(texts, labels) == pytest.approx(expected)
    assert model.score(texts, labels) < fitted.score(texts, labels)
    with pytest.raises(ValueError, match="one per text"):
        model.score(texts, labels[:-1])


def test_abstention_is_saved_with_the_model(fitted, texts, tmp_path: Path) -> None:
    model = pickle.loads(pickle.dumps(fitted))
    model.set_params(min_confidence=middle_confidence(fitted, texts), abstain_label=-1)
    loaded = BertTopicClassifier.load(model.save(tmp_path / "model"))
    assert loaded.min_confidence == model.min_confidence and loaded.abstain_label == -1
    assert list(loaded.predict(texts)) == list(model.predict(texts))


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"min_confidence": 1.5}, ValueError, "'min_confidence'"),
        ({"min_confidence": "high"}, TypeError, "'min_confidence'"),
        ({"min_confidence": 0.5, "abstain_label": ["a"]}, TypeError, "'abstain_label'"),
        ({"min_confidence": 0.5, "abstain_label": "sport"}, ValueError, "is one of the labels"),
    ],
)
def test_bad_abstention_settings_are_refused_before_training(
    tiny_bert: Path, corpus, params, error, message
) -> None:
    model = tiny_classifier(tiny_bert, **params)
    with pytest.raises(error, match=message):
        model.fit(*corpus)
    assert not hasattr(model, "model_")


def test_an_abstain_label_set_after_fitting_is_checked(fitted, texts) -> None:
    model = pickle.loads(pickle.dumps(fitted))
    model.set_params(min_confidence=0.5, abstain_label="tech")
    with pytest.raises(ValueError, match="is one of the labels"):
        model.predict(texts)


def test_multilabel_abstention_gives_no_labels_even_with_min_labels(tiny_bert: Path) -> None:
    texts, label_sets = make_multilabel_corpus(120, seed=1)
    held_out = make_multilabel_corpus(40, seed=2)[0]
    model = tiny_classifier(tiny_bert, epochs=4, min_labels=1).fit(texts, label_sets)
    always = model.predict(held_out)
    assert all(always)  # min_labels=1: at least one label each
    cut = middle_confidence(model, held_out)
    model.set_params(min_confidence=cut)
    confident = model.predict_proba(held_out).max(axis=1) >= cut
    predicted = model.predict(held_out)
    assert all(predicted[i] == () for i in np.flatnonzero(~confident))
    assert all(predicted[i] == always[i] for i in np.flatnonzero(confident))


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_calibrating_a_fitted_model_on_held_out_texts(fitted, held_out, method) -> None:
    texts, labels = held_out
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted), method=method)
    calibrated.fit(texts[::2], labels[::2])
    proba = calibrated.predict_proba(texts[1::2])
    assert proba.shape == (len(texts[1::2]), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(calibrated.classes_) == list(fitted.classes_)
    assert set(calibrated.predict(texts[1::2])) <= set(fitted.classes_)


def test_cross_validated_calibration_of_a_pipeline(tiny_bert: Path, corpus, held_out) -> None:
    pipeline = make_pipeline(TextCleaner(), tiny_classifier(tiny_bert, epochs=2))
    calibrated = CalibratedClassifierCV(pipeline, method="temperature", cv=2).fit(*corpus)
    proba = calibrated.predict_proba(held_out[0])
    assert len(calibrated.calibrated_classifiers_) == 2
    assert log_loss(held_out[1], proba, labels=calibrated.classes_) < np.log(3)


def test_cli_predict_with_min_confidence(fitted, texts, tmp_path: Path) -> None:
    model_dir = fitted.save(tmp_path / "model")
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    cut = middle_confidence(fitted, texts)
    confident = fitted.predict_proba(texts).max(axis=1) >= cut
    command = [sys.executable, "-m", "topicbert.cli", "predict", str(model_dir), str(source)]

    jsonl = subprocess.run(
        [*command, "--format", "jsonl", "--min-confidence", str(cut)],
        capture_output=True,
        text=True,
        check=True,
    )
    labels = [json.loads(line)["label"] for line in jsonl.stdout.splitlines()]
    assert [label is None for label in labels] == list(~confident)

    csv = subprocess.run(
        [*command, "--min-confidence", str(cut)], capture_output=True, text=True, check=True
    )
    cells = [line.split(",")[0] for line in csv.stdout.splitlines()[1:]]
    assert [cell == "" for cell in cells] == list(~confident)

    bad = subprocess.run([*command, "--min-confidence", "2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "probability from 0 to 1" in bad.stderr


def test_server_abstains_per_request_and_by_default(fitted, texts, tmp_path: Path) -> None:
    model_dir = fitted.save(tmp_path / "model")
    cut = middle_confidence(fitted, texts)
    confident = fitted.predict_proba(texts).max(axis=1) >= cut
    client = create_app(model_dir, max_texts=100).test_client()

    answer = client.post("/api/predict", json={"texts": texts}).get_json()["predictions"]
    assert all(p["label"] is not None for p in answer)
    answer = client.post("/api/predict", json={"texts": texts, "min_confidence": cut}).get_json()
    labels = [p["label"] for p in answer["predictions"]]
    assert [label is None for label in labels] == list(~confident)
    assert all(len(p["probabilities"]) == 3 for p in answer["predictions"])
    for bad in (1.5, "high", True):
        response = client.post("/api/predict", json={"texts": texts, "min_confidence": bad})
        assert response.status_code == 400 and "min_confidence" in response.get_json()["error"]

    strict = create_app(model_dir, min_confidence=1.0).test_client()
    page = strict.post("/", data={"text": texts[0]}).get_data(as_text=True)
    assert "Topic: no confident topic" in page
    answer = strict.post("/api/predict", json={"texts": texts[:2]}).get_json()
    assert [p["label"] for p in answer["predictions"]] == [None, None]
    answer = strict.post("/api/predict", json={"texts": texts[:2], "min_confidence": 0}).get_json()
    assert None not in [p["label"] for p in answer["predictions"]]
