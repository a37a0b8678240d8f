"""``topicbert export``: write a saved model as an ONNX directory that runs without torch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import add_model


def add_parser(commands: Any) -> None:
    """Declare ``export`` and its options."""
    export = commands.add_parser(
        "export",
        help="export a saved model to ONNX (runs without torch)",
        description=(
            "Export MODEL_DIR to OUT_DIR: model.onnx (encoder, pooling and head), "
            "tokenizer.json and topicbert-onnx.json. Load it with "
            "topicbert.onnx.OnnxTopicClassifier or serve it with 'topicbert serve OUT_DIR'; "
            "running it needs only onnxruntime, tokenizers and numpy."
        ),
    )
    add_model(export)
    export.add_argument("out", type=Path, metavar="OUT_DIR", help="directory to write")
    export.add_argument(
        "--quantize",
        choices=["int8"],
        help="dynamic int8 quantisation of the weights (check its agreement on your data)",
    )
    export.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Load the model, export it and say where."""
    from topicbert import BertTopicClassifier

    model = BertTopicClassifier.load(args.model, device="cpu")
    path = model.export_onnx(args.out, quantize=args.quantize)
    size = (path / "model.onnx").stat().st_size / 2**20
    print(f"exported {args.model} to {path} (model.onnx: {size:.1f} MiB)", flush=True)
