"""Batches of token ids (``topicbert._token_batches``): length buckets, token budgets, padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from topicbert._token_batches import (
    CPU_TOKEN_BUDGET,
    collate,
    document_lengths,
    length_bucketed_batches,
    micro_batches,
    token_budget,
)
from topicbert._tokenizing import tokenize


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path):
    return AutoTokenizer.from_pretrained(tiny_bert)


def long_text(n_words: int) -> str:
    return " ".join(f"goal{i % 7} market" for i in range(n_words // 2))


def test_micro_batches_stay_within_the_token_budget_and_keep_order(tokenizer) -> None:
    texts = [long_text(n) for n in (4, 40, 10, 80, 2, 30)]
    documents = tokenize(tokenizer, texts, 32, "chunks", max_chunks=3)
    indices = np.arange(len(documents))
    parts = micro_batches(documents, indices, 64)
    assert np.concatenate(parts).tolist() == indices.tolist()
    for part in parts:
        chunks = [chunk for i in part for chunk in documents[i]]
        assert len(part) == 1 or len(chunks) * max(map(len, chunks)) <= 64
    assert micro_batches(documents, indices, None) == [indices]


def test_a_document_over_the_budget_gets_a_part_of_its_own() -> None:
    documents = [[[1] * 10], [[1] * 100], [[1] * 10]]
    parts = micro_batches(documents, np.arange(3), 50)
    assert [part.tolist() for part in parts] == [[0], [1], [2]]


def test_document_lengths_count_every_chunk() -> None:
    documents = [[[1, 2, 3]], [[1, 2], [3, 4, 5, 6]], [[1]]]
    assert document_lengths(documents).tolist() == [3, 6, 1]


def test_length_buckets_cover_every_text_once_and_group_similar_lengths() -> None:
    lengths = np.random.default_rng(0).integers(1, 500, size=1000)
    batches = length_bucketed_batches(lengths, 10, np.random.RandomState(0), bucket_batches=5)
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(1000))
    assert all(len(batch) == 10 for batch in batches)
    # within a batch, lengths are close: far closer than in a batch drawn at random
    spread = np.mean([np.ptp(lengths[batch]) for batch in batches])
    random_spread = np.mean([np.ptp(lengths[batch]) for batch in np.split(np.arange(1000), 100)])
    assert spread < random_spread / 3
    # the batches' order is shuffled, not sorted by length
    firsts = [int(lengths[batch].min()) for batch in batches]
    assert firsts != sorted(firsts)


def test_length_buckets_follow_the_random_state() -> None:
    lengths = np.arange(100) % 17
    same = [
        [b.tolist() for b in length_bucketed_batches(lengths, 8, np.random.RandomState(3))]
        for _ in range(2)
    ]
    other = length_bucketed_batches(lengths, 8, np.random.RandomState(4))
    assert same[0] == same[1]
    assert same[0] != [b.tolist() for b in other]


def test_collate_pads_each_batch_to_its_longest_chunk() -> None:
    documents = [[[5, 6, 7]], [[8]], [[9, 10, 11, 12, 13]]]
    input_ids, mask, doc_index = collate(documents, np.array([0, 1]), 0, torch.device("cpu"))
    assert input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]  # padded to 3, not to 5 or 512
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert doc_index is None  # one chunk per document


def test_collate_names_each_chunks_document() -> None:
    documents = [[[1, 2], [3]], [[4]], [[5], [6], [7, 8, 9]]]
    input_ids, mask, doc_index = collate(documents, np.array([2, 0]), 99, torch.device("cpu"))
    assert input_ids.tolist() == [[5, 99, 99], [6, 99, 99], [7, 8, 9], [1, 2, 99], [3, 99, 99]]
    assert mask.sum(dim=1).tolist() == [1, 1, 3, 2, 1]
    assert doc_index is not None and doc_index.tolist() == [0, 0, 0, 1, 1]


def test_only_cpus_split_batches_by_tokens() -> None:
    assert token_budget(torch.device("cpu")) == CPU_TOKEN_BUDGET
    assert token_budget(torch.device("cuda")) is None
    assert token_budget(torch.device("meta")) is None
