"""``topicbert export``: write a saved model as an ONNX directory that runs without torch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import UsageError, add_model, add_output


def add_parser(commands: Any) -> None:
    """Declare ``export`` and its options."""
    export = commands.add_parser(
        "export",
        help="export a saved model to ONNX (runs without torch)",
        description=(
            "Export MODEL_DIR to OUT_DIR (given as --output or, as before, positionally): "
            "model.onnx (encoder, pooling and head), "
            "tokenizer.json and topicbert-onnx.json. Load it with "
            "topicbert.onnx.OnnxTopicClassifier or serve it with 'topicbert serve OUT_DIR'; "
            "running it needs only onnxruntime, tokenizers and numpy."
        ),
    )
    add_model(export)
    export.add_argument(
        "out",
        nargs="?",
        type=Path,
        metavar="OUT_DIR",
        help="directory to write (the same as --output)",
    )
    add_output(export, metavar="OUT_DIR", help="directory to write")
    export.add_argument(
        "--quantize",
        choices=["int8"],
        help="dynamic int8 quantisation of the weights (check its agreement on your data)",
    )
    export.set_defaults(handler=run)


def output_directory(args: argparse.Namespace) -> Path:
    """OUT_DIR, from ``--output`` or the positional argument (one of them, or both alike)."""
    given: set[Path] = {path for path in (args.out, args.output) if path is not None}
    if not given:
        raise UsageError("the directory to write is missing: give --output OUT_DIR (or OUT_DIR)")
    if len(given) > 1:
        raise UsageError(
            f"OUT_DIR {str(args.out)!r} and --output {str(args.output)!r} differ; give one of them"
        )
    return given.pop()


def run(args: argparse.Namespace) -> None:
    """Load the model, export it and say where."""
    from topicbert import BertTopicClassifier

    out = output_directory(args)
    model = BertTopicClassifier.load(args.model, device="cpu")
    path = model.export_onnx(out, quantize=args.quantize)
    size = (path / "model.onnx").stat().st_size / 2**20
    print(f"exported {args.model} to {path} (model.onnx: {size:.1f} MiB)", flush=True)
