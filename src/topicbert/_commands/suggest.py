"""``topicbert suggest``: the unlabelled texts a saved model is least sure of."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from topicbert._commands._arguments import (
    DEFAULT_WRITTEN_LABEL_SEPARATOR,
    add_model,
    add_output,
    add_random_state,
    open_text,
    positive_int,
)


def add_parser(commands: Any) -> None:
    """Declare ``suggest`` and its options."""
    from topicbert.active import STRATEGIES

    suggest = commands.add_parser(
        "suggest",
        help="pick the unlabelled texts to label next",
        description=(
            "Score every text of FILE (a CSV file with a text column, .csv or .csv.gz, or plain "
            "text with one text per line) with the model in MODEL_DIR (a saved model or an ONNX "
            "export) and write the --n texts it is least sure of, least sure first, as CSV: "
            "their row number in FILE (from 0), the text, the model's guess and its "
            "probability (label sets: the labels over threshold joined by '|', and the "
            "probability of that set)."
        ),
    )
    add_model(suggest)
    suggest.add_argument("input", metavar="FILE", help="the unlabelled texts")
    suggest.add_argument(
        "--n", type=positive_int, default=50, help="texts to suggest (default: %(default)s)"
    )
    suggest.add_argument("--text-column", help="CSV column holding the texts (default: detected)")
    suggest.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="margin",
        help="how unsure the model is of a text (default: %(default)s)",
    )
    suggest.add_argument(
        "--diversity",
        type=positive_int,
        default=1,
        metavar="K",
        help=(
            "spread the suggestions: group the K*n least sure texts in n clusters of the "
            "encoder's space and take the least sure of each (saved models only; default: 1, off)"
        ),
    )
    suggest.add_argument(
        "--exclude",
        type=Path,
        metavar="LABELLED",
        help="a CSV file whose texts are already labelled: they are never suggested",
    )
    add_random_state(suggest, "the random strategy, ties and clusters")
    add_output(suggest, metavar="FILE", help="output CSV file (default: standard output)")
    suggest.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Score the pool once, then read the chosen rows back and write them."""
    import csv
    import sys

    from topicbert._commands.predict import read_file_texts as _texts
    from topicbert._decision import rule_of
    from topicbert._targets import label_lists
    from topicbert.active import suggest, uncertainty
    from topicbert.integrations._service import load_fitted

    if not Path(args.input).is_file():
        raise FileNotFoundError(f"No such file: {args.input!r}")
    model = load_fitted(args.model)
    excluded: set[int] = set()
    if args.exclude is not None:
        from topicbert.datasets import TEXT_COLUMNS, detect_column

        with open_text(args.exclude) as handle:
            reader = csv.DictReader(handle)
            column = detect_column(list(reader.fieldnames or []), TEXT_COLUMNS, "texts", "")
            labelled = {row[column] for row in reader}
        excluded = {
            i for i, text in enumerate(_texts(args.input, args.text_column)) if text in labelled
        }
    positions = suggest(
        model,
        _texts(args.input, args.text_column),
        args.n,
        strategy=args.strategy,
        exclude=excluded,
        diversity=args.diversity,
        random_state=args.random_state,
    )
    wanted = set(positions.tolist())
    chosen = {i: t for i, t in enumerate(_texts(args.input, args.text_column)) if i in wanted}
    texts = [chosen[int(i)] for i in positions]
    proba = np.asarray(model.predict_proba(texts), dtype=np.float64)
    rule = rule_of(model)
    with contextlib.ExitStack() as files:
        sink = (
            sys.stdout if args.output is None else files.enter_context(open_text(args.output, "w"))
        )
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(["position", "text", "guess", "probability"])
        if rule.multilabel:
            guesses = [
                DEFAULT_WRITTEN_LABEL_SEPARATOR.join(map(str, labels))
                for labels in label_lists(rule.decide(proba), rule.classes)
            ]
            sure = 1.0 - uncertainty(
                proba, "least_confidence", thresholds=rule.per_label_thresholds()
            )
        else:
            guesses = [str(rule.classes[i]) for i in proba.argmax(axis=1)]
            sure = proba.max(axis=1)
        for position, text, guess, p in zip(positions, texts, guesses, sure, strict=True):
            writer.writerow([int(position), text, guess, f"{float(p):.4f}"])
