"""``topicbert label``: a local page to label texts, the least sure first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from topicbert._commands._arguments import (
    UsageError,
    add_output,
    add_random_state,
    positive_int,
)


def add_parser(commands: Any) -> None:
    """Declare ``label`` and its options."""
    from topicbert.active import STRATEGIES

    label = commands.add_parser(
        "label",
        help="label texts on a local web page, the least sure first",
        description=(
            "Serve a page on which a person labels the texts of FILE (a CSV file with a text "
            "column, .csv or .csv.gz, or plain text with one text per line) one at a time: "
            "digits pick labels, s skips, u undoes. Every answer is written to --output (a "
            "CSV file that 'topicbert train' reads) before the next text is shown; started "
            "again on the same --output, the page goes on where it stopped. With a model "
            "(--model, or --descriptions alone) the least sure texts come first."
        ),
    )
    label.add_argument("input", metavar="FILE", help="the texts to label")
    add_output(label, metavar="CSV", help="where the answers go (created, or continued)")
    label.add_argument(
        "--labels",
        metavar="A,B,...",
        help="the labels, comma-separated (default: the model's or the descriptions')",
    )
    label.add_argument(
        "--multilabel", action="store_true", help="a text may get several labels (check boxes)"
    )
    label.add_argument(
        "--model", type=Path, metavar="MODEL_DIR", help="a saved model or ONNX export that ranks"
    )
    label.add_argument(
        "--descriptions",
        type=Path,
        metavar="FILE",
        help=(
            "label descriptions (JSON, or CSV with label,description): without --model, a "
            "zero-shot model from them ranks the texts; refits use them as examples"
        ),
    )
    label.add_argument(
        "--retrain-every",
        type=positive_int,
        metavar="N",
        help="refit a model on the answers after every N new ones, in the background",
    )
    label.add_argument(
        "--training",
        choices=["head", "contrastive"],
        default="head",
        help="how refits train (default: %(default)s)",
    )
    label.add_argument(
        "--strategy",
        choices=[s for s in STRATEGIES if s != "random"],
        default="margin",
        help="how unsure the model is of a text (default: %(default)s)",
    )
    label.add_argument("--text-column", help="CSV column holding the texts (default: detected)")
    label.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only)",
    )
    label.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    add_random_state(label, "refits and their cross-validation")
    label.set_defaults(handler=run)


def _read_pool(path: str, text_column: str | None) -> list[str]:
    from topicbert._commands.predict import read_file_texts

    if not Path(path).is_file():
        raise FileNotFoundError(f"No such file: {path!r}")
    return list(read_file_texts(path, text_column))


def _labels(args: argparse.Namespace, model: Any, descriptions: dict[str, Any] | None) -> list[str]:
    """The label set: given, or the model's, or the descriptions'; all of them agreeing."""
    given = [label.strip() for label in args.labels.split(",")] if args.labels else None
    if given is not None and (not all(given) or len(set(given)) != len(given)):
        raise UsageError(f"--labels must name distinct, non-empty labels: {args.labels!r}")
    known = [str(c) for c in model.classes_] if model is not None else None
    labels = given or known or (list(descriptions) if descriptions else None)
    if labels is None:
        raise UsageError("name the labels with --labels (or give --model or --descriptions)")
    if known is not None and set(known) != set(labels):
        raise UsageError(f"--labels {labels} differ from the model's labels {known}")
    if descriptions is not None and not set(descriptions) <= set(labels):
        unknown = sorted(set(descriptions) - set(labels))
        raise UsageError(f"--descriptions describe labels not in --labels: {unknown}")
    return labels


def run(args: argparse.Namespace) -> None:
    """Read the pool, open the answer file, bind the port, say where, and serve."""
    from topicbert._decision import rule_of
    from topicbert.datasets import read_descriptions
    from topicbert.integrations._answers import LABEL_SET_SEPARATOR, AnswerLog
    from topicbert.integrations._labelling import LabellingSession
    from topicbert.integrations._service import load_fitted
    from topicbert.integrations.labelling import make_labelling_server

    if args.output is None:
        raise UsageError("say where the answers go with --output (-o) CSV")
    texts = _read_pool(args.input, args.text_column)
    descriptions = read_descriptions(args.descriptions) if args.descriptions else None
    model = load_fitted(args.model) if args.model is not None else None
    multilabel = args.multilabel
    if model is not None and rule_of(model).multilabel != multilabel:
        if multilabel:
            raise UsageError(f"--multilabel: the model in {args.model} predicts one label")
        multilabel = True  # a model of label sets: the answers are label sets too
    labels = _labels(args, model, descriptions)
    if multilabel and any(LABEL_SET_SEPARATOR in label for label in labels):
        raise UsageError(f"labels of label sets may not hold {LABEL_SET_SEPARATOR!r}: {labels}")
    model_name = f"model in {args.model}"
    if model is None and descriptions is not None:
        from topicbert import BertTopicClassifier

        model_name = "zero-shot model made from the descriptions"
        described = {label: descriptions.get(label, label) for label in labels}
        model = BertTopicClassifier.from_descriptions(described, multilabel=multilabel)
    log = AnswerLog(args.output, multilabel=multilabel)
    session = LabellingSession(
        texts,
        labels,
        log,
        model=model,
        model_name=model_name,
        strategy=args.strategy,
        retrain_every=args.retrain_every,
        training=args.training,
        descriptions=descriptions,
        random_state=args.random_state,
    )
    server = make_labelling_server(session, host=args.host, port=args.port)
    status = session.status()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"Labelling {len(session.texts)} texts ({status['labelled']} answered already, "
        f"{status['remaining']} to go) at http://{host}:{server.effective_port}/ ; "
        f"answers go to {args.output}. Ctrl-C stops.",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
