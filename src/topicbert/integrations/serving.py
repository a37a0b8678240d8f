"""Serve a fitted model over HTTP: an HTML form and a JSON API (Flask).

Needs the ``serve`` extra: ``pip install 'topicbert[serve]'``.

>>> from topicbert.integrations.serving import create_app
>>> app = create_app("models/bbc")  # doctest: +SKIP
>>> app.run()  # development only; use ``topicbert serve`` in production  # doctest: +SKIP

Routes:

- ``GET /``: a page with a text box; the form posts back and shows the
  predicted topic, every class's probability and, on request, the explanation.
- ``POST /api/predict`` with ``{"texts": [...]}``: each text's label and
  probabilities; for a multi-label model, each text's ``labels`` (every
  label over its threshold) and every label's probability. An optional
  ``"min_confidence": p`` abstains on texts whose top probability is below
  ``p``: their ``label`` is ``null`` (multi-label: no ``labels``).
- ``POST /api/explain`` with ``{"text": "...", "method": "lime"}``: word weights.
- ``GET /healthz``: liveness, ``{"status": "ok", "ready": ..., ...}`` while the
  process runs, with ``batch_sizes``: the model calls made so far by texts
  per call.
- ``GET /readyz``: readiness, 200 while the model is loaded and requests are
  taken, 503 once the server is stopping.

Batching: predictions of requests that arrive together run as one batch
(:class:`BatchingSettings`): a batch is held back up to ``max_wait_ms`` for
the requests the server expects (as many as its last batch answered; a lone
client never waits), a batch holds at most ``max_batch_texts`` texts,
and when ``max_queue_texts`` texts are waiting new requests get 503 with a
``Retry-After`` header instead of queueing without bound. Each request gets
its own rows back; a request whose texts make the model fail gets its own
error, the others their predictions.

Limits: the request body (``max_body_bytes``, answered with 413), the number of
texts per request and the characters per text (400). Errors are JSON
``{"error": "..."}`` on the API, never a traceback.

``topicbert serve`` (and :func:`serve`) stop gracefully on SIGTERM or Ctrl-C:
the listening socket closes, readiness turns 503, the requests on open
connections are answered, then the process exits.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from topicbert.integrations._micro_batching import ServerBusyError
from topicbert.integrations._service import BatchingSettings, ModelService

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["BatchingSettings", "create_app", "make_server", "run_until_stopped", "serve"]


DEFAULT_MAX_TEXTS = 64
"""Most texts per ``/api/predict`` request unless ``max_texts`` says otherwise."""


class InvalidRequestError(ValueError):
    """A request the API answers with 400 and the message."""


def check_text(text: object, where: str, max_chars: int) -> str:
    """Return ``text`` if it is a non-blank string of at most ``max_chars`` characters."""
    if not isinstance(text, str):
        raise InvalidRequestError(f"{where} must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise InvalidRequestError(f"{where} is empty.")
    if len(text) > max_chars:
        raise InvalidRequestError(f"{where} has {len(text)} characters; the limit is {max_chars}.")
    return text


def check_texts(body: dict[str, Any], max_texts: int, max_chars: int) -> list[str]:
    """Return the ``texts`` of a predict request, each checked."""
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts:
        raise InvalidRequestError('"texts" must be a non-empty list of strings.')
    if len(texts) > max_texts:
        raise InvalidRequestError(f'"texts" has {len(texts)} items; the limit is {max_texts}.')
    return [check_text(t, f"texts[{i}]", max_chars) for i, t in enumerate(texts)]


def check_explain_options(body: dict[str, Any]) -> tuple[str, int]:
    """Return the ``method`` and ``num_features`` of an explain request."""
    method = body.get("method", "lime")
    num_features = body.get("num_features", 10)
    if not isinstance(method, str):
        raise InvalidRequestError('"method" must be a string.')
    if isinstance(num_features, bool) or not isinstance(num_features, int):
        raise InvalidRequestError('"num_features" must be an integer from 1 to 50.')
    if not 1 <= num_features <= 50:
        raise InvalidRequestError('"num_features" must be an integer from 1 to 50.')
    return method, num_features


def check_min_confidence(body: dict[str, Any]) -> float | None:
    """Return the optional ``min_confidence`` of a predict request."""
    value = body.get("min_confidence")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidRequestError('"min_confidence" must be a number from 0 to 1.')
    return float(value)


def json_object(body: object) -> dict[str, Any]:
    """Return a request's parsed JSON body if it is an object."""
    if not isinstance(body, dict):
        raise InvalidRequestError(
            'The request body must be a JSON object, e.g. {"texts": ["..."]}.'
        )
    return body


def create_app(
    model_or_path: Any,
    *,
    max_texts: int = DEFAULT_MAX_TEXTS,
    max_text_chars: int = 100_000,
    max_body_bytes: int = 2_000_000,
    explain_samples: int = 500,
    batching: BatchingSettings | None = None,
    min_confidence: float | None = None,
) -> Flask:
    """Build the Flask app around a fitted model, loaded once here.

    Parameters
    ----------
    model_or_path : classifier or path-like
        A fitted classifier with ``predict_proba`` (a ``BertTopicClassifier``
        or a ``Pipeline``), or a directory saved with
        ``BertTopicClassifier.save``.
    max_texts : int, default=64
        Most texts per ``/api/predict`` request.
    max_text_chars : int, default=100000
        Most characters per text.
    max_body_bytes : int, default=2000000
        Largest request body; larger ones get 413.
    explain_samples : int, default=500
        LIME samples per explanation (fewer answers sooner).
    batching : BatchingSettings, optional
        How concurrent requests are batched (default: on, up to 5 ms for the
        expected requests, 64 texts, 1024 texts queued);
        ``BatchingSettings(enabled=False)`` runs each request alone.
    min_confidence : float, optional
        Abstain (label ``null``, no labels) on texts whose top probability is
        below it, unless a request says otherwise; by default the model's
        own ``min_confidence``.

    Returns
    -------
    app : flask.Flask
        The WSGI application.
    """
    try:
        from flask import Flask
    except ImportError as exc:
        raise ImportError(
            "Serving needs Flask; install it with: pip install 'topicbert[serve]'"
        ) from exc

    service = ModelService(
        model_or_path,
        explain_samples=explain_samples,
        batching=batching,
        min_confidence=min_confidence,
    )
    app = Flask(__name__, template_folder="templates")
    app.extensions["topicbert"] = service
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app, max_body_bytes)
    _register_api(app, service, max_texts, max_text_chars)
    _register_page(app, service, max_text_chars)
    return app


def register_error_handlers(app: Flask, max_body_bytes: int) -> None:
    """Errors on the API are JSON ``{"error": ...}``, never a traceback."""
    from flask import jsonify, request
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(InvalidRequestError)
    def bad_request(error: InvalidRequestError) -> Any:
        return jsonify(error=str(error)), 400

    @app.errorhandler(ServerBusyError)
    def busy(error: ServerBusyError) -> Any:
        response = jsonify(error=str(error))
        response.headers["Retry-After"] = str(error.retry_after)
        return response, 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if error.code == 413:
            return jsonify(error=f"The request body is larger than {max_body_bytes} bytes."), 413
        if request.path.startswith("/api/"):
            return jsonify(error=error.description), error.code
        return error

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> Any:
        app.logger.exception("Unhandled error")
        return jsonify(error="Internal server error."), 500


def _register_api(app: Flask, service: ModelService, max_texts: int, max_chars: int) -> None:
    from flask import jsonify, request

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(
            status="ok",
            ready=service.ready,
            model=service.name,
            classes=[str(c) for c in service.classes],
            batching=service.batching.enabled,
            batch_sizes={str(k): v for k, v in sorted(service.batch_sizes.items())},
        )

    @app.get("/readyz")
    def readyz() -> Any:
        if not service.ready:
            return jsonify(ready=False, reason="stopping"), 503
        return jsonify(ready=True, model=service.name)

    @app.post("/api/predict")
    def api_predict() -> Any:
        body = json_object(request.get_json(silent=True))
        texts = check_texts(body, max_texts, max_chars)
        min_confidence = check_min_confidence(body)
        proba = service.predict_proba(texts)
        key = "labels" if service.multilabel else "label"
        return jsonify(
            predictions=[
                {key: decided, "probabilities": service.probabilities(row)}
                for decided, row in zip(service.decide(proba, min_confidence), proba, strict=True)
            ]
        )

    @app.post("/api/explain")
    def api_explain() -> Any:
        body = json_object(request.get_json(silent=True))
        text = check_text(body.get("text"), '"text"', max_chars)
        method, num_features = check_explain_options(body)
        try:
            explanation = service.explain(text, method, num_features)
        except (ValueError, TypeError) as exc:
            raise InvalidRequestError(str(exc)) from exc
        except ImportError as exc:  # a torch-free install serving an ONNX export
            return jsonify(error=f"Explanations are not available on this server: {exc}"), 501
        return jsonify(
            label=str(explanation.predicted_label),
            probabilities=service.probabilities(explanation.probabilities),
            method=explanation.method,
            weights=[[word, weight] for word, weight in explanation.as_list()],
        )


def _register_page(app: Flask, service: ModelService, max_chars: int) -> None:
    """``GET /`` and the form's ``POST /``: templates/index.html."""
    from flask import render_template, request

    @app.route("/", methods=["GET", "POST"])
    def index() -> Any:
        context: dict[str, Any] = {
            "text": "",
            "explain": False,
            "result": None,
            "explanation": None,
            "error": None,
            "model_name": service.name,
            "max_chars": max_chars,
        }
        if request.method == "POST":
            text = request.form.get("text", "")
            context["text"] = text
            context["explain"] = bool(request.form.get("explain"))
            try:
                check_text(text, "The text", max_chars)
                row = service.predict_proba([text])[0]
                order = np.argsort(-row, kind="stable")
                decided = service.decide(row[None, :])[0]
                if service.multilabel:
                    label = ", ".join(decided) or "none"
                else:
                    label = "no confident topic" if decided is None else decided
                context["result"] = {
                    "label": label,
                    "heading": "Topics" if service.multilabel else "Topic",
                    "ranked": [(service.classes[int(i)], float(row[i])) for i in order],
                }
                if context["explain"]:
                    from markupsafe import Markup

                    try:
                        explanation = service.explain(text)
                    except ImportError as exc:
                        context["error"] = f"Explanations are not available here: {exc}"
                    else:
                        # as_html escapes the user's text itself
                        context["explanation"] = Markup(
                            explanation.as_html(full_page=False, show_probabilities=False)
                        )
            except ServerBusyError as exc:
                context["error"] = str(exc)
                return render_template("index.html", **context), 503
            except ValueError as exc:
                context["error"] = str(exc)
                return render_template("index.html", **context), 400
        return render_template("index.html", **context)


def make_server(
    model_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 16,
    **options: Any,
) -> Any:
    """Load the model and bind a waitress server to ``host:port``, without running it.

    Binding happens here, so a port that is taken fails at once with a clear
    message. Run the server with its ``run()`` method, or with
    :func:`run_until_stopped` for a graceful stop on SIGTERM; ``effective_port``
    gives the port when ``port=0`` asked the system for a free one.
    ``model_path`` may be a saved model or an ONNX export (served without torch).

    ``threads`` bounds the requests handled at once, and so the requests one
    batch can gather: keep it at least the number of concurrent clients.

    Raises
    ------
    OSError
        When the address is in use or cannot be bound.
    """
    app = create_app(model_path, **options)
    try:
        server = bind(app, host=host, port=port, threads=threads)
    except BaseException:
        app.extensions["topicbert"].stop()
        raise
    server.topicbert_service = app.extensions["topicbert"]
    return server


def bind(app: Flask, *, host: str, port: int, threads: int) -> Any:
    """A waitress server for ``app`` listening on ``host:port`` (not yet running).

    Raises
    ------
    OSError
        When the address is in use or cannot be bound, saying so.
    """
    try:
        import waitress.server
    except ImportError as exc:
        raise ImportError(
            "Serving needs waitress; install it with: pip install 'topicbert[serve]'"
        ) from exc
    try:
        return waitress.server.create_server(
            app, host=host, port=port, threads=threads, ident="topicbert"
        )
    except OSError as exc:
        raise OSError(
            exc.errno,
            f"cannot listen on {host}:{port}: {exc.strerror or exc}. Is another server "
            "running there? Stop it or pick another --port.",
        ) from exc


def run_until_stopped(server: Any, *, drain_timeout: float = 30.0) -> None:
    """Run a server from :func:`make_server` until SIGTERM or SIGINT, then stop gracefully.

    On the signal the listening socket closes (new connections are refused),
    ``/readyz`` answers 503, and the requests on open connections, those still
    arriving included, are answered (waiting at most ``drain_timeout``
    seconds) before this returns. Call it from the main
    thread.
    """
    from waitress import wasyncore

    service: ModelService = server.topicbert_service
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stopping.is_set():
            raise SystemExit(0)  # a second Ctrl-C: stop now
        stopping.set()
        service.stopping = True
        server.trigger.pull_trigger()  # wake the loop; it does the rest between polls

    # Every socket is opened, read, written and closed by this thread, between
    # polls: closing one while another thread polls or writes to it races.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        deadline = None
        while True:
            if stopping.is_set():
                if deadline is None:
                    deadline = time.monotonic() + drain_timeout
                    wasyncore.dispatcher.close(server)  # refuse new connections
                if _all_answered(server) or time.monotonic() >= deadline:
                    break
            timeout = 0.02 if stopping.is_set() else server.adj.asyncore_loop_timeout
            wasyncore.loop(
                timeout=timeout, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.stop(timeout=drain_timeout)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)


def _all_answered(server: Any) -> bool:
    """Whether no connection has a request arriving, being handled, or bytes left to send."""
    from waitress.channel import HTTPChannel

    channels = [c for c in list(server._map.values()) if isinstance(c, HTTPChannel)]
    return not any(
        channel.request is not None or channel.requests or channel.total_outbufs_len
        for channel in channels
    )


def serve(
    model_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 16,
    **options: Any,
) -> None:
    """Run the app on waitress, a production WSGI server, until SIGTERM or Ctrl-C.

    See :func:`make_server` for the parameters and errors and
    :func:`run_until_stopped` for how it stops.
    """
    server = make_server(model_path, host=host, port=port, threads=threads, **options)
    run_until_stopped(server)
