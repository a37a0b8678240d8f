"""Argument types, arguments and defaults that several commands share.

Every command spells the same thing the same way: ``--output``/``-o`` for
what it writes, ``--label-separator`` for label sets in label columns (read
and written), ``--random-state`` with :data:`DEFAULT_RANDOM_STATE`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_RANDOM_STATE = 42
"""The seed every command uses unless ``--random-state`` says otherwise (train's split too)."""
DEFAULT_WRITTEN_LABEL_SEPARATOR = "|"
"""How label sets are joined in a CSV column when no ``--label-separator`` is given."""


class UsageError(Exception):
    """Arguments that parse but do not fit together; the command line exits with 2."""


def warn(args: argparse.Namespace, message: str) -> None:
    """Print ``topicbert COMMAND: warning: MESSAGE`` on standard error."""
    print(f"topicbert {args.command}: warning: {message}", file=sys.stderr, flush=True)


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option: stores like the new one and says it is deprecated."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, new: str, **kwargs: Any):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            f"{parser.prog}: warning: {option_string} is deprecated and will be removed in a "
            f"future version; use {self.new} instead",
            file=sys.stderr,
            flush=True,
        )
        # a flag (no value) stands for the new option with the value ``const``
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def add_output(
    parser: argparse.ArgumentParser,
    *,
    metavar: str,
    help: str,
    default: Path | None = None,
    deprecated: tuple[str, ...] = (),
) -> None:
    """``--output``/``-o``: what a command writes; old spellings stay as hidden aliases."""
    if deprecated:
        help = f"{help} (formerly {', '.join(deprecated)}, deprecated)"
    parser.add_argument("-o", "--output", type=Path, metavar=metavar, default=default, help=help)
    for old in deprecated:
        parser.add_argument(
            old,
            dest="output",
            type=Path,
            metavar=metavar,
            action=DeprecatedAlias,
            new="--output (-o)",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def add_random_state(parser: argparse.ArgumentParser, what: str) -> None:
    """``--random-state``, defaulting to :data:`DEFAULT_RANDOM_STATE`."""
    parser.add_argument(
        "--random-state",
        type=int,
        default=DEFAULT_RANDOM_STATE,
        metavar="SEED",
        help=f"seed of {what} (default: %(default)s)",
    )


def add_label_separator(parser: argparse.ArgumentParser, *, help: str | None = None) -> None:
    """``--label-separator``: label columns hold sets of labels separated by SEP."""
    parser.add_argument(
        "--label-separator",
        metavar="SEP",
        help=help
        or (
            "label columns hold sets of labels separated by SEP, e.g. '|' in 'grain|wheat' "
            "(multi-label); files are read and written with it"
        ),
    )


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def number_in(wanted: str, accept: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse type: a number that ``accept`` takes; refused as "must be ``wanted``"."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text}")
        return value

    return parse


non_negative_float = number_in("a number >= 0", lambda value: 0 <= value < float("inf"))
positive_float = number_in("a number > 0", lambda value: 0 < value < float("inf"))
similarity = number_in("a cosine similarity from -1 to 1", lambda value: -1 <= value <= 1)
share = number_in("a share between 0 and 1", lambda value: 0 < value < 1)
probability = number_in("a probability from 0 to 1", lambda value: 0 <= value <= 1)


def add_min_confidence(parser: argparse.ArgumentParser, default_help: str) -> None:
    """Abstention: no topic for a text whose top probability is below P."""
    parser.add_argument(
        "--min-confidence",
        type=probability,
        metavar="P",
        help=(
            "abstain (no topic) on a text whose most probable label has a probability "
            f"below P; {default_help}"
        ),
    )


def threshold(text: str) -> float | str:
    """An argparse type: ``tune`` or a probability strictly between 0 and 1."""
    if text == "tune":
        return text
    try:
        return share(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'tune' or a probability between 0 and 1, got {text!r}"
        ) from None


def add_data(parser: argparse.ArgumentParser) -> None:
    """The labelled CSV file a command reads (plain or gzip-compressed)."""
    parser.add_argument(
        "data", type=Path, metavar="DATA.csv", help="labelled CSV file (.csv or .csv.gz)"
    )


def open_text(path: str | Path, mode: str = "r") -> Any:
    """Open a text file for reading (``"r"``) or writing (``"w"``); gzip when named ``*.gz``."""
    import gzip

    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


def add_encoder_options(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """``--backbone``, ``--pooling``, ``--max-length``, ``--long-text``: how texts are encoded.

    ``defaults`` are the estimator's parameters, so that each option's default is its own.
    """
    from topicbert._validation import LONG_TEXT_STRATEGIES, POOLINGS

    parser.add_argument(
        "--backbone",
        default=defaults["backbone"],
        help="registered name, local directory or model id (default: %(default)s)",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=defaults["pooling"],
        help="how token vectors become one text vector (default: %(default)s)",
    )
    parser.add_argument(
        "--max-length",
        type=positive_int,
        default=defaults["max_length"],
        help="tokens per text (default: %(default)s)",
    )
    parser.add_argument(
        "--long-text",
        choices=LONG_TEXT_STRATEGIES,
        default=defaults["long_text"],
        help="what to do with texts longer than --max-length (default: %(default)s)",
    )


def add_model(parser: argparse.ArgumentParser) -> None:
    """The saved model a command reads."""
    parser.add_argument("model", type=Path, metavar="MODEL_DIR", help="saved model directory")


def add_columns(
    parser: argparse.ArgumentParser, *, labels: bool = True, label_separator: bool = True
) -> None:
    """Which CSV columns hold the texts (and the labels, single or sets)."""
    parser.add_argument("--text-column", help="column holding the texts (default: detected)")
    if labels:
        parser.add_argument("--label-column", help="column holding the labels (default: detected)")
    if labels and label_separator:
        add_label_separator(parser)
