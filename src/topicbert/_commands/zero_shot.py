"""``topicbert zero-shot``: make and save a model from descriptions of the labels alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import (
    UsageError,
    add_encoder_options,
    add_output,
    positive_float,
    similarity,
)


def add_parser(commands: Any) -> None:
    """Declare ``zero-shot`` and its options."""
    from topicbert import BertTopicClassifier
    from topicbert._descriptions import DEFAULT_SIMILARITY_THRESHOLD, DEFAULT_TEMPERATURE

    defaults = BertTopicClassifier().get_params()
    command = commands.add_parser(
        "zero-shot",
        help="make a model from a description of each label, with no labelled text",
        description=(
            "Read DESCRIPTIONS (a JSON object mapping each label to a text or a list of "
            "texts, or a CSV file with 'label' and 'description' columns, one row per "
            "description) and save a model that scores each text by its similarity to each "
            "label's description. The model is used like a trained one: evaluate, predict, "
            "explain, serve, export."
        ),
    )
    command.add_argument(
        "descriptions",
        type=Path,
        metavar="DESCRIPTIONS",
        help="a .json file, or a .csv or .csv.gz file with label and description columns",
    )
    add_output(command, metavar="MODEL_DIR", help="directory to save the model to (required)")
    add_encoder_options(command, defaults)
    command.add_argument(
        "--multilabel",
        action="store_true",
        help="independent labels: each text gets the labels it is similar enough to",
    )
    command.add_argument(
        "--temperature",
        type=positive_float,
        help=f"cosine similarity per unit of logit (default: {DEFAULT_TEMPERATURE})",
    )
    command.add_argument(
        "--similarity-threshold",
        type=similarity,
        help="--multilabel: the similarity at which a label's probability is 0.5 "
        f"(default: {DEFAULT_SIMILARITY_THRESHOLD})",
    )
    command.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default)")
    command.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Build the model from the descriptions, save it and say what it knows."""
    from topicbert import BertTopicClassifier
    from topicbert.datasets import read_descriptions

    if args.output is None:
        raise UsageError("the directory to save the model to is missing: give --output MODEL_DIR")
    if args.similarity_threshold is not None and not args.multilabel:
        raise UsageError("--similarity-threshold applies to --multilabel models only")
    descriptions = read_descriptions(args.descriptions)
    model = BertTopicClassifier.from_descriptions(
        descriptions,
        temperature=args.temperature,
        similarity_threshold=args.similarity_threshold,
        backbone=args.backbone,
        pooling=args.pooling,
        max_length=args.max_length,
        long_text=args.long_text,
        multilabel=args.multilabel,
        device=args.device,
    )
    directory = model.save(args.output)
    labels = ", ".join(map(str, model.classes_))
    print(f"zero-shot model of {len(model.classes_)} labels ({labels}) saved to {directory}")
