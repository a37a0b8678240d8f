"""A local page for labelling texts, one at a time, the least sure first (Flask).

Needs the ``serve`` extra: ``pip install 'topicbert[serve]'``. ``topicbert
label`` starts it; :func:`create_labelling_app` builds the app around a
:class:`~topicbert.integrations._labelling.LabellingSession`.

The page shows one text, the model's probabilities beside it (when there is a
model), one button per label (check boxes for label sets), "skip" and "undo
last"; digits pick labels (1 to 9, then 0), Enter submits a label set, ``s``
skips, ``u`` undoes. Every answer is on disk before the next text is shown:
see :class:`~topicbert.integrations._answers.AnswerLog`.

Routes (JSON bodies carry ``client``, an id the page makes once per tab):

- ``GET /``: the page.
- ``GET /api/next?client=ID``: ``{"item": {"id", "text", "probabilities"}, "status"}``,
  the text kept for this tab (``item`` is null when every text is done).
- ``POST /api/answer`` ``{"client", "id", "label"}`` (sets: ``"labels": [...]``):
  written, then ``{"status"}``; 409 when another tab labelled the text first.
- ``POST /api/skip`` ``{"client", "id"}``: not shown again in this run.
- ``POST /api/undo`` ``{"client", "id"}``: the answer is taken out of the file
  and the text comes back as ``item`` (with ``previous``, the labels it had).
- ``GET /api/status``: counts per label, the model's cross-validated score.
- ``GET /healthz``: liveness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topicbert.integrations._answers import AnswerLog
from topicbert.integrations._labelling import AlreadyLabelledError, LabellingSession
from topicbert.integrations.serving import InvalidRequestError, json_object

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["AnswerLog", "LabellingSession", "create_labelling_app", "make_labelling_server"]


def _client(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidRequestError('"client" must be the page\'s id (1 to 64 characters).')
    return value


def create_labelling_app(session: LabellingSession, *, max_body_bytes: int = 100_000) -> Flask:
    """Build the labelling page's Flask app around ``session``.

    Parameters
    ----------
    session : LabellingSession
        The pool, the answer file and the model.
    max_body_bytes : int, default=100000
        Largest request body; larger ones get 413.

    Returns
    -------
    app : flask.Flask
        The WSGI application.
    """
    try:
        from flask import Flask, jsonify, render_template, request
    except ImportError as exc:
        raise ImportError(
            "The labelling page needs Flask; install it with: pip install 'topicbert[serve]'"
        ) from exc
    from topicbert.integrations.serving import register_error_handlers

    app = Flask(__name__, template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["topicbert_labelling"] = session
    register_error_handlers(app, max_body_bytes)

    @app.errorhandler(AlreadyLabelledError)
    def conflict(error: AlreadyLabelledError) -> Any:
        return jsonify(error=str(error), status=session.status()), 409

    def body() -> dict[str, Any]:
        return json_object(request.get_json(silent=True))

    def checked(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except AlreadyLabelledError:
            raise
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from exc

    @app.get("/")
    def page() -> Any:
        return render_template(
            "label.html",
            labels=session.labels,
            multilabel=session.multilabel,
            output=session.log.path.name,
        )

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.get("/api/status")
    def status() -> Any:
        return jsonify(session.status())

    @app.get("/api/next")
    def next_item() -> Any:
        client = _client(request.args.get("client"))
        return jsonify(item=session.next_item(client), status=session.status())

    @app.post("/api/answer")
    def answer() -> Any:
        data = body()
        client = _client(data.get("client"))
        value = data.get("labels") if session.multilabel else data.get("label")
        checked(session.answer, client, data.get("id"), value)
        return jsonify(status=session.status())

    @app.post("/api/skip")
    def skip() -> Any:
        data = body()
        checked(session.skip, _client(data.get("client")), data.get("id"))
        return jsonify(status=session.status())

    @app.post("/api/undo")
    def undo() -> Any:
        data = body()
        item = checked(session.undo, _client(data.get("client")), data.get("id"))
        return jsonify(item=item, status=session.status())

    return app


def make_labelling_server(
    session: LabellingSession, *, host: str = "127.0.0.1", port: int = 8000, threads: int = 8
) -> Any:
    """Bind a waitress server for the labelling page, without running it (``run()`` does).

    Raises
    ------
    OSError
        When the address is in use or cannot be bound.
    """
    from topicbert.integrations.serving import bind

    return bind(create_labelling_app(session), host=host, port=port, threads=threads)
