"""``topicbert predict``: label texts from a file or standard input with a saved model."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from topicbert._commands._arguments import (
    DEFAULT_WRITTEN_LABEL_SEPARATOR,
    add_label_separator,
    add_min_confidence,
    add_model,
    add_output,
    open_text,
)


def add_parser(commands: Any) -> None:
    """Declare ``predict`` and its options."""
    predict = commands.add_parser(
        "predict",
        help="label texts with a saved model",
        description=(
            "Read texts from FILE (a CSV file with a text column, .csv or .csv.gz, or plain "
            "text with one text per line, gzip-compressed when named *.gz) or from standard "
            "input ('-'), and write each text's label and class probabilities as CSV or JSON "
            "lines (gzip-compressed when --output is named *.gz)."
        ),
    )
    add_model(predict)
    predict.add_argument("input", nargs="?", default="-", metavar="FILE", help="input ('-': stdin)")
    predict.add_argument("--text-column", help="CSV column holding the texts (default: detected)")
    predict.add_argument(
        "--format",
        choices=["csv", "jsonl"],
        default="csv",
        help="output format (default: %(default)s)",
    )
    add_output(predict, metavar="FILE", help="output file (default: standard output)")
    add_label_separator(
        predict,
        help=(
            "multi-label models: the label column written holds sets of labels separated by "
            f"SEP (default: {DEFAULT_WRITTEN_LABEL_SEPARATOR!r})"
        ),
    )
    add_min_confidence(
        predict, "its label is then empty in CSV, null in JSON (default: the model's setting)"
    )
    predict.set_defaults(handler=run)


def read_texts(
    handle: TextIO, is_csv: bool, text_column: str | None, source: str = "the input"
) -> Iterator[str]:
    """Yield the texts of a CSV file (its text column) or of plain text (one per line)."""
    if not is_csv:
        yield from (line.rstrip("\r\n") for line in handle if line.strip())
        return
    import csv

    from topicbert.datasets import TEXT_COLUMNS, detect_column

    reader = csv.DictReader(handle)
    columns = list(reader.fieldnames or [])
    column = text_column or detect_column(columns, TEXT_COLUMNS, "texts", source)
    if column not in columns:
        raise ValueError(f"--text-column {column!r} is not a column of {source}: {columns!r}.")
    yield from (row[column] or "" for row in reader)


def run(args: argparse.Namespace) -> None:
    """Stream texts through the model a chunk at a time, writing each chunk's rows."""
    import contextlib
    import csv
    import json

    from topicbert import BertTopicClassifier
    from topicbert._targets import label_lists

    model = BertTopicClassifier.load(args.model)
    if args.min_confidence is not None:
        model.set_params(min_confidence=args.min_confidence)
    classes = [str(c) for c in model.classes_]
    is_csv = args.input.endswith((".csv", ".csv.gz")) or args.text_column is not None
    separator = args.label_separator or DEFAULT_WRITTEN_LABEL_SEPARATOR
    with contextlib.ExitStack() as files:
        source: TextIO = sys.stdin
        if args.input != "-":
            source = files.enter_context(open_text(args.input))
        sink: TextIO = sys.stdout
        if args.output is not None:
            sink = files.enter_context(open_text(args.output, "w"))
        writer = csv.writer(sink, lineterminator="\n")
        multilabel = model.target_kind_ != "single"
        if args.format == "csv":
            writer.writerow(["labels" if multilabel else "label", *(f"p_{c}" for c in classes)])
        name = "standard input" if args.input == "-" else repr(args.input)
        texts = read_texts(source, is_csv, args.text_column, name)
        for proba in model.iter_predict_proba(texts):
            decided = model.decision_rule.decide(proba)
            if multilabel:
                decided = label_lists(decided, model.classes_)
            for row, prediction in zip(proba, decided, strict=True):
                labels = [str(label) for label in prediction] if multilabel else []
                label = None if prediction is None else str(prediction)  # None: abstained
                if args.format == "csv":
                    cell = separator.join(labels) if multilabel else label or ""
                    writer.writerow([cell, *(repr(float(p)) for p in row)])
                else:
                    probabilities = dict(zip(classes, map(float, row), strict=True))
                    key, value = ("labels", labels) if multilabel else ("label", label)
                    sink.write(json.dumps({key: value, "probabilities": probabilities}) + "\n")
