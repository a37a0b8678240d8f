"""One module per ``topicbert`` command: each adds its parser and runs it.

Every command module has ``add_parser(commands)``, which declares the
command's arguments and sets ``handler`` to its ``run(args)``.
"""

from __future__ import annotations

from topicbert._commands import (
    evaluate,
    explain,
    export,
    label,
    label_issues,
    predict,
    serve,
    suggest,
    train,
    zero_shot,
)

COMMANDS = (
    train,
    zero_shot,
    evaluate,
    predict,
    explain,
    serve,
    export,
    label_issues,
    suggest,
    label,
)
"""The command modules, in the order ``topicbert --help`` lists them."""
