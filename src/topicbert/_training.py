"""Fine-tuning: the training loop (distributed, scheduled, accumulated, early-stopped)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from topicbert._devices import attention_kernels, autocast, first_rank_values
from topicbert._inference import InferenceSettings, log_loss_and_accuracy, predict_logits
from topicbert._model import TopicModel
from topicbert._token_batches import (
    collate,
    document_lengths,
    length_bucketed_batches,
    micro_batches,
    token_budget,
)
from topicbert._tokenizing import Document


class BestWeights:
    """A module's weights at its lowest held-out loss so far, and when to stop.

    Parameters
    ----------
    module : torch.nn.Module
        The module whose weights are kept (a copy on the CPU).
    patience : int
        Checks in a row without a lower loss after which training stops.

    Attributes
    ----------
    loss : float
        The lowest loss so far (``inf`` before the first check).
    at : int
        The check (an epoch, a number of pairs) that had it.
    """

    def __init__(self, module: nn.Module, patience: int) -> None:
        self.module, self.patience = module, patience
        self.loss = math.inf
        self.at = 0
        self._state: dict[str, torch.Tensor] | None = None
        self._since = 0

    def update(self, loss: float, at: int) -> bool:
        """Record the loss of check ``at``, keeping the weights if lowest; ``True``: stop."""
        if loss < self.loss:
            self.loss, self.at, self._since = loss, at, 0
            self._state = {
                name: tensor.detach().to("cpu", copy=True)
                for name, tensor in self.module.state_dict().items()
            }
            return False
        self._since += 1
        return self._since >= self.patience

    def restore(self) -> None:
        """Put the kept weights back, if any were kept."""
        if self._state is not None:
            self.module.load_state_dict(self._state)


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
    multilabel: bool = False
    """Per-label sigmoid loss on an indicator target instead of softmax over classes."""


def optimizer_for(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
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


def start_at_base_rates(classifier: nn.Linear, labels: np.ndarray) -> None:
    """Set a multi-label head's biases to each label's log-odds in ``labels``.

    A head that starts at zero predicts 0.5 for every label; with many rare
    labels, the first epochs of a sigmoid loss then go into pushing every
    bias down (by steps of the learning rate, far too small for a bias of
    -5), while the encoder's features are bent to do it instead.
    """
    from topicbert._targets import base_rate_log_odds

    with torch.no_grad():
        classifier.bias.copy_(
            torch.as_tensor(base_rate_log_odds(labels), dtype=classifier.bias.dtype)
        )


def count_correct(logits: torch.Tensor, targets: torch.Tensor) -> int:
    """Texts predicted right: the top class, or (multi-label) every label at logit 0."""
    if targets.ndim == 2:
        return int(((logits > 0) == (targets > 0.5)).all(dim=1).sum().item())
    return int((logits.argmax(dim=1) == targets).sum().item())


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
    optimizer = optimizer_for(module, settings.learning_rate, settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, round(settings.warmup_ratio * total_steps), total_steps
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    loss_fn: nn.Module
    if settings.multilabel:
        # class_weights weigh each label's positives against its negatives
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=class_weights, reduction="sum")
        labels_t = torch.as_tensor(train_labels, dtype=torch.float32)
        cpu_class_weights = None
    else:
        loss_fn = nn.CrossEntropyLoss(weight=class_weights, reduction="sum")
        labels_t = torch.as_tensor(train_labels, dtype=torch.long)
        cpu_class_weights = None if class_weights is None else class_weights.cpu()

    history: list[dict[str, float]] = []
    patience = settings.n_iter_no_change
    best = None if patience is None else BestWeights(module, patience)
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
                correct += count_correct(logits.detach(), targets)
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
            inference = InferenceSettings(settings.batch_size * 2, pad_id, device, amp_dtype)
            logits_valid = predict_logits(module, valid_ids, inference)
            valid_loss, valid_accuracy = log_loss_and_accuracy(
                logits_valid, valid_labels, class_weights
            )
            valid_loss, valid_accuracy = first_rank_values(
                [valid_loss, valid_accuracy], world_size, device
            )
            record["valid_loss"] = valid_loss
            record["valid_accuracy"] = valid_accuracy
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if settings.verbose and rank == 0:
            tqdm.write(" ".join(f"{key}={value:.4g}" for key, value in record.items()))
        on_epoch_end(record)

        if best is None or "valid_loss" not in record:
            continue
        if best.update(record["valid_loss"], epoch):
            if settings.verbose and rank == 0:
                tqdm.write(f"Early stopping after epoch {epoch}.")
            break
    if best is not None:
        best.restore()
    module.eval()
    return history
