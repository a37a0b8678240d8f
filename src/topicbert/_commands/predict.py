"""``topicbert predict``: label texts from a file or standard input with a saved model."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from topicbert._commands._arguments import (
    DEFAULT_WRITTEN_LABEL_SEPARATOR,
    UsageError,
    add_label_separator,
    add_min_confidence,
    add_model,
    add_output,
    open_text,
)
from topicbert._commands._engines import add_engine_options, run_on_engine


def add_parser(commands: Any) -> None:
    """Declare ``predict`` and its options."""
    predict = commands.add_parser(
        "predict",
        help="label texts with a saved model",
        description=(
            "Read texts from FILE (a CSV file with a text column, .csv or .csv.gz, a Parquet "
            "file, .parquet, or plain text with one text per line, gzip-compressed when named "
            "*.gz) or from standard input ('-'), and write each text's label and class "
            "probabilities as CSV or JSON lines (gzip-compressed when --output is named *.gz) "
            "or, when --output is named *.parquet, as Parquet (label sets as lists). Texts are "
            "read, scored and written a chunk at a time, so memory stays flat."
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
    add_engine_options(predict)
    predict.set_defaults(handler=run)


PARQUET = ".parquet"
"""Files named so are read and written as Parquet (``pip install pyarrow``)."""


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


def read_file_texts(path: str, text_column: str | None) -> Iterator[str]:
    """Yield the texts of a CSV (.csv, .csv.gz) or plain text file, opened and closed here."""
    is_csv = path.endswith((".csv", ".csv.gz")) or text_column is not None
    with open_text(path) as handle:
        yield from read_texts(handle, is_csv, text_column, repr(path))


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ImportError("Parquet files need pyarrow: pip install pyarrow") from exc
    return pyarrow


def read_parquet_texts(path: str, text_column: str | None, batch_size: int = 1024) -> Iterator[str]:
    """Yield the texts of a Parquet file's text column, one record batch at a time."""
    from topicbert.datasets import TEXT_COLUMNS, detect_column

    pyarrow = _pyarrow()
    parquet = pyarrow.parquet.ParquetFile(path)
    columns = list(parquet.schema_arrow.names)
    column = text_column or detect_column(columns, TEXT_COLUMNS, "texts", repr(path))
    if column not in columns:
        raise ValueError(f"--text-column {column!r} is not a column of {path!r}: {columns!r}.")
    for batch in parquet.iter_batches(batch_size=batch_size, columns=[column]):
        yield from ("" if text is None else text for text in batch.column(0).to_pylist())


class ParquetSink:
    """Writes predictions to a Parquet file, a row group per chunk.

    ``label`` (a string, null when abstaining) or ``labels`` (a list of
    strings), then one ``p_LABEL`` column of probabilities per class.
    """

    def __init__(self, path: Path, classes: list[str], multilabel: bool) -> None:
        pyarrow = _pyarrow()
        self.pyarrow = pyarrow
        self.classes = classes
        self.multilabel = multilabel
        label_type = pyarrow.list_(pyarrow.string()) if multilabel else pyarrow.string()
        fields = [("labels" if multilabel else "label", label_type)]
        fields += [(f"p_{c}", pyarrow.float64()) for c in classes]
        self.schema = pyarrow.schema(fields)
        self.writer = pyarrow.parquet.ParquetWriter(str(path), self.schema)

    def write(self, decided: list[Any], proba: Any) -> None:
        columns = [decided, *(proba[:, i] for i in range(len(self.classes)))]
        self.writer.write_table(self.pyarrow.table(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def run(args: argparse.Namespace) -> None:
    """Stream texts through the model a chunk at a time, writing each chunk's rows."""
    import contextlib
    import csv
    import json

    from topicbert import BertTopicClassifier
    from topicbert._targets import label_lists

    if args.engine != "local":
        run_on_engine(args)
        return
    parquet_out = args.output is not None and str(args.output).endswith(PARQUET)
    if parquet_out and args.format != "csv":
        raise UsageError(f"--format {args.format} cannot be written to a {PARQUET} file")
    model = BertTopicClassifier.load(args.model)
    if args.min_confidence is not None:
        model.set_params(min_confidence=args.min_confidence)
    classes = [str(c) for c in model.classes_]
    is_csv = args.input.endswith((".csv", ".csv.gz")) or args.text_column is not None
    separator = args.label_separator or DEFAULT_WRITTEN_LABEL_SEPARATOR
    multilabel = model.target_kind_ != "single"
    with contextlib.ExitStack() as files:
        name = "standard input" if args.input == "-" else repr(args.input)
        if args.input.endswith(PARQUET):
            texts = read_parquet_texts(args.input, args.text_column)
        else:
            source: TextIO = sys.stdin
            if args.input != "-":
                source = files.enter_context(open_text(args.input))
            texts = read_texts(source, is_csv, args.text_column, name)
        parquet: ParquetSink | None = None
        sink: TextIO = sys.stdout
        if parquet_out:
            parquet = ParquetSink(args.output, classes, multilabel)
            files.callback(parquet.close)
        elif args.output is not None:
            sink = files.enter_context(open_text(args.output, "w"))
        writer = csv.writer(sink, lineterminator="\n")
        if args.format == "csv" and parquet is None:
            writer.writerow(["labels" if multilabel else "label", *(f"p_{c}" for c in classes)])
        for proba in model.iter_predict_proba(texts):
            decided = model.decision_rule.decide(proba)
            if multilabel:
                decided = [
                    [str(label) for label in row] for row in label_lists(decided, model.classes_)
                ]
            else:
                decided = [None if label is None else str(label) for label in decided]
            if parquet is not None:
                parquet.write(decided, proba)
                continue
            for row, prediction in zip(proba, decided, strict=True):
                if args.format == "csv":
                    cell = separator.join(prediction) if multilabel else prediction or ""
                    writer.writerow([cell, *(repr(float(p)) for p in row)])
                else:
                    probabilities = dict(zip(classes, map(float, row), strict=True))
                    key = "labels" if multilabel else "label"
                    sink.write(json.dumps({key: prediction, "probabilities": probabilities}) + "\n")
