"""``topicbert label-issues``: list the texts of a labelled CSV whose label looks wrong."""

from __future__ import annotations

import argparse
from typing import Any

from topicbert._commands._arguments import (
    add_columns,
    add_data,
    add_output,
    add_random_state,
    positive_int,
)
from topicbert._validation import DEFAULT_MAX_LENGTH


def add_parser(commands: Any) -> None:
    """Declare ``label-issues`` and its options."""
    issues = commands.add_parser(
        "label-issues",
        help="list texts whose label is likely wrong, and duplicates labelled differently",
        description=(
            "Fit a frozen-backbone model in --cv folds of DATA.csv (plain or .csv.gz), flag "
            "the texts whose given label is unlikely out of fold (confident learning, "
            "cleanlab), and list nearly identical texts that carry different labels. Checks "
            "single labels: a file of label sets (--label-separator) is refused. Needs "
            "pip install 'topicbert[quality]'."
        ),
    )
    add_data(issues)
    add_columns(issues)
    issues.add_argument("--backbone", help="backbone (default: the estimator's)")
    issues.add_argument(
        "--max-length",
        type=positive_int,
        default=DEFAULT_MAX_LENGTH,
        help="tokens per text (default: %(default)s)",
    )
    issues.add_argument("--cv", type=positive_int, default=5, help="folds (default: %(default)s)")
    issues.add_argument(
        "--top", type=positive_int, default=20, help="rows shown (default: %(default)s)"
    )
    add_random_state(issues, "the fold assignment")
    add_output(
        issues,
        metavar="FILE",
        help="write every flagged text to this CSV file (.csv or .csv.gz)",
    )
    issues.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Print the most suspect labels and the conflicting duplicates."""
    import pandas as pd

    from topicbert import BertTopicClassifier
    from topicbert.datasets import is_multilabel_frame, read_labeled_csv
    from topicbert.quality import find_duplicate_conflicts, find_label_issues

    data = read_labeled_csv(
        args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        label_separator=args.label_separator,
    ).dropna()
    if is_multilabel_frame(data):
        raise ValueError(
            f"{args.data} holds label sets (--label-separator {args.label_separator!r}); "
            "label-issues checks single labels only"
        )
    params: dict[str, Any] = {
        "training": "head",
        "max_length": args.max_length,
        "random_state": args.random_state,
    }
    if args.backbone:
        params["backbone"] = args.backbone
    texts, labels = data["text"].tolist(), data["label"].tolist()
    issues = find_label_issues(
        BertTopicClassifier(**params), texts, labels, cv=args.cv, random_state=args.random_state
    )
    issues["index"] = data.index[issues["index"].to_numpy()]
    print(f"{len(issues)} of {len(data)} texts have a label that looks wrong; most suspect first:")
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(issues.head(args.top).to_string(index=False, float_format="{:.3f}".format))
    conflicts = find_duplicate_conflicts(texts, labels)
    print(f"\n{len(conflicts)} pairs of (nearly) identical texts with different labels")
    if len(conflicts):
        conflicts["index_a"] = data.index[conflicts["index_a"].to_numpy()]
        conflicts["index_b"] = data.index[conflicts["index_b"].to_numpy()]
        with pd.option_context("display.width", 160, "display.max_colwidth", 60):
            print(conflicts.head(args.top).to_string(index=False, float_format="{:.3f}".format))
    if args.output:
        issues.to_csv(args.output, index=False)
        print(f"every flagged text written to {args.output}")
