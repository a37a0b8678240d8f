"""``topicbert serve``: the web page and JSON API of a saved model, on waitress."""

from __future__ import annotations

import argparse
from typing import Any

from topicbert._commands._arguments import (
    add_min_confidence,
    add_model,
    non_negative_float,
    positive_int,
)


def add_parser(commands: Any) -> None:
    """Declare ``serve`` and its options."""
    from topicbert.integrations.serving import DEFAULT_MAX_TEXTS

    serve = commands.add_parser(
        "serve",
        help="serve a saved model: web page and JSON API",
        description=(
            "Serve MODEL_DIR (saved by 'topicbert train --output' or BertTopicClassifier.save, or "
            "an ONNX export from 'topicbert export') on waitress: GET / (a form), "
            "POST /api/predict, POST /api/explain, GET /healthz, GET /readyz. Stops "
            "gracefully on SIGTERM or Ctrl-C."
        ),
    )
    add_model(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument(
        "--threads",
        type=positive_int,
        default=16,
        help="requests handled at once; keep it at least the number of clients "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--max-texts",
        type=positive_int,
        default=DEFAULT_MAX_TEXTS,
        help="texts per API request (default: %(default)s)",
    )
    add_min_confidence(serve, "requests may set their own (default: the model's)")
    batching = serve.add_argument_group(
        "batching", "requests that arrive together run through the model as one batch"
    )
    batching.add_argument(
        "--no-batching", action="store_true", help="run each request alone, one at a time"
    )
    batching.add_argument(
        "--batch-wait-ms",
        type=non_negative_float,
        default=5.0,
        help="the longest a batch is held back for the requests the server expects: as "
        "many as its last batch answered; a lone client never waits; 0 answers sooner when "
        "many independent users send near capacity (default: %(default)s)",
    )
    batching.add_argument(
        "--max-batch-texts",
        type=positive_int,
        default=64,
        help="texts per batch (default: %(default)s)",
    )
    batching.add_argument(
        "--max-queue-texts",
        type=positive_int,
        default=1024,
        help="texts waiting before requests get 503 with Retry-After (default: %(default)s)",
    )
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    """Bind the port, say where, and serve until stopped."""
    from topicbert.integrations.serving import BatchingSettings, make_server, run_until_stopped

    server = make_server(
        args.model,
        host=args.host,
        port=args.port,
        threads=args.threads,
        max_texts=args.max_texts,
        min_confidence=args.min_confidence,
        batching=BatchingSettings(
            enabled=not args.no_batching,
            max_wait_ms=args.batch_wait_ms,
            max_batch_texts=args.max_batch_texts,
            max_queue_texts=args.max_queue_texts,
        ),
    )
    port = getattr(server, "effective_port", args.port)
    print(f"serving {args.model} on http://{args.host}:{port}/", flush=True)
    run_until_stopped(server)
    print("stopped", flush=True)
