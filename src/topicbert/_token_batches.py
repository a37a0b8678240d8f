"""Batches of tokenized documents: length buckets, token budgets and padding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from topicbert._tokenizing import Document


def document_lengths(documents: Sequence[Document]) -> np.ndarray:
    """Return the number of tokens of each document, all chunks together."""
    return np.fromiter(
        (sum(len(chunk) for chunk in doc) for doc in documents),
        dtype=np.int64,
        count=len(documents),
    )


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.RandomState, bucket_batches: int = 50
) -> list[np.ndarray]:
    """Shuffle, then sort by length within buckets of ``bucket_batches`` batches.

    Texts of similar length share a batch, so dynamic padding adds little,
    while the order of batches stays random from epoch to epoch.
    """
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    bucket = batch_size * bucket_batches
    for start in range(0, len(order), bucket):
        chunk = order[start : start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


CPU_TOKEN_BUDGET = 2048
"""Most padded tokens per forward pass on a CPU.

On a CPU, time per text grows with the batch's padded size once attention
matrices outgrow the caches: with MiniLM, batches of 16 texts of 512 tokens
took 1.8 times as long per text as batches of 4. A batch of ``batch_size``
texts is therefore run in parts of at most this many tokens, its gradients
summed, so the optimisation is that of the whole batch. GPUs take whole batches.
"""


def token_budget(device: torch.device) -> int | None:
    """Return the most padded tokens per forward pass on ``device`` (None: no limit)."""
    return CPU_TOKEN_BUDGET if device.type == "cpu" else None


def micro_batches(
    documents: Sequence[Document], indices: np.ndarray, budget: int | None
) -> list[np.ndarray]:
    """Split a batch, in order, into parts whose padded size stays within ``budget`` tokens.

    A part's padded size is its number of chunks times its longest chunk.
    Every part holds at least one document.
    """
    if budget is None:
        return [indices]
    parts: list[np.ndarray] = []
    start, chunks, longest = 0, 0, 0
    for position, i in enumerate(indices):
        doc_chunks = len(documents[i])
        doc_longest = max(len(chunk) for chunk in documents[i])
        new_chunks, new_longest = chunks + doc_chunks, max(longest, doc_longest)
        if position > start and new_chunks * new_longest > budget:
            parts.append(indices[start:position])
            start, new_chunks, new_longest = position, doc_chunks, doc_longest
        chunks, longest = new_chunks, new_longest
    parts.append(indices[start:])
    return parts


def collate(
    documents: Sequence[Document], indices: np.ndarray, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Pad one batch's chunks to the longest; return ids, attention mask, document index.

    The document index is ``None`` when every document is a single chunk.
    """
    chunks = [chunk for i in indices for chunk in documents[i]]
    longest = max(1, max(len(chunk) for chunk in chunks))
    input_ids = torch.full((len(chunks), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(chunks), longest), dtype=torch.long)
    for row, ids in enumerate(chunks):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    doc_index = None
    if len(chunks) != len(indices):
        counts = torch.as_tensor([len(documents[i]) for i in indices])
        doc_index = torch.repeat_interleave(torch.arange(len(indices)), counts).to(device)
    return input_ids.to(device), attention_mask.to(device), doc_index
