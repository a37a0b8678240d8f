"""``topicbert evaluate``: score a saved model on a labelled CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import add_columns, add_data, add_model, add_output, warn


def add_parser(commands: Any) -> None:
    """Declare ``evaluate`` and its options."""
    evaluate = commands.add_parser(
        "evaluate",
        help="score a saved model on a labelled CSV file",
        description=(
            "Print the classification report of MODEL_DIR on DATA.csv (plain or .csv.gz, "
            "such as the held-out test.csv.gz that 'topicbert train --output' writes) and "
            "write the confusion-matrix PNG, the HTML report and the JSON report into "
            "--output. Warns when texts of DATA.csv were among the model's training texts."
        ),
    )
    add_model(evaluate)
    add_data(evaluate)
    add_columns(evaluate)
    add_output(
        evaluate,
        metavar="DIR",
        default=Path("evaluation"),
        help="directory to write the report files into (default: %(default)s)",
        deprecated=("--report-dir",),
    )

    evaluate.set_defaults(handler=run)


def load_model(path: Path) -> Any:
    """The saved model at ``path``."""
    from topicbert import BertTopicClassifier

    return BertTopicClassifier.load(path)


def training_overlap_message(model: Any, texts: list[str]) -> str | None:
    """A warning when some of ``texts`` were among the model's training texts, else ``None``.

    Reads the fingerprint of the training texts that a fitted model carries
    as ``training_text_hashes_``; a model without one gives ``None``.
    """
    from topicbert._fingerprints import overlap

    hashes = getattr(model, "training_text_hashes_", None)
    if hashes is None:
        return None
    count = overlap(hashes, texts)
    if count == 0:
        return None
    return (
        f"{count} of {len(texts)} texts were in the model's training set; the scores "
        "overstate how well it labels new texts (score it on held-out texts, such as the "
        "test.csv.gz that 'topicbert train --output' writes)"
    )


def run(args: argparse.Namespace) -> None:
    """Print the report and write its PNG, HTML and JSON forms."""
    from topicbert import ClassificationReport
    from topicbert.datasets import read_labeled_csv

    model = load_model(args.model)
    data = read_labeled_csv(
        args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        label_separator=args.label_separator,
    )
    data = data.dropna()
    texts = data["text"].tolist()
    labels = data["label"].tolist()
    if model.classes_.dtype.kind in "iu" and args.label_separator is None:
        labels = [int(label) for label in labels]
    message = training_overlap_message(model, texts)
    if message is not None:
        warn(args, message)
    report = ClassificationReport.from_estimator(model, texts, labels)
    print(report)
    args.output.mkdir(parents=True, exist_ok=True)
    figure: Any = report.plot_confusion_matrix().figure
    figure.savefig(args.output / "confusion_matrix.png", dpi=120)
    report.save(args.output / "report.html")
    report.save(args.output / "report.json")
    print(f"confusion_matrix.png, report.html and report.json written to {args.output}")
