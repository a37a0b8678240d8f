"""``topicbert zero-shot``: make and save a model from descriptions of the labels alone."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import (
    UsageError,
    add_output,
    non_negative_float,
    open_text,
    positive_int,
)


def add_parser(commands: Any) -> None:
    """Declare ``zero-shot`` and its options."""
    from topicbert import BertTopicClassifier
    from topicbert._descriptions import DEFAULT_SIMILARITY_THRESHOLD, DEFAULT_TEMPERATURE
    from topicbert._validation import LONG_TEXT_STRATEGIES, POOLINGS

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
    command.add_argument(
        "--backbone",
        default=defaults["backbone"],
        help="registered name, local directory or model id (default: %(default)s)",
    )
    command.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=defaults["pooling"],
        help="how token vectors become one text vector (default: %(default)s)",
    )
    command.add_argument(
        "--max-length",
        type=positive_int,
        default=defaults["max_length"],
        help="tokens per text (default: %(default)s)",
    )
    command.add_argument(
        "--long-text",
        choices=LONG_TEXT_STRATEGIES,
        default=defaults["long_text"],
        help="what to do with texts longer than --max-length (default: %(default)s)",
    )
    command.add_argument(
        "--multilabel",
        action="store_true",
        help="independent labels: each text gets the labels it is similar enough to",
    )
    command.add_argument(
        "--temperature",
        type=non_negative_float,
        help=f"cosine similarity per unit of logit (default: {DEFAULT_TEMPERATURE})",
    )
    command.add_argument(
        "--similarity-threshold",
        type=float,
        help="--multilabel: the similarity at which a label's probability is 0.5 "
        f"(default: {DEFAULT_SIMILARITY_THRESHOLD})",
    )
    command.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default)")
    command.set_defaults(handler=run)


def read_descriptions(path: Path) -> dict[str, list[str]]:
    """The labels and their descriptions in the file's order, from JSON or CSV."""
    if not path.is_file():
        raise FileNotFoundError(f"No descriptions file at {str(path)!r}.")
    if path.suffix == ".json":
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(
                f"{str(path)!r} must hold a JSON object mapping each label to its "
                'description, such as {"sport": "Sport news"}.'
            )
        return loaded
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = {"label", "description"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{str(path)!r} needs the columns 'label' and 'description'; "
                f"{', '.join(sorted(missing))} missing (columns: {reader.fieldnames})."
            )
        descriptions: dict[str, list[str]] = {}
        for line, row in enumerate(reader, start=2):
            if not row["label"]:
                raise ValueError(f"{str(path)!r}, line {line}: the label is empty.")
            descriptions.setdefault(row["label"], []).append(row["description"] or "")
    return descriptions


def run(args: argparse.Namespace) -> None:
    """Build the model from the descriptions, save it and say what it knows."""
    from topicbert import BertTopicClassifier

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
