"""The ``topicbert`` command line: ``train``, ``evaluate``, ``predict``, ``explain``, ``serve``.

``topicbert train DATA.csv`` reads a labelled CSV file, removes duplicate texts,
holds out a stratified test split, fine-tunes a model on the rest, prints
held-out accuracy, macro-F1 and a per-class report, and saves the model with
the report (HTML and JSON) when ``--out`` is given. Exit codes: 0 on success,
2 on bad usage, 1 on any other error (one line on standard error).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["main"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    from topicbert import BertTopicClassifier, __version__
    from topicbert._validation import LONG_TEXT_STRATEGIES, POOLINGS, PRECISIONS

    defaults = BertTopicClassifier().get_params()
    parser = argparse.ArgumentParser(
        prog="topicbert",
        description="Fine-tune BERT-family encoders for topic classification.",
    )
    parser.add_argument("--version", action="version", version=f"topicbert {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="fine-tune on a labelled CSV file and report held-out accuracy",
        description=(
            "Read DATA (a CSV with a text and a label column), drop duplicate texts, hold out "
            "a stratified test split, fine-tune on the rest and print held-out accuracy, "
            "macro-F1 and a per-class report."
        ),
    )
    train.add_argument("data", type=Path, metavar="DATA.csv", help="labelled CSV file")
    train.add_argument("--out", type=Path, help="directory to save the fitted model in")
    train.add_argument("--text-column", help="column holding the texts (default: detected)")
    train.add_argument("--label-column", help="column holding the labels (default: detected)")
    train.add_argument(
        "--backbone",
        default=defaults["backbone"],
        help="registered name, local directory or model id (default: %(default)s)",
    )
    train.add_argument("--pooling", choices=POOLINGS, default=defaults["pooling"])
    train.add_argument(
        "--max-length", type=_positive_int, default=defaults["max_length"], help="tokens per text"
    )
    train.add_argument(
        "--long-text",
        choices=LONG_TEXT_STRATEGIES,
        default=defaults["long_text"],
        help="what to do with texts longer than --max-length (default: %(default)s)",
    )
    train.add_argument(
        "--freeze-backbone",
        action="store_true",
        help="encode each text once and train only the classification head (fast)",
    )
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults["precision"],
        help="autocast precision (default: %(default)s)",
    )
    train.add_argument("--batch-size", type=_positive_int, default=defaults["batch_size"])
    train.add_argument("--epochs", type=_positive_int, default=defaults["epochs"])
    train.add_argument("--learning-rate", type=float, default=defaults["learning_rate"])
    train.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out part of the training data and stop when its loss stops improving",
    )
    train.add_argument(
        "--test-size", type=_share, default=0.2, help="held-out share (default: %(default)s)"
    )
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--random-state", type=int, default=42)
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument(
        "--track",
        metavar="EXPERIMENT",
        help="record the run in MLflow under this experiment (needs topicbert[mlflow])",
    )
    train.add_argument(
        "--tracking-uri",
        help="MLflow tracking server or store (default: MLflow's, a store in this directory)",
    )

    evaluate = commands.add_parser(
        "evaluate",
        help="score a saved model on a labelled CSV file",
        description=(
            "Print the classification report of MODEL_DIR on DATA.csv and write the "
            "confusion-matrix PNG, the HTML report and the JSON report into --report-dir."
        ),
    )
    evaluate.add_argument("model", type=Path, metavar="MODEL_DIR", help="saved model directory")
    evaluate.add_argument("data", type=Path, metavar="DATA.csv", help="labelled CSV file")
    evaluate.add_argument("--text-column", help="column holding the texts (default: detected)")
    evaluate.add_argument("--label-column", help="column holding the labels (default: detected)")
    evaluate.add_argument(
        "--report-dir", type=Path, default=Path("evaluation"), help="where to write (%(default)s)"
    )

    predict = commands.add_parser(
        "predict",
        help="label texts with a saved model",
        description=(
            "Read texts from FILE (a CSV file with a text column, or plain text with one text "
            "per line) or from standard input ('-'), and write each text's label and class "
            "probabilities as CSV or JSON lines."
        ),
    )
    predict.add_argument("model", type=Path, metavar="MODEL_DIR", help="saved model directory")
    predict.add_argument("input", nargs="?", default="-", metavar="FILE", help="input ('-': stdin)")
    predict.add_argument("--text-column", help="CSV column holding the texts (default: detected)")
    predict.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="output format")
    predict.add_argument("--output", type=Path, help="output file (default: standard output)")

    explain = commands.add_parser(
        "explain",
        help="explain one prediction of a saved model",
        description="Print the words that drove the prediction for TEXT; optionally as HTML.",
    )
    explain.add_argument("model", type=Path, metavar="MODEL_DIR", help="saved model directory")
    explain.add_argument("text", help="the text to explain")
    explain.add_argument("--html", type=Path, metavar="OUT.html", help="write an HTML page")
    explain.add_argument("--method", default="lime", help="lime, occlusion or a plug-in name")
    explain.add_argument("--num-features", type=_positive_int, default=10)
    explain.add_argument("--num-samples", type=_positive_int, default=1000)
    explain.add_argument("--random-state", type=int, default=0)

    serve = commands.add_parser(
        "serve",
        help="serve a saved model: web page and JSON API",
        description=(
            "Serve MODEL_DIR (saved by 'topicbert train --out' or BertTopicClassifier.save) on "
            "waitress: GET / (a form), POST /api/predict, POST /api/explain, GET /healthz."
        ),
    )
    serve.add_argument("model", type=Path, metavar="MODEL_DIR", help="saved model directory")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (%(default)s)")
    serve.add_argument("--threads", type=_positive_int, default=4, help="worker threads")
    serve.add_argument(
        "--max-texts", type=_positive_int, default=64, help="texts per API request (%(default)s)"
    )
    return parser


def _train(args: argparse.Namespace) -> None:
    from topicbert import BertTopicClassifier, ClassificationReport
    from topicbert.datasets import drop_duplicate_texts, read_labeled_csv, train_val_test_split

    data = read_labeled_csv(args.data, text_column=args.text_column, label_column=args.label_column)
    complete = data.dropna()
    unique = drop_duplicate_texts(complete)
    print(
        f"{args.data}: {len(data)} rows, {len(data) - len(complete)} with a missing value, "
        f"{len(complete) - len(unique)} duplicate texts removed, {len(unique)} used; "
        f"{unique['label'].nunique()} labels"
    )
    train, _, test = train_val_test_split(
        unique, val_size=0.0, test_size=args.test_size, random_state=args.random_state
    )
    print(f"training on {len(train)} texts, testing on {len(test)} held-out texts")
    callbacks = []
    if args.track:
        from topicbert.integrations.mlflow import MLflowCallback

        callbacks.append(
            MLflowCallback(
                experiment_name=args.track,
                tracking_uri=args.tracking_uri,
                eval_set=(test["text"].tolist(), test["label"].tolist()),
            )
        )
    clf = BertTopicClassifier(
        backbone=args.backbone,
        pooling=args.pooling,
        max_length=args.max_length,
        long_text=args.long_text,
        freeze_backbone=args.freeze_backbone,
        precision=args.precision,
        batch_size=args.batch_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        early_stopping=args.early_stopping,
        device=args.device,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
        callbacks=callbacks or None,
    )
    started = time.perf_counter()
    clf.fit(train["text"].tolist(), train["label"].tolist())
    fit_seconds = time.perf_counter() - started
    report = ClassificationReport.from_estimator(clf, test["text"].tolist(), test["label"].tolist())
    print(report.format(digits=4))
    print(f"backbone: {clf.backbone_name_} on {clf.device_}")
    print(f"fit seconds: {fit_seconds:.1f}")
    print(f"held-out accuracy: {report.accuracy:.4f}")
    print(f"held-out macro-F1: {report.macro_avg['f1-score']:.4f}")
    if callbacks:
        print(f"MLflow run: {callbacks[0].run_id} (experiment {args.track!r})")
    if args.out is not None:
        directory = clf.save(args.out)
        report.save(directory / "report.json")
        report.save(directory / "report.html")
        print(f"model and held-out report (report.html, report.json) saved to {directory}")


def _evaluate(args: argparse.Namespace) -> None:
    from topicbert import BertTopicClassifier, ClassificationReport
    from topicbert.datasets import read_labeled_csv

    model = BertTopicClassifier.load(args.model)
    data = read_labeled_csv(args.data, text_column=args.text_column, label_column=args.label_column)
    data = data.dropna()
    labels = data["label"].tolist()
    if model.classes_.dtype.kind in "iu":
        labels = [int(label) for label in labels]
    report = ClassificationReport.from_estimator(model, data["text"].tolist(), labels)
    print(report)
    args.report_dir.mkdir(parents=True, exist_ok=True)
    figure: Any = report.plot_confusion_matrix().figure
    figure.savefig(args.report_dir / "confusion_matrix.png", dpi=120)
    report.save(args.report_dir / "report.html")
    report.save(args.report_dir / "report.json")
    print(f"confusion_matrix.png, report.html and report.json written to {args.report_dir}")


def _read_texts(handle: TextIO, is_csv: bool, text_column: str | None) -> Iterator[str]:
    """Yield the texts of a CSV file (its text column) or of plain text (one per line)."""
    if not is_csv:
        yield from (line.rstrip("\r\n") for line in handle if line.strip())
        return
    import csv

    from topicbert.datasets import TEXT_COLUMNS

    reader = csv.DictReader(handle)
    columns = {name.lower(): name for name in reader.fieldnames or []}
    column = text_column or next((columns[c] for c in TEXT_COLUMNS if c in columns), None)
    if column is None or column not in (reader.fieldnames or []):
        raise ValueError(
            f"Cannot find the text column among {reader.fieldnames}; pass --text-column."
        )
    yield from (row[column] or "" for row in reader)


def _predict(args: argparse.Namespace) -> None:
    """Stream texts through the model a chunk at a time, writing each chunk's rows."""
    import contextlib
    import csv
    import json

    from topicbert import BertTopicClassifier

    model = BertTopicClassifier.load(args.model)
    classes = [str(c) for c in model.classes_]
    is_csv = args.input.endswith(".csv") or args.text_column is not None
    with contextlib.ExitStack() as files:
        source: TextIO = sys.stdin
        if args.input != "-":
            source = files.enter_context(open(args.input, encoding="utf-8", newline=""))
        sink: TextIO = sys.stdout
        if args.output is not None:
            sink = files.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
        writer = csv.writer(sink, lineterminator="\n")
        if args.format == "csv":
            writer.writerow(["label", *(f"p_{c}" for c in classes)])
        texts = _read_texts(source, is_csv, args.text_column)
        for proba in model.iter_predict_proba(texts):
            for row in proba:
                label = classes[int(row.argmax())]
                if args.format == "csv":
                    writer.writerow([label, *(repr(float(p)) for p in row)])
                else:
                    probabilities = dict(zip(classes, map(float, row), strict=True))
                    sink.write(json.dumps({"label": label, "probabilities": probabilities}) + "\n")


def _explain(args: argparse.Namespace) -> None:
    from topicbert import BertTopicClassifier, explain

    model = BertTopicClassifier.load(args.model)
    explanation = explain(
        model,
        args.text,
        method=args.method,
        num_features=args.num_features,
        num_samples=args.num_samples,
        random_state=args.random_state,
    )
    print(f"predicted: {explanation.predicted_label}")
    for label, p in zip(explanation.classes, explanation.probabilities, strict=True):
        print(f"  {label!s:<20} {p:.4f}")
    print(f"words ({explanation.method}):")
    for word, weight in explanation.as_list():
        print(f"  {word:<20} {weight:+.4f}")
    if args.html is not None:
        args.html.write_text(explanation.as_html(), encoding="utf-8")
        print(f"written to {args.html}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 error, 2 bad usage)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            _train(args)
        elif args.command == "evaluate":
            _evaluate(args)
        elif args.command == "predict":
            _predict(args)
        elif args.command == "explain":
            _explain(args)
        elif args.command == "serve":
            from topicbert.integrations.serving import make_server

            server = make_server(
                args.model,
                host=args.host,
                port=args.port,
                threads=args.threads,
                max_texts=args.max_texts,
            )
            port = getattr(server, "effective_port", args.port)
            print(f"serving {args.model} on http://{args.host}:{port}/", flush=True)
            server.run()
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"topicbert {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"topicbert {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
