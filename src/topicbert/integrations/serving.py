"""Serve a fitted model over HTTP: an HTML form and a JSON API (Flask).

Needs the ``serve`` extra: ``pip install 'topicbert[serve]'``.

>>> from topicbert.integrations.serving import create_app
>>> app = create_app("models/bbc")  # doctest: +SKIP
>>> app.run()  # development only; use ``topicbert serve`` in production  # doctest: +SKIP

Routes:

- ``GET /``: a page with a text box; the form posts back and shows the
  predicted topic, every class's probability and, on request, the explanation.
- ``POST /api/predict`` with ``{"texts": [...]}``: each text's label and
  probabilities.
- ``POST /api/explain`` with ``{"text": "...", "method": "lime"}``: word weights.
- ``GET /healthz``: ``{"status": "ok", ...}``.

Limits: the request body (``max_body_bytes``, answered with 413), the number of
texts per request and the characters per text (400). Errors are JSON
``{"error": "..."}`` on the API, never a traceback.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app", "make_server", "serve"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>topicbert</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 50rem; color: #222; }
textarea { width: 100%; min-height: 10rem; font: inherit; }
button { font: inherit; padding: .4rem 1.2rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .2rem .6rem; text-align: left; }
.bar { background: #4a7fd4; height: .9rem; min-width: 1px; }
td.bar-cell { width: 20rem; }
.error { color: #b00020; }
</style></head>
<body>
<h1>What is this text about?</h1>
<form method="post" action="/">
<textarea name="text" id="text" maxlength="{{ max_chars }}"
 placeholder="Paste a news article">{{ text }}</textarea>
<p><label><input type="checkbox" name="explain" id="explain" {% if explain %}checked{% endif %}>
 Explain the prediction</label></p>
<button type="submit" id="submit">Classify</button>
</form>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
{% if result %}
<h2 id="prediction">Topic: {{ result.label }}</h2>
<table id="probabilities">
{% for label, p in result.ranked %}
<tr><th>{{ label }}</th><td class="bar-cell">
<div class="bar" style="width: {{ '%.1f' % (100 * p) }}%"></div></td>
<td>{{ '%.4f' % p }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if explanation %}{{ explanation }}{% endif %}
<p><small>{{ model_name }} &middot; <a href="/healthz">health</a></small></p>
</body></html>
"""


def _load(model_or_path: Any) -> Any:
    if isinstance(model_or_path, (str, Path)):
        from topicbert import BertTopicClassifier

        return BertTopicClassifier.load(model_or_path)
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(model_or_path, "predict_proba"):
        raise TypeError(
            f"create_app needs a fitted classifier or a model directory; got "
            f"{type(model_or_path).__name__}."
        )
    check_is_fitted(model_or_path)
    return model_or_path


def create_app(
    model_or_path: Any,
    *,
    max_texts: int = 64,
    max_text_chars: int = 100_000,
    max_body_bytes: int = 2_000_000,
    explain_samples: int = 500,
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

    Returns
    -------
    app : flask.Flask
        The WSGI application.
    """
    try:
        from flask import Flask, jsonify, render_template_string, request
        from werkzeug.exceptions import HTTPException
    except ImportError as exc:
        raise ImportError(
            "Serving needs Flask; install it with: pip install 'topicbert[serve]'"
        ) from exc

    model = _load(model_or_path)
    classes = np.asarray(model.classes_).tolist()
    model_name = str(getattr(model, "backbone_name_", type(model).__name__))
    # Fast tokenizers refuse concurrent use ("Already borrowed"); one request
    # at a time uses the model, which on a CPU uses every core anyway.
    lock = threading.Lock()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    def predict_proba(texts: list[str]) -> np.ndarray:
        with lock:
            return np.asarray(model.predict_proba(texts), dtype=np.float64)

    def explain_text(text: str, method: str = "lime", num_features: int = 10) -> Any:
        from topicbert import explain

        with lock:
            return explain(
                model,
                text,
                method=method,
                num_features=num_features,
                num_samples=explain_samples,
                random_state=0,
            )

    class InvalidRequestError(Exception):
        pass

    def check_text(text: object, where: str) -> str:
        if not isinstance(text, str):
            raise InvalidRequestError(f"{where} must be a string, got {type(text).__name__}.")
        if not text.strip():
            raise InvalidRequestError(f"{where} is empty.")
        if len(text) > max_text_chars:
            raise InvalidRequestError(
                f"{where} has {len(text)} characters; the limit is {max_text_chars}."
            )
        return text

    def json_body() -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidRequestError(
                'The request body must be a JSON object, e.g. {"texts": ["..."]}.'
            )
        return body

    def probabilities(row: np.ndarray) -> dict[str, float]:
        return {str(label): float(p) for label, p in zip(classes, row, strict=True)}

    @app.errorhandler(InvalidRequestError)
    def bad_request(error: InvalidRequestError) -> Any:
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith("/api/") or error.code == 413:
            message = (
                error.description
                if error.code != 413
                else (f"The request body is larger than {max_body_bytes} bytes.")
            )
            return jsonify(error=message), error.code
        return error

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> Any:
        app.logger.exception("Unhandled error")
        return jsonify(error="Internal server error."), 500

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok", model=model_name, classes=[str(c) for c in classes])

    @app.post("/api/predict")
    def api_predict() -> Any:
        texts = json_body().get("texts")
        if not isinstance(texts, list) or not texts:
            raise InvalidRequestError('"texts" must be a non-empty list of strings.')
        if len(texts) > max_texts:
            raise InvalidRequestError(f'"texts" has {len(texts)} items; the limit is {max_texts}.')
        checked = [check_text(t, f"texts[{i}]") for i, t in enumerate(texts)]
        proba = predict_proba(checked)
        return jsonify(
            predictions=[
                {"label": str(classes[int(row.argmax())]), "probabilities": probabilities(row)}
                for row in proba
            ]
        )

    @app.post("/api/explain")
    def api_explain() -> Any:
        body = json_body()
        text = check_text(body.get("text"), '"text"')
        method = body.get("method", "lime")
        num_features = body.get("num_features", 10)
        if not isinstance(method, str):
            raise InvalidRequestError('"method" must be a string.')
        if not isinstance(num_features, int) or not 1 <= num_features <= 50:
            raise InvalidRequestError('"num_features" must be an integer from 1 to 50.')
        try:
            explanation = explain_text(text, method, num_features)
        except (ValueError, TypeError) as exc:
            raise InvalidRequestError(str(exc)) from exc
        return jsonify(
            label=str(explanation.predicted_label),
            probabilities=probabilities(explanation.probabilities),
            method=explanation.method,
            weights=[[word, weight] for word, weight in explanation.as_list()],
        )

    @app.route("/", methods=["GET", "POST"])
    def index() -> Any:
        context: dict[str, Any] = {
            "text": "",
            "explain": False,
            "result": None,
            "explanation": None,
            "error": None,
            "model_name": model_name,
            "max_chars": max_text_chars,
        }
        if request.method == "POST":
            text = request.form.get("text", "")
            context["text"] = text
            context["explain"] = bool(request.form.get("explain"))
            try:
                check_text(text, "The text")
                row = predict_proba([text])[0]
                order = np.argsort(-row, kind="stable")
                context["result"] = {
                    "label": classes[int(order[0])],
                    "ranked": [(classes[int(i)], float(row[i])) for i in order],
                }
                if context["explain"]:
                    from markupsafe import Markup

                    explanation = explain_text(text)
                    # as_html escapes the user's text itself
                    context["explanation"] = Markup(
                        explanation.as_html(full_page=False, show_probabilities=False)
                    )
            except (InvalidRequestError, ValueError) as exc:
                context["error"] = str(exc)
                return render_template_string(_PAGE, **context), 400
        return render_template_string(_PAGE, **context)

    return app


def make_server(
    model_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 4,
    **options: Any,
) -> Any:
    """Load the model and bind a waitress server to ``host:port``, without running it.

    Binding happens here, so a port that is taken fails at once with a clear
    message. Run the server with its ``run()`` method; ``effective_port``
    gives the port when ``port=0`` asked the system for a free one.

    Raises
    ------
    OSError
        When the address is in use or cannot be bound.
    """
    try:
        import waitress.server
    except ImportError as exc:
        raise ImportError(
            "Serving needs waitress; install it with: pip install 'topicbert[serve]'"
        ) from exc
    app = create_app(model_path, **options)
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


def serve(
    model_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 4,
    **options: Any,
) -> None:
    """Run the app on waitress, a production WSGI server (blocks until stopped).

    See :func:`make_server` for the parameters and errors.
    """
    make_server(model_path, host=host, port=port, threads=threads, **options).run()
