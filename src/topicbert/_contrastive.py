"""Contrastive tuning of the encoder on pairs of texts, for few labelled examples.

SetFit's method: pairs of texts that share a label (positives, target 1) and
pairs that do not (negatives, target 0); the encoder is tuned so that the
cosine similarity of a pair's pooled vectors approaches its target (mean
squared error). The classification head is then fitted on the tuned
encoder's vectors (``topicbert._frozen_head``), with its cross-validated
regularisation, threshold tuning and calibration as for ``training="head"``.

Label sets: a positive pair shares at least one label, a negative pair none.

With held-out texts (``early_stopping=True``) the pass is scored at its start
and after each tenth: the squared error of the cosine similarity of every
held-out text to every training text (descriptions given as examples
included) against whether the two share a label
(positives and negatives weighted equally). The pass stops when that has not
improved for ``n_iter_no_change`` checks, and the encoder keeps the weights
of the best check, the untuned ones included.

Under ``torchrun`` every process draws the same pairs; each encodes its share
of every batch, and the gradients are summed across processes before each
step, so that all of them take the step one process would take alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from topicbert._devices import attention_kernels, autocast, first_rank_values
from topicbert._inference import InferenceSettings, embed
from topicbert._model import TopicModel
from topicbert._token_batches import collate, micro_batches, token_budget
from topicbert._tokenizing import Document
from topicbert._training import BestWeights, optimizer_for


@dataclass(frozen=True)
class PairSettings:
    """How the encoder is tuned on pairs."""

    iterations: int
    """Pairs drawn per text: one positive and one negative per iteration."""
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    max_grad_norm: float | None
    verbose: int


CHECKS = 10
"""Held-out checks over the pass, after the one at its start."""


@dataclass(frozen=True)
class PairStopping:
    """Held-out texts that stop the pass early (see the module's docstring)."""

    documents: Sequence[Document]
    labels: np.ndarray
    patience: int
    """Checks without improvement before the pass stops."""
    inference: InferenceSettings


def check_pairs_possible(labels: np.ndarray, classes: np.ndarray) -> None:
    """Refuse labels that make no positive pair, naming them, before any work."""
    if labels.ndim == 2:
        shared = labels.T @ labels  # co-occurrence: diagonal = texts per label
        if not (np.diag(shared) >= 2).any():
            raise ValueError(
                "training='contrastive' needs two texts that share a label; every label "
                "here is carried by one text at most. Label more texts, or use "
                "training='head'."
            )
        return
    counts = np.bincount(labels, minlength=len(classes))
    single = [str(classes[i]) for i in np.flatnonzero(counts == 1)]
    if single:
        raise ValueError(
            "training='contrastive' pairs texts of the same label, so it needs at least two "
            f"texts of each label; {', '.join(map(repr, single))} "
            f"{'has' if len(single) == 1 else 'have'} one. Label one more text of each, "
            "or use training='head'."
        )


def draw_pairs(
    labels: np.ndarray, iterations: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of positions and their targets: per iteration and text, a positive and a negative.

    A text with no partner of one kind (its label's only text, or a label set
    that every other text shares part of) contributes no pair of that kind.
    """
    share = (labels @ labels.T) > 0 if labels.ndim == 2 else labels[:, None] == labels[None, :]
    overlap, different = share.copy(), ~share
    np.fill_diagonal(overlap, False)
    np.fill_diagonal(different, False)
    first, second, target = [], [], []
    for _ in range(iterations):
        for i in range(len(labels)):
            for partners, value in ((overlap[i], 1.0), (different[i], 0.0)):
                candidates = np.flatnonzero(partners)
                if len(candidates):
                    first.append(i)
                    second.append(int(candidates[rng.randint(len(candidates))]))
                    target.append(value)
    order = rng.permutation(len(first))
    return (
        np.asarray(first, dtype=np.int64)[order],
        np.asarray(second, dtype=np.int64)[order],
        np.asarray(target, dtype=np.float32)[order],
    )


def pair_vectors(
    model: TopicModel,
    documents: Sequence[Document],
    first: np.ndarray,
    second: np.ndarray,
    pad_id: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pooled vectors of each pair's two texts (fp32), each distinct text encoded once.

    A batch of pairs drawn from a few dozen texts repeats many of them; the
    encoder runs once over the distinct ones and every pair reads its two
    vectors from that pass, which gives the gradient of encoding each
    occurrence apart (up to dropout's masks) for less work.
    """
    distinct, position = np.unique(np.concatenate([first, second]), return_inverse=True)
    device = model.classifier.weight.device
    input_ids, attention_mask, doc_index = collate(documents, distinct, pad_id, device)
    pooled = model.pool(input_ids, attention_mask, doc_index).float()
    where = torch.as_tensor(position, device=device)
    return pooled[where[: len(first)]], pooled[where[len(first) :]]


def pair_agreement_loss(
    held_out: np.ndarray,
    held_out_labels: np.ndarray,
    training: np.ndarray,
    training_labels: np.ndarray,
) -> float:
    """How far held-out texts' similarities to training texts are from their pairs' targets.

    The squared error of the cosine similarity of each held-out vector to
    each training vector against 1 (the two share a label) or 0, averaged
    over the positive and over the negative pairs, and the two averages
    averaged: many more pairs differ than agree, and both kinds count alike.
    """
    from sklearn.preprocessing import normalize

    similarity = normalize(held_out) @ normalize(training).T
    if held_out_labels.ndim == 2:
        shared = (held_out_labels @ training_labels.T) > 0
    else:
        shared = held_out_labels[:, None] == training_labels[None, :]
    errors = [
        ((similarity[kind] - target) ** 2).mean()
        for kind, target in ((shared, 1.0), (~shared, 0.0))
        if kind.any()
    ]
    return float(np.mean(errors))


def held_out_loss(
    model: TopicModel,
    stopping: PairStopping,
    documents: Sequence[Document],
    labels: np.ndarray,
    world_size: int = 1,
) -> float:
    """:func:`pair_agreement_loss` of the held-out texts against ``documents``, encoded now.

    Under ``torchrun`` rank 0's figure, so that every process stops alike.
    """
    loss = pair_agreement_loss(
        embed(model, stopping.documents, stopping.inference),
        stopping.labels,
        embed(model, documents, stopping.inference),
        labels,
    )
    (shared,) = first_rank_values([loss], world_size, stopping.inference.device)
    return shared


def sum_across_processes(encoder: nn.Module, loss: float) -> float:
    """Sum the encoder's gradients, and a step's ``loss``, over every process.

    A process whose share of a batch was empty (or that left a weight
    untouched) adds zeros, so every process reduces the same tensors; a
    weight no process touched keeps no gradient, as in a single process
    (the optimiser then leaves it alone).
    """
    import torch.distributed as dist

    weights = [p for p in encoder.parameters() if p.requires_grad]
    touched = [float(weight.grad is not None) for weight in weights]
    grads = [torch.zeros_like(w) if w.grad is None else w.grad for w in weights]
    extra = torch.tensor([*touched, loss], dtype=grads[0].dtype, device=grads[0].device)
    flat = torch.cat([*(grad.reshape(-1) for grad in grads), extra])
    dist.all_reduce(flat)
    *anyone, summed_loss = flat[-len(weights) - 1 :].tolist()  # one read, not one per weight
    offset = 0
    for weight, grad, touched_somewhere in zip(weights, grads, anyone, strict=True):
        size = grad.numel()
        weight.grad = flat[offset : offset + size].view_as(grad) if touched_somewhere else None
        offset += size
    return float(summed_loss)


def tune_on_pairs(
    model: TopicModel,
    documents: Sequence[Document],
    labels: np.ndarray,
    *,
    settings: PairSettings,
    pad_id: int,
    amp_dtype: torch.dtype | None,
    rng: np.random.RandomState,
    rank: int = 0,
    world_size: int = 1,
    stopping: PairStopping | None = None,
) -> dict[str, float]:
    """Tune ``model.encoder`` in place on pairs of ``documents``; return the pass's figures.

    One pass over the pairs, AdamW with linear warm-up and decay, gradients
    clipped; a batch too long for the device's token budget is split into
    parts whose gradients add up to the batch's. With ``world_size`` > 1
    (``rng`` seeded alike on every process), process ``rank`` encodes every
    ``world_size``-th pair of each batch and the gradients are summed across
    processes before the step. With ``stopping``, the pass stops early on
    held-out texts (see the module's docstring); every process takes the
    first's figure, so all stop at the same step.
    """
    from transformers import get_linear_schedule_with_warmup

    device = model.classifier.weight.device
    first, second, target = draw_pairs(labels, settings.iterations, rng)
    started = time.perf_counter()
    n_batches = math.ceil(len(target) / settings.batch_size)
    optimizer = optimizer_for(model.encoder, settings.learning_rate, settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, round(settings.warmup_ratio * n_batches), max(1, n_batches)
    )
    loss_fn = nn.MSELoss(reduction="sum")
    best = None if stopping is None else BestWeights(model.encoder, stopping.patience)
    checks = {math.ceil(n_batches * k / CHECKS) for k in range(1, CHECKS + 1)}
    if stopping is not None and best is not None:
        best.update(held_out_loss(model, stopping, documents, labels, world_size), 0)
    model.train()
    total, trained = 0.0, 0
    progress = tqdm(range(n_batches), desc="pairs", disable=not settings.verbose, leave=False)
    for step in progress:
        batch = np.arange(
            step * settings.batch_size, min(len(target), (step + 1) * settings.batch_size)
        )
        optimizer.zero_grad(set_to_none=True)
        budget = token_budget(device)
        mine = batch[rank::world_size]
        step_loss = 0.0
        parts = micro_batches(
            [[*documents[first[k]], *documents[second[k]]] for k in mine],
            np.arange(len(mine)),
            budget,
        )
        for part in parts if len(mine) else []:
            rows = mine[part]
            with autocast(device, amp_dtype), attention_kernels(device):
                left, right = pair_vectors(model, documents, first[rows], second[rows], pad_id)
            similarity = nn.functional.cosine_similarity(left, right)
            goal = torch.as_tensor(target[rows], device=device)
            loss = loss_fn(similarity, goal) / len(batch)
            loss.backward()
            step_loss += float(loss.item()) * len(batch)
        if world_size > 1:
            step_loss = sum_across_processes(model.encoder, step_loss)
        total += step_loss
        if settings.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.encoder.parameters(), settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        trained += len(batch)
        progress.set_postfix(loss=f"{total / trained:.4f}")
        if stopping is not None and best is not None and step + 1 in checks:
            held_out = held_out_loss(model, stopping, documents, labels, world_size)
            stop = best.update(held_out, trained)
            progress.set_postfix(loss=f"{total / trained:.4f}", held_out=f"{held_out:.4f}")
            if stop:
                if settings.verbose:
                    tqdm.write(f"Early stopping after {trained} of {len(target)} pairs.")
                break
    model.eval()
    figures = {
        "pair_loss": total / max(1, trained),
        "pairs": float(len(target)),
        "pair_seconds": time.perf_counter() - started,
    }
    if best is not None:
        best.restore()
        figures |= {
            "pairs_trained": float(trained),
            "best_pairs": float(best.at),
            "valid_pair_loss": best.loss,
        }
    return figures
