"""The torch module (``topicbert._model``): pooling, chunk averaging, encoder surgery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from topicbert._inference import InferenceSettings, embed
from topicbert._model import TopicModel
from topicbert._token_batches import collate
from topicbert._tokenizing import tokenize

from .conftest import tiny_classifier


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path):
    return AutoTokenizer.from_pretrained(tiny_bert)


def long_text(n_words: int) -> str:
    return " ".join(f"goal{i % 7} market" for i in range(n_words // 2))


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


def test_attention_dropout_is_found_in_other_encoders() -> None:
    from transformers import AlbertConfig, AlbertModel, DistilBertConfig, DistilBertModel

    from topicbert._model import set_attention_dropout

    distilbert = DistilBertModel(
        DistilBertConfig(vocab_size=50, dim=16, n_layers=2, n_heads=2, hidden_dim=32)
    )
    assert set_attention_dropout(distilbert, 0.0) == 2
    assert distilbert.config.attention_dropout == 0.0
    rates = [m.dropout.p for m in distilbert.modules() if type(m).__name__.endswith("Attention")]
    assert rates == [0.0, 0.0]
    assert distilbert.config.dropout == 0.1  # hidden-state dropout untouched
    albert = AlbertModel(
        AlbertConfig(
            vocab_size=50,
            embedding_size=8,
            hidden_size=16,
            num_attention_heads=2,
            intermediate_size=32,
            attention_probs_dropout_prob=0.1,
            hidden_dropout_prob=0.2,
        )
    )
    assert set_attention_dropout(albert, 0.0) == 1  # ALBERT shares one layer
    attention = next(m for m in albert.modules() if type(m).__name__ == "AlbertAttention")
    assert attention.attention_dropout.p == 0.0
    assert attention.output_dropout.p == 0.2  # hidden-state dropout untouched


@pytest.mark.parametrize("pooling", ["mean", "cls", "pooler"])
def test_the_pooling_parameter_chooses_the_vector_the_head_sees(
    tiny_bert: Path, corpus, pooling: str
) -> None:
    texts, labels = corpus
    clf = tiny_classifier(tiny_bert, epochs=1, pooling=pooling).fit(texts, labels)
    sample = texts[:12]  # of different lengths: padding shows in a mean but not in [CLS]
    documents = tokenize(clf.tokenizer_, sample, 64)
    settings = InferenceSettings(16, clf.tokenizer_.pad_token_id, torch.device("cpu"), None)
    pooled = embed(clf.model_, documents, settings)
    input_ids, mask, _ = collate(documents, np.arange(len(sample)), 0, torch.device("cpu"))
    with torch.no_grad():
        output = clf.model_.encoder(input_ids=input_ids, attention_mask=mask)
    hidden = output.last_hidden_state
    expected = {
        "cls": hidden[:, 0],
        "mean": (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True),
        "pooler": output.pooler_output,
    }
    np.testing.assert_allclose(pooled, expected[pooling].numpy(), atol=1e-5)
    for other, vectors in expected.items():
        if other != pooling:
            assert np.abs(pooled - vectors.numpy()).max() > 1e-3, other


def test_the_unused_pooler_is_frozen_and_the_used_one_trains(tiny_bert: Path) -> None:
    def trainable(pooling: str) -> set[str]:
        model = TopicModel(AutoModel.from_pretrained(tiny_bert), 3, 0.1, pooling)
        return {name for name, p in model.named_parameters() if p.requires_grad}

    assert not any(".pooler." in name for name in trainable("mean"))
    assert not any(".pooler." in name for name in trainable("cls"))
    assert "encoder.pooler.dense.weight" in trainable("pooler")


def test_the_head_runs_in_float32_under_autocast(tiny_bert: Path, tokenizer) -> None:
    model = TopicModel(AutoModel.from_pretrained(tiny_bert), 3, 0.0, "mean").eval()
    documents = tokenize(tokenizer, ["the team won the cup"], 16)
    input_ids, mask, _ = collate(documents, np.arange(1), 0, torch.device("cpu"))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(input_ids, mask)
    assert logits.dtype == torch.float32
