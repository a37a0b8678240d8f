"""``topicbert predict --engine spark|ray``: score a file or a folder of files on an engine."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import UsageError, positive_int

ENGINES = ("local", "spark", "ray")
"""Where ``topicbert predict`` runs: in this process, on Spark or on Ray."""


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and the options that only an engine reads."""
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help=(
            "local: this process (default). spark, ray: score FILE (a Parquet or CSV file, or a "
            "folder of them) on the engine with MODEL_DIR's ONNX export (topicbert export), "
            "writing a folder of Parquet files to --output: the input's columns (or only "
            "--id-column), then label (labels) and one p_LABEL column per label. Spark and Ray "
            "are started as configured (spark-submit, RAY_ADDRESS), else on this machine"
        ),
    )
    parser.add_argument(
        "--id-column", help="--engine: keep only this input column beside the scores"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="--engine: ONNX Runtime threads per worker (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        help=(
            "--engine ray: at most this many models loaded at once, Ray scaling the pool from "
            "one (default: the cluster's CPUs / --threads)"
        ),
    )


def input_format(path: str) -> str:
    """``"parquet"`` or ``"csv"``: what a file, or every file of a folder, holds."""
    source = Path(path)
    if not source.exists():
        raise UsageError(f"{path!r} does not exist")
    files = [source] if source.is_file() else sorted(source.iterdir())
    names = [f.name for f in files if f.is_file() and not f.name.startswith((".", "_"))]
    for kind, endings in (("parquet", (".parquet",)), ("csv", (".csv", ".csv.gz"))):
        if names and all(name.endswith(endings) for name in names):
            return kind
    raise UsageError(
        f"{path!r} is neither a Parquet (.parquet) or CSV (.csv, .csv.gz) file nor a folder "
        "of only such files"
    )


def run_on_engine(args: argparse.Namespace) -> None:
    """Check everything that can be checked here, then score on Spark or Ray."""
    from topicbert.onnx import is_onnx_export

    engine = args.engine
    if not is_onnx_export(args.model):
        raise UsageError(
            f"--engine {engine} runs an ONNX export, and {str(args.model)!r} is not one: "
            f"write one with 'topicbert export {args.model} EXPORT_DIR'"
        )
    if args.input == "-":
        raise UsageError(f"--engine {engine} reads a file or a folder, not standard input")
    if args.output is None:
        raise UsageError(f"--engine {engine} writes a folder of Parquet files: name it with -o")
    if args.format != "csv":
        raise UsageError(f"--engine {engine} writes Parquet; --format {args.format} is for local")
    output = Path(args.output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{str(output)!r} already exists and is not an empty folder")
    kind = input_format(args.input)
    model = Path(args.model).resolve()  # the same path for workers in other folders
    options = {
        "id_col": args.id_column,
        "threads": args.threads,
        "min_confidence": args.min_confidence,
    }
    if engine == "spark":
        _on_spark(args.input, kind, args.text_column, model, output, options)
    else:
        _on_ray(args.input, kind, args.text_column, model, output, options, args.workers)
    print(f"wrote {output}", file=sys.stderr)


def _text_column(columns: list[str], text_column: str | None, source: str) -> str:
    from topicbert.datasets import TEXT_COLUMNS, detect_column

    column = text_column or detect_column(columns, TEXT_COLUMNS, "texts", repr(source))
    if column not in columns:
        raise UsageError(f"--text-column {column!r} is not a column of {source!r}: {columns!r}")
    return column


def _csv_header(source: str) -> list[str]:
    """The column names of a CSV file, or of the first CSV file of a folder."""
    import csv

    from topicbert._commands._arguments import open_text

    path = Path(source)
    if path.is_dir():
        path = next(f for f in sorted(path.iterdir()) if f.name.endswith((".csv", ".csv.gz")))
    with open_text(path) as handle:
        return next(csv.reader(handle), [])


def _on_spark(
    source: str,
    kind: str,
    text_column: str | None,
    model: Path,
    output: Path,
    options: dict[str, Any],
) -> None:
    from topicbert.integrations.spark import require_pyspark, score_dataframe

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local workers: this Python
    spark = require_pyspark().SparkSession.builder.appName("topicbert predict").getOrCreate()
    if kind == "parquet":
        df = spark.read.parquet(source)
    else:
        df = spark.read.csv(source, header=True, multiLine=True, escape='"')
    column = _text_column(df.columns, text_column, source)
    scores = score_dataframe(df, model, text_col=column, **options)
    scores.write.mode("overwrite" if output.exists() else "errorifexists").parquet(str(output))


def _on_ray(
    source: str,
    kind: str,
    text_column: str | None,
    model: Path,
    output: Path,
    options: dict[str, Any],
    workers: int | None,
) -> None:
    import ray

    from topicbert.integrations.ray import score_dataset

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    if options["threads"] > cpus:
        raise UsageError(f"--threads {options['threads']} is more than Ray's {cpus} CPUs")
    if kind == "parquet":
        ds = ray.data.read_parquet(source)
    else:
        import pyarrow
        import pyarrow.csv

        # every column a string, as Spark reads CSV: types guessed from a file's first
        # block would turn a text column that looks numeric into numbers
        strings = {name: pyarrow.string() for name in _csv_header(source)}
        ds = ray.data.read_csv(
            source,
            parse_options=pyarrow.csv.ParseOptions(newlines_in_values=True),
            convert_options=pyarrow.csv.ConvertOptions(column_types=strings),
        )
    column = _text_column(list(ds.schema().names), text_column, source)
    if workers is None:
        workers = max(1, cpus // options["threads"])
    # a range, not a fixed pool: a pool holding every CPU would leave none to read and write
    scores = score_dataset(ds, model, text_col=column, concurrency=(1, workers), **options)
    scores.write_parquet(str(output))
