"""Long texts (``topicbert._tokenizing``): truncation, head and tail, chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from topicbert import BertTopicClassifier
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
