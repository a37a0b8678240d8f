"""The ``topicbert`` command line: train, evaluate, predict, explain, serve, export, label-issues.

``topicbert train DATA.csv`` reads a labelled CSV file, removes duplicate texts,
holds out a stratified test split, fine-tunes a model on the rest, prints
held-out accuracy, macro-F1 and a per-class report, and saves the model with
the report (HTML and JSON) when ``--out`` is given. Exit codes: 0 on success,
2 on bad usage, 1 on any other error (one line on standard error).

Each command lives in its own module under ``topicbert._commands``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``topicbert`` parser with every command's sub-parser."""
    from topicbert import __version__
    from topicbert._commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="topicbert",
        description="Fine-tune BERT-family encoders for topic classification.",
    )
    parser.add_argument("--version", action="version", version=f"topicbert {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        try:
            command.add_parser(commands)
        except ImportError as exc:  # e.g. a torch-free install that only serves ONNX exports
            _add_unavailable(commands, command.__name__.rsplit(".", 1)[-1].replace("_", "-"), exc)
    return parser


def _add_unavailable(commands: Any, name: str, error: ImportError) -> None:
    """A command whose packages are missing: it takes any arguments and says what to install."""
    reason = (
        f"this command needs packages that are not installed ({error}); "
        "install them with: pip install topicbert"
    )
    unavailable = commands.add_parser(name, help=f"(unavailable: {error})", add_help=False)
    unavailable.add_argument("ignored", nargs=argparse.REMAINDER)

    def fail(args: argparse.Namespace) -> None:
        raise ImportError(reason)

    unavailable.set_defaults(handler=fail)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 error, 2 bad usage)."""
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"topicbert {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"topicbert {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
