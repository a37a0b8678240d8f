"""The ``topicbert`` command line: train or describe, evaluate, predict, explain, serve, export.

``topicbert train DATA.csv`` reads a labelled CSV file (``.csv`` or
``.csv.gz``), removes duplicate texts, holds out a stratified test split,
trains a model on the rest (``--training``), prints held-out accuracy, macro-F1 and a
per-class report, and saves the model with the report (HTML and JSON) and the
held-out texts when ``--output`` is given. Every command names what it writes
with ``--output``/``-o``. Exit codes: 0 on success, 2 on bad usage, 1 on any
other error (one line on standard error); warnings are one line on standard
error too.

Each command lives in its own module under ``topicbert._commands``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

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


@contextlib.contextmanager
def _one_line_warnings(command: str) -> Iterator[None]:
    """Show topicbert's own warnings as ``topicbert COMMAND: warning: ...`` lines."""
    package = Path(__file__).resolve().parent
    original = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        try:
            ours = Path(filename).resolve().is_relative_to(package)
        except (OSError, ValueError):
            ours = False
        if not ours:
            original(message, category, filename, lineno, file, line)
            return
        print(f"topicbert {command}: warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 error, 2 bad usage)."""
    from topicbert._commands._arguments import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _one_line_warnings(args.command):
            args.handler(args)
    except UsageError as exc:
        # as argparse answers bad usage: the command's usage line, then the error
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        print(commands.choices[args.command].format_usage(), end="", file=sys.stderr)
        print(f"topicbert {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"topicbert {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"topicbert {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
