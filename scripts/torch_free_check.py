"""The two halves of ``scripts/check_torch_free_install.sh``.

``export OUT_DIR EXPECTED_JSON`` runs in the full environment (exporting needs
torch): it builds a tiny random BERT, fits a classifier on a few made-up
texts, exports it to ONNX and writes the estimator's own predictions.

``check EXPORT_DIR EXPECTED_JSON`` runs in the torch-free environment: it
proves that torch, transformers and scikit-learn cannot be imported, scores
the export with ``topicbert.onnx`` and through ``topicbert serve``, and
compares both with the estimator's predictions.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

WORDS = {
    "sport": "match goal team coach league season player score win cup",
    "business": "market shares profit bank economy company price trade growth sales",
    "tech": "software phone computer internet chip data network users digital app",
}
TOPICS = {label: words.split(" ") for label, words in WORDS.items()}
FILLER_WORDS = "the a of to and in on for with said it was this that by from at"
FILLER = FILLER_WORDS.split(" ")
TOLERANCE = 1e-4  # float32 ONNX Runtime against float32 torch


def make_texts(n_per_topic: int, seed: int) -> tuple[list[str], list[str]]:
    """Short texts whose topic words identify their label."""
    rng = random.Random(seed)
    texts, labels = [], []
    for label, words in TOPICS.items():
        for _ in range(n_per_topic):
            tokens = [rng.choice(words if rng.random() < 0.5 else FILLER) for _ in range(12)]
            texts.append(" ".join(tokens).capitalize() + ".")
            labels.append(label)
    return texts, labels


def build_tiny_bert(directory: Path) -> Path:
    """A WordPiece tokenizer and a randomly initialised 2-layer BERT, saved locally."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w for words in TOPICS.values() for w in words} | set(FILLER))
    letters = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789.,"))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += letters + [f"##{c}" for c in letters] + words
    vocabulary = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    wordpiece = BertWordPieceTokenizer(vocabulary, lowercase=True)
    tokenizer = BertTokenizerFast(
        tokenizer_object=wordpiece._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(str(directory))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(directory))
    return directory


def export(out_dir: Path, expected_json: Path) -> None:
    """Fit a tiny model, export it, write what the estimator predicts."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from topicbert import BertTopicClassifier

    with tempfile.TemporaryDirectory() as tmp:
        backbone = build_tiny_bert(Path(tmp) / "tiny-bert")
        texts, labels = make_texts(20, seed=1)
        clf = BertTopicClassifier(
            backbone=str(backbone),
            max_length=32,
            batch_size=8,
            epochs=2,
            learning_rate=3e-3,
            device="cpu",
            precision="fp32",
            random_state=0,
        ).fit(texts, labels)
        clf.export_onnx(out_dir)
    probe, _ = make_texts(3, seed=2)
    expected = {
        "texts": probe,
        "classes": [str(c) for c in clf.classes_],
        "labels": [str(label) for label in clf.predict(probe)],
        "probabilities": clf.predict_proba(probe).tolist(),
    }
    expected_json.write_text(json.dumps(expected))
    print(f"exported a tiny model to {out_dir}")


def close_enough(got: list[list[float]], want: list[list[float]]) -> bool:
    """Whether two probability tables agree within TOLERANCE."""
    return all(
        abs(g - w) <= TOLERANCE
        for got_row, want_row in zip(got, want, strict=True)
        for g, w in zip(got_row, want_row, strict=True)
    )


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_served(export_dir: Path, expected: dict[str, object]) -> None:
    """Start ``topicbert serve`` on the export and compare its API's answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    topicbert_command = Path(sys.executable).with_name("topicbert")
    server = subprocess.Popen(
        [str(topicbert_command), "serve", str(export_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"topicbert serve did not start:\n{server.communicate()[0]}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        request = urllib.request.Request(
            f"{url}/api/predict",
            data=json.dumps({"texts": expected["texts"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.load(response)["predictions"]
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    classes = expected["classes"]
    assert isinstance(classes, list)
    served = [[p["probabilities"][c] for c in classes] for p in predictions]
    if [p["label"] for p in predictions] != expected["labels"]:
        raise SystemExit("topicbert serve's labels differ from the estimator's")
    if not close_enough(served, expected["probabilities"]):  # type: ignore[arg-type]
        raise SystemExit("topicbert serve's probabilities differ from the estimator's")
    if server.returncode != 0 or "Traceback" in output:
        raise SystemExit(f"topicbert serve did not stop cleanly:\n{output}")
    print(f"topicbert serve: {len(predictions)} texts scored as the estimator did")


def check(export_dir: Path, expected_json: Path) -> None:
    """Prove that torch is absent, then score the export directly and served."""
    for name in ("torch", "transformers", "sklearn"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        raise SystemExit(f"{name} can be imported: this is not a torch-free environment")
    print("torch, transformers and scikit-learn cannot be imported here")

    from topicbert.onnx import OnnxTopicClassifier

    expected = json.loads(expected_json.read_text())
    model = OnnxTopicClassifier(export_dir)
    labels = [str(label) for label in model.predict(expected["texts"])]
    if labels != expected["labels"] or [str(c) for c in model.classes_] != expected["classes"]:
        raise SystemExit(f"OnnxTopicClassifier predicts {labels}, expected {expected['labels']}")
    if not close_enough(model.predict_proba(expected["texts"]).tolist(), expected["probabilities"]):
        raise SystemExit("OnnxTopicClassifier's probabilities differ from the estimator's")
    print(f"topicbert.onnx: {len(labels)} texts scored as the estimator did")
    for name in ("torch", "transformers", "sklearn"):
        if name in sys.modules:
            raise SystemExit(f"scoring the export imported {name}")
    check_served(export_dir, expected)


def main() -> None:
    """Dispatch to ``export`` or ``check``."""
    if len(sys.argv) != 4 or sys.argv[1] not in {"export", "check"}:
        raise SystemExit(__doc__)
    command, directory, expected = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    (export if command == "export" else check)(directory, expected)


if __name__ == "__main__":
    main()
