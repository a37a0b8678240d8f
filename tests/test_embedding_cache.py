"""The process-wide cache of pooled vectors (``topicbert._embedding_cache``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import topicbert
from topicbert._embedding_cache import DEFAULT_MAX_BYTES, EmbeddingCache

from .conftest import tiny_classifier

VECTOR_BYTES = 4 * 8  # np.zeros(4): four float64 values


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


def test_a_vector_read_recently_outlives_older_ones() -> None:
    cache = EmbeddingCache(max_bytes=2 * VECTOR_BYTES)
    cache.put(("m", b"a"), np.zeros(4))
    cache.put(("m", b"b"), np.ones(4))
    assert cache.get(("m", b"a")) is not None  # "a" is now the most recently used
    cache.put(("m", b"c"), np.full(4, 2.0))
    assert cache.get(("m", b"b")) is None
    np.testing.assert_array_equal(cache.get(("m", b"a")), np.zeros(4))
    np.testing.assert_array_equal(cache.get(("m", b"c")), np.full(4, 2.0))


def test_the_cache_keeps_a_copy_and_counts_a_key_once() -> None:
    cache = EmbeddingCache(max_bytes=10 * VECTOR_BYTES)
    vector = np.arange(4.0)
    cache.put(("m", b"a"), vector)
    vector[:] = -1.0  # the caller's array changing later leaves the cached vector alone
    np.testing.assert_array_equal(cache.get(("m", b"a")), np.arange(4.0))
    cache.put(("m", b"a"), np.zeros(4))  # a key already there is kept as it was
    assert len(cache) == 1 and cache.nbytes == VECTOR_BYTES
    np.testing.assert_array_equal(cache.get(("m", b"a")), np.arange(4.0))
    # the key's parts both count: the same digest under another encoder is another vector
    assert cache.get(("other", b"a")) is None


def test_a_zero_limit_turns_caching_off() -> None:
    cache = EmbeddingCache(max_bytes=0)
    cache.put(("m", b"a"), np.zeros(4))
    assert len(cache) == 0 and cache.get(("m", b"a")) is None
    assert EmbeddingCache().max_bytes == DEFAULT_MAX_BYTES


@pytest.mark.parametrize("value", [-1, 1.5, True, "10", None])
def test_the_limit_must_be_a_whole_number_of_bytes(value: object) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        EmbeddingCache(max_bytes=value)  # type: ignore[arg-type]


def test_the_process_wide_cache_reports_and_frees_what_a_frozen_fit_stored(
    tiny_bert: Path, corpus
) -> None:
    texts, labels = corpus
    topicbert.embedding_cache.clear()
    tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    assert 0 < len(topicbert.embedding_cache) <= len(texts)
    assert topicbert.embedding_cache.nbytes > 0
    assert "vectors" in repr(topicbert.embedding_cache)
    topicbert.embedding_cache.clear()
    assert topicbert.embedding_cache.nbytes == 0


def cache_limit_in_a_new_process(value: str) -> subprocess.CompletedProcess[str]:
    code = "import topicbert; print(topicbert.embedding_cache.max_bytes)"
    env = {**os.environ, "TOPICBERT_EMBEDDING_CACHE_MB": value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_the_cache_limit_can_be_set_from_the_environment() -> None:
    out = cache_limit_in_a_new_process("1.5")
    assert out.stdout.strip() == str(int(1.5 * 2**20)), out.stderr
    out = cache_limit_in_a_new_process("lots")
    assert out.returncode != 0 and "TOPICBERT_EMBEDDING_CACHE_MB" in out.stderr


def test_a_negative_or_empty_limit_in_the_environment() -> None:
    out = cache_limit_in_a_new_process("-2")
    assert out.returncode != 0 and "must be >= 0" in out.stderr
    out = cache_limit_in_a_new_process(" ")
    assert out.stdout.strip() == str(DEFAULT_MAX_BYTES), out.stderr
