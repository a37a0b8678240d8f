"""Serve a saved model over HTTP and ask it about a text.

    python examples/serve_model.py MODEL_DIR            # serve on http://127.0.0.1:8000
    python examples/serve_model.py MODEL_DIR --check    # start, ask once over HTTP, stop

``MODEL_DIR`` is a directory written by ``BertTopicClassifier.save`` (or by
``topicbert train --output``). The page at ``/`` takes a text in a form; the
JSON API is ``POST /api/predict`` with ``{"texts": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import threading
import urllib.request

from waitress.server import create_server

from topicbert.integrations.serving import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--check", action="store_true", help="ask once, print, and stop")
    args = parser.parse_args()

    app = create_app(args.model_dir)
    server = create_server(app, host="127.0.0.1", port=0 if args.check else args.port)
    if not args.check:
        print(f"Serving on http://127.0.0.1:{server.effective_port}")  # type: ignore[union-attr]
        server.run()
        return
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}/api/predict"  # type: ignore[union-attr]
    body = json.dumps({"texts": ["The striker scored twice in the cup final."]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        print(json.dumps(json.load(response), indent=2))
    server.close()


if __name__ == "__main__":
    main()
