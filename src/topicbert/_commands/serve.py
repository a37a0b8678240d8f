"""``topicbert serve``: the web page and JSON API of a saved model, on waitress."""

from __future__ import annotations

import argparse
from typing import Any

from topicbert._commands._arguments import add_model, positive_int


def add_parser(commands: Any) -> None:
    """Declare ``serve`` and its options."""
    from topicbert.integrations.serving import DEFAULT_MAX_TEXTS

    serve = commands.add_parser(
        "serve",
        help="serve a saved model: web page and JSON API",
        description=(
            "Serve MODEL_DIR (saved by 'topicbert train --out' or BertTopicClassifier.save) on "
            "waitress: GET / (a form), POST /api/predict, POST /api/explain, GET /healthz."
        ),
    )
    add_model(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (%(default)s)")
    serve.add_argument("--threads", type=positive_int, default=4, help="worker threads")
    serve.add_argument(
        "--max-texts",
        type=positive_int,
        default=DEFAULT_MAX_TEXTS,
        help="texts per API request (%(default)s)",
    )
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Bind the port, say where, and serve until stopped."""
    from topicbert.integrations.serving import make_server

    server = make_server(
        args.model,
        host=args.host,
        port=args.port,
        threads=args.threads,
        max_texts=args.max_texts,
    )
    port = getattr(server, "effective_port", args.port)
    print(f"serving {args.model} on http://{args.host}:{port}/", flush=True)
    server.run()
