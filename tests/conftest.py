"""Shared fixtures: a tiny random BERT built offline and a small labelled corpus."""

from __future__ import annotations

import os
import random
import socket
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from topicbert import BertTopicClassifier

# The tests never reach a model hub: fail at once instead of retrying a lookup.
os.environ["HF_HUB_OFFLINE"] = "1"

# A script that torchrun starts from test_distributed.py, not a test module.
collect_ignore = ["distributed_fit.py"]

TOPIC_WORDS = {
    "sport": [
        "match",
        "goal",
        "team",
        "coach",
        "league",
        "season",
        "player",
        "score",
        "win",
        "cup",
    ],
    "business": [
        "market",
        "shares",
        "profit",
        "bank",
        "economy",
        "company",
        "price",
        "trade",
        "growth",
        "sales",
    ],
    "tech": [
        "software",
        "phone",
        "computer",
        "internet",
        "chip",
        "data",
        "network",
        "users",
        "digital",
        "app",
    ],
}
FILLER = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "on",
    "for",
    "with",
    "said",
    "it",
    "was",
    "this",
    "that",
    "by",
    "from",
    "at",
]
DATA_DIR = Path(__file__).resolve().parents[1] / "data"  # the repository's copies
BBC_CSV = DATA_DIR / "bbc-news.csv.gz"


def make_corpus(n_per_class: int, seed: int) -> tuple[list[str], list[str]]:
    """Short texts whose topic words identify their class."""
    rng = random.Random(seed)
    texts, labels = [], []
    for label, words in TOPIC_WORDS.items():
        for _ in range(n_per_class):
            length = rng.randint(6, 30)
            tokens = [rng.choice(words if rng.random() < 0.5 else FILLER) for _ in range(length)]
            texts.append(" ".join(tokens).capitalize() + ".")
            labels.append(label)
    order = list(range(len(texts)))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order]


def tiny_vocabulary(texts: list[str]) -> dict[str, int]:
    """A WordPiece vocabulary: special tokens, ASCII letters, digits and
    punctuation and every other character of ``texts`` (alone and as ``##``
    continuations), and every word of ``texts``, in a fixed order.

    Built by hand rather than trained: the ``tokenizers`` trainer breaks ties
    between equally frequent merges differently from one process to the next,
    which would give every test run a different tiny model.
    """
    from tokenizers.pre_tokenizers import BertPreTokenizer

    words = sorted(
        {word for text in texts for word, _ in BertPreTokenizer().pre_tokenize_str(text.lower())}
    )
    ascii_characters = string.ascii_lowercase + string.digits + string.punctuation
    characters = sorted({character for word in words for character in word} | set(ascii_characters))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += characters + [f"##{c}" for c in characters]
    tokens += [word for word in words if word not in tokens]
    return {token: index for index, token in enumerate(tokens)}


def build_tiny_bert(directory: Path) -> Path:
    """Build a WordPiece tokenizer and save a randomly initialised 2-layer BERT."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    texts, _ = make_corpus(100, seed=0)
    wordpiece = BertWordPieceTokenizer(tiny_vocabulary(texts), lowercase=True)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(
        tokenizer_object=wordpiece._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(str(directory))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(config).save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def corpus() -> tuple[list[str], list[str]]:
    return make_corpus(40, seed=1)


@pytest.fixture(scope="session")
def held_out() -> tuple[list[str], list[str]]:
    return make_corpus(15, seed=2)


def tiny_classifier(tiny_bert: Path, **params: object) -> BertTopicClassifier:
    defaults: dict[str, object] = {
        "backbone": str(tiny_bert),
        "max_length": 64,
        "batch_size": 8,
        "epochs": 4,
        "learning_rate": 3e-3,
        "device": "cpu",
        "precision": "fp32",  # exact comparisons whatever the CPU
        "random_state": 0,
        "training": "full",  # the fixtures' few texts per label would make "auto" contrastive
    }
    defaults.update(params)
    return BertTopicClassifier(**defaults)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def fitted(tiny_bert: Path, corpus: tuple[list[str], list[str]]) -> BertTopicClassifier:
    """The tiny BERT fitted once on ``corpus`` for the whole run.

    Shared by every test module: a test that needs other parameters works on a
    copy (``pickle.loads(pickle.dumps(fitted))``) or puts them back.
    """
    texts, labels = corpus
    return tiny_classifier(tiny_bert).fit(texts, labels)


@pytest.fixture(scope="session")
def saved_model_dir(fitted: BertTopicClassifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fitted`` saved once; tests read it and write nothing into it."""
    return fitted.save(tmp_path_factory.mktemp("saved-model") / "model")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def onnx_export(fitted: BertTopicClassifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fitted`` exported to ONNX once; tests read it and write nothing into it."""
    return fitted.export_onnx(tmp_path_factory.mktemp("onnx-export") / "export")


@pytest.fixture(scope="session")
def multilabel_onnx_export(
    tiny_bert: Path, corpus: tuple[list[str], list[str]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A multi-label model (label tuples, tuned thresholds) exported to ONNX once."""
    texts, labels = corpus
    sets = [(label, "news") if i % 3 == 0 else (label,) for i, label in enumerate(labels)]
    model = tiny_classifier(tiny_bert, epochs=2, threshold="tune").fit(texts, sets)
    return model.export_onnx(tmp_path_factory.mktemp("onnx-export") / "multilabel")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local Spark session with two cores, started once for the whole run."""
    import shutil
    import sys

    if shutil.which("java") is None:
        pytest.skip("Spark needs Java: apt-get install default-jre-headless")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers import this topicbert
    session = (
        SparkSession.builder.master("local[2]")
        .appName("topicbert-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """Ray on this machine with two CPUs, started once for the whole run."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
