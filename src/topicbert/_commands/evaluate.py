"""``topicbert evaluate``: score a saved model on a labelled CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import add_columns, add_model


def add_parser(commands: Any) -> None:
    """Declare ``evaluate`` and its options."""
    evaluate = commands.add_parser(
        "evaluate",
        help="score a saved model on a labelled CSV file",
        description=(
            "Print the classification report of MODEL_DIR on DATA.csv and write the "
            "confusion-matrix PNG, the HTML report and the JSON report into --report-dir."
        ),
    )
    add_model(evaluate)
    evaluate.add_argument("data", type=Path, metavar="DATA.csv", help="labelled CSV file")
    add_columns(evaluate)
    evaluate.add_argument(
        "--report-dir", type=Path, default=Path("evaluation"), help="where to write (%(default)s)"
    )

    evaluate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Print the report and write its PNG, HTML and JSON forms."""
    from topicbert import BertTopicClassifier, ClassificationReport
    from topicbert.datasets import read_labeled_csv

    model = BertTopicClassifier.load(args.model)
    data = read_labeled_csv(
        args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        label_separator=args.label_separator,
    )
    data = data.dropna()
    labels = data["label"].tolist()
    if model.classes_.dtype.kind in "iu" and args.label_separator is None:
        labels = [int(label) for label in labels]
    report = ClassificationReport.from_estimator(model, data["text"].tolist(), labels)
    print(report)
    args.report_dir.mkdir(parents=True, exist_ok=True)
    figure: Any = report.plot_confusion_matrix().figure
    figure.savefig(args.report_dir / "confusion_matrix.png", dpi=120)
    report.save(args.report_dir / "report.html")
    report.save(args.report_dir / "report.json")
    print(f"confusion_matrix.png, report.html and report.json written to {args.report_dir}")
