"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node=2``.

Each rank fits the same tiny model on the same data with DDP on the CPU (gloo),
then writes its weights and held-out probabilities for the test to compare.

    python -m torch.distributed.run --nproc_per_node=2 tests/distributed_fit.py TINY_BERT OUT
"""

from __future__ import annotations

import json
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


def main() -> None:
    tiny_bert, out = Path(sys.argv[1]), Path(sys.argv[2])
    texts, labels = make_corpus(40, seed=1)
    held_out, _ = make_corpus(15, seed=2)
    clf = BertTopicClassifier(
        backbone=str(tiny_bert),
        max_length=64,
        batch_size=8,
        epochs=4,
        learning_rate=3e-3,
        device="cpu",
        random_state=0,
        callbacks=[MarkRank(out)],
    )
    clf.fit(texts, labels)
    rank = dist.get_rank()
    state = {k: v.contiguous() for k, v in clf.model_.state_dict().items()}
    save_file(state, str(out / f"weights-rank{rank}.safetensors"))
    np.save(out / f"proba-rank{rank}.npy", clf.predict_proba(held_out))
    (out / f"history-rank{rank}.json").write_text(json.dumps(clf.history_))
    clf.save(out / "model")  # only rank 0 writes
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
