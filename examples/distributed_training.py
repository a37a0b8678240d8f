"""Fine-tune on several processes with PyTorch's own launcher.

One machine, two processes on the CPU (gloo):
    torchrun --standalone --nproc_per_node=2 examples/distributed_training.py

One machine, every GPU (NCCL, bf16 autocast where supported):
    torchrun --standalone --nproc_per_node=gpu examples/distributed_training.py

Two machines, 4 GPUs each (run on both; the first is the rendezvous host):
    torchrun --nnodes=2 --nproc_per_node=4 --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST_OF_NODE_0:29500 --rdzv-id=bbc \\
        examples/distributed_training.py

topicbert notices the launch (WORLD_SIZE), joins the process group with the
backend that suits the device, gives each process its shard of every epoch,
and averages gradients with DistributedDataParallel. Every process ends with
the same weights; only rank 0 shows progress, runs callbacks and writes files.
"""

from __future__ import annotations

from pathlib import Path

from topicbert import BertTopicClassifier
from topicbert.datasets import drop_duplicate_texts, read_labeled_csv, train_val_test_split

DATA = Path(__file__).resolve().parents[1] / "data" / "bbc-news.csv.gz"


def main() -> None:
    data = drop_duplicate_texts(read_labeled_csv(DATA))
    train, _, test = train_val_test_split(data, random_state=42)
    clf = BertTopicClassifier(
        training="full", epochs=3, random_state=0, precision="auto", verbose=1
    )
    clf.fit(train["text"].tolist(), train["label"].tolist())
    accuracy = clf.score(test["text"].tolist(), test["label"].tolist())
    clf.save("models/bbc-distributed")  # written by rank 0 only
    print(f"test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
