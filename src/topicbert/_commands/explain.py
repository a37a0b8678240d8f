"""``topicbert explain``: the words behind one prediction of a saved model."""

from __future__ import annotations

import argparse
from typing import Any

from topicbert._commands._arguments import add_model, add_output, add_random_state, positive_int


def add_parser(commands: Any) -> None:
    """Declare ``explain`` and its options."""
    explain = commands.add_parser(
        "explain",
        help="explain one prediction of a saved model",
        description=(
            "Print the words that drove the prediction for TEXT; with --output, also write "
            "them as an HTML page."
        ),
    )
    add_model(explain)
    explain.add_argument("text", help="the text to explain")
    add_output(
        explain,
        metavar="OUT.html",
        help="write the explanation as an HTML page",
        deprecated=("--html",),
    )
    explain.add_argument(
        "--method",
        default="lime",
        help="lime, occlusion or a plug-in name (default: %(default)s)",
    )
    explain.add_argument(
        "--num-features",
        type=positive_int,
        default=10,
        help="words shown (default: %(default)s)",
    )
    explain.add_argument(
        "--num-samples",
        type=positive_int,
        default=1000,
        help="perturbed texts LIME scores (default: %(default)s)",
    )
    add_random_state(explain, "the explainer's perturbations")

    explain.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Print the prediction, the probabilities and the word weights."""
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
    if args.output is not None:
        args.output.write_text(explanation.as_html(), encoding="utf-8")
        print(f"written to {args.output}")
