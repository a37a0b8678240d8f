"""The torch module topicbert trains: an encoder, a pooling and a linear head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class TopicModel(nn.Module):
    """An encoder whose pooled output goes through dropout into a linear layer.

    The module returns float32 logits; probabilities come from a softmax (or
    per-label sigmoids) applied only at prediction time.
    """

    def __init__(
        self,
        encoder: nn.Module,
        n_classes: int,
        dropout: float,
        pooling: str,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size(encoder), n_classes)
        pooler = getattr(encoder, "pooler", None)
        if pooling != "pooler" and isinstance(pooler, nn.Module):
            # unused by this head: frozen, so that optimisers and DDP skip it
            pooler.requires_grad_(False)

    def pool(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        doc_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return one vector per document, shape ``(n_documents, hidden_size)``.

        Rows of ``input_ids`` are chunks; ``doc_index`` names each chunk's
        document (``None``: one chunk per document). A document's vector is
        the mean of its chunks' vectors, weighted by their token counts.
        With ``normalize``, each chunk's vector is scaled to unit length
        first, so that a linear head on it scores cosine similarities.
        """
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
        pooled: torch.Tensor
        if self.pooling == "pooler":
            pooled = output.pooler_output
        elif self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        else:
            pooled = hidden[:, 0]
        if self.normalize:
            pooled = nn.functional.normalize(pooled.float(), dim=-1).to(pooled.dtype)
        if doc_index is None:
            return pooled
        weights = attention_mask.sum(dim=1, keepdim=True).to(pooled.dtype)
        n_documents = int(doc_index.max().item()) + 1
        summed = pooled.new_zeros((n_documents, pooled.shape[1]))
        summed.index_add_(0, doc_index, pooled * weights)
        totals = weights.new_zeros((n_documents, 1)).index_add_(0, doc_index, weights)
        document_vectors: torch.Tensor = summed / totals.clamp(min=1.0)
        return document_vectors

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        doc_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return logits of shape ``(n_documents, n_classes)``."""
        pooled = self.pool(input_ids, attention_mask, doc_index)
        # The head runs in float32 under autocast too: its bias can cancel most of
        # its product (a folded standardisation does), which bf16 would round away.
        with torch.autocast(pooled.device.type, enabled=False):
            logits: torch.Tensor = self.classifier(self.dropout(pooled.float()))
        return logits


def hidden_size(encoder: nn.Module) -> int:
    """Return the width of the encoder's token representations."""
    config = getattr(encoder, "config", None)
    size = getattr(config, "hidden_size", None) or getattr(config, "dim", None)
    if not isinstance(size, int):
        raise TypeError(
            f"Cannot tell the hidden size of encoder {type(encoder).__name__}: it needs a "
            "'config' with an integer 'hidden_size'."
        )
    return size


ATTENTION_DROPOUT_CONFIG_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


def set_attention_dropout(encoder: nn.Module, rate: float) -> int:
    """Set the dropout on attention probabilities in ``encoder``; return the modules changed.

    Recognises the attention modules of the ``transformers`` encoders (class
    names ending in ``Attention``) that hold that dropout as ``dropout`` or
    ``attention_dropout``, an ``nn.Dropout`` or a float: BERT, RoBERTa,
    XLM-RoBERTa, ELECTRA, DistilBERT, ALBERT, DeBERTa-v2, MPNet, ModernBERT
    and others built like them. Hidden-state dropout is left alone. The
    encoder's config is updated too, so that a saved model records the rate.
    With no attention dropout, PyTorch's fused attention kernels can run
    while training; on a CPU, attention with dropout falls back to a far
    slower path.
    """
    changed = 0
    for module in encoder.modules():
        if not type(module).__name__.endswith("Attention"):
            continue
        for name in ("dropout", "attention_dropout"):
            current = getattr(module, name, None)
            if isinstance(current, nn.Dropout):
                current.p = rate
            elif isinstance(current, float) and not isinstance(current, bool):
                setattr(module, name, rate)
            else:
                continue
            changed += 1
            break
    config = getattr(encoder, "config", None)
    for key in ATTENTION_DROPOUT_CONFIG_KEYS:
        if isinstance(getattr(config, key, None), float):
            setattr(config, key, rate)
    return changed


def position_limit(encoder: nn.Module, tokenizer: Any) -> int | None:
    """Return the longest input in tokens that the backbone accepts, if known."""
    limits = []
    positions = getattr(getattr(encoder, "config", None), "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        if getattr(encoder.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            positions -= 2  # these reserve two positions for the padding offset
        limits.append(positions)
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    return min(limits) if limits else None
