"""Which texts to label next: uncertainty scores and ``topicbert.active.suggest``."""

from __future__ import annotations

import pickle
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from tests.conftest import make_corpus, tiny_classifier
from topicbert import BertTopicClassifier
from topicbert._decision import DecisionRule
from topicbert.active import STRATEGIES, suggest, uncertainty


class TableModel:
    """A fitted 'model' whose probabilities are looked up by text: ``"t17"`` -> row 17."""

    def __init__(self, proba: np.ndarray, *, threshold: float | None = None) -> None:
        self.proba = np.asarray(proba, dtype=np.float64)
        self.classes_ = np.array([f"c{i}" for i in range(self.proba.shape[1])])
        self.threshold = threshold
        self.calls: list[list[str]] = []

    @property
    def decision_rule(self) -> DecisionRule:
        if self.threshold is None:
            return DecisionRule(target_kind="single", classes=self.classes_)
        return DecisionRule(
            target_kind="indicator", classes=self.classes_, threshold=self.threshold
        )

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.proba[[int(t[1:]) for t in texts]]


def pool(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


def dirichlet(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


# ------------------------------------------------------------------ scores
def test_single_label_scores_by_hand() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(uncertainty(proba, "margin"), [0.5, 0.95, 0.0])
    np.testing.assert_allclose(uncertainty(proba, "least_confidence"), [0.3, 0.6, 0.0])
    entropy = [-sum(p * np.log(p) for p in row if p > 0) for row in proba]
    np.testing.assert_allclose(uncertainty(proba, "entropy"), entropy, atol=1e-9)


def test_label_set_scores_by_hand() -> None:
    proba = np.array([[0.9, 0.35, 0.05], [0.5, 0.5, 0.5]])
    thresholds = np.array([0.5, 0.3, 0.5])
    np.testing.assert_allclose(uncertainty(proba, "margin", thresholds=thresholds), [-0.05, 0.0])
    # the predicted set of row 0 is {0, 1}: its probability 0.9 * 0.35 * 0.95
    np.testing.assert_allclose(
        uncertainty(proba, "least_confidence", thresholds=thresholds),
        [1 - 0.9 * 0.35 * 0.95, 1 - 0.5**3],
    )
    binary = [-(p * np.log(p) + (1 - p) * np.log(1 - p)) for p in proba[0]]
    np.testing.assert_allclose(
        uncertainty(proba, "entropy", thresholds=thresholds)[0], sum(binary), atol=1e-9
    )


@given(arrays(np.float64, (12, 4), elements=st.floats(0.01, 1.0)))
def test_a_sure_text_never_scores_above_an_unsure_one(raw: np.ndarray) -> None:
    proba = raw / raw.sum(axis=1, keepdims=True)
    sure = np.array([[0.97, 0.01, 0.01, 0.01]])
    unsure = np.full((1, 4), 0.25)
    for strategy in ("margin", "entropy", "least_confidence"):
        scores = uncertainty(np.vstack([proba, sure, unsure]), strategy)
        assert scores[-1] >= scores.max() - 1e-12  # uniform: the least sure of all
        assert scores[-2] <= scores[:-2].min() + 1e-12 or proba.max(axis=1).max() > 0.97


def test_bad_scores_arguments() -> None:
    with pytest.raises(ValueError, match="strategy must be one of"):
        uncertainty(np.ones((2, 2)) / 2, "random")
    with pytest.raises(ValueError, match="2-D"):
        uncertainty(np.ones(3), "margin")
    with pytest.raises(ValueError, match="one per label"):
        uncertainty(np.ones((2, 3)) / 3, "margin", thresholds=np.array([0.5, 0.5]))


# ----------------------------------------------------------------- suggest
@pytest.mark.parametrize("strategy", ["margin", "entropy", "least_confidence"])
def test_suggests_the_least_sure_texts_least_sure_first(strategy: str) -> None:
    proba = dirichlet(500, 5, seed=1)
    model = TableModel(proba)
    positions = suggest(model, pool(500), 20, strategy=strategy, chunk_size=64)
    expected = np.argsort(-uncertainty(proba, strategy), kind="stable")[:20]
    assert positions.tolist() == expected.tolist()
    assert all(len(call) <= 64 for call in model.calls)


def test_label_sets_use_each_labels_threshold() -> None:
    proba = np.array([[0.9, 0.05], [0.52, 0.01], [0.2, 0.95], [0.31, 0.6]])
    at_half = suggest(TableModel(proba, threshold=0.5), pool(4), 2)
    assert at_half.tolist() == [1, 3]  # 0.52 and 0.6 are closest to 0.5
    at_third = suggest(TableModel(proba, threshold=0.3), pool(4), 1)
    assert at_third.tolist() == [3]  # 0.31 is 0.01 from 0.3


def test_any_fitted_classifier_and_a_zero_shot_model(tiny_bert: Path) -> None:
    texts, labels = make_corpus(30, seed=5)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts[:60], labels[:60])
    positions = suggest(model, texts[60:], 10)
    margins = uncertainty(model.predict_proba(texts[60:]), "margin")
    assert set(positions.tolist()) == set(np.argsort(-margins)[:10].tolist())

    zero_shot = BertTopicClassifier.from_descriptions(
        {"sport": "football match goal", "tech": "computer software", "business": "market bank"},
        backbone=str(tiny_bert),
        max_length=64,
        device="cpu",
        precision="fp32",
    )
    chosen = suggest(zero_shot, texts, 5, diversity=3, random_state=0)
    assert len(set(chosen.tolist())) == 5


def test_random_is_seeded_and_uniform() -> None:
    model = TableModel(dirichlet(100, 3, seed=0))
    first = suggest(model, pool(100), 10, strategy="random", random_state=7)
    again = suggest(model, pool(100), 10, strategy="random", random_state=7)
    other = suggest(model, pool(100), 10, strategy="random", random_state=8)
    assert first.tolist() == again.tolist() != other.tolist()
    counts = np.zeros(100)
    for seed in range(300):
        counts[suggest(model, pool(100), 10, strategy="random", random_state=seed)] += 1
    assert counts.min() > 5 and counts.max() < 60  # each expected 30 times


def test_excluded_positions_are_neither_scored_nor_suggested() -> None:
    proba = dirichlet(50, 3, seed=2)
    model = TableModel(proba)
    least_sure = np.argsort(-uncertainty(proba, "margin"))
    excluded = set(least_sure[:5].tolist())
    positions = suggest(model, pool(50), 5, exclude=excluded)
    assert positions.tolist() == least_sure[5:10].tolist()
    scored = {text for call in model.calls for text in call}
    assert not scored & {f"t{i}" for i in excluded}


def test_a_stream_is_read_once_with_flat_memory() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=1000)

    class Cycling(TableModel):
        def predict_proba(self, texts: list[str]) -> np.ndarray:
            return self.proba[[int(t.split()[0][1:]) % 1000 for t in texts]]

    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            yield f"t{i} " + "word " * 40  # about 250 bytes each

    model = Cycling(proba)
    tracemalloc.start()
    positions = suggest(model, stream(60_000), 10, chunk_size=256)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(positions) == 10
    assert peak < 3_000_000  # the pool itself is 15 MB


def test_diversity_spreads_a_batch_over_the_encoder_space() -> None:
    # the 8 least sure texts are near-copies of one text; 8 others are spread out
    proba = np.vstack(
        [np.tile([0.5, 0.5], (8, 1)) + [[i * 1e-4, -i * 1e-4] for i in range(8)], [[0.7, 0.3]] * 8]
    )
    directions = np.eye(9)
    vectors = np.vstack([np.tile(directions[0], (8, 1)), directions[1:]])

    class Embedding(TableModel):
        def embed(self, texts: list[str]) -> np.ndarray:
            return vectors[[int(t[1:]) for t in texts]]

    model = Embedding(proba)
    plain = suggest(model, pool(16), 4)
    spread = suggest(model, pool(16), 4, diversity=4, random_state=0)
    assert set(plain.tolist()) <= set(range(8))
    assert len(set(spread.tolist()) & set(range(8))) == 1
    assert spread[0] == 0  # the least sure text still comes first


def test_bad_suggest_arguments(tiny_bert: Path) -> None:
    model = TableModel(dirichlet(10, 3, seed=0))
    with pytest.raises(ValueError, match="pool holds only 10 texts"):
        suggest(model, pool(10), 11)
    with pytest.raises(ValueError, match="only 7 texts once 3 excluded"):
        suggest(model, pool(10), 8, exclude={0, 1, 2})
    with pytest.raises(ValueError, match="'n' parameter of suggest"):
        suggest(model, pool(10), 0)
    with pytest.raises(ValueError, match="strategy must be one of"):
        suggest(model, pool(10), 2, strategy="smallest")
    with pytest.raises(ValueError, match="has no embed"):
        suggest(model, pool(10), 2, diversity=3)
    with pytest.raises(ValueError, match="single string"):
        suggest(model, "t1", 1)
    with pytest.raises(TypeError, match="predict_proba"):
        suggest(object(), pool(10), 2)
    with pytest.raises(NotFittedError):
        suggest(tiny_classifier(tiny_bert), ["a text"], 1)
    with pytest.raises(NotFittedError):
        suggest(make_pipeline(TfidfVectorizer(), LogisticRegression()), ["a text"], 1)


# -------------------------------------------------------------------- embed
def test_embed_gives_the_vectors_the_head_reads(tiny_bert: Path, corpus: Any) -> None:
    texts, labels = corpus
    model = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    vectors = model.embed(texts[:7])
    assert vectors.shape == (7, model.model_.classifier.in_features)
    weight = model.model_.classifier.weight.detach().numpy()
    bias = model.model_.classifier.bias.detach().numpy()
    logits = vectors @ weight.T + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(expected, model.predict_proba(texts[:7]), atol=1e-5)
    assert model.embed([]).shape == (0, vectors.shape[1])


def test_embed_of_a_fine_tuned_model(fitted: BertTopicClassifier, corpus: Any) -> None:
    texts, _ = corpus
    model = pickle.loads(pickle.dumps(fitted))
    vectors = model.embed(texts[:3])
    assert vectors.dtype == np.float32 and np.isfinite(vectors).all()
    np.testing.assert_allclose(vectors[1], model.embed([texts[1]])[0], atol=1e-5)


def test_embed_needs_a_fitted_model(tiny_bert: Path) -> None:
    with pytest.raises(NotFittedError):
        tiny_classifier(tiny_bert).embed(["a text"])


def test_every_strategy_is_named() -> None:
    assert STRATEGIES == ("margin", "entropy", "least_confidence", "random")
