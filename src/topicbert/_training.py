"""The torch side: the classification module, batching, training and inference."""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from topicbert._devices import attention_kernels, autocast
from topicbert._embedding_cache import embedding_cache


class TopicModel(nn.Module):
    """An encoder whose pooled output goes through dropout into a linear layer.

    The module returns logits; probabilities come from a softmax applied only
    at prediction time.
    """

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float, pooling: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
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
        logits: torch.Tensor = self.classifier(self.dropout(pooled))
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


Document = list[list[int]]
"""A tokenized text: its chunks, each a list of token ids with special tokens."""

HEAD_SHARE = 0.25
"""Share of a head-and-tail window taken from the start of the text.

Sun et al. (2019), "How to Fine-Tune BERT for Text Classification?", kept
the first 128 and the last 382 tokens of 510.
"""


def tokenize(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    long_text: str = "truncate",
    max_chunks: int = 1,
) -> list[Document]:
    """Tokenize without padding, fitting each text into ``max_length``-token windows.

    ``"truncate"`` keeps the first tokens; ``"head_tail"`` keeps the first
    quarter of the window from the start of the text and the rest from its
    end; ``"chunks"`` splits the text into consecutive windows, at most
    ``max_chunks`` of them. Every window carries the tokenizer's special tokens.
    """
    if long_text == "truncate":
        encoded = tokenizer(
            list(texts),
            truncation=True,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [[list(ids)] for ids in encoded["input_ids"]]
    prefix, suffix = special_tokens(tokenizer)
    content = max_length - len(prefix) - len(suffix)
    if content < 1:
        raise ValueError(f"max_length={max_length} leaves no room for text between special tokens.")
    encoded = tokenizer(
        list(texts),
        add_special_tokens=False,
        truncation=False,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )
    documents: list[Document] = []
    for ids in encoded["input_ids"]:
        ids = list(ids)
        if long_text == "head_tail":
            if len(ids) > content:
                head = max(1, round(HEAD_SHARE * content))
                ids = ids[:head] + ids[len(ids) - (content - head) :]
            windows = [ids]
        else:
            windows = [ids[i : i + content] for i in range(0, len(ids), content)][:max_chunks]
            windows = windows or [[]]
        documents.append([prefix + window + suffix for window in windows])
    return documents


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Return the ids the tokenizer puts before and after a text ([CLS] and [SEP] for BERT)."""
    probe = "text"
    plain = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(probe, add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise ValueError(  # pragma: no cover - no known tokenizer does this
        f"Cannot tell where {type(tokenizer).__name__} puts its special tokens."
    )


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


def predict_logits(
    model: TopicModel,
    documents: Sequence[Document],
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    verbose: int = 0,
    description: str = "predict",
) -> np.ndarray:
    """Return float32 logits in input order, batching longest texts first."""
    return _infer(model, documents, batch_size, pad_id, device, amp_dtype, verbose, description)


def embed(
    model: TopicModel,
    documents: Sequence[Document],
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    verbose: int = 0,
) -> np.ndarray:
    """Return the pooled document vectors (float32) in input order."""
    return _infer(
        model, documents, batch_size, pad_id, device, amp_dtype, verbose, "encode", pooled=True
    )


def encoder_fingerprint(name: str, model: TopicModel, amp_dtype: torch.dtype | None) -> str:
    """Name an encoder's state: its name, pooling, precision and a digest of its weights."""
    digest = hashlib.blake2b(digest_size=16)
    for parameter in model.encoder.parameters():
        digest.update(parameter.detach().reshape(-1)[:1024].float().cpu().numpy().tobytes())
    return f"{name}|{model.pooling}|{amp_dtype}|{digest.hexdigest()}"


def embed_cached(
    model: TopicModel,
    documents: Sequence[Document],
    *,
    fingerprint: str,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    verbose: int = 0,
) -> np.ndarray:
    """Like :func:`embed`, encoding only documents whose vectors are not cached."""
    keys = [
        (fingerprint, hashlib.blake2b(repr(doc).encode(), digest_size=16).digest())
        for doc in documents
    ]
    found = [embedding_cache.get(key) for key in keys]
    missing = [i for i, vector in enumerate(found) if vector is None]
    if missing:
        fresh = embed(
            model,
            [documents[i] for i in missing],
            batch_size=batch_size,
            pad_id=pad_id,
            device=device,
            amp_dtype=amp_dtype,
            verbose=verbose,
        )
        for row, i in enumerate(missing):
            found[i] = fresh[row]
            embedding_cache.put(keys[i], fresh[row])
    return np.stack(found) if found else np.empty((0, hidden_size(model.encoder)), np.float32)  # type: ignore[arg-type]


def _infer(
    model: TopicModel,
    documents: Sequence[Document],
    batch_size: int,
    pad_id: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    verbose: int,
    description: str,
    *,
    pooled: bool = False,
) -> np.ndarray:
    """Run ``model`` (its pooled vectors with ``pooled=True``) over batches."""
    order = np.argsort(-document_lengths(documents), kind="stable")
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            batches = [
                part
                for start in range(0, len(order), batch_size)
                for part in micro_batches(
                    documents, order[start : start + batch_size], token_budget(device)
                )
            ]
            for batch in tqdm(batches, desc=description, disable=not verbose, leave=False):
                input_ids, attention_mask, doc_index = collate(documents, batch, pad_id, device)
                with autocast(device, amp_dtype), attention_kernels(device):
                    forward = model.pool if pooled else model
                    output = forward(input_ids, attention_mask, doc_index)
                chunks.append(output.float().cpu().numpy())
    finally:
        model.train(was_training)
    sorted_rows = np.concatenate(chunks) if chunks else np.empty((0, 0), dtype=np.float32)
    result = np.empty_like(sorted_rows)
    result[order] = sorted_rows
    return result


@dataclass(frozen=True)
class TrainingSettings:
    """Hyperparameters of one training run."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    max_grad_norm: float | None
    accumulation_steps: int
    n_iter_no_change: int | None
    verbose: int


def _optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=learning_rate)


def _log_loss_and_accuracy(
    logits: np.ndarray, labels: np.ndarray, class_weights: torch.Tensor | None
) -> tuple[float, float]:
    logits_t = torch.from_numpy(logits)
    labels_t = torch.from_numpy(labels)
    weight = None if class_weights is None else class_weights.cpu()
    loss = nn.functional.cross_entropy(logits_t, labels_t, weight=weight).item()
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    return loss, accuracy


def train(
    model: TopicModel,
    train_ids: Sequence[Document],
    train_labels: np.ndarray,
    *,
    valid_ids: Sequence[Document] | None,
    valid_labels: np.ndarray | None,
    settings: TrainingSettings,
    pad_id: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    class_weights: torch.Tensor | None,
    rng: np.random.RandomState,
    on_epoch_end: Callable[[dict[str, float]], None],
    rank: int = 0,
    world_size: int = 1,
) -> list[dict[str, float]]:
    """Fine-tune ``model`` in place and return one history record per epoch.

    AdamW with linear warm-up and decay, gradient clipping and accumulation,
    length-bucketed batches with dynamic padding. With validation data and
    ``n_iter_no_change``, training stops once the validation loss has not
    improved for that many epochs and the best weights are restored.

    With ``world_size > 1`` (an initialised process group), ``model`` is
    wrapped in DistributedDataParallel: every rank draws the same batches
    (``rng`` must be seeded alike) and takes every ``world_size``-th one, so
    the ranks see disjoint shards of each epoch and average their gradients.
    """
    from transformers import get_linear_schedule_with_warmup

    module = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model: nn.Module = DistributedDataParallel(
            model, device_ids=[device.index or 0] if device.type == "cuda" else None
        )
    else:
        ddp_model = model
    lengths = document_lengths(train_ids)
    batches_per_epoch = math.ceil(len(train_ids) / settings.batch_size) // world_size
    if batches_per_epoch < 1:
        raise ValueError(
            f"{len(train_ids)} training texts make fewer batches than there are processes "
            f"({world_size}); use a smaller batch_size or more data."
        )
    steps_per_epoch = math.ceil(batches_per_epoch / settings.accumulation_steps)
    total_steps = max(1, steps_per_epoch * settings.epochs)
    optimizer = _optimizer(module, settings.learning_rate, settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, round(settings.warmup_ratio * total_steps), total_steps
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights, reduction="sum")
    cpu_class_weights = None if class_weights is None else class_weights.cpu()
    labels_t = torch.as_tensor(train_labels, dtype=torch.long)

    history: list[dict[str, float]] = []
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    epochs_without_improvement = 0
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        ddp_model.train()
        total_loss, correct, seen = 0.0, 0, 0
        batches = length_bucketed_batches(lengths, settings.batch_size, rng)
        batches = batches[rank::world_size][:batches_per_epoch]
        progress = tqdm(
            batches,
            desc=f"epoch {epoch}/{settings.epochs}",
            disable=not settings.verbose or rank != 0,
            leave=False,
        )
        optimizer.zero_grad(set_to_none=True)
        for step, batch in enumerate(progress, start=1):
            # The loss of a batch is its (weighted) mean, whatever the micro-batches.
            targets_all = labels_t[batch]
            denominator = float(
                len(batch) if cpu_class_weights is None else cpu_class_weights[targets_all].sum()
            )
            parts = micro_batches(train_ids, batch, token_budget(device))
            batch_loss = 0.0
            for part_number, part in enumerate(parts, start=1):
                input_ids, attention_mask, doc_index = collate(train_ids, part, pad_id, device)
                targets = labels_t[part].to(device)
                # gradients are averaged across processes once per batch, on its last part
                syncing = world_size == 1 or part_number == len(parts)
                with contextlib.nullcontext() if syncing else ddp_model.no_sync():  # type: ignore[operator]
                    with autocast(device, amp_dtype), attention_kernels(device):
                        logits = ddp_model(input_ids, attention_mask, doc_index)
                    loss = loss_fn(logits.float(), targets) / denominator
                    scaler.scale(loss / settings.accumulation_steps).backward()
                batch_loss += loss.item()
                correct += int((logits.argmax(dim=1) == targets).sum().item())
            if step % settings.accumulation_steps == 0 or step == len(batches):
                if settings.max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(module.parameters(), settings.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            total_loss += batch_loss * len(batch)
            seen += len(batch)
            progress.set_postfix(loss=f"{total_loss / seen:.4f}")
        if world_size > 1:
            import torch.distributed as dist

            totals = torch.tensor([total_loss, correct, seen], dtype=torch.float64, device=device)
            dist.all_reduce(totals)
            total_loss, correct, seen = (
                totals[0].item(),
                int(totals[1].item()),
                int(totals[2].item()),
            )
        record = {
            "epoch": float(epoch),
            "train_loss": total_loss / seen,
            "train_accuracy": correct / seen,
        }
        if valid_ids is not None and valid_labels is not None:
            logits_valid = predict_logits(
                module,
                valid_ids,
                batch_size=settings.batch_size * 2,
                pad_id=pad_id,
                device=device,
                amp_dtype=amp_dtype,
            )
            valid_loss, valid_accuracy = _log_loss_and_accuracy(
                logits_valid, valid_labels, class_weights
            )
            if world_size > 1:
                # Every rank must take the same early-stopping decision: they all use the
                # first rank's figures, or one rank could stop while another waits for it.
                import torch.distributed as dist

                figures = torch.tensor(
                    [valid_loss, valid_accuracy], dtype=torch.float64, device=device
                )
                dist.broadcast(figures, src=0)
                valid_loss, valid_accuracy = (float(v) for v in figures.tolist())
            record["valid_loss"] = valid_loss
            record["valid_accuracy"] = valid_accuracy
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if settings.verbose and rank == 0:
            tqdm.write(" ".join(f"{key}={value:.4g}" for key, value in record.items()))
        on_epoch_end(record)

        if settings.n_iter_no_change is None or "valid_loss" not in record:
            continue
        if record["valid_loss"] < best_loss:
            best_loss = record["valid_loss"]
            best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()
            }
            epochs_without_improvement = 0
        else:
            epochs_without_improvement += 1
            if epochs_without_improvement >= settings.n_iter_no_change:
                if settings.verbose and rank == 0:
                    tqdm.write(f"Early stopping after epoch {epoch}.")
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


def fit_head(
    model: TopicModel,
    documents: Sequence[Document],
    labels: np.ndarray,
    train_index: np.ndarray,
    valid_index: np.ndarray | None,
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    balanced: bool,
    seed: int,
    fingerprint: str,
    on_epoch_end: Callable[[dict[str, float]], None],
    verbose: int = 0,
) -> None:
    """Freeze the encoder, encode every document once and fit the linear head.

    Vectors come from the process-wide :data:`topicbert.embedding_cache` where it has
    them (``fingerprint`` names the encoder, see :func:`encoder_fingerprint`).

    The head is scikit-learn's multinomial ``LogisticRegression`` on
    standardised pooled vectors, its inverse regularisation ``C`` chosen by
    a grid search with stratified cross-validation (log-loss) on the
    training documents; the
    scaler and the regression are folded into ``model.classifier`` so that
    the model's softmax equals the regression's ``predict_proba``. One
    history record is reported, with the chosen ``C``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    model.requires_grad_(False)
    features = embed_cached(
        model,
        documents,
        fingerprint=fingerprint,
        batch_size=batch_size,
        pad_id=pad_id,
        device=device,
        amp_dtype=amp_dtype,
        verbose=verbose,
    ).astype(np.float64)
    x_train, y_train = features[train_index], labels[train_index]
    scaler = StandardScaler().fit(x_train)
    x_scaled = scaler.transform(x_train)
    folds = min(5, int(np.bincount(y_train)[np.unique(y_train)].min()))
    class_weight = "balanced" if balanced else None
    head = LogisticRegression(C=1.0, class_weight=class_weight, max_iter=2000)
    chosen_c = 1.0
    if folds >= 2:  # otherwise too few texts per class to cross-validate
        search = GridSearchCV(
            head,
            {"C": np.logspace(-4, 2, 7).tolist()},
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            scoring="neg_log_loss",
        )
        search.fit(x_scaled, y_train)
        head, chosen_c = search.best_estimator_, float(search.best_params_["C"])
    else:
        head.fit(x_scaled, y_train)

    n_classes = model.classifier.out_features
    coef = np.asarray(head.coef_, dtype=np.float64)
    intercept = np.asarray(head.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: softmax([0, z]) is sigmoid(z)
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    weight = np.zeros((n_classes, features.shape[1]))
    bias = np.full(n_classes, intercept.min() - 30.0)  # classes absent from y stay improbable
    scale = scaler.scale_
    weight[head.classes_] = coef / scale
    bias[head.classes_] = intercept - (coef / scale) @ scaler.mean_
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(weight, dtype=model.classifier.weight.dtype))
        model.classifier.bias.copy_(torch.as_tensor(bias, dtype=model.classifier.bias.dtype))
    model.eval()

    def loss_and_accuracy(index: np.ndarray) -> tuple[float, float]:
        logits = features[index] @ weight.T + bias
        return _log_loss_and_accuracy(logits.astype(np.float32), labels[index], None)

    train_loss, train_accuracy = loss_and_accuracy(train_index)
    record = {"epoch": 1.0, "train_loss": train_loss, "train_accuracy": train_accuracy}
    if valid_index is not None:
        record["valid_loss"], record["valid_accuracy"] = loss_and_accuracy(valid_index)
    record["C"] = chosen_c
    record["seconds"] = time.perf_counter() - started
    if verbose:
        tqdm.write(" ".join(f"{key}={value:.4g}" for key, value in record.items()))
    on_epoch_end(record)
