"""Running a model over documents without gradients: logits and pooled vectors.

Every entry point takes one :class:`InferenceSettings`, so the batch size,
padding id, device and precision travel together. Pooled vectors of a frozen
encoder can be memoised in an :class:`~topicbert.EmbeddingCache`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from topicbert._devices import attention_kernels, autocast
from topicbert._embedding_cache import EmbeddingCache, embedding_cache
from topicbert._model import TopicModel, hidden_size
from topicbert._probabilities import sigmoid, softmax
from topicbert._token_batches import collate, document_lengths, micro_batches, token_budget
from topicbert._tokenizing import Document

__all__ = [
    "InferenceSettings",
    "embed",
    "embed_cached",
    "encoder_fingerprint",
    "log_loss_and_accuracy",
    "predict_logits",
    "sigmoid",
    "softmax",
]


@dataclass(frozen=True)
class InferenceSettings:
    """How to run a model over documents."""

    batch_size: int
    pad_id: int
    device: torch.device
    amp_dtype: torch.dtype | None
    verbose: int = 0


def predict_logits(
    model: TopicModel,
    documents: Sequence[Document],
    settings: InferenceSettings,
    description: str = "predict",
) -> np.ndarray:
    """Return float32 logits in input order, batching longest texts first."""
    return _infer(model, documents, settings, description, pooled=False)


def embed(
    model: TopicModel, documents: Sequence[Document], settings: InferenceSettings
) -> np.ndarray:
    """Return the pooled document vectors (float32) in input order."""
    return _infer(model, documents, settings, "encode", pooled=True)


def encoder_fingerprint(name: str, model: TopicModel, amp_dtype: torch.dtype | None) -> str:
    """Name an encoder's state: its name, pooling, precision and a digest of its weights."""
    pooling = f"{model.pooling}+normalized" if model.normalize else model.pooling
    digest = hashlib.blake2b(digest_size=16)
    for parameter in model.encoder.parameters():
        digest.update(parameter.detach().reshape(-1)[:1024].float().cpu().numpy().tobytes())
    return f"{name}|{pooling}|{amp_dtype}|{digest.hexdigest()}"


def embed_cached(
    model: TopicModel,
    documents: Sequence[Document],
    settings: InferenceSettings,
    fingerprint: str,
    cache: EmbeddingCache = embedding_cache,
) -> np.ndarray:
    """Like :func:`embed`, encoding only documents whose vectors are not in ``cache``.

    ``fingerprint`` names the encoder (see :func:`encoder_fingerprint`).
    """
    keys = [
        (fingerprint, hashlib.blake2b(repr(doc).encode(), digest_size=16).digest())
        for doc in documents
    ]
    found = [cache.get(key) for key in keys]
    missing = [i for i, vector in enumerate(found) if vector is None]
    if missing:
        fresh = embed(model, [documents[i] for i in missing], settings)
        for row, i in enumerate(missing):
            found[i] = fresh[row]
            cache.put(keys[i], fresh[row])
    if not found:
        return np.empty((0, hidden_size(model.encoder)), np.float32)
    return np.stack([vector for vector in found if vector is not None])


def _infer(
    model: TopicModel,
    documents: Sequence[Document],
    settings: InferenceSettings,
    description: str,
    *,
    pooled: bool,
) -> np.ndarray:
    """Run ``model`` (its pooled vectors with ``pooled=True``) over batches."""
    device = settings.device
    order = np.argsort(-document_lengths(documents), kind="stable")
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            batches = [
                part
                for start in range(0, len(order), settings.batch_size)
                for part in micro_batches(
                    documents, order[start : start + settings.batch_size], token_budget(device)
                )
            ]
            for batch in tqdm(batches, desc=description, disable=not settings.verbose, leave=False):
                input_ids, attention_mask, doc_index = collate(
                    documents, batch, settings.pad_id, device
                )
                with autocast(device, settings.amp_dtype), attention_kernels(device):
                    forward = model.pool if pooled else model
                    output = forward(input_ids, attention_mask, doc_index)
                chunks.append(output.float().cpu().numpy())
    finally:
        model.train(was_training)
    sorted_rows = np.concatenate(chunks) if chunks else np.empty((0, 0), dtype=np.float32)
    result = np.empty_like(sorted_rows)
    result[order] = sorted_rows
    return result


def log_loss_and_accuracy(
    logits: np.ndarray, labels: np.ndarray, class_weights: torch.Tensor | None = None
) -> tuple[float, float]:
    """Return the loss and the accuracy of ``logits`` against ``labels``.

    Class indices: the (weighted) cross-entropy and the accuracy. An indicator
    matrix (multi-label): the per-label binary cross-entropy summed over
    labels and averaged over texts (``class_weights`` weigh positives), and
    the subset accuracy at probability 0.5.
    """
    logits_t = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
    weight = None if class_weights is None else class_weights.cpu()
    if labels.ndim == 2:
        targets = torch.from_numpy(np.asarray(labels, dtype=np.float32))
        loss_sum = torch.nn.functional.binary_cross_entropy_with_logits(
            logits_t, targets, pos_weight=weight, reduction="sum"
        ).item()
        subset = ((logits > 0) == (labels > 0.5)).all(axis=1)
        return loss_sum / max(1, len(labels)), float(subset.mean())
    labels_t = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    loss = torch.nn.functional.cross_entropy(logits_t, labels_t, weight=weight).item()
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    return loss, accuracy
