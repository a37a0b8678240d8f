"""The torch side: the classification module, batching, training and inference."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from topicbert._devices import autocast

POOLINGS = ("mean", "cls")


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

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(batch, n_classes)``."""
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
        if self.pooling == "pooler":
            pooled = output.pooler_output
        elif self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        else:
            pooled = hidden[:, 0]
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


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Tokenize without padding; each text becomes a list of at most ``max_length`` ids."""
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return [list(ids) for ids in encoded["input_ids"]]


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


def collate(
    encoded: Sequence[Sequence[int]], indices: np.ndarray, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad one batch to its own longest text; return ids and attention mask."""
    longest = max(len(encoded[i]) for i in indices)
    input_ids = torch.full((len(indices), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(indices), longest), dtype=torch.long)
    for row, i in enumerate(indices):
        ids = encoded[i]
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids.to(device), attention_mask.to(device)


def predict_logits(
    model: nn.Module,
    encoded: Sequence[Sequence[int]],
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    verbose: int = 0,
    description: str = "predict",
) -> np.ndarray:
    """Return float32 logits in input order, batching longest texts first."""
    lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
    order = np.argsort(-lengths, kind="stable")
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            starts = range(0, len(order), batch_size)
            for start in tqdm(starts, desc=description, disable=not verbose, leave=False):
                batch = order[start : start + batch_size]
                input_ids, attention_mask = collate(encoded, batch, pad_id, device)
                with autocast(device, amp_dtype):
                    logits = model(input_ids, attention_mask)
                chunks.append(logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    logits_sorted = np.concatenate(chunks) if chunks else np.empty((0, 0), dtype=np.float32)
    result = np.empty_like(logits_sorted)
    result[order] = logits_sorted
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
    train_ids: Sequence[Sequence[int]],
    train_labels: np.ndarray,
    *,
    valid_ids: Sequence[Sequence[int]] | None,
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
    lengths = np.fromiter((len(ids) for ids in train_ids), dtype=np.int64, count=len(train_ids))
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
    loss_fn = nn.CrossEntropyLoss(weight=class_weights)
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
            input_ids, attention_mask = collate(train_ids, batch, pad_id, device)
            targets = labels_t[batch].to(device)
            with autocast(device, amp_dtype):
                logits = ddp_model(input_ids, attention_mask)
            loss = loss_fn(logits.float(), targets)
            scaler.scale(loss / settings.accumulation_steps).backward()
            if step % settings.accumulation_steps == 0 or step == len(batches):
                if settings.max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(module.parameters(), settings.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(dim=1) == targets).sum().item())
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
