"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node=2``.

Each rank fits the same tiny model on the same data with DDP on the CPU (gloo),
then writes its weights and held-out probabilities for the test to compare.

    python -m torch.distributed.run --nproc_per_node=2 tests/distributed_fit.py TINY_BERT OUT

With a third argument ``skewed``, early stopping is on and the second rank sees
a validation loss that grows every epoch, as if its figures had drifted: the
ranks must still stop at the same epoch (the first rank's decision). With
``contrastive``, the encoder is tuned on pairs, and each rank writes how many
pairs it encoded. With ``contrastive-skewed``, the pass over pairs stops early
and the second rank's held-out score grows at every check: the ranks must
still stop after the same pair.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch.distributed as dist
from safetensors.torch import save_file

from conftest import make_corpus
from topicbert import BertTopicClassifier, Callback


class MarkRank(Callback):
    """Leaves a file behind for every process that runs callbacks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def on_train_begin(self, estimator) -> None:
        (self.directory / f"callback-rank{dist.get_rank()}").touch()


def skew_validation_loss() -> None:
    import topicbert._training as training

    original = training.log_loss_and_accuracy
    calls = []

    def skewed(*args, **kwargs):
        loss, accuracy = original(*args, **kwargs)
        calls.append(1)
        return loss + 10.0 * len(calls), accuracy

    training.log_loss_and_accuracy = skewed


def skew_held_out_pairs() -> None:
    import topicbert._contrastive as contrastive

    original = contrastive.pair_agreement_loss
    calls = []

    def skewed(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs) + 10.0 * len(calls)

    contrastive.pair_agreement_loss = skewed


def count_pairs() -> list[int]:
    """Count the pairs this process encodes (one entry per call)."""
    import topicbert._contrastive as contrastive

    original = contrastive.pair_vectors
    calls: list[int] = []

    def counted(model, documents, first, second, pad_id):
        calls.append(len(first))
        return original(model, documents, first, second, pad_id)

    contrastive.pair_vectors = counted
    return calls


def main() -> None:
    tiny_bert, out = Path(sys.argv[1]), Path(sys.argv[2])
    skewed = sys.argv[3:] == ["skewed"]
    multilabel = sys.argv[3:] == ["multilabel"]
    skewed_pairs = sys.argv[3:] == ["contrastive-skewed"]
    contrastive = sys.argv[3:] == ["contrastive"] or skewed_pairs
    texts, labels = make_corpus(40, seed=1)
    if multilabel:  # label sets: each topic, plus "long" for longer texts
        labels = [
            (label, "long") if len(text) > 100 else (label,)
            for text, label in zip(texts, labels, strict=True)
        ]
    held_out, _ = make_corpus(15, seed=2)
    if skewed and int(os.environ["RANK"]) == 1:
        skew_validation_loss()
    if skewed_pairs and int(os.environ["RANK"]) == 1:
        skew_held_out_pairs()
    settings: dict = {"epochs": 6, "early_stopping": True, "n_iter_no_change": 1} if skewed else {}
    if multilabel:
        settings = {"threshold": "tune", "early_stopping": True, "n_iter_no_change": 2}
    if contrastive:
        settings = {"training": "contrastive", "contrastive_iterations": 3}
        if skewed_pairs:
            settings |= {"early_stopping": True, "n_iter_no_change": 1}
        encoded = count_pairs()
    clf = BertTopicClassifier(
        backbone=str(tiny_bert),
        max_length=64,
        batch_size=8,
        learning_rate=3e-3,
        device="cpu",
        random_state=0,
        callbacks=[MarkRank(out)],
        **{"epochs": 4, "training": "full", **settings},
    )
    clf.fit(texts, labels)
    rank = dist.get_rank()
    state = {k: v.contiguous() for k, v in clf.model_.state_dict().items()}
    save_file(state, str(out / f"weights-rank{rank}.safetensors"))
    np.save(out / f"proba-rank{rank}.npy", clf.predict_proba(held_out))
    (out / f"history-rank{rank}.json").write_text(json.dumps(clf.history_))
    if multilabel:
        np.save(out / f"thresholds-rank{rank}.npy", clf.thresholds_)
    if contrastive:
        (out / f"pairs-rank{rank}.json").write_text(json.dumps(sum(encoded)))
    clf.save(out / "model")  # only rank 0 writes
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
