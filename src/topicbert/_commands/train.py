"""``topicbert train``: train on a labelled CSV file and report held-out figures."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import (
    DEFAULT_WRITTEN_LABEL_SEPARATOR,
    DeprecatedAlias,
    add_columns,
    add_data,
    add_encoder_options,
    add_output,
    add_random_state,
    positive_int,
    share,
    threshold,
)
from topicbert._validation import HEAD_INITS, PRECISIONS, TRAININGS

TEST_FILE_NAME = "test.csv.gz"
"""The held-out texts' file in the ``--output`` directory unless ``--test-output`` is given."""


def add_parser(commands: Any) -> None:
    """Declare ``train`` and its options; defaults come from the estimator's own."""
    from topicbert import BertTopicClassifier

    defaults = BertTopicClassifier().get_params()
    train = commands.add_parser(
        "train",
        help="train on a labelled CSV file and report held-out accuracy",
        description=(
            "Read DATA.csv (a CSV file, plain or .csv.gz, with a text and a label column), "
            "drop duplicate texts, hold out a stratified test split, train on the rest and "
            "print held-out accuracy, macro-F1 and a per-class report. With --output, save "
            "the model, the held-out report (report.html, report.json) and the held-out texts "
            f"({TEST_FILE_NAME}, which 'topicbert evaluate' and 'topicbert predict' read) in "
            "that directory."
        ),
    )
    add_data(train)
    add_output(
        train,
        metavar="DIR",
        help="directory to save the fitted model, its held-out report and held-out texts in",
        deprecated=("--out",),
    )
    train.add_argument(
        "--test-output",
        type=Path,
        metavar="FILE",
        help=(
            "where to write the held-out texts and labels as CSV (.csv or .csv.gz) "
            f"(default: {TEST_FILE_NAME} in the --output directory; none without --output)"
        ),
    )
    add_columns(train)
    train.add_argument(
        "--clean",
        action="store_true",
        help="clean every text with TextCleaner's defaults (HTML, Unicode, whitespace) in "
        "training and, as part of the saved model, in every prediction",
    )
    add_encoder_options(train, defaults)
    train.add_argument(
        "--training",
        choices=TRAININGS,
        default=defaults["training"],
        help="how the encoder is trained: fine-tuned with the head (full), tuned on pairs of "
        "texts for few labelled texts (contrastive), kept, training only the head (head, "
        "fast), or, for single labels, contrastive while the median label has at most 32 "
        "texts and full otherwise (auto; label sets: full) (default: %(default)s)",
    )
    train.add_argument(
        "--freeze-backbone",
        dest="training",
        nargs=0,
        const="head",
        action=DeprecatedAlias,
        new="--training head",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    train.add_argument(
        "--descriptions",
        type=Path,
        metavar="FILE",
        help="a description of some or all labels (JSON or CSV, as topicbert zero-shot reads), "
        "each added to the training texts as an example of its label",
    )
    train.add_argument(
        "--head-init",
        choices=HEAD_INITS,
        default=defaults["head_init"],
        help="how the head starts before fine-tuning (default: %(default)s)",
    )
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults["precision"],
        help="autocast precision (default: %(default)s)",
    )
    train.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults["batch_size"],
        help="texts per batch (default: %(default)s)",
    )
    train.add_argument(
        "--epochs",
        type=positive_int,
        default=defaults["epochs"],
        help="passes over the training texts when training is full (default: %(default)s)",
    )
    train.add_argument(
        "--learning-rate",
        type=float,
        default=defaults["learning_rate"],
        help="peak learning rate of AdamW when training is full (default: %(default)s)",
    )
    train.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out part of the training data and stop when its loss stops improving",
    )
    train.add_argument(
        "--threshold",
        type=threshold,
        default=defaults["threshold"],
        help="multi-label: the probability from which a label is given, or 'tune' to learn "
        "one per label on held-out training texts (default: %(default)s)",
    )
    train.add_argument(
        "--min-labels",
        type=int,
        choices=(0, 1),
        default=defaults["min_labels"],
        help="multi-label: 1 gives every text at least its most probable label "
        "(default: %(default)s)",
    )
    train.add_argument(
        "--test-size", type=share, default=0.2, help="held-out share (default: %(default)s)"
    )
    train.add_argument(
        "--device",
        default=defaults["device"],
        help="auto, cpu, cuda, cuda:N or mps (default: %(default)s)",
    )
    add_random_state(train, "the held-out split and of training")
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

    train.set_defaults(handler=run)


def describe_labels(data: Any) -> str:
    """How many labels a frame has (and, for label sets, how many per text)."""
    from topicbert.datasets import is_multilabel_frame

    if not is_multilabel_frame(data):
        return f"{data['label'].nunique()} labels"
    distinct = data["label"].explode().dropna().nunique()
    return f"{distinct} labels, {data['label'].map(len).mean():.2f} per text"


def run(args: argparse.Namespace) -> None:
    """Train, print the held-out report and save the model with it."""
    from topicbert import BertTopicClassifier, ClassificationReport, TextCleaner
    from topicbert.datasets import (
        drop_duplicate_texts,
        read_descriptions,
        read_labeled_csv,
        train_val_test_split,
    )

    data = read_labeled_csv(
        args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        label_separator=args.label_separator,
    )
    complete = data.dropna()
    unique = drop_duplicate_texts(complete)
    print(
        f"{args.data}: {len(data)} rows, {len(data) - len(complete)} with a missing value, "
        f"{len(complete) - len(unique)} duplicate texts removed, {len(unique)} used; "
        f"{describe_labels(unique)}"
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
        cleaner=TextCleaner() if args.clean else None,
        backbone=args.backbone,
        pooling=args.pooling,
        max_length=args.max_length,
        long_text=args.long_text,
        training=args.training,
        descriptions=None if args.descriptions is None else read_descriptions(args.descriptions),
        head_init=args.head_init,
        precision=args.precision,
        batch_size=args.batch_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        early_stopping=args.early_stopping,
        threshold=args.threshold,
        min_labels=args.min_labels,
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
    auto = " (chosen by --training auto)" if args.training == "auto" else ""
    print(f"training: {clf.training_}{auto}")
    print(f"fit seconds: {fit_seconds:.1f}")
    if report.multilabel:
        print(f"held-out subset accuracy: {report.accuracy:.4f}")
        print(f"held-out micro-F1: {report.micro_avg['f1-score']:.4f}")
    else:
        print(f"held-out accuracy: {report.accuracy:.4f}")
    print(f"held-out macro-F1: {report.macro_avg['f1-score']:.4f}")
    if callbacks:
        print(f"MLflow run: {callbacks[0].run_id} (experiment {args.track!r})")
    test_output = args.test_output
    if args.output is not None:
        directory = clf.save(args.output)
        report.save(directory / "report.json")
        report.save(directory / "report.html")
        print(f"model and held-out report (report.html, report.json) saved to {directory}")
        if test_output is None:
            test_output = directory / TEST_FILE_NAME
    if test_output is not None:
        write_held_out(test, test_output, args.label_separator)
        label_option = (
            "" if args.label_separator is None else f" --label-separator {args.label_separator!r}"
        )
        model = args.output if args.output is not None else "MODEL_DIR"
        print(
            f"{len(test)} held-out texts written to {test_output}; score the model on them "
            f"with: topicbert evaluate {model} {test_output}{label_option}"
        )


def write_held_out(test: Any, path: Path, label_separator: str | None) -> None:
    """Write held-out texts as a ``label,text`` CSV file (gzip when named ``*.gz``).

    Label sets are joined with ``label_separator``, so that ``topicbert evaluate
    --label-separator SEP`` reads them back as they were.
    """
    labels = test["label"]
    if label_separator is not None or any(isinstance(value, tuple) for value in labels):
        separator = label_separator or DEFAULT_WRITTEN_LABEL_SEPARATOR
        labels = labels.map(lambda value: separator.join(map(str, value)))
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = test.assign(label=labels)[["label", "text"]]
    frame.to_csv(path, index=False)
