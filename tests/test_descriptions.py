"""Zero-shot models made from label descriptions (``BertTopicClassifier.from_descriptions``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from topicbert import BertTopicClassifier
from topicbert.onnx import OnnxTopicClassifier

DESCRIPTIONS = {
    "sport": "football match goal team player",
    "tech": ["computer software internet", "phone chip data"],
    "business": "market shares profit bank economy",
}


def zero_shot(tiny_bert: Path, **params: object) -> BertTopicClassifier:
    settings: dict[str, object] = {
        "backbone": str(tiny_bert),
        "max_length": 64,
        "device": "cpu",
        "precision": "fp32",
        "random_state": 0,
    }
    settings.update(params)
    return BertTopicClassifier.from_descriptions(DESCRIPTIONS, **settings)  # type: ignore[arg-type]


def unit_mean_vectors(tiny_bert: Path, texts: list[str]) -> np.ndarray:
    """Mean-pooled vectors scaled to unit length, computed with transformers alone."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    encoder = AutoModel.from_pretrained(tiny_bert).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = ((hidden * mask).sum(1) / mask.sum(1)).numpy().astype(np.float64)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_probabilities_are_cosine_similarities_over_the_temperature(tiny_bert, held_out):
    texts = held_out[0][:12]
    model = zero_shot(tiny_bert, temperature=0.1)
    assert list(model.classes_) == ["sport", "tech", "business"]  # the mapping's order
    centroids = []
    for value in DESCRIPTIONS.values():
        group = [value] if isinstance(value, str) else value
        mean = unit_mean_vectors(tiny_bert, group).mean(axis=0)
        centroids.append(mean / np.linalg.norm(mean))
    logits = unit_mean_vectors(tiny_bert, texts) @ np.asarray(centroids).T / 0.1
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(texts), expected, atol=1e-5)
    assert model.normalize is True and model.labels == ["sport", "tech", "business"]


def test_a_description_is_closest_to_its_own_label(tiny_bert):
    model = zero_shot(tiny_bert)
    texts = ["football match goal team player", "market shares profit bank economy"]
    assert model.predict(texts).tolist() == ["sport", "business"]


def test_label_sets_get_independent_scores_around_the_similarity_threshold(tiny_bert, held_out):
    texts = held_out[0][:10]
    model = zero_shot(tiny_bert, multilabel=True, similarity_threshold=0.2, temperature=0.1)
    single = zero_shot(tiny_bert, temperature=0.1)
    proba = model.predict_proba(texts)
    # each label's logit is (similarity - 0.2) / 0.1; softmax logits are similarity / 0.1
    similarity = 0.1 * np.log(single.predict_proba(texts))
    similarity -= similarity.max(axis=1, keepdims=True)  # known up to a shift per text
    logit = np.log(proba / (1 - proba))
    np.testing.assert_allclose(
        0.1 * logit - (0.1 * logit).max(axis=1, keepdims=True), similarity, atol=1e-5
    )
    predicted = model.predict(texts)
    assert isinstance(predicted, list) and all(isinstance(row, tuple) for row in predicted)
    assert [set(row) for row in predicted] == [
        {label for label, p in zip(model.classes_, row_p, strict=True) if p >= 0.5}
        for row_p in proba
    ]


def test_a_zero_shot_model_saves_loads_pickles_and_exports(tiny_bert, held_out, tmp_path):
    texts = held_out[0][:20]
    model = zero_shot(tiny_bert)
    expected = model.predict_proba(texts)
    loaded = BertTopicClassifier.load(model.save(tmp_path / "model"))
    assert loaded.normalize is True
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-6)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(model)).predict_proba(texts), expected)
    exported = OnnxTopicClassifier(model.export_onnx(tmp_path / "onnx"))
    np.testing.assert_allclose(exported.predict_proba(texts), expected, atol=1e-5)
    assert exported.predict(texts).tolist() == model.predict(texts).tolist()


def test_a_zero_shot_label_set_model_exports_with_its_thresholds(tiny_bert, held_out, tmp_path):
    texts = held_out[0][:20]
    model = zero_shot(tiny_bert, multilabel=True, similarity_threshold=0.2, temperature=0.1)
    exported = OnnxTopicClassifier(model.export_onnx(tmp_path / "onnx"))
    np.testing.assert_allclose(exported.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert [set(row) for row in exported.predict(texts)] == [
        set(row) for row in model.predict(texts)
    ]


def test_a_zero_shot_build_calls_the_callbacks_as_a_fit_with_no_epochs(tiny_bert):
    from topicbert import Callback

    events: list[str] = []

    class Recorder(Callback):
        def on_train_begin(self, estimator) -> None:
            events.append(f"begin {[str(c) for c in estimator.classes_]} {estimator.history_}")

        def on_epoch_end(self, estimator, record) -> None:
            events.append("epoch")

        def on_train_end(self, estimator) -> None:
            events.append(f"end {estimator.predict(['football match goal'])[0]}")

        def on_train_error(self, estimator, error) -> None:
            events.append(f"error {error}")

    zero_shot(tiny_bert, callbacks=[Recorder()])
    assert events == ["begin ['sport', 'tech', 'business'] []", "end sport"]

    class Refuse(Callback):
        def on_train_begin(self, estimator) -> None:
            raise RuntimeError("no")

    events.clear()
    with pytest.raises(RuntimeError, match="no"):
        zero_shot(tiny_bert, callbacks=[Recorder(), Refuse()])
    assert events == ["begin ['sport', 'tech', 'business'] []", "error no"]


def test_a_zero_shot_model_abstains_explains_reports_and_is_served(tiny_bert, held_out, tmp_path):
    from sklearn.metrics import accuracy_score

    from topicbert import ClassificationReport, explain
    from topicbert.integrations.serving import create_app

    texts, labels = held_out
    model = zero_shot(tiny_bert)
    proba, predicted = model.predict_proba(texts), model.predict(texts)

    top = np.sort(proba.max(axis=1))
    cut = float(top[len(top) // 2])  # about half the texts are below it
    unsure = pickle.loads(pickle.dumps(model)).set_params(min_confidence=cut)
    abstained = unsure.predict(texts)
    below = proba.max(axis=1) < cut
    assert 0 < below.sum() < len(texts)
    assert all(label is None for label in abstained[below])
    assert list(abstained[~below]) == list(predicted[~below])

    explanation = explain(model, texts[0], num_samples=100, random_state=0)
    assert explanation.predicted_label == predicted[0]
    np.testing.assert_allclose(explanation.probabilities, proba[0], atol=1e-6)
    assert explanation.as_list() and "<mark" in explanation.as_html()

    report = ClassificationReport.from_estimator(model, texts, labels)
    assert report.accuracy == pytest.approx(accuracy_score(labels, predicted))

    client = create_app(model.save(tmp_path / "model"), max_texts=100).test_client()
    answer = client.post("/api/predict", json={"texts": texts[:5]}).get_json()["predictions"]
    assert [p["label"] for p in answer] == list(predicted[:5])
    np.testing.assert_allclose(
        [[p["probabilities"][str(c)] for c in model.classes_] for p in answer], proba[:5], atol=1e-5
    )


def test_chunked_long_texts_are_scored_alike_by_the_export(tiny_bert, held_out, tmp_path):
    """Each window's vector is normalised before windows are averaged, so the export
    (which averages the windows' logits) stays exact."""
    texts = [" ".join(held_out[0][i : i + 6]) for i in range(0, 30, 6)]
    model = zero_shot(tiny_bert, long_text="chunks", max_length=16)
    exported = OnnxTopicClassifier(model.export_onnx(tmp_path / "onnx"))
    np.testing.assert_allclose(exported.predict_proba(texts), model.predict_proba(texts), atol=1e-5)


def test_a_zero_shot_model_can_then_be_fitted(tiny_bert, corpus):
    model = zero_shot(tiny_bert, training="head")
    kept = [(text, label) for text, label in zip(*corpus, strict=True) if label in DESCRIPTIONS]
    texts, labels = [text for text, _ in kept], [label for _, label in kept]
    model.fit(texts, labels)
    assert model.normalize is True
    assert list(model.classes_) == list(DESCRIPTIONS)  # the descriptions' labels, kept
    assert model.score(texts, labels) > 0.5
    with pytest.raises(ValueError, match="not in labels"):
        model.fit([*texts, "Rain all day."], [*labels, "weather"])  # a label not described


@pytest.mark.parametrize(
    ("descriptions", "error", "match"),
    [
        (["sport", "tech"], TypeError, "mapping"),
        ({"sport": "Sport news"}, ValueError, "at least two labels"),
        ({"sport": "Sport news", "tech": ""}, ValueError, "'tech' holds ''"),
        ({"sport": "Sport news", "tech": []}, TypeError, "non-empty list"),
        ({"sport": "Sport news", "tech": 3}, TypeError, "'tech'"),
        ({"sport": "Sport news", "tech": [" sport  NEWS"]}, ValueError, "for label 'sport' and"),
        ({"sport": ["news", "news"], "tech": "chips"}, ValueError, "'sport' twice"),
    ],
)
def test_bad_descriptions_are_refused_before_any_work(tiny_bert, descriptions, error, match):
    with pytest.raises(error, match=match):
        BertTopicClassifier.from_descriptions(descriptions, backbone=str(tiny_bert / "missing"))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"labels": ["a", "b"]}, "sets labels"),
        ({"normalize": False}, "sets normalize"),
        ({"temperature": 0}, "temperature"),
        ({"similarity_threshold": 2.0}, "similarity_threshold"),
        ({"multilabel": True, "threshold": "tune"}, "cannot tune thresholds"),
        ({"pooling": "max"}, "pooling"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tiny_bert, params, match):
    with pytest.raises(ValueError, match=match):
        BertTopicClassifier.from_descriptions(
            {"a": "first", "b": "second"}, backbone=str(tiny_bert / "missing"), **params
        )


def test_unit_length_vectors_are_cached_apart_from_raw_ones(tiny_bert, corpus, held_out):
    """A frozen encoder's vectors are cached per process; scaled and raw ones must not mix."""
    from tests.conftest import tiny_classifier
    from topicbert._embedding_cache import embedding_cache

    texts = held_out[0][20:30]
    raw = tiny_classifier(tiny_bert, training="head").fit(*corpus)
    raw.predict_proba(texts)  # caches the same encoder's raw vectors of these texts
    model = zero_shot(tiny_bert, training="head")  # predicts through the cache
    after_raw = model.predict_proba(texts)
    embedding_cache.clear()
    np.testing.assert_allclose(after_raw, model.predict_proba(texts), atol=1e-6)


# --- descriptions beside labelled texts ---------------------------------------------------


def few_labelled(corpus, per_label: int = 4) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for text, label in zip(*corpus, strict=True):
        if label in DESCRIPTIONS and labels.count(label) < per_label:
            texts.append(text)
            labels.append(label)
    return texts, labels


def as_examples() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, value in DESCRIPTIONS.items():
        for text in [value] if isinstance(value, str) else value:
            texts.append(text)
            labels.append(label)
    return texts, labels


def test_fit_adds_each_description_as_an_example_of_its_label(tiny_bert, corpus, held_out):
    from tests.conftest import tiny_classifier

    texts, labels = few_labelled(corpus)
    extra_texts, extra_labels = as_examples()
    described = tiny_classifier(tiny_bert, training="head", descriptions=DESCRIPTIONS)
    described.fit(texts, labels)
    by_hand = tiny_classifier(tiny_bert, training="head").fit(
        texts + extra_texts, labels + extra_labels
    )
    plain = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    probe = held_out[0][:20]
    np.testing.assert_allclose(described.predict_proba(probe), by_hand.predict_proba(probe))
    assert np.abs(described.predict_proba(probe) - plain.predict_proba(probe)).max() > 1e-3
    assert len(described.training_text_hashes_) == len(texts)  # the user's texts only


@pytest.mark.parametrize("multilabel", [False, True])
def test_descriptions_are_training_examples_never_held_out(tiny_bert, corpus, multilabel):
    from tests.conftest import tiny_classifier
    from topicbert._fitting import prepare

    texts, labels = few_labelled(corpus)
    y = [(label,) for label in labels] if multilabel else labels
    model = tiny_classifier(
        tiny_bert, descriptions=DESCRIPTIONS, early_stopping=True, validation_fraction=0.25
    )
    fit = prepare(model, texts, y)
    n, extra = len(texts), len(as_examples()[0])
    assert fit.valid_index is not None and fit.valid_index.max() < n
    assert set(range(n, n + extra)) <= set(fit.train_index.tolist())
    assert len(fit.documents) == len(fit.labels) == n + extra
    classes = fit.targets.classes.tolist()
    added = fit.labels[n:]
    if multilabel:
        assert added.shape == (extra, len(classes)) and (added.sum(axis=1) == 1).all()
        added = added.argmax(axis=1)
    assert [classes[i] for i in added] == as_examples()[1]


def test_a_description_of_a_label_without_texts_is_refused(tiny_bert, corpus):
    from tests.conftest import tiny_classifier

    texts, labels = few_labelled(corpus)
    kept = [(t, label) for t, label in zip(texts, labels, strict=True) if label != "business"]
    model = tiny_classifier(tiny_bert, descriptions=DESCRIPTIONS)
    with pytest.raises(ValueError, match="describes 'business', which the training labels lack"):
        model.fit([t for t, _ in kept], [label for _, label in kept])
    assert not hasattr(model, "classes_")
    with pytest.raises(ValueError, match="non-empty"):
        tiny_classifier(tiny_bert, descriptions={"a": "", "b": "x"}).fit(texts, labels)


def test_a_saved_zero_shot_model_keeps_its_descriptions_for_a_later_fit(
    tiny_bert, corpus, tmp_path
):
    model = zero_shot(tiny_bert, training="head")
    loaded = BertTopicClassifier.load(model.save(tmp_path / "model"))
    assert loaded.descriptions == DESCRIPTIONS
    assert list(loaded.descriptions) == list(DESCRIPTIONS)  # order kept
    texts, labels = few_labelled(corpus)
    refitted = loaded.fit(texts, labels)
    expected = model.fit(texts, labels)
    probe = corpus[0][:10]
    np.testing.assert_allclose(refitted.predict_proba(probe), expected.predict_proba(probe))
