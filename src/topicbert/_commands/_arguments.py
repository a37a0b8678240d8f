"""Argument types and arguments that several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def share(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text}")
    return value


def probability(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        message = f"must be a probability from 0 to 1, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1, got {text}")
    return value


def add_min_confidence(parser: argparse.ArgumentParser, default_help: str) -> None:
    """Abstention: no topic for a text whose top probability is below P."""
    parser.add_argument(
        "--min-confidence",
        type=probability,
        metavar="P",
        help=(
            "abstain (no topic) on a text whose most probable label has a probability "
            f"below P; {default_help}"
        ),
    )


def threshold(text: str) -> float | str:
    """An argparse type: ``tune`` or a probability strictly between 0 and 1."""
    if text == "tune":
        return text
    try:
        return share(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'tune' or a probability between 0 and 1, got {text!r}"
        ) from None


def add_model(parser: argparse.ArgumentParser) -> None:
    """The saved model a command reads."""
    parser.add_argument("model", type=Path, metavar="MODEL_DIR", help="saved model directory")


def add_columns(
    parser: argparse.ArgumentParser, *, labels: bool = True, label_separator: bool = True
) -> None:
    """Which CSV columns hold the texts (and the labels, single or sets)."""
    parser.add_argument("--text-column", help="column holding the texts (default: detected)")
    if labels:
        parser.add_argument("--label-column", help="column holding the labels (default: detected)")
    if labels and label_separator:
        parser.add_argument(
            "--label-separator",
            metavar="SEP",
            help="the label column holds sets of labels separated by SEP, e.g. '|' (multi-label)",
        )
