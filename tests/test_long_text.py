"""Long texts (truncate, head and tail, chunks) and the frozen-backbone fast path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.linear_model import LogisticRegression
from transformers import AutoModel, AutoTokenizer

import topicbert
from topicbert import BertTopicClassifier
from topicbert._model import TopicModel
from topicbert._token_batches import collate
from topicbert._tokenizing import tokenize

from .conftest import tiny_classifier


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path):
    return AutoTokenizer.from_pretrained(tiny_bert)


def long_text(n_words: int) -> str:
    return " ".join(f"goal{i % 7} market" for i in range(n_words // 2))


def content_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_short_texts_are_the_same_under_every_strategy(tokenizer) -> None:
    texts = ["the team scored a goal", "shares fell"]
    expected = tokenize(tokenizer, texts, 32)
    for strategy in ("head_tail", "chunks"):
        assert tokenize(tokenizer, texts, 32, strategy, max_chunks=4) == expected


def test_head_tail_keeps_the_start_and_the_end(tokenizer) -> None:
    text = long_text(200)
    ids = content_ids(tokenizer, text)
    [[window]] = tokenize(tokenizer, [text], 34, "head_tail")
    assert len(window) == 34
    assert window[0] == tokenizer.cls_token_id and window[-1] == tokenizer.sep_token_id
    inner = window[1:-1]  # 32 tokens of text: the first 8 and the last 24
    assert inner == ids[:8] + ids[-24:]


def test_chunks_cover_the_text_in_order_up_to_max_chunks(tokenizer) -> None:
    text = long_text(120)
    ids = content_ids(tokenizer, text)
    [chunks] = tokenize(tokenizer, [text], 18, "chunks", max_chunks=100)
    assert all(len(chunk) <= 18 for chunk in chunks)
    assert [i for chunk in chunks for i in chunk[1:-1]] == ids
    [capped] = tokenize(tokenizer, [text], 18, "chunks", max_chunks=3)
    assert capped == chunks[:3]


def test_empty_text_becomes_one_chunk_of_special_tokens(tokenizer) -> None:
    [[chunk]] = tokenize(tokenizer, [""], 16, "chunks", max_chunks=4)
    assert chunk == [tokenizer.cls_token_id, tokenizer.sep_token_id]


def test_chunk_vectors_are_averaged_by_token_count(tiny_bert: Path, tokenizer) -> None:
    encoder = AutoModel.from_pretrained(tiny_bert).eval()
    model = TopicModel(encoder, 3, 0.0, "mean").eval()
    documents = tokenize(tokenizer, [long_text(60), "one short goal"], 16, "chunks", 10)
    assert len(documents[0]) > 2
    input_ids, mask, doc_index = collate(documents, np.arange(2), 0, torch.device("cpu"))
    with torch.no_grad():
        pooled = model.pool(input_ids, mask, doc_index)
        per_chunk = model.pool(input_ids, mask)
    counts = mask.sum(dim=1, keepdim=True).float()
    n_first = len(documents[0])
    first = (per_chunk[:n_first] * counts[:n_first]).sum(0) / counts[:n_first].sum()
    torch.testing.assert_close(pooled[0], first)
    torch.testing.assert_close(pooled[1], per_chunk[n_first])


@pytest.mark.parametrize("strategy", ["head_tail", "chunks"])
def test_fit_predict_and_reload_with_a_long_text_strategy(
    tiny_bert: Path, corpus, held_out, tmp_path: Path, strategy: str
) -> None:
    texts, labels = corpus
    long_texts = [f"{text} {long_text(40)} {text}" for text in texts]
    clf = tiny_classifier(tiny_bert, max_length=24, long_text=strategy, max_chunks=4)
    clf.fit(long_texts, labels)
    proba = clf.predict_proba(long_texts[:10])
    # one text alone or in a batch of others: padding must not change it
    alone = clf.predict_proba(long_texts[3:4])
    np.testing.assert_allclose(alone[0], proba[3], atol=1e-5)
    assert clf.score(*held_out) >= 0.7
    loaded = BertTopicClassifier.load(clf.save(tmp_path / "model"), device="cpu")
    assert loaded.long_text == strategy and loaded.max_chunks == 4
    np.testing.assert_allclose(loaded.predict_proba(long_texts[:10]), proba, atol=1e-6)


class CountingBackbone:
    """The tiny BERT, counting the texts its encoder sees."""

    name = "counting"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows_seen = 0

    def load_tokenizer(self):
        return AutoTokenizer.from_pretrained(self.directory)

    def load_encoder(self):
        encoder = AutoModel.from_pretrained(self.directory)

        def count(module, args, kwargs) -> None:
            self.rows_seen += kwargs["input_ids"].shape[0]

        encoder.register_forward_pre_hook(count, with_kwargs=True)
        return encoder


def test_frozen_backbone_encodes_each_text_once_and_keeps_its_weights(
    tiny_bert: Path, corpus, held_out
) -> None:
    texts, labels = corpus
    topicbert.embedding_cache.clear()
    backbone = CountingBackbone(tiny_bert)
    clf = tiny_classifier(tiny_bert, backbone=backbone, freeze_backbone=True, epochs=50)
    clf.fit(texts, labels)
    assert backbone.rows_seen == len(texts)
    original = load_file(str(tiny_bert / "model.safetensors"))
    for name, value in clf.model_.encoder.state_dict().items():
        torch.testing.assert_close(value, original[name], msg=name)
    [record] = clf.history_
    assert record["C"] > 0 and record["train_accuracy"] >= 0.9
    assert clf.score(*held_out) >= 0.8
    # a refit, a clone or predictions on seen texts reuse the cached vectors
    seen = backbone.rows_seen
    clf.fit(texts[:60], labels[:60])
    clf.predict_proba(texts)
    assert backbone.rows_seen == seen
    unseen = [text + " Again." for text in held_out[0]]
    clf.predict_proba(unseen)
    assert backbone.rows_seen == seen + len(unseen)


def test_the_embedding_cache_keeps_within_its_size() -> None:
    cache = topicbert.EmbeddingCache(max_bytes=3 * 8 * 4)
    for i in range(5):
        cache.put(("m", bytes([i])), np.zeros(4))
    assert len(cache) == 3 and cache.nbytes == 3 * 8 * 4
    assert cache.get(("m", bytes([0]))) is None
    assert cache.get(("m", bytes([4]))) is not None
    cache.max_bytes = 8 * 4  # lowering the limit drops the oldest at once
    assert len(cache) == 1 and cache.get(("m", bytes([4]))) is not None
    cache.put(("m", b"big"), np.zeros(100))  # larger than the whole cache: not kept
    assert cache.get(("m", b"big")) is None and cache.nbytes == 8 * 4
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0
    with pytest.raises(ValueError, match="max_bytes"):
        cache.max_bytes = -1


def test_the_process_wide_cache_reports_and_frees_what_a_frozen_fit_stored(
    tiny_bert: Path, corpus
) -> None:
    texts, labels = corpus
    topicbert.embedding_cache.clear()
    tiny_classifier(tiny_bert, freeze_backbone=True).fit(texts, labels)
    assert 0 < len(topicbert.embedding_cache) <= len(texts)
    assert topicbert.embedding_cache.nbytes > 0
    assert "vectors" in repr(topicbert.embedding_cache)
    topicbert.embedding_cache.clear()
    assert topicbert.embedding_cache.nbytes == 0


def test_the_cache_limit_can_be_set_from_the_environment() -> None:
    import subprocess
    import sys

    code = "import topicbert; print(topicbert.embedding_cache.max_bytes)"
    env = {**os.environ, "TOPICBERT_EMBEDDING_CACHE_MB": "1.5"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(int(1.5 * 2**20)), out.stderr
    env["TOPICBERT_EMBEDDING_CACHE_MB"] = "lots"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "TOPICBERT_EMBEDDING_CACHE_MB" in out.stderr


def test_frozen_head_equals_the_logistic_regression_it_was_fitted_as(
    tiny_bert: Path, corpus
) -> None:
    texts, labels = corpus
    clf = tiny_classifier(tiny_bert, freeze_backbone=True).fit(texts, labels)
    from topicbert._inference import InferenceSettings, embed

    settings = InferenceSettings(16, clf.tokenizer_.pad_token_id, clf.device_, None)
    features = embed(clf.model_, clf._tokenize(clf.tokenizer_, texts), settings)
    features = features.astype(np.float64)
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale == 0] = 1.0
    reference = LogisticRegression(C=clf.history_[0]["C"], max_iter=2000)
    reference.fit((features - mean) / scale, labels)
    np.testing.assert_allclose(
        clf.predict_proba(texts), reference.predict_proba((features - mean) / scale), atol=1e-4
    )


def test_dimensions_that_barely_vary_are_left_out_of_the_frozen_head(
    tiny_bert: Path, corpus, tmp_path: Path
) -> None:
    # Like MiniLM, whose pooled vectors have a dimension at 1e-33: the last
    # LayerNorm scales two dimensions to (almost) nothing.
    encoder = AutoModel.from_pretrained(str(tiny_bert))
    with torch.no_grad():
        norm = encoder.encoder.layer[-1].output.LayerNorm
        norm.weight[:2] = torch.tensor([1e-30, 1e-8])
        norm.bias[:2] = 0.0
    encoder.save_pretrained(str(tmp_path))
    AutoTokenizer.from_pretrained(str(tiny_bert)).save_pretrained(str(tmp_path))
    texts, labels = corpus
    clf = tiny_classifier(tmp_path, freeze_backbone=True).fit(texts, labels)
    weight = clf.model_.classifier.weight.detach()
    assert torch.all(weight[:, :2] == 0)
    assert weight.abs().max() < 100
    # the same model runs its head through the encoder's forward pass too
    # (fine-tuning from it, ONNX): there its logits must be the same
    from topicbert._inference import InferenceSettings, predict_logits

    settings = InferenceSettings(16, clf.tokenizer_.pad_token_id, clf.device_, torch.bfloat16)
    through_forward = predict_logits(clf.model_, clf._tokenize(clf.tokenizer_, texts), settings)
    np.testing.assert_allclose(
        torch.softmax(torch.as_tensor(through_forward), dim=1).numpy(),
        clf.predict_proba(texts),
        atol=0.02,
    )


def test_frozen_backbone_with_two_classes_and_an_absent_label(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    keep = [i for i, label in enumerate(labels) if label in ("sport", "business")]
    texts2, labels2 = [texts[i] for i in keep], [labels[i] for i in keep]
    clf = tiny_classifier(
        tiny_bert, freeze_backbone=True, labels=["business", "sport", "weather"]
    ).fit(texts2, labels2)
    proba = clf.predict_proba(texts2)
    assert proba.shape == (len(texts2), 3)
    assert proba[:, 2].max() < 1e-6
    assert clf.score(texts2, labels2) >= 0.9


def test_frozen_backbone_reports_validation_and_survives_a_pickle(tiny_bert: Path, corpus) -> None:
    import pickle

    texts, labels = corpus
    clf = tiny_classifier(
        tiny_bert, freeze_backbone=True, early_stopping=True, class_weight="balanced"
    ).fit(texts, labels)
    assert {"valid_loss", "valid_accuracy"} <= set(clf.history_[0])
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(texts), clf.predict_proba(texts), atol=1e-6)


def test_micro_batches_stay_within_the_token_budget_and_keep_order(tokenizer) -> None:
    from topicbert._token_batches import micro_batches

    texts = [long_text(n) for n in (4, 40, 10, 80, 2, 30)]
    documents = tokenize(tokenizer, texts, 32, "chunks", max_chunks=3)
    indices = np.arange(len(documents))
    parts = micro_batches(documents, indices, 64)
    assert np.concatenate(parts).tolist() == indices.tolist()
    for part in parts:
        chunks = [chunk for i in part for chunk in documents[i]]
        assert len(part) == 1 or len(chunks) * max(map(len, chunks)) <= 64
    assert micro_batches(documents, indices, None) == [indices]


def test_splitting_batches_into_parts_gives_the_same_model(
    tiny_bert: Path, corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from topicbert import _token_batches

    # without dropout anywhere, the parts' summed gradients are the whole batch's
    encoder = AutoModel.from_pretrained(tiny_bert)
    encoder.config.hidden_dropout_prob = encoder.config.attention_probs_dropout_prob = 0.0
    encoder.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path)
    texts, labels = corpus
    params = {"dropout": 0.0, "epochs": 2, "class_weight": "balanced"}
    whole = tiny_classifier(tmp_path, **params).fit(texts, labels)
    monkeypatch.setattr(_token_batches, "CPU_TOKEN_BUDGET", 40)
    parts = tiny_classifier(tmp_path, **params).fit(texts, labels)
    np.testing.assert_allclose(parts.predict_proba(texts), whole.predict_proba(texts), atol=2e-4)
    for a, b in zip(whole.history_, parts.history_, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
