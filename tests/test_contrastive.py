"""Contrastive tuning: pairs of texts, the encoder pulled together by label, then the head."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from topicbert import BertTopicClassifier
from topicbert._contrastive import check_pairs_possible, draw_pairs

from .conftest import make_corpus, tiny_classifier

LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2])


def test_each_iteration_draws_a_positive_and_a_negative_per_text() -> None:
    first, second, target = draw_pairs(LABELS, 3, np.random.RandomState(0))
    assert len(target) == 2 * 3 * len(LABELS)
    assert (first != second).all()
    same = LABELS[first] == LABELS[second]
    assert (same == (target == 1.0)).all()
    assert target.sum() == 3 * len(LABELS)
    again = draw_pairs(LABELS, 3, np.random.RandomState(0))
    assert all((a == b).all() for a, b in zip(again, (first, second, target), strict=True))


def test_label_set_pairs_share_a_label_or_none() -> None:
    sets = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    first, second, target = draw_pairs(sets, 4, np.random.RandomState(1))
    shared = (sets[first] * sets[second]).sum(axis=1) > 0
    assert (shared == (target == 1.0)).all()
    assert target.sum() > 0 and (target == 0).sum() > 0


def test_a_label_with_one_text_is_refused_by_name() -> None:
    classes = np.array(["sport", "tech", "arts"])
    with pytest.raises(ValueError, match="'arts' has one"):
        check_pairs_possible(np.array([0, 0, 1, 1, 2]), classes)
    with pytest.raises(ValueError, match="two texts that share a label"):
        check_pairs_possible(np.eye(3, dtype=np.float32), classes)


def test_contrastive_fit_refuses_a_label_with_one_text_before_any_work(tiny_bert: Path) -> None:
    texts = ["goal match team", "cup win league", "bank shares market"]
    with pytest.raises(ValueError, match="'business' has one"):
        tiny_classifier(tiny_bert, training="contrastive").fit(
            texts, ["sport", "sport", "business"]
        )


def pair_gap(model: BertTopicClassifier, texts: list[str], labels: list[str]) -> float:
    """Mean cosine similarity of same-label pairs minus that of different-label pairs."""
    from topicbert._inference import embed

    documents = model._tokenize(model.tokenizer_, texts)
    vectors = embed(model.model_, documents, model._inference_settings(None, verbose=False))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    y = np.asarray(labels)
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    different = y[:, None] != y[None, :]
    return float(similarity[same].mean() - similarity[different].mean())


@pytest.fixture(scope="module")
def few() -> tuple[list[str], list[str]]:
    return make_corpus(8, seed=5)  # 8 texts per topic


def test_contrastive_training_pulls_texts_of_a_label_together(tiny_bert: Path, few) -> None:
    texts, labels = few
    head = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    tuned = tiny_classifier(tiny_bert, training="contrastive", contrastive_learning_rate=1e-3).fit(
        texts, labels
    )
    assert pair_gap(tuned, texts, labels) > pair_gap(head, texts, labels) + 0.05
    record = tuned.history_[-1]
    assert record["pairs"] == 2 * 20 * len(texts) and record["pair_loss"] > 0
    assert "train_accuracy" in record and "C" in record
    held_texts, held_labels = make_corpus(10, seed=6)
    assert tuned.score(held_texts, held_labels) >= 0.8


def test_a_contrastive_model_saves_loads_and_pickles(tiny_bert: Path, few, tmp_path: Path) -> None:
    texts, labels = few
    model = tiny_classifier(tiny_bert, training="contrastive").fit(texts, labels)
    expected = model.predict_proba(texts)
    loaded = BertTopicClassifier.load(model.save(tmp_path / "m"), device="cpu")
    assert loaded.training == "contrastive"
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-6)
    copied = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(copied.predict_proba(texts), expected, atol=1e-6)


def test_the_same_seed_gives_the_same_contrastive_model(tiny_bert: Path, few) -> None:
    texts, labels = few
    first = tiny_classifier(tiny_bert, training="contrastive").fit(texts, labels)
    second = tiny_classifier(tiny_bert, training="contrastive").fit(texts, labels)
    for a, b in zip(first.model_.parameters(), second.model_.parameters(), strict=True):
        assert torch.equal(a, b)


def test_freeze_backbone_warns_and_trains_the_head(tiny_bert: Path, few) -> None:
    texts, labels = few
    with pytest.warns(FutureWarning, match="use training='head'"):
        old = tiny_classifier(tiny_bert, freeze_backbone=True).fit(texts, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    np.testing.assert_array_equal(old.predict_proba(texts), new.predict_proba(texts))
    with pytest.raises(ValueError, match="freeze_backbone=True and training='contrastive'"):
        tiny_classifier(tiny_bert, freeze_backbone=True, training="contrastive").fit(texts, labels)
